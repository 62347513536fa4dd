"""``clhoi evaluate``: predictions file (+ annotation file) -> metrics table and JSON.

Datasets are reached by name through :mod:`clhoi.data.registry` (HICO-DET, V-COCO,
plug-ins such as the sandbox). The HICO-DET path imports neither torch nor
transformers: annotations and predictions are read into NumPy arrays, so the whole
command takes about as long as reading the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from clhoi.eval.files import gc_paused, load_records, read_arrays_in_two, records_to_arrays, write_metrics

if TYPE_CHECKING:
    from rich.table import Table

    from clhoi.eval.hicodet import HICODetResult
    from clhoi.eval.vcoco import VCOCOResult
    from clhoi.structures import ImageAnnotation, Predictions

DATASETS: tuple[str, ...] = ("hicodet", "vcoco", "sandbox")
"""The datasets of clhoi itself; :func:`clhoi.data.registry.dataset_names` also lists plug-ins."""


@dataclass
class EvaluationRun:
    """What :func:`run_evaluation` did.

    Attributes:
        result: the evaluator's result (:class:`HICODetResult` or :class:`VCOCOResult`).
        annotations: the annotation file scored against.
        notes: lines for the user: which annotations and which Known-Object rule were used.
        warning: a loud message when the numbers are meaningless (label-space mix-up), else ``None``.
    """

    result: Any
    annotations: Path
    notes: list[str] = field(default_factory=list)
    warning: str | None = None


_KEPT_UNTIL_EXIT: list | None = None
"""``None``, or a list that :func:`run_evaluation` puts the parsed predictions in instead of freeing them:
set by the console entry point, which ends the process without freeing anything
(:func:`clhoi.__main__.exit_now`). Freeing the Python objects of a large predictions file
(a million numbers) takes 0.03-0.05 s, for memory the process gives back a moment later."""


def keep_inputs_until_exit() -> None:
    """The parsed inputs of every later :func:`run_evaluation` stay referenced until the process ends
    (for the console entry point only: a process that goes on would keep their memory)."""
    global _KEPT_UNTIL_EXIT
    if _KEPT_UNTIL_EXIT is None:
        _KEPT_UNTIL_EXIT = []


class CommandFailed(Exception):
    """A fault of ``clhoi evaluate``'s input that the user fixes: printed as ``error: <message>``, exit code 2."""


def evaluate_command(
    dataset: str,
    predictions: Path,
    annotations: Path | None = None,
    image_labels: Path | None = None,
    out: Path | None = None,
    coco_instances: Path | None = None,
) -> None:
    """The body of ``clhoi evaluate``: evaluate, print the notes and the table (or the warning), write ``out``.

    Shared by the typer command (:mod:`clhoi.cli`) and the console entry point's fast path
    (:mod:`clhoi.__main__`), so both print the same lines.

    Raises:
        CommandFailed: an unknown dataset, a missing or malformed file (the message names it).
    """
    from clhoi.data.registry import dataset_names, get_dataset

    try:
        get_dataset(dataset)  # built-in names without scanning the installed packages' entry points
    except ValueError:
        raise CommandFailed(f"--dataset must be one of {', '.join(dataset_names())}, got {dataset!r}") from None
    try:
        run = run_evaluation(dataset, predictions, annotations, coco_instances, out, image_labels)
    except (FileNotFoundError, ValueError, KeyError) as e:
        raise CommandFailed(str(e).strip('"')) from None
    for note in run.notes:
        print(note, flush=True)
    if run.warning is not None:  # every AP is 0 for a reason that is not the model's: no table of zeros
        import click

        click.secho(f"WARNING: {run.warning}", err=True, fg="red", bold=True)
    else:
        import sys

        text = plain_metrics_text(run.result, sys.stdout)
        if text is not None:  # what rich prints there, without importing it (0.03-0.05 s)
            print(text, end="", flush=True)
        else:
            from rich.console import Console

            Console().print(metrics_table(run.result))
    if out is not None:
        print(f"wrote {out}", flush=True)


