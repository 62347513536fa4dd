"""The console entry point (clhoi/__main__.py): a plain `clhoi evaluate` runs without typer, and prints,
writes and exits exactly as the typer command does; every other command line goes to typer."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clhoi.__main__ import evaluate_options
from clhoi.data.hicodet import read_hicodet, shipped_test_annotations

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("args", "expected"), [
    (["--dataset", "hicodet", "--predictions", "p.json"], {"dataset": "hicodet", "predictions": "p.json"}),
    (["--predictions=p.json", "--dataset=vcoco", "--annotations", "a.json", "--coco-instances", "c.json",
      "--out", "o.json", "--image-labels", "anno.mat"],
     {"dataset": "vcoco", "predictions": "p.json", "annotations": "a.json", "coco_instances": "c.json",
      "out": "o.json", "image_labels": "anno.mat"}),
    (["--dataset", "hicodet", "--predictions", "a=b.json"], {"dataset": "hicodet", "predictions": "a=b.json"}),
])
def test_plain_evaluate_lines_are_parsed(args, expected):
    assert evaluate_options(args) == expected


@pytest.mark.parametrize("args", [
    [],
    ["--help"],
    ["--dataset", "hicodet"],  # --predictions missing: typer's usage error
    ["--dataset", "hicodet", "--predictions", "p.json", "--help"],
    ["--dataset", "hicodet", "--predictions"],
    ["--dataset", "hicodet", "--predictions", "p.json", "--dataset", "vcoco"],  # repeated
    ["--dataset", "hicodet", "--predictions", "p.json", "--verbose"],
    ["--dataset", "hicodet", "--predictions", "p.json", "extra"],
    ["--dataset", "hicodet", "--predictions", ""],
    ["--dataset", "hicodet", "--predictions", "-p.json"],
    ["--dataset", "hicodet", "--predict", "p.json"],  # click does not expand prefixes
])
def test_anything_else_goes_to_typer(args):
    assert evaluate_options(args) is None


def _run(entry: str, args: list[str]) -> subprocess.CompletedProcess:
    """``clhoi ARGS`` through ``entry.main`` (``clhoi`` = the console entry point, ``clhoi.cli`` = typer's)."""
    code = f"import sys\nsys.argv[0] = 'clhoi'\nfrom {'clhoi.__main__' if entry == 'clhoi' else entry} import main\nmain()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={"PATH": "", "COLUMNS": "100", "PYTHONIOENCODING": "utf-8"})


@pytest.fixture(scope="module")
def predictions(tmp_path_factory):
    gts = read_hicodet(shipped_test_annotations(), tensors=False)
    preds = [{"file_name": a.file_name, "boxes": a.boxes.tolist(), "labels": a.labels.tolist(),
              "hoi": [[h, o, c, 0.5] for h, o, c in a.hoi.tolist()]} for a in gts[:30]]
    path = tmp_path_factory.mktemp("entry") / "preds.json"
    path.write_text(json.dumps(preds))
    return path


def test_fast_and_typer_paths_print_write_and_exit_the_same(predictions, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"file_name": "HICO_test2015_00000001.jpg", "boxes": [[0, 0, 1]], "labels": [0], "hoi": []}]')
    one = tmp_path / "one.jsonl"  # JSON lines, one triplet
    one.write_text(json.dumps({"file_name": "HICO_test2015_00000001.jpg", "boxes": [[0, 0, 9, 9]] * 2,
                               "labels": [0, 1], "hoi": [[0, 1, 599, 0.5]]}) + "\n")
    out = tmp_path / "metrics.json"
    cases = [
        ["evaluate", "--dataset", "hicodet", "--predictions", str(predictions), "--out", str(out)],
        ["evaluate", "--dataset=hicodet", f"--predictions={predictions}"],
        ["evaluate", "--dataset", "hicodet", "--predictions", str(tmp_path / "missing.json")],
        ["evaluate", "--dataset", "nope", "--predictions", str(predictions)],
        ["evaluate", "--dataset", "hicodet", "--predictions", str(bad)],
        ["evaluate", "--dataset", "hicodet", "--predictions", str(one), "--out", str(tmp_path / "sub" / "m.json")],
        ["evaluate", "--dataset", "vcoco", "--predictions", str(predictions)],  # --annotations needed
        ["evaluate", "--dataset", "hicodet", "--predictions", str(predictions), "--image-labels", str(bad)],
    ]
    for args in cases:
        typer_run = _run("clhoi.cli", args)
        typer_json = out.read_text() if out.exists() else None
        out.unlink(missing_ok=True)
        fast = _run("clhoi", args)
        fast_json = out.read_text() if out.exists() else None
        out.unlink(missing_ok=True)
        assert (fast.returncode, fast.stdout, fast.stderr) == (typer_run.returncode, typer_run.stdout,
                                                              typer_run.stderr), args
        assert fast_json == typer_json
    assert _run("clhoi", cases[0]).returncode == 0 and "HICO-DET mAP" in _run("clhoi", cases[1]).stdout
    assert _run("clhoi", cases[2]).returncode == 2 and "error: predictions file not found" in _run("clhoi", cases[2]).stderr


