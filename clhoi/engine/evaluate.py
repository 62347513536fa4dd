"""Evaluation: the student over a test split -> predictions -> the official metrics.

``evaluate`` is the visible loop (model -> :class:`~clhoi.postprocess.PostProcess`);
``evaluate_checkpoint`` adds reading the checkpoint and the test data and calls
the HICO-DET / V-COCO evaluators of :mod:`clhoi.eval`, which see only
predictions and ground truth.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from clhoi.config import ExperimentConfig
from clhoi.data.collate import collate
from clhoi.data.images import keep_readable
from clhoi.data.labels import HOIDataset
from clhoi.engine.checkpoint import load_model, load_provenance
from clhoi.engine.setup import PreprocessOne
from clhoi.engine.sources import (
    InputError,
    eval_label_set,
    open_cache,
    read_detections,
    read_ground_truth,
    split_image_root,
)
from clhoi.engine.step import image_features
from clhoi.labelset import LabelSet
from clhoi.postprocess import PostProcess
from clhoi.structures import ImageAnnotation, Predictions

DATASETS = ("hicodet", "vcoco", "sandbox")  # the datasets of clhoi itself; clhoi.data.registry knows plug-ins too


@dataclass
class EvalResult:
    """What ``evaluate_checkpoint`` returns.

    Attributes:
        dataset: ``hicodet`` or ``vcoco``.
        metrics: the headline numbers, in percent (``default_full``, ... / V-COCO role APs).
        table: the metrics as a printable table.
        provenance: the checkpoint's provenance.
        output_dir: where ``predictions.jsonl`` and ``metrics.json`` were written.
        details: the evaluator's full result object.
    """

    dataset: str
    metrics: dict[str, float]
    table: str
    provenance: dict[str, Any] = field(default_factory=dict)
    output_dir: Path | None = None
    details: Any = None


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    postprocess: PostProcess,
    label_set: LabelSet,
    device: torch.device | str = "cpu",
    on_batch: Callable[[int], None] | None = None,
) -> list[Predictions]:
    """Run the student over ``loader`` and score every pair against ``label_set``.

    Returns:
        one :class:`Predictions` per image, in loader order (boxes in original pixels).
    """
    model.eval()
    text = model.encode_text(list(label_set.texts))
    out: list[Predictions] = []
    for batch in loader:
        detections = [d.to(device) for d in batch.detections]
        output = model(detections, image_features=image_features(model, batch, torch.device(device)))
        out += postprocess(output, detections, batch.file_names, text, label_set)
        if on_batch is not None:
            on_batch(len(batch))
    return out


def compute_metrics(dataset: str, predictions: list[Predictions], annotations: list[ImageAnnotation]) -> Any:
    """The official evaluator of ``dataset`` (:mod:`clhoi.data.registry`) on predictions and ground truth
    (in the annotation file's class ids; the sandbox is scored in its own 28-class space)."""
    from clhoi.eval.run import evaluate_dataset

    return evaluate_dataset(dataset, predictions, annotations)


def format_table(dataset: str, metrics: dict[str, float]) -> str:
    """``name  value`` lines, percent with two decimals."""
    width = max(len(k) for k in metrics) if metrics else 0
    lines = [f"{dataset} (percent)"] + [f"  {k:<{width}}  {v:6.2f}" for k, v in metrics.items()]
    return "\n".join(lines)


def evaluate_checkpoint(
    checkpoint: str | Path,
    dataset: str | None = None,
    annotations: str | None = None,
    detections: str | None = None,
    image_root: str | None = None,
    output_dir: str | Path | None = None,
    use_cache: bool | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    progress: bool = True,
    coco_instances: str | None = None,
    skip_bad_images: bool = False,
) -> EvalResult:
    """Evaluate a checkpoint on a test split with the official metrics.

    Args:
        checkpoint: the checkpoint directory (``clhoi train`` output).
        dataset: ``hicodet``, ``vcoco`` or ``sandbox``; default: the checkpoint's
            ``data.dataset`` (the sandbox is scored in its own 28-class space, as ``clhoi demo`` does).
        annotations, detections, image_root: override the checkpoint config's
            ``data.test_annotations``, ``data.detections_test`` and the test images' folder.
        output_dir: where to write ``predictions.jsonl`` and ``metrics.json``
            (default: ``<checkpoint>-eval-<dataset>`` beside the checkpoint, never inside it: a
            checkpoint directory is replaced whole by the next save).
        use_cache: read the test split from ``data.cache_dir``; default: when it exists.
        batch_size: images per forward pass (default ``eval.batch_size``).
        device: ``cpu``, ``cuda``, ... (default: CUDA when available).
        progress: show a progress bar.
        coco_instances: override ``data.coco_instances`` (official V-COCO layout).
        skip_bad_images: leave out (and list) test images that cannot be decoded; they count as
            images without predictions.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, cfg = load_model(checkpoint, device)
    cfg = _with_test_inputs(cfg, annotations, detections, image_root)
    if coco_instances:
        cfg = replace(cfg, data=replace(cfg.data, coco_instances=coco_instances))
    if skip_bad_images:
        cfg = replace(cfg, data=replace(cfg.data, skip_bad_images=True))
    name = dataset or cfg.data.dataset
    from clhoi.data.registry import dataset_names

    if name not in dataset_names():
        raise InputError(f"unknown dataset {name!r}; valid: {', '.join(dataset_names())}")
    gt_format = cfg.data.dataset if (dataset is None or dataset == cfg.data.dataset) else name
    gts = read_ground_truth(gt_format, cfg.data.test_annotations, "data.test_annotations (--annotations)",
                            cfg.data.coco_instances)
    loader = eval_loader(cfg, model, [a.file_name for a in gts], use_cache, batch_size)
    label_set = eval_label_set(cfg, name)
    post = PostProcess(score_lambda=cfg.model.score_lambda)
    with _Bar(len(gts), progress, "eval") as bar:
        predictions = evaluate(model, loader, post, label_set, device, bar.advance)
    details = compute_metrics(name, predictions, gts)
    metrics = details.summary() if hasattr(details, "summary") else dict(details)
    ckpt = Path(checkpoint).absolute()
    out = Path(output_dir) if output_dir else ckpt.with_name(f"{ckpt.name}-eval-{name}")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "predictions.jsonl", "w", encoding="utf-8") as f:
        for p in predictions:
            f.write(json.dumps(p.to_dict()) + "\n")
    full = details.to_dict() if hasattr(details, "to_dict") else {"metrics": metrics}
    from clhoi.eval.files import write_metrics

    write_metrics(full, out / "metrics.json")  # NaN -> null: strict JSON
    return EvalResult(name, metrics, format_table(name, metrics), load_provenance(checkpoint), out, details)


def eval_loader(
    cfg: ExperimentConfig, model: nn.Module, names: list[str], use_cache: bool | None, batch_size: int | None
) -> DataLoader:
    """A loader over the test images, from the feature cache or the detections file."""
    if use_cache is None:
        use_cache = bool(cfg.data.cache_dir) and (Path(cfg.data.cache_dir) / "test" / "meta.json").is_file()
    from clhoi.models.student import fingerprint

    cache = open_cache(cfg, "test", fingerprint(model.encoders.clip), names) if use_cache else None
    dets = None if cache is not None else read_detections(cfg, "test")
    if cache is None:  # the images are decoded
        names = keep_readable(split_image_root(cfg, "test"), names, cfg.data.skip_bad_images)
    elif cfg.data.skip_bad_images:  # the images `clhoi cache --skip-bad-images` left out
        names = [n for n in names if n in cache]
    dataset = HOIDataset(names, split_image_root(cfg, "test"), detections=dets, cache=cache,
                         transform=PreprocessOne(model.encoders.image_processor, cfg.model.image_size))
    if len(dataset) == 0:
        raise InputError("the test set is empty")
    return DataLoader(dataset, batch_size=batch_size or cfg.eval.batch_size, shuffle=False, collate_fn=collate,
                      num_workers=cfg.data.num_workers)


def _with_test_inputs(
    cfg: ExperimentConfig, annotations: str | None, detections: str | None, image_root: str | None
) -> ExperimentConfig:
    data = cfg.data
    if annotations:
        data = replace(data, test_annotations=annotations)
    if detections:
        data = replace(data, detections_test=detections, cache_dir="")
    if image_root:
        data = replace(data, image_root=image_root, test_image_root=image_root)
    return replace(cfg, data=data)


class _Bar:
    """A rich progress bar over images, or nothing."""

    def __init__(self, total: int, enabled: bool, label: str) -> None:
        self._p = None
        if enabled:
            from rich.progress import Progress

            self._p = Progress(transient=True)
            self._task = self._p.add_task(label, total=total)

    def __enter__(self) -> "_Bar":
        if self._p is not None:
            self._p.start()
        return self

    def advance(self, n: int) -> None:
        if self._p is not None:
            self._p.update(self._task, advance=n)

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.stop()
