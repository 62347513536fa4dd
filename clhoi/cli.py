"""The ``clhoi`` command: one subcommand per stage, each calling one function.

Nothing imports this module. Heavy imports happen inside the commands so that
``clhoi --help`` is instant. Each subcommand turns a user error into a clear
message and a non-zero exit code, never a traceback.

Exit codes (docs/errors.md):

* 0: done.
* 1 (``EXIT_RUN_FAILED``): the run itself failed although its input was valid
  (teacher server unreachable, loss diverged, every image failed to label).
* 2 (``EXIT_USER_ERROR``): an error the user can fix (a missing or damaged
  file, a bad value, a path outside its folder): one line ``error: ...``
  naming the file and what to do. Click's own usage errors use 2 as well.
* 3 (``EXIT_BUG``): an internal error, i.e. a bug in clhoi: one line; with
  ``-v`` the traceback too.
* 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from typer.core import TyperGroup

# options with a fixed set of values: real choices, listed by --help (a str Enum is a str)
class Split(str, Enum):
    train = "train"
    test = "test"


class CacheDtype(str, Enum):
    float32 = "float32"
    float16 = "float16"


class Ablation(str, Enum):
    chain = "chain"
    losses = "losses"


class ReportDataset(str, Enum):
    hicodet = "hicodet"
    vcoco = "vcoco"
    sandbox = "sandbox"


EXIT_RUN_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


def _user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that reach the top level and are still the user's to fix (files, disk, bad text)."""
    return (OSError, UnicodeError, RecursionError, MemoryError)


class _Group(TyperGroup):
    """The root command group: the one place where an exception becomes a message and an exit code."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 - the top level: every exception becomes a message
            _report_exception(e)


def _report_exception(e: Exception) -> NoReturn:
    """One line for ``e`` and the exit code of its kind; the traceback only for a bug and only with ``-v``."""
    import traceback

    from clhoi import _verbosity

    text = str(e).strip().strip('"') or type(e).__name__
    if "Original Traceback" in text:  # re-raised from a data-loader worker: its last line is the message
        text = text.strip().splitlines()[-1].split(": ", 1)[-1]
    if isinstance(e, _user_error_types()):
        if isinstance(e, RecursionError):
            text = "the input is nested too deeply to read"
        elif isinstance(e, MemoryError):
            text = "out of memory reading the input; is a file or a setting far larger than intended?"
        fail(text, EXIT_USER_ERROR)
    if _verbosity.get_level() >= _verbosity.VERBOSE:
        traceback.print_exception(e, file=sys.stderr)
        fail(f"internal error (a bug in clhoi): {type(e).__name__}: {text}; please report it with the traceback above",
             EXIT_BUG)
    fail(f"internal error (a bug in clhoi): {type(e).__name__}: {text}; rerun with -v for the traceback and "
         "report it", EXIT_BUG)


app = typer.Typer(
    name="clhoi",
    cls=_Group,
    help="CL-HOI: human-object interaction detection distilled from vision large language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    """``clhoi --version``: print the version and exit before any command runs."""
    if value:
        from clhoi import __version__

        typer.echo(f"clhoi {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[int, typer.Option(
        "--verbose", "-v", count=True, help="more output (repeat for more); shows the traceback of an internal error")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="less output: warnings and errors only")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """CL-HOI: human-object interaction detection distilled from vision large language models."""
    from clhoi import _verbosity

    if verbose and quiet:
        fail("-v/--verbose and -q/--quiet cannot be used together")
    _verbosity.set_level(_verbosity.QUIET if quiet else verbose)
    from clhoi.logs import setup_logging

    setup_logging(_verbosity.get_level())  # Python logging, and the libraries' logs and progress bars


def _quiet() -> bool:
    """``clhoi -q``: no progress bars, warnings and errors only."""
    from clhoi import _verbosity

    return _verbosity.get_level() < _verbosity.NORMAL


def fail(message: str, code: int = EXIT_USER_ERROR) -> NoReturn:
    """Print ``error: message`` (one line) to stderr and exit with ``code`` (2: the user's to fix)."""
    message = "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print the clhoi version."""
    from clhoi import __version__

    typer.echo(__version__)


# --- commands are added below, one block per stage -------------------------------------


# --- dataset readers ---
@app.command("check-annotations")
def check_annotations_command(
    path: Annotated[Path, typer.Argument(help="annotation file: test_hico.json, instances_test2015.json, anno_bbox.mat, "
                                              "vcoco_test.json or test_vcoco.json")],
    dataset: Annotated[str, typer.Option(help="hicodet | vcoco")] = "hicodet",
    coco_instances: Annotated[Optional[Path], typer.Option(help="COCO instances file (official V-COCO layout)")] = None,
    split: Annotated[Optional[Split], typer.Option(help="for an anno_bbox.mat file")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="count malformed HICO-DET records, not fail")] = False,
    image_list: Annotated[Optional[Path], typer.Option(
        help="write the file names of the images with interactions here, one per line (for `clhoi label "
             "teacher.image_list=FILE`)")] = None,
) -> None:
    """Read an HICO-DET or V-COCO annotation file, check every record, and print what it holds."""
    from clhoi.data.summary import summarize_annotations

    try:
        summary = summarize_annotations(dataset, path, coco_instances, split.value if split else None, skip_invalid)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    typer.echo("\n".join(summary.lines()))
    if image_list is not None:
        image_list.parent.mkdir(parents=True, exist_ok=True)
        image_list.write_text("".join(f"{name}\n" for name in summary.annotated), encoding="utf-8")
        typer.echo(f"wrote {len(summary.annotated)} image names to {image_list}")