def evaluate_dataset(
    dataset: str,
    predictions: Iterable[Predictions] | Any,
    annotations: list[ImageAnnotation],
    image_labels: dict[str, Iterable[int]] | None = None,
    known_object_rule: str | None = None,
) -> HICODetResult | VCOCOResult:
    """The official evaluator of ``dataset`` on predictions and ground truth in the annotation file's class ids.

    ``predictions``: per-image ``Predictions`` or the ``PredictionArrays`` of a file.
    ``image_labels`` (HICO-DET protocol): see :class:`~clhoi.eval.hicodet.HICODetEvaluator`.
    """
    from clhoi.data.registry import get_dataset

    spec = get_dataset(dataset)
    gts = spec.scored_ground_truth(annotations)
    if spec.protocol == "hicodet":
        from clhoi.eval.hicodet import HICODetEvaluator

        evaluator = HICODetEvaluator(gts, spec.label_space(), image_labels=image_labels,
                                     known_object_rule=known_object_rule)
        evaluator.process(predictions)
        return evaluator.evaluate()
    from clhoi.eval.vcoco import VCOCOEvaluator

    v = VCOCOEvaluator(gts)
    v.process(predictions)
    return v.evaluate()


def run_evaluation(
    dataset: str,
    predictions: str | Path,
    annotations: str | Path | None = None,
    coco_instances: str | Path | None = None,
    out: str | Path | None = None,
    image_labels: str | Path | None = None,
) -> EvaluationRun:
    """Evaluate a predictions file against a ground-truth file.

    Args:
        dataset: a name of :func:`clhoi.data.registry.dataset_names` (``hicodet``, ``vcoco``, ``sandbox``).
        predictions: per-image records as one JSON list or as JSON lines
            (:mod:`clhoi.eval.files`; ``clhoi eval`` writes ``predictions.jsonl``); for
            V-COCO also the official ``vsrl_eval`` detection records (records with
            ``person_box``, :mod:`clhoi.eval.vcoco_detections`).
        annotations: the test annotations; default: the dataset's shipped copy (HICO-DET).
        coco_instances: the COCO instances file, for the official V-COCO layout.
        out: where to write the metrics JSON (optional).
        image_labels: HICO's image-level labels (``anno.mat``) for the official Known-Object
            image set (HICO-DET protocol only).

    Raises:
        ValueError: unknown dataset, missing annotations, or a malformed file (the message names it).
        FileNotFoundError: a file does not exist.
    """
    from clhoi.data.registry import get_dataset

    spec = get_dataset(dataset)
    notes: list[str] = []
    if annotations is None:
        if spec.default_annotations is None:
            raise ValueError(f"--annotations is required for {dataset} (no test annotations ship with clhoi for it)")
        annotations = spec.default_annotations()
        notes.append(f"annotations: {annotations.name}, the {dataset} test annotations shipped with clhoi "
                     "(give --annotations to use another file)")
    else:
        notes.append(f"annotations: {annotations}")
    annotations = Path(annotations)
    if image_labels is not None and (spec.protocol != "hicodet" or spec.to_scored_classes is not None):
        raise ValueError(f"--image-labels applies to HICO-DET only, not to {dataset}")
    with gc_paused():
        # a second process (when a CPU is idle, clhoi/eval/parallel.py): V-COCO annotations are read by it
        # while this one reads the predictions; a large HICO-DET predictions file is parsed half by each
        read_gts = _read_annotations_aside(spec, annotations, coco_instances, predictions)
        records: list = []  # the parsed JSON; stays empty when two processes gave the arrays
        try:
            arrays = read_arrays_in_two(predictions) if spec.protocol == "hicodet" else None
            official = False
            if arrays is None:  # the predictions' errors come first, as they always did
                records = load_records(predictions)
                other = {r.get("label_set") for r in records if isinstance(r, dict)} - {None, dataset}
                if other:  # per-image files of `clhoi predict` say which label set they score
                    raise ValueError(f"{predictions}: the predictions score the {sorted(other)[0]!r} label set, not "
                                     f"{dataset}; evaluate them with --dataset {sorted(other)[0]} (open --verbs "
                                     "cannot be evaluated)")
                official = (spec.protocol == "vcoco" and bool(records) and isinstance(records[0], dict)
                            and "person_box" in records[0])
                arrays = None if official else records_to_arrays(records, predictions)
                if not official:
                    records = []  # free the parsed JSON
            hidden: dict[str, list[int]] | None = None
            if spec.protocol == "hicodet" and spec.to_scored_classes is None and annotations.suffix.lower() == ".mat":
                from clhoi.data.hicodet import load_hicodet

                mat = load_hicodet(annotations, tensors=False)
                gts, hidden = mat.images, mat.invisible_classes
            else:
                join, read_gts = read_gts, None
                gts = _join_annotations(join)
                if gts is None:
                    gts = spec.read_annotations(annotations, coco_instances, tensors=False)
        finally:
            if read_gts is not None:  # failed before the annotations were needed: reap the child, drop its result
                read_gts()
        labels, rule = _known_object_labels(spec.protocol, image_labels, hidden, gts, notes)
        try:  # content errors (unknown image, class out of range, ...) name the image: add the file
            if official:
                from clhoi.eval.vcoco import VCOCOEvaluator

                evaluator = VCOCOEvaluator(spec.scored_ground_truth(gts))
                evaluator.process_detections(records, str(predictions))
                result = evaluator.evaluate()
            else:
                result = evaluate_dataset(dataset, arrays, gts, labels, rule)
        except ValueError as e:
            raise ValueError(e if str(e).startswith(str(predictions)) else f"{predictions}: {e}") from None
    if hasattr(result, "label_space_warning"):
        warning = result.label_space_warning()
    else:
        warning = _vcoco_label_space_warning(result, arrays)
    if out is not None:
        write_metrics(result.to_dict(), out)
    if _KEPT_UNTIL_EXIT is not None:
        _KEPT_UNTIL_EXIT.append(records)
    return EvaluationRun(result, annotations, notes, warning)


