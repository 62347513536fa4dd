"""The ``clhoi`` console entry point (and ``python -m clhoi``).

``clhoi evaluate --dataset D --predictions P [--annotations A] [--image-labels L] [--out O]
[--coco-instances C]`` is run here directly, without importing typer, click or the other
commands (about 0.2-0.4 s of start-up; the evaluation itself can take under a second).
It runs the same body as the typer command (:func:`clhoi.eval.run.evaluate_command`), with
the same output and exit codes (docs/errors.md): 0 done, 2 a user error (``error: ...``),
3 a bug, 130 interrupted.

Only a plain, well-formed ``evaluate`` command line takes this path: the subcommand first,
then each of those options once, as ``--name value`` or ``--name=value``, with a value that
is not empty and does not start with ``-``. Anything else (``--help``, a global option such
as ``-v`` before the subcommand, an unknown, missing or repeated option, shell completion)
goes to :func:`clhoi.cli.main`, which gives today's help texts and usage errors.
"""

from __future__ import annotations

import os
import sys

_EVALUATE_OPTIONS = {
    "--dataset": "dataset",
    "--predictions": "predictions",
    "--annotations": "annotations",
    "--image-labels": "image_labels",
    "--out": "out",
    "--coco-instances": "coco_instances",
}
_REQUIRED = ("dataset", "predictions")


def evaluate_options(args: list[str]) -> dict[str, str] | None:
    """The options of a plain ``clhoi evaluate`` command line (``args``: what follows ``evaluate``),
    or ``None`` when the line is anything else (then typer parses it)."""
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if "=" in arg:
            name, value = arg.split("=", 1)
            i += 1
        elif i + 1 < len(args):
            name, value = arg, args[i + 1]
            i += 2
        else:
            return None
        key = _EVALUATE_OPTIONS.get(name)
        if key is None or key in values or not value or value.startswith("-"):
            return None
        values[key] = value
    if not all(k in values for k in _REQUIRED):
        return None
    return values


def _fail(message: str, code: int = 2) -> int:
    """``error: message`` on one line to stderr, as :func:`clhoi.cli.fail` prints it; returns ``code``."""
    message = "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code


def _keep_freed_memory() -> None:
    """glibc: keep freed memory for reuse instead of returning it to the system at once.

    The evaluation allocates and frees arrays of several MB again and again; by default each
    comes from a fresh ``mmap`` and is faulted in page by page (measured: 0.1-0.2 s of system
    time on a million triplets, of about 1.3 s). The memory goes back when the process ends,
    a second or so later. Elsewhere (or if anything fails) nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: blocks below 1 GiB come from the heap
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: do not give back the heap's free top
        libc.mallopt(-2, 64 << 20)  # M_TOP_PAD: grow the heap 64 MiB at a time
    except (OSError, AttributeError, TypeError):
        pass


def exit_now(code: int) -> None:
    """End the process with ``code`` the quick way, when nothing is left to do but free memory.

    As Python's own exit: the ``atexit`` functions run (logging's flush among them) and the
    standard streams are flushed; then ``os._exit`` skips the rest of the interpreter's
    shutdown: freeing every object (the parsed predictions, kept for this by
    :func:`clhoi.eval.run.keep_inputs_until_exit`) and tearing down the modules. When a flush
    fails (e.g. a closed pipe), this returns, and the ordinary exit reports it as it always did.
    """
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # noqa: BLE001 - the ordinary exit reports it (and sets its exit code)
            return
    os._exit(code)


def run_evaluate(values: dict[str, str]) -> int:
    """``clhoi evaluate`` with parsed options; returns the exit code.

    For a process that ends right after (:func:`main`, then :func:`exit_now`): the parsed inputs
    stay referenced until then (:func:`clhoi.eval.run.keep_inputs_until_exit`).
    """
    from pathlib import Path

    _keep_freed_memory()
    try:
        from clhoi import _verbosity
        from clhoi.logs import setup_logging

        setup_logging(_verbosity.get_level())  # as the typer root callback does (no -v / -q here)
        from clhoi.eval.run import CommandFailed, evaluate_command, keep_inputs_until_exit

        keep_inputs_until_exit()  # main() ends the process with exit_now: nothing needs freeing

        paths = {k: Path(v) for k, v in values.items() if k != "dataset"}
        try:
            evaluate_command(values["dataset"], paths.pop("predictions"), **paths)
        except CommandFailed as e:
            return _fail(str(e))
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - the top level: the typer app's own handler gives message and code
        from typer import Exit

        from clhoi.cli import _report_exception

        try:
            _report_exception(e)
        except Exit as done:
            return done.exit_code
        raise
    return 0


def main() -> None:
    """The ``clhoi`` command: ``evaluate`` directly when its command line is plain, else the typer app."""
    args = sys.argv[1:]
    if args[:1] == ["evaluate"] and not any(k.startswith("_CLHOI_COMPLETE") for k in os.environ):
        values = evaluate_options(args[1:])
        if values is not None:
            import gc

            # no cyclic garbage collection in this short process: the collector would walk the parsed files'
            # millions of objects (0.03 s once it is back on after the reading, more during the imports)
            gc.disable()
            # the evaluation multiplies no matrices: OpenBLAS's worker threads, started when NumPy is imported,
            # would only spin (up to 0.1 s of CPU on 2 cores); a value the user set is kept
            os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
            code = run_evaluate(values)
            exit_now(code)
            sys.exit(code)
    from clhoi.cli import main as typer_main

    typer_main()


if __name__ == "__main__":
    main()