# --- teacher report ---
@app.command("teacher-report")
def teacher_report_command(
    labels: Annotated[list[Path], typer.Argument(help="labels.jsonl file(s); several give a side-by-side table")],
    annotations: Annotated[Path, typer.Option(help="the dataset's ground-truth annotation file")],
    dataset: Annotated[ReportDataset, typer.Option(help="the annotations' dataset")] = ReportDataset.hicodet,
    out: Annotated[Path, typer.Option(help="folder for teacher_report.json and the PNG chart")] = Path(
        "teacher_report"
    ),
    name: Annotated[Optional[list[str]], typer.Option(help="display name per label file, in order")] = None,
    top: Annotated[int, typer.Option(help="ground-truth interactions in the chart (Fig. 9: 30)")] = 30,
    coco_instances: Annotated[
        Optional[Path], typer.Option(help="COCO instances file (V-COCO's official layout only)")
    ] = None,
) -> None:
    """Measure teacher labels against ground-truth HOIs: precision, recall, Fig. 9 chart."""
    from clhoi.report.teacher import teacher_report

    if dataset not in ("hicodet", "vcoco", "sandbox"):
        fail(f"--dataset must be hicodet, vcoco or sandbox, got {dataset!r}")
    if top < 1:
        fail("--top must be at least 1")
    try:
        report, json_path, png_path = teacher_report(labels, dataset.value, annotations, out, name, top_n=top,
                                                     coco_instances=coco_instances)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    typer.echo(report.table())
    for q in report.qualities:
        lines = q.to_dict(top_k=5)
        typer.echo(f"\n{q.name}: {q.num_images} images; {q.records_without_gt} records not in the annotations, "
                   f"{q.images_without_labels} annotated images without a record")
        for title, key in (("hallucinated", "hallucinated"), ("missed", "missed")):
            items = ", ".join(f"{d['verb']} {d['object']} ({d['count']})" for d in lines[key]) or "none"
            typer.echo(f"  most {title}: {items}")
        vocab = ", ".join(f"{d['name']} ({d['count']})" for d in lines["open_vocab"]) or "none"
        typer.echo(f"  open-vocabulary verbs: {vocab}")
    typer.echo(f"\nwrote {json_path} and {png_path}")