ASIDE_BYTES = 1 << 20
"""V-COCO annotations are read in a second process only when they and the predictions are this large."""


def _read_annotations_aside(spec: Any, annotations: Path, coco_instances: str | Path | None,
                            predictions: str | Path) -> Any:
    """Start reading V-COCO annotations in a forked child (:func:`clhoi.eval.parallel.fork_call`), or ``None``.

    Only for V-COCO, with an idle CPU, and files of at least :data:`ASIDE_BYTES` (annotations
    and predictions): small inputs are read faster than a process starts. Exceptions raised
    by the reader in the child are not passed on: the caller then reads the file itself and
    raises them; warnings are recorded and shown again by :func:`_join_annotations`.
    """
    from clhoi.eval import parallel

    if spec.protocol != "vcoco" or not parallel.idle_cpu():
        return None
    try:
        size = annotations.stat().st_size + (Path(coco_instances).stat().st_size if coco_instances else 0)
        if size < ASIDE_BYTES or Path(predictions).stat().st_size < ASIDE_BYTES:
            return None
    except OSError:
        return None
    return parallel.fork_call(_read_recording_warnings, spec.read_annotations, annotations, coco_instances,
                              capacity=64 * size + (16 << 20))


def _read_recording_warnings(read: Any, annotations: Path, coco_instances: Any) -> tuple[list, list]:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gts = read(annotations, coco_instances, tensors=False)
    return gts, [(str(w.message), w.category, w.filename, w.lineno) for w in caught]


