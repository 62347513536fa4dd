"""``clhoi evaluate``: annotation file + predictions file -> metrics table and JSON."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from clhoi.eval.files import parse_predictions, read_json_list, write_metrics
from clhoi.eval.hicodet import HICODetEvaluator, HICODetResult
from clhoi.eval.vcoco import VCOCOEvaluator, VCOCOResult

DATASETS: tuple[str, ...] = ("hicodet", "vcoco")


def evaluate_files(
    dataset: str,
    annotations: str | Path,
    predictions: str | Path,
    coco_instances: str | Path | None = None,
    out: str | Path | None = None,
) -> HICODetResult | VCOCOResult:
    """Evaluate a predictions file against a ground-truth file.

    Args:
        dataset: ``hicodet`` or ``vcoco``.
        annotations: HICO-DET test annotations (any layout
            :func:`clhoi.data.hicodet.read_hicodet` reads) or V-COCO test annotations
            (:func:`clhoi.data.vcoco.read_vcoco`).
        predictions: the predictions JSON (:func:`clhoi.eval.files.read_predictions`); for
            V-COCO also the official ``vsrl_eval`` detection records as JSON (records
            with ``person_box``, :mod:`clhoi.eval.vcoco_detections`).
        coco_instances: the COCO instances file, for the official V-COCO layout.
        out: where to write the metrics JSON (optional).

    Raises:
        ValueError: unknown dataset, or a malformed file (the message names it).
        FileNotFoundError: a file does not exist.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    data = read_json_list(predictions)
    official = dataset == "vcoco" and bool(data) and isinstance(data[0], dict) and "person_box" in data[0]
    preds = None if official else parse_predictions(data, predictions)
    if dataset == "hicodet":
        from clhoi.data.hicodet import read_hicodet

        evaluator: HICODetEvaluator | VCOCOEvaluator = HICODetEvaluator(read_hicodet(annotations))
    else:
        from clhoi.data.vcoco import read_vcoco

        evaluator = VCOCOEvaluator(read_vcoco(annotations, coco_instances))
    try:  # content errors (unknown image, class out of range, ...) name the image: add the file
        if preds is None:
            evaluator.process_detections(data, str(predictions))  # type: ignore[union-attr]
        else:
            evaluator.process(preds)
        result = evaluator.evaluate()
    except ValueError as e:
        raise ValueError(e if str(e).startswith(str(predictions)) else f"{predictions}: {e}") from None
    if out is not None:
        write_metrics(result.to_dict(), out)
    return result


def metrics_table(result: HICODetResult | VCOCOResult) -> Table:
    """The headline numbers as a rich table (percent)."""
    if isinstance(result, HICODetResult):
        table = Table(title="HICO-DET mAP (%)", caption=f"{result.num_images} images, {result.num_triplets} triplets")
        for col in ("setting", "Full", "Rare", "Non-rare"):
            table.add_column(col, justify="left" if col == "setting" else "right")
        for name, s in (("Default", result.default), ("Known-Object", result.known_object)):
            table.add_row(name, *(f"{100 * v:.2f}" for v in (s.full, s.rare, s.non_rare)))
        return table
    table = Table(title="V-COCO AP (%)",
                  caption=f"{result.num_images} images, {result.num_triplets} predictions (triplets or detection records)")
    table.add_column("metric")
    table.add_column("AP", justify="right")
    for name, v in (("AP_role scenario 1", result.role_map_scenario_1),
                    ("AP_role scenario 2", result.role_map_scenario_2), ("AP_agent", result.agent_map)):
        table.add_row(name, f"{100 * v:.2f}")
    return table