# --- evaluators ---
@app.command("evaluate")
def evaluate_command(
    dataset: Annotated[str, typer.Option(help="hicodet | vcoco | sandbox (or a plug-in dataset, clhoi/data/registry.py)")],
    predictions: Annotated[Path, typer.Option(help="predictions: a JSON list of {file_name, boxes, labels, hoi} records or JSON lines (predictions.jsonl of `clhoi eval`), or the <image>.json files of `clhoi predict` (one, or their folder); V-COCO also takes vsrl_eval detection records (docs/evaluation.md)")],
    annotations: Annotated[Optional[Path], typer.Option(help="test annotations (HICO-DET: any layout, default: the test annotations shipped with clhoi; V-COCO: vcoco_test.json or test_vcoco.json)")] = None,
    image_labels: Annotated[Optional[Path], typer.Option(help="HICO's image-level labels (anno.mat): the official Known-Object image set (HICO-DET only)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="write the metrics (and per-class APs) as JSON here")] = None,
    coco_instances: Annotated[Optional[Path], typer.Option(help="COCO instances file (official V-COCO layout only)")] = None,
) -> None:
    """Score HOI predictions with the official HICO-DET or V-COCO protocol (docs/evaluation.md)."""
    # the console entry point (clhoi/__main__.py) runs the same body without typer: keep the two in step
    from clhoi.eval.run import CommandFailed, evaluate_command

    try:
        evaluate_command(dataset, predictions, annotations, image_labels, out, coco_instances)
    except CommandFailed as e:
        fail(str(e))


# --- export: predictions in other evaluators' layouts ---
class ExportFormat(str, Enum):
    qpic = "qpic"
    matlab = "matlab"
    upt_vcoco = "upt-vcoco"


@app.command("export")
def export_command(
    predictions: Annotated[Path, typer.Argument(
        help="predictions.jsonl of `clhoi eval`, or a JSON list of {file_name, boxes, labels, hoi} records")],
    format: Annotated[ExportFormat, typer.Option(
        "--format", help="qpic: the QPIC family's hico_eval input (JSON); matlab: the official HICO-DET evaluation's "
                         "detections_XX.mat (ho-rcnn, UPT); upt-vcoco: UPT's V-COCO cache for vsrl_eval (.pkl or .json)")],
    out: Annotated[Path, typer.Option(help="a .json file (qpic), a folder (matlab), cache.pkl or .json (upt-vcoco)")],
    annotations: Annotated[Optional[Path], typer.Option(
        help="HICO-DET test annotations: their image order gives the MATLAB columns (default: the sorted "
             "predicted file names)")] = None,
) -> None:
    """Write predictions in the layouts of the QPIC family, the official MATLAB evaluation or UPT's V-COCO cache (docs/evaluation.md)."""
    from clhoi.eval.export import export_predictions, load_any_predictions

    try:
        preds = load_any_predictions(predictions)
        order = None
        if annotations is not None:
            from clhoi.data.hicodet import read_hicodet

            order = [a.file_name for a in read_hicodet(annotations, split="test", tensors=False)]
        paths = export_predictions(preds, format.value, out, order)
    except _user_errors() as e:
        fail(str(e).strip('"'))
    if format is ExportFormat.matlab and annotations is None:
        typer.echo(f"note: the .mat columns are the {len(preds)} predicted images in name order; pass --annotations "
                   "for the test set's own order (the official evaluation expects all its images)")
    typer.echo(f"wrote {len(preds)} images' predictions to {out if format is ExportFormat.matlab else paths[0]}")


# --- engine: train / cache / eval / predict ---
def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that are the user's to fix: shown as one line, never a traceback."""
    return (ValueError, KeyError, OSError, UnicodeError)


def _check_device(device: Optional[str]) -> None:
    """Refuse an unknown ``--device`` (or CUDA on a machine without it) before anything loads."""
    if device is None:
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        fail(f"--device {device!r} is not a device; use cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        fail(f"--device {device}: CUDA is not available on this machine; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        fail(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def _check_out_dir(path: Optional[Path], what: str = "--out") -> None:
    """An output folder must be a folder (or not exist yet)."""
    if path is not None and path.exists() and not path.is_dir():
        fail(f"{what} {path} is a file; give a folder (it is created when missing)")


def _check_out_file(path: Optional[Path], what: str = "--out") -> None:
    """An output file must not be a folder, and its parent must not be a file."""
    if path is None:
        return
    if path.is_dir():
        fail(f"{what} {path} is a folder; give a file name")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        fail(f"{what} {path}: {parent} is a file, not a folder")


def _report_skipped() -> None:
    """List the images ``--skip-bad-images`` left out (the command's last lines)."""
    from clhoi.data.images import skipped, skipped_summary

    if skipped:
        typer.echo(skipped_summary(skipped), err=True)


_SKIP_HELP = "leave out (count and list at the end) image files that cannot be decoded, instead of stopping"


@app.command("train", context_settings={"allow_extra_args": False})
def train_command(
    config: Annotated[Path, typer.Argument(help="experiment YAML (configs/*.yaml)")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="key.sub=value overrides")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue <output_dir>/checkpoint")] = False,
    resume_from: Annotated[Optional[Path], typer.Option(help="continue from this checkpoint directory")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    skip_bad_images: Annotated[bool, typer.Option("--skip-bad-images", help=_SKIP_HELP)] = False,
) -> None:
    """Train the student of CONFIG; the checkpoint goes to <output_dir>/checkpoint.

    Multi-GPU: `accelerate launch -m clhoi.cli train CONFIG` or `torchrun --nproc_per_node N -m clhoi.cli train CONFIG`.
    """
    from clhoi.config import load_config
    from clhoi.engine.train import NonFiniteLossError, train

    try:
        cfg = load_config(config, [*(overrides or []), *(["data.skip_bad_images=true"] if skip_bad_images else [])])
        _check_out_dir(Path(cfg.output_dir), "output_dir")
        ckpt = train(cfg, resume=resume_from or resume or None, progress=progress and not _quiet())
    except NonFiniteLossError as e:
        fail(str(e), code=EXIT_RUN_FAILED)
    except _user_errors() as e:
        fail(str(e).strip('"'))
    _report_skipped()
    typer.echo(f"checkpoint: {ckpt}")


@app.command("cache")
def cache_command(
    config: Annotated[Path, typer.Argument(help="experiment YAML; data.cache_dir says where the cache goes")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="key.sub=value overrides")] = None,
    split: Annotated[Split, typer.Option(help="the split to cache")] = Split.train,
    shard_size: Annotated[int, typer.Option(help="images per shard (the unit of resumption)")] = 256,
    union_crops: Annotated[Optional[bool], typer.Option(
        "--union-crops/--no-union-crops", help="cache CLIP embeddings of union crops (default: train with SR loss)")] = None,
    dtype: Annotated[CacheDtype, typer.Option(help="storage type")] = CacheDtype.float32,
    skip_bad_images: Annotated[bool, typer.Option("--skip-bad-images", help=_SKIP_HELP)] = False,
) -> None:
    """Precompute detections and frozen CLIP features of a split (sharded, resumable)."""
    from clhoi.config import load_config
    from clhoi.engine.cache import build_cache

    if shard_size < 1:
        fail("--shard-size must be >= 1")
    try:
        cfg = load_config(config, [*(overrides or []), *(["data.skip_bad_images=true"] if skip_bad_images else [])])
        out = build_cache(cfg, split.value, shard_size=shard_size, union_crops=union_crops, dtype=dtype.value,
                          callback=lambda done, total: typer.echo(f"cached {done}/{total} images"))
    except _user_errors() as e:
        fail(str(e).strip('"'))
    _report_skipped()
    typer.echo(f"cache: {out}")


@app.command("eval")
def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint directory written by `clhoi train`")],
    dataset: Annotated[Optional[str], typer.Option(help="hicodet | vcoco | sandbox (default: the checkpoint's)")] = None,
    annotations: Annotated[Optional[str], typer.Option(help="test annotation file (default: data.test_annotations)")] = None,
    detections: Annotated[Optional[str], typer.Option(help="test detections file (default: data.detections_test)")] = None,
    image_root: Annotated[Optional[str], typer.Option(help="image folder (default: data.image_root)")] = None,
    coco_instances: Annotated[Optional[str], typer.Option(
        help="COCO instances file, for the official V-COCO layout (default: data.coco_instances)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="folder for predictions.jsonl and metrics.json")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="images per forward pass")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu | cuda (default: cuda when available)")] = None,
    skip_bad_images: Annotated[bool, typer.Option("--skip-bad-images", help=_SKIP_HELP)] = False,
) -> None:
    """Evaluate a checkpoint with the official HICO-DET mAP / V-COCO role AP."""
    from clhoi.engine.evaluate import evaluate_checkpoint
    from clhoi.provenance import format_provenance_header

    if dataset is not None and dataset not in ("hicodet", "vcoco", "sandbox"):
        fail(f"--dataset must be hicodet, vcoco or sandbox, got {dataset!r}")
    try:
        _check_device(device)
        _check_out_dir(out)
        if batch_size is not None and batch_size < 1:
            fail("--batch-size must be >= 1")
        result = evaluate_checkpoint(checkpoint, dataset, annotations, detections, image_root, out,
                                     batch_size=batch_size, device=device, coco_instances=coco_instances,
                                     skip_bad_images=skip_bad_images)
    except _user_errors() as e:
        fail(str(e).strip('"'))
    _report_skipped()
    typer.echo(format_provenance_header(result.provenance))
    typer.echo(result.table)
    typer.echo(f"wrote {result.output_dir}/predictions.jsonl and metrics.json")


@app.command("predict")
def predict_command(
    images: Annotated[list[Path], typer.Argument(help="image files")],
    checkpoint: Annotated[Path, typer.Option(help="checkpoint directory written by `clhoi train`")],
    verbs: Annotated[Optional[str], typer.Option(help='comma-separated verbs to score, e.g. "ride,hold"')] = None,
    dataset: Annotated[Optional[str], typer.Option(help="hicodet | vcoco label set (default: the checkpoint's)")] = None,
    out: Annotated[Path, typer.Option(help="folder for <image>.json and <image>.png")] = Path("predictions"),
    detections: Annotated[Optional[Path], typer.Option(help="detections file (default: run detector.model)")] = None,
    attention: Annotated[bool, typer.Option("--attention", help="also write Fig. 8 style attention maps")] = False,
    threshold: Annotated[Optional[float], typer.Option(help="minimum triplet score")] = None,
    top_k: Annotated[Optional[int], typer.Option(help="triplets kept per image")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu | cuda")] = None,
    skip_bad_images: Annotated[bool, typer.Option("--skip-bad-images", help=_SKIP_HELP)] = False,
) -> None:
    """Detect human-object interactions in your own photos: JSON triplets and a PNG per image."""
    from clhoi.engine.predict import predict

    verb_list = [v.strip() for v in verbs.split(",") if v.strip()] if verbs is not None else None
    if verbs is not None and not verb_list:
        fail('--verbs is empty; give comma-separated verbs, e.g. --verbs "ride,hold"')
    try:
        _check_device(device)
        _check_out_dir(out)
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            fail(f"--threshold must be in [0, 1], got {threshold}")
        if top_k is not None and top_k < 1:
            fail(f"--top-k must be >= 1, got {top_k}")
        results = predict(images, checkpoint, out, verb_list, dataset, detections, attention, threshold, top_k, device,
                          skip_bad_images=skip_bad_images)
    except _user_errors() as e:
        fail(str(e).strip('"'))
    _report_skipped()
    for r in results:
        best = ", ".join(_triplet_text(t) for t in r.triplets[:3]) or "no interaction above the threshold"
        typer.echo(f"{r.image}: {best} -> {r.png_path}")


def _triplet_text(t: dict) -> str:
    """``ride horse 0.87``: the class name, the object only where the name lacks it (open verbs)."""
    name, obj = t["interaction"], t["object"] or ""
    return f"{name if not obj or name.endswith(obj) else f'{name} {obj}'} {t['score']:.2f}"


# --- teacher labeling ---
@app.command("label")
def label_command(
    args: Annotated[Optional[list[str]], typer.Argument(
        help="[CONFIG.yaml] then key=value overrides; a key without a section is a teacher key (backend=openai)")] = None,
    images: Annotated[Optional[Path], typer.Option(help="image folder (default: data.image_root of CONFIG)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="label store, JSON lines (default: data.labels of CONFIG)")] = None,
    shard: Annotated[str, typer.Option(help="label only shard i of n, e.g. 0/8 (merge with merge-labels)")] = "0/1",
    limit: Annotated[Optional[int], typer.Option(help="label at most N images in this run")] = None,
    image_list: Annotated[Optional[Path], typer.Option(help="label only the image paths listed in this file")] = None,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="label again images recorded as errors")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the prompts it would send; load and write nothing")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Label images with a teacher VLLM: captions + (verb, object) pairs, one JSON line per image, resumable.

    Example: clhoi label configs/hicodet.yaml --images hico/train2015 --out labels.jsonl backend=openai
    """
    from clhoi.config import ConfigError
    from clhoi.teacher.client import TeacherFatalError
    from clhoi.teacher.run import label, load_teacher_config

    args = list(args or [])
    config = args.pop(0) if args and "=" not in args[0] and args[0].endswith((".yaml", ".yml")) else None
    if any("=" not in a for a in args):
        fail(f"expected key=value overrides after the config, got {[a for a in args if '=' not in a]}")
    try:
        i, n = (int(v) for v in shard.split("/"))
    except ValueError:
        fail(f"--shard must look like i/n (e.g. 0/8), got {shard!r}")
    try:
        cfg, exp = load_teacher_config(config, args)
    except ConfigError as e:
        fail(str(e))
    images = images or (Path(exp.data.image_root) if exp.data.image_root else None)
    out = out or (Path(exp.data.labels) if exp.data.labels else None)
    if images is None or out is None:
        fail("give --images DIR and --out FILE (or data.image_root and data.labels in the config)")
    if limit is not None and limit < 0:
        fail("--limit must be >= 0")
    _check_out_file(out)
    try:
        summary = label(cfg, images, out, shard=(i, n), limit=limit, image_list=image_list,
                        retry_errors=retry_errors, dry_run=dry_run, progress=progress, echo=typer.echo)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except TeacherFatalError as e:
        fail(f"{e} (records written so far are kept; rerun to resume)", code=1)
    except (OSError, ValueError) as e:
        fail(str(e).strip('"'))
    if dry_run:
        typer.echo(f"dry run: {summary.planned} images would be labelled into {out}")
        return
    typer.echo(summary.format())
    if summary.failed_now:
        every = summary.failed_now == summary.labelled_now
        typer.echo(f"{'error' if every else 'warning'}: {summary.failed_now} of {summary.labelled_now} images failed "
                   "in this run (status error, reasons above); fix the cause and rerun with --retry-errors", err=True)
        if every:
            raise typer.Exit(EXIT_RUN_FAILED)


@app.command("parse")
def parse_command(
    rules: Annotated[bool, typer.Option("--rules", help="read each text as a caption with the rule-based parser")] = False,
) -> None:
    """Parse teacher texts: JSON lines {"text": ...} on stdin -> {"text", "pairs", "status"} lines on stdout.

    A line that is not such an object is reported on stderr and skipped; the
    others are parsed. The exit code is then 2 (after the last line).

    Example: echo '{"text": "*Swing, Baseball Bat."}' | clhoi parse
    """
    import json

    from clhoi.teacher.parse import parse_caption, parse_pairs

    bad: list[int] = []
    for lineno, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            text = json.loads(line)["text"]
            if not isinstance(text, str):
                raise TypeError
        except (ValueError, KeyError, TypeError, IndexError, RecursionError):
            bad.append(lineno)
            typer.echo(f'error: stdin line {lineno}: expected a JSON object {{"text": "..."}}, got '
                       f'{line.strip()[:80]!r}; skipped', err=True)
            continue
        pairs = parse_caption(text) if rules else parse_pairs(text)
        row = {"text": text, "pairs": [vars(p) for p in pairs], "status": "ok" if pairs else "no_action"}
        typer.echo(json.dumps(row, ensure_ascii=False))
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
        fail(f"{len(bad)} stdin line(s) were skipped (line {shown}); the others were parsed")


@app.command("merge-labels")
def merge_labels_command(
    inputs: Annotated[list[Path], typer.Argument(help="label files to merge (e.g. the shards of --shard i/n runs)")],
    out: Annotated[Path, typer.Option(help="the merged label file")],
) -> None:
    """Merge label files into one, one record per image (a good record beats an error)."""
    from clhoi.teacher.store import merge_labels, read_labels
    from clhoi.teacher.summary import summarize

    try:
        result = merge_labels(inputs, out)
        summary = summarize(read_labels(out))
    except (OSError, ValueError) as e:
        fail(str(e))
    typer.echo(f"merged {result.inputs} records from {len(inputs)} files into {result.records} in {out} "
               f"({result.duplicates} duplicates)")
    typer.echo(summary.format(this_run=False))


# --- detection ---
@app.command("detect")
def detect_command(
    images: Annotated[list[Path], typer.Argument(help="image files or folders (searched recursively)")],
    out: Annotated[Path, typer.Option(help="detections file to write (.safetensors or .npz)")],
    model: Annotated[str, typer.Option(help="Hugging Face detector id or local path")] = "facebook/detr-resnet-50",
    image_root: Annotated[Optional[Path], typer.Option(help="keys become paths relative to this folder")] = None,
    score_threshold: Annotated[float, typer.Option(help="UPT filter: minimum score")] = 0.2,
    nms_threshold: Annotated[float, typer.Option(help="UPT filter: per-class NMS IoU")] = 0.5,
    min_instances: Annotated[int, typer.Option(help="UPT filter: humans / objects kept at least")] = 3,
    max_instances: Annotated[int, typer.Option(help="UPT filter: humans / objects kept at most")] = 15,
    raw: Annotated[bool, typer.Option("--raw", help="keep every query (no UPT filter)")] = False,
    batch_size: Annotated[int, typer.Option(help="images per detector call")] = 8,
    device: Annotated[Optional[str], typer.Option(help="cpu | cuda (default: cuda when available)")] = None,
    skip_bad_images: Annotated[bool, typer.Option("--skip-bad-images", help=_SKIP_HELP)] = False,
) -> None:
    """Run an off-the-shelf detector (DETR) once and write a detections file that training and eval read."""
    from clhoi.detect.config import DetectorConfig

    if batch_size < 1 or min_instances < 0 or max_instances < min_instances:
        fail("--batch-size must be >= 1 and 0 <= --min-instances <= --max-instances")
    if not (0.0 <= score_threshold <= 1.0 and 0.0 <= nms_threshold <= 1.0):
        fail("--score-threshold and --nms-threshold must be in [0, 1]")
    _check_device(device)
    _check_out_file(out)
    cfg = DetectorConfig(model=model, score_threshold=score_threshold, nms_threshold=nms_threshold,
                         min_humans=min_instances, max_humans=max_instances, min_objects=min_instances,
                         max_objects=max_instances)
    try:
        from clhoi.detect.run import detect_files

        path = detect_files(images, out, cfg, image_root, filtered=not raw, batch_size=batch_size, device=device,
                            callback=lambda done, total: typer.echo(f"detected {done}/{total} images"),
                            skip_bad_images=skip_bad_images)
    except (FileNotFoundError, ValueError, OSError, ImportError) as e:
        fail(str(e).strip('"'))
    _report_skipped()
    typer.echo(f"detections: {path}")


class DetectionsLabels(str, Enum):
    hico80 = "hico80"
    coco80 = "coco80"
    coco91 = "coco91"


@app.command("convert-detections")
def convert_detections_command(
    source: Annotated[Path, typer.Argument(
        help="COCO results JSON (detectron2, mmdetection, ultralytics) or a folder of UPT's per-image .json files")],
    out: Annotated[Path, typer.Option(help="detections file to write (.safetensors or .npz)")],
    images: Annotated[Optional[Path], typer.Option(
        help="COCO results only: a COCO-style JSON with 'images' [{id, file_name, height, width}] or an "
             "{id: file_name} map")] = None,
    labels: Annotated[Optional[DetectionsLabels], typer.Option(
        help="how the source numbers classes (default: coco91 for COCO results, hico80 for UPT files)")] = None,
    image_suffix: Annotated[str, typer.Option(help="UPT files: suffix of the image each <name>.json belongs to")] = ".jpg",
    min_score: Annotated[float, typer.Option(help="COCO results: drop boxes scoring below this")] = 0.0,
) -> None:
    """Convert another detector's output into a clhoi detections file (docs/training.md)."""
    from clhoi.detect.files import save_detections
    from clhoi.detect.formats import load_foreign_detections

    try:
        dets = load_foreign_detections(source, images, labels.value if labels else None, image_suffix, min_score)
        save_detections(out, dets)
    except _user_errors() as e:
        fail(str(e).strip('"'))
    boxes = sum(len(d.boxes) for d in dets.values())
    typer.echo(f"wrote {boxes} boxes of {len(dets)} images to {out}")


# --- sandbox ---
@app.command("demo")
def demo_command(
    output: Annotated[Path, typer.Option(help="folder for results.json, checkpoints and prediction images")] = Path(
        "runs/demo"
    ),
    cache_dir: Annotated[
        Optional[Path], typer.Option(help="where generated worlds are cached (default ~/.cache/clhoi/sandbox)")
    ] = None,
    ablation: Annotated[Optional[Ablation], typer.Option(help="chain (Table 4) or losses (Fig. 3)")] = None,
    seed: Annotated[int, typer.Option(help="seed of the world, teacher, detector and training")] = 0,
    train_images: Annotated[int, typer.Option(help="training images in the world")] = 600,
    test_images: Annotated[int, typer.Option(help="test images in the world")] = 200,
    epochs: Annotated[int, typer.Option(help="training epochs of each model")] = 12,
    max_steps: Annotated[int, typer.Option(help="stop each training after this many steps (0: no limit)")] = 0,
    threads: Annotated[int, typer.Option(help="torch CPU threads")] = 1,
) -> None:
    """Run CL-HOI end to end in the offline sandbox: world, teacher, training, evaluation, table."""
    from clhoi.sandbox.demo import ABLATIONS, DemoSettings, run_demo

    if ablation is not None and ablation not in ABLATIONS:
        fail(f"--ablation must be one of {', '.join(ABLATIONS)}, got {ablation!r}")
    if min(train_images, test_images, threads) < 1 or epochs < 0 or max_steps < 0:
        fail("--train-images, --test-images and --threads must be >= 1; --epochs and --max-steps >= 0")
    if max(train_images, test_images) > 100_000 or epochs > 10_000 or threads > 1024:
        fail("--train-images and --test-images are at most 100000, --epochs 10000, --threads 1024 "
             "(the sandbox world is generated in memory)")
    _check_out_dir(output, "--output")
    settings = DemoSettings(seed=seed, num_train=train_images, num_test=test_images, epochs=epochs,
                            max_steps=max_steps, threads=threads)
    try:
        result = run_demo(settings, output, cache_dir, ablation.value if ablation else None, echo=typer.echo)
    except (FileNotFoundError, ValueError, OSError) as e:
        fail(str(e))
    typer.echo(f"wrote {result.output_dir / 'results.json'}")


@app.command("probe")
def probe_command(
    name: Annotated[str, typer.Argument(help="geometry | appearance | context")],
    output: Annotated[Optional[Path], typer.Option(help="folder for results.json (default runs/probe-NAME)")] = None,
    cache_dir: Annotated[
        Optional[Path], typer.Option(help="where generated worlds are cached (default ~/.cache/clhoi/sandbox)")
    ] = None,
    seeds: Annotated[int, typer.Option(help="seeds 0..N-1 (each: world, teacher, detector, training)")] = 3,
    train_images: Annotated[int, typer.Option(help="training images per world")] = 240,
    test_images: Annotated[int, typer.Option(help="test images per world")] = 120,
    epochs: Annotated[int, typer.Option(help="training epochs of each model")] = 10,
    max_steps: Annotated[int, typer.Option(help="stop each training after this many steps (0: no limit)")] = 0,
    clip: Annotated[
        Optional[Path], typer.Option(help="CLIP folder for the student (default: the shipped sandbox CLIP)")
    ] = None,
    row: Annotated[Optional[list[str]], typer.Option(help="run only this row (repeatable; default: all five)")] = None,
    clip_layer: Annotated[int, typer.Option(help="CLIP hidden_states layer of f_img (model.clip_feature_layer)")] = -1,
    visual_layer: Annotated[str, typer.Option(
        help="CLIP hidden_states layer the visual link reads (model.visual_feature_layer), or 'none' for f_img's"
    )] = "0",
    context_margin: Annotated[float, typer.Option(help="context probe: neutral pixels around the pairs")] = 10.0,
    box_embeddings: Annotated[str, typer.Option(
        help="detector box embeddings: class (object-centric: class vector + noise) | pooled (CLIP RoIAlign, first pass)"
    )] = "class",
    visual_guidance: Annotated[str, typer.Option(help="model.visual_union_guidance: none | mask | bias")] = "mask",
) -> None:
    """Capability probe: does the link a cue needs (spatial / visual / context) learn it, annotation-free?"""
    from clhoi.sandbox.probes import PROBES, ProbeSettings, probe_rows, run_probe

    if name not in PROBES:
        fail(f"unknown probe {name!r}; valid: {', '.join(PROBES)}")
    known = [r[0] for r in probe_rows()]
    if any(r not in known for r in row or ()):
        fail(f"unknown --row; valid: {'; '.join(known)}")
    if min(seeds, train_images, test_images) < 1 or epochs < 0 or max_steps < 0:
        fail("--seeds, --train-images and --test-images must be >= 1; --epochs and --max-steps >= 0")
    if box_embeddings not in ("class", "pooled"):
        fail(f"unknown --box-embeddings {box_embeddings!r}; valid: class, pooled")
    if visual_guidance not in ("none", "mask", "bias"):
        fail(f"unknown --visual-guidance {visual_guidance!r}; valid: none, mask, bias")
    try:
        visual_layer_index = None if visual_layer.strip().lower() == "none" else int(visual_layer)
    except ValueError:
        fail(f"--visual-layer must be a CLIP layer index or 'none', got {visual_layer!r}")
    settings = ProbeSettings(seeds=tuple(range(seeds)), num_train=train_images, num_test=test_images, epochs=epochs,
                             max_steps=max_steps, clip=str(clip) if clip else ProbeSettings.clip, rows=tuple(row or ()),
                             clip_feature_layer=clip_layer, visual_feature_layer=visual_layer_index,
                             context_margin=context_margin,
                             box_embeddings=box_embeddings, visual_guidance=visual_guidance)
    out = output or Path(f"runs/probe-{name}")
    try:
        run_probe(name, settings, out, cache_dir, echo=typer.echo)
    except (FileNotFoundError, ValueError, OSError) as e:
        fail(str(e))
    typer.echo(f"wrote {out / 'results.json'}")


def main() -> None:
    """The ``clhoi`` entry point; exit codes in the module docstring."""
    try:
        app()
    except KeyboardInterrupt:  # outside click's own handling (e.g. while importing)
        typer.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