def _join_annotations(join: Any) -> list | None:
    """The child's annotations (its warnings shown here, as if raised here), or ``None``."""
    if join is None:
        return None
    from clhoi.eval import parallel

    done = join()
    if done is parallel.NO_RESULT:
        return None
    import warnings

    gts, caught = done
    for message, category, filename, lineno in caught:
        warnings.warn_explicit(message, category, filename, lineno)
    return gts


def _vcoco_label_space_warning(result: Any, arrays: Any) -> str | None:
    """V-COCO: triplets were scored, but none of their classes' actions has a positive in the ground truth."""
    import numpy as np

    from clhoi import vocab

    if arrays is None or arrays.classes.size == 0 or not hasattr(result, "num_pos"):
        return None
    names = [a.name for a in vocab.vcoco_actions()]
    classes = vocab.vcoco_classes()
    predicted = np.unique(arrays.classes)
    predicted = predicted[(predicted >= 0) & (predicted < len(classes))]
    actions = [names.index(classes[int(c)][0]) for c in predicted]
    if not actions or (np.asarray(result.num_pos)[actions] > 0).any():
        return None
    return (f"none of the {len(predicted)} predicted classes has any positive in these {result.num_images} images, "
            "so every AP is 0: the predictions are probably in another label space than the annotations "
            "(HICO-DET class ids, or 1-based ids); check --dataset and the class_idx of 'hoi'")


def _known_object_labels(
    protocol: str, image_labels: str | Path | None, hidden: dict[str, list[int]] | None, gts: list, notes: list[str]
) -> tuple[dict[str, Any] | None, str | None]:
    """The image-level classes of each image for Known-Object, and the rule they stand for.

    ``hidden``: the ``invis`` HOI classes per image, when the annotations are ``anno_bbox.mat``.
    """
    if protocol != "hicodet":
        return None, None
    from clhoi.eval.hicodet import KNOWN_OBJECT_RULES

    if image_labels is not None:
        from clhoi.data.hicodet import read_image_labels

        labels = read_image_labels(image_labels, "test").positive_classes()
        notes.append(f"Known-Object images: {KNOWN_OBJECT_RULES['image_labels']} ({image_labels})")
        return labels, "image_labels"
    if hidden is not None:
        labels = {a.file_name: [*a.hoi[:, 2].tolist(), *hidden.get(a.file_name, [])] for a in gts}
        notes.append(f"Known-Object images: {KNOWN_OBJECT_RULES['boxes_and_invisible']}")
        return labels, "boxes_and_invisible"
    notes.append(f"Known-Object images: {KNOWN_OBJECT_RULES['boxes']}")
    return None, "boxes"


def evaluate_files(
    dataset: str,
    annotations: str | Path | None,
    predictions: str | Path,
    coco_instances: str | Path | None = None,
    out: str | Path | None = None,
    image_labels: str | Path | None = None,
) -> HICODetResult | VCOCOResult:
    """:func:`run_evaluation`, returning only the evaluator's result."""
    return run_evaluation(dataset, predictions, annotations, coco_instances, out, image_labels).result


def _table_content(result: Any) -> tuple[str, str, list[tuple[str, str]], list[tuple[str, ...]]]:
    """What :func:`metrics_table` shows: ``(title, caption, [(column, justify)], rows)``; a HICO-DET table for a
    :class:`HICODetResult`, else V-COCO's."""
    import sys

    hicodet = sys.modules.get("clhoi.eval.hicodet")  # loaded wherever such a result exists
    if hicodet is not None and isinstance(result, hicodet.HICODetResult):
        columns = [(col, "left" if col == "setting" else "right") for col in ("setting", "Full", "Rare", "Non-rare")]
        rows = [(name, *(f"{100 * v:.2f}" for v in (s.full, s.rare, s.non_rare)))
                for name, s in (("Default", result.default), ("Known-Object", result.known_object))]
        return "HICO-DET mAP (%)", f"{result.num_images} images, {result.num_triplets} triplets", columns, rows
    rows = [(name, f"{100 * v:.2f}") for name, v in (("AP_role scenario 1", result.role_map_scenario_1),
                                                     ("AP_role scenario 2", result.role_map_scenario_2),
                                                     ("AP_agent", result.agent_map))]
    caption = f"{result.num_images} images, {result.num_triplets} predictions (triplets or detection records)"
    return "V-COCO AP (%)", caption, [("metric", "left"), ("AP", "right")], rows