def test_help_and_other_lines_are_typer_s(predictions):
    for args in (["evaluate", "--help"], ["--help"], ["evaluate", "--dataset", "hicodet"], ["--version"],
                 ["-q", "evaluate", "--dataset", "hicodet", "--predictions", str(predictions)]):
        fast, typer_run = _run("clhoi", args), _run("clhoi.cli", args)
        assert (fast.returncode, fast.stdout, fast.stderr) == (typer_run.returncode, typer_run.stdout,
                                                              typer_run.stderr), args
    assert "--predictions" in _run("clhoi", ["evaluate", "--help"]).stdout


def test_the_fast_path_imports_no_command_line_framework(predictions):
    code = ("import sys\nfrom clhoi.__main__ import run_evaluate\n"
            "code = run_evaluate({'dataset': 'hicodet', 'predictions': sys.argv[1]})\n"
            "print('exit', code, sorted(m for m in ('typer', 'click', 'torch', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(predictions)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "exit 0 []" in done.stdout, done.stdout


def test_exit_now_runs_atexit_flushes_the_streams_and_keeps_the_exit_code():
    code = ("import atexit, sys\nfrom clhoi.__main__ import exit_now\n"
            "atexit.register(lambda: print('atexit ran'))\n"
            "sys.stdout.write('buffered ' * 3)\nsys.stderr.write('on stderr')\nexit_now(3)\nprint('not reached')")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout to a pipe: block-buffered
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env=env)
    assert (done.returncode, done.stdout, done.stderr) == (3, "buffered buffered buffered atexit ran\n", "on stderr")


def test_exit_now_leaves_a_failed_flush_to_the_ordinary_exit():
    code = ("import sys\nfrom clhoi.__main__ import exit_now\n"
            "class Closed:\n    def write(self, s):\n        return len(s)\n"
            "    def flush(self):\n        raise BrokenPipeError(32, 'Broken pipe')\n"
            "sys.stdout = Closed()\nexit_now(0)\nprint('returned', file=sys.stderr)\nsys.exit(4)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stderr.startswith("returned\n") and "BrokenPipeError" in done.stderr  # reported by Python's exit
    assert done.returncode == 120  # Python's own exit status when flushing stdout fails at exit


def test_run_evaluation_keeps_the_parsed_records_only_when_asked(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "tests" / "eval"))
    from vcoco_official_case import make_case, write_files

    import clhoi.eval.run as run

    paths = write_files(make_case(3, num_images=20, dets_per_image=(2, 5)), tmp_path)
    args = ("vcoco", paths["detections"], paths["vcoco"], paths["instances"])
    assert run._KEPT_UNTIL_EXIT is None
    plain = run.run_evaluation(*args).result.to_dict()
    monkeypatch.setattr(run, "_KEPT_UNTIL_EXIT", None)
    run.keep_inputs_until_exit()
    kept = run.run_evaluation(*args).result.to_dict()
    assert kept == plain and len(run._KEPT_UNTIL_EXIT) == 1
    assert run._KEPT_UNTIL_EXIT[0] == json.loads(Path(paths["detections"]).read_text())


@pytest.mark.parametrize("threads", [None, "4"])
def test_the_fast_path_runs_without_cyclic_garbage_collection_or_blas_threads(threads):
    code = ("import gc, os, sys\nimport clhoi.__main__ as entry\n"
            "entry.run_evaluate = lambda values: print('gc enabled:', gc.isenabled(), sorted(values),\n"
            "    os.environ.get('OPENBLAS_NUM_THREADS'), 'numpy' in sys.modules) or 0\n"
            "sys.argv = ['clhoi', 'evaluate', '--dataset', 'vcoco', '--predictions', 'p.json']\nentry.main()")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if threads is not None:
        env["OPENBLAS_NUM_THREADS"] = threads  # the user's choice stays
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
    want = f"gc enabled: False ['dataset', 'predictions'] {threads or '1'} False\n"  # set before NumPy is imported
    assert (done.returncode, done.stdout) == (0, want), done.stderr