def _centred_lines(text: str, width: int) -> list[str] | None:
    """``text`` as rich wraps and centres a table's title or caption at ``width`` (words on a line while they
    fit, each line centred); ``None`` unless the text is printable ASCII words (one space between them, none
    at either end) that each fit in ``width``: rich folds longer words, we leave that to it."""
    words = text.split(" ")
    if not text.isascii() or not text.isprintable() or any(not w or len(w) > width for w in words):
        return None
    lines = [words[0]]
    for word in words[1:]:
        if len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    out = []
    for line in lines:
        left = (width - len(line)) // 2
        out.append(" " * left + line + " " * (width - len(line) - left))
    return out


def plain_metrics_text(result: Any, stream: Any) -> str | None:
    """The text ``rich.console.Console().print(metrics_table(result))`` writes to ``stream``, in the plain case:
    a HICO-DET or V-COCO result, ``stream`` not a terminal (so no styles) and UTF-8, no ``FORCE_COLOR`` /
    ``TTY_COMPATIBLE``, not Windows, a console width (rich's rule: the first standard stream that is a
    terminal, else 80; ``COLUMNS`` wins) that fits the table, and a title and caption whose words each fit
    on one of its lines (rich wraps them there, centred). ``None`` otherwise: then rich prints it
    (``tests/eval/test_eval_plain_table.py`` compares the two).
    """
    import os
    import sys

    hicodet, vcoco = sys.modules.get("clhoi.eval.hicodet"), sys.modules.get("clhoi.eval.vcoco")
    if not ((hicodet is not None and isinstance(result, hicodet.HICODetResult))
            or (vcoco is not None and isinstance(result, vcoco.VCOCOResult))) or sys.platform == "win32":
        return None
    if "FORCE_COLOR" in os.environ or "TTY_COMPATIBLE" in os.environ:
        return None
    try:
        if stream.isatty() or not (getattr(stream, "encoding", None) or "utf-8").lower().startswith("utf"):
            return None
    except (AttributeError, ValueError):
        return None
    width = None
    for fd in (0, 1, 2):
        try:
            width = os.get_terminal_size(fd)[0]
        except (AttributeError, ValueError, OSError):
            continue
        break
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        width = int(columns)
    width = width or 80
    title, caption, spec, rows = _table_content(result)
    header = tuple(name for name, _ in spec)
    cols = [max(len(r[k]) for r in (header, *rows)) for k in range(len(spec))]
    table_width = sum(cols) + 3 * len(cols) + 1
    if table_width > width:
        return None
    title_lines, caption_lines = _centred_lines(title, table_width), _centred_lines(caption, table_width)
    if title_lines is None or caption_lines is None:
        return None

    def line(cells: tuple[str, ...], bar: str) -> str:
        parts = [f" {c.ljust(w) if justify == 'left' else c.rjust(w)} "
                 for c, w, (_, justify) in zip(cells, cols, spec)]
        return bar + bar.join(parts) + bar

    def rule(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in cols) + right

    lines = [*title_lines, rule("┏", "━", "┳", "┓"), line(header, "┃"), rule("┡", "━", "╇", "┩"),
             *(line(r, "│") for r in rows), rule("└", "─", "┴", "┘"), *caption_lines]
    return "\n".join(lines) + "\n"


def metrics_table(result: HICODetResult | VCOCOResult) -> Table:
    """The headline numbers as a rich table (percent)."""
    from rich.table import Table

    title, caption, columns, rows = _table_content(result)
    table = Table(title=title, caption=caption)
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for row in rows:
        table.add_row(*row)
    return table
