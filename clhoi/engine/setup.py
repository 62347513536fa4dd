"""Assemble what a training run needs from its config: data, model, criterion, provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from clhoi.config import ExperimentConfig
from clhoi.data.images import keep_readable
from clhoi.data.labels import HOIDataset, select_training_records
from clhoi.engine.sources import (
    InputError,
    eval_label_set,
    open_cache,
    read_detections,
    read_ground_truth,
    read_label_records,
)
from clhoi.labelset import LabelSet
from clhoi.structures import ImageAnnotation, LabelRecord

DISTILL_TERMS = ("context", "i2t", "t2i", "soft_relation")


@dataclass
class TrainingParts:
    """The objects a training run is made of.

    Attributes:
        model: the student (wrapped by accelerate for DDP once prepared).
        criterion: the weighted loss terms (:class:`clhoi.losses.Criterion`).
        dataset: the training images; ``None`` when ``train.epochs == 0``.
        provenance: written into every checkpoint.
        notes: warnings for the log (dropped records, guard warnings).
        distill: any distillation term is on (teacher targets are built).
        needs_union: the soft-relation term is on (union-crop embeddings are needed).
        label_set: the classes of the supervised loss, or None (annotation-free).
    """

    model: nn.Module
    criterion: nn.Module
    dataset: HOIDataset | None
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    distill: bool = True
    needs_union: bool = True
    label_set: LabelSet | None = None


class PreprocessOne:
    """PIL image -> ``[3, S, S]`` with the student's CLIP processor (picklable for loader workers)."""

    def __init__(self, processor: Any, size: int) -> None:
        self.processor, self.size = processor, size

    def __call__(self, image: Any) -> torch.Tensor:
        from clhoi.models.encoders import preprocess_images

        return preprocess_images([image], self.processor, self.size)[0]


def check_label_source(cfg: ExperimentConfig, records: list[LabelRecord]) -> list[str]:
    """The single place where the label source of a run is checked (strict annotation-free mode).

    Returns:
        warnings to log. Raises when an annotation-free run would read ground-truth HOIs.
    """
    from clhoi.provenance import check_annotation_free

    return check_annotation_free(cfg, records)


def run_provenance(cfg: ExperimentConfig, records: list[LabelRecord] | None) -> dict[str, Any]:
    """The provenance written into the run's checkpoints."""
    from clhoi.provenance import labels_provenance
    from clhoi.provenance import run_provenance as build

    labels = labels_provenance(cfg.data.labels, records) if records is not None else None
    return build(cfg, labels=labels)


def build_training(cfg: ExperimentConfig, device: torch.device | str = "cpu") -> TrainingParts:
    """Read the inputs, build model and criterion, and assemble the training dataset.

    Raises:
        InputError / CacheError / AnnotationFreeError: an input is missing, empty,
            stale or not allowed, with the fix in the message.
    """
    from clhoi.losses import Criterion
    from clhoi.models.student import build_student, fingerprint

    w = cfg.loss
    distill = any(getattr(w, t) != 0 for t in DISTILL_TERMS)
    supervised = w.supervised != 0
    if supervised and cfg.supervision != "full":
        raise InputError("loss.supervised is non-zero in an annotation-free run; set supervision=full or loss.supervised=0")
    if cfg.supervision == "full" and cfg.train.epochs > 0 and not cfg.data.train_annotations:
        raise InputError("supervision=full needs ground truth: set data.train_annotations=FILE, or use "
                         "supervision=annotation_free")
    if not distill and not supervised:
        raise InputError("every loss weight is 0; set at least one of loss.context/i2t/t2i/soft_relation/supervised")
    needs_data = cfg.train.epochs > 0
    notes: list[str] = []
    records: list[LabelRecord] | None = None
    annotations: list[ImageAnnotation] | None = None
    if needs_data and (distill or cfg.data.labels):
        selection = select_training_records(read_label_records(cfg))
        records = selection.records
        notes.append(selection.summary())
        if cfg.data.object_negatives > 0 and records:
            from clhoi.teacher.parse import add_object_negatives

            records = add_object_negatives(records, cfg.data.object_negatives, cfg.seed)
            notes.append(f"data.object_negatives: up to {cfg.data.object_negatives} negative verbs per image "
                         "from the verbs the teacher pairs with its objects")
        if not records:
            raise InputError(f"{cfg.data.labels}: no usable label records ({selection.summary()}); "
                             "check the teacher output (status, verbs)")
    notes += check_label_source(cfg, records or [])
    if needs_data and supervised:
        annotations = read_ground_truth(cfg.data.dataset, cfg.data.train_annotations, "data.train_annotations",
                                        cfg.data.coco_instances)

    model = build_student(cfg.model).to(device)
    criterion = Criterion.from_config(cfg.loss)
    dataset = None
    if needs_data:
        if annotations is not None:
            names = [a.file_name for a in annotations]
        else:
            names = [r.image for r in records]  # type: ignore[union-attr]
        cache = open_cache(cfg, "train", fingerprint(model.encoders.clip), names) if cfg.data.cache_dir else None
        dets = None if cache is not None else read_detections(cfg, "train")
        needs_union = w.soft_relation != 0
        union_cached = cache is not None and bool(cache.meta.get("union_crops"))
        if cache is None or (needs_union and not union_cached):  # the images are decoded during training
            names = keep_readable(cfg.data.image_root, names, cfg.data.skip_bad_images)
        elif cfg.data.skip_bad_images:  # the images `clhoi cache --skip-bad-images` left out
            names = [n for n in names if n in cache]  # type: ignore[operator]
        dataset = HOIDataset(
            names,
            image_root=cfg.data.image_root,
            detections=dets,
            cache=cache,
            records={r.image: r for r in records} if records is not None else None,
            annotations={a.file_name: a for a in annotations} if annotations is not None else None,
            transform=PreprocessOne(model.encoders.image_processor, cfg.model.image_size),
            load_images=needs_union and not union_cached,
        )
        if len(dataset) == 0:
            raise InputError("the training set is empty; check data.labels / data.train_annotations")
    # supervised targets use the ground truth's class ids: HICO-DET's 600 for the sandbox's files too
    train_space = "hicodet" if cfg.data.dataset == "sandbox" else cfg.data.dataset
    label_set = eval_label_set(cfg, train_space) if supervised else None
    if dataset is not None:
        warm_text_cache(model, records or [], label_set)
    return TrainingParts(
        model=model,
        criterion=criterion,
        dataset=dataset,
        provenance=run_provenance(cfg, records),
        notes=notes,
        distill=distill,
        needs_union=w.soft_relation != 0,
        label_set=label_set,
    )


def warm_text_cache(model: nn.Module, records: list[LabelRecord], label_set: LabelSet | None, chunk: int = 256) -> int:
    """Encode every text training will ask for, once, in a fixed order and chunking.

    The frozen text encoder memoises each string; encoding them all up front,
    sorted, makes each embedding independent of which batch first needed it
    (padding lengths change the float rounding), so a resumed run sees exactly
    the embeddings of an uninterrupted one. It also takes the text encoder out
    of the training steps.

    Returns:
        the number of distinct texts.
    """
    from clhoi.targets import build_distill_targets

    seen: set[str] = set(label_set.texts) if label_set is not None else set()

    def record(texts: list[str]) -> torch.Tensor:
        seen.update(texts)
        return torch.zeros(len(texts), 1)

    for k in range(0, len(records), chunk):
        build_distill_targets(records[k : k + chunk], record, verb_template=model.config.verb_template,
                              hoi_template=model.config.training_hoi_template)
    texts = sorted(seen)
    if texts and getattr(model.encoders, "frozen", False):
        with torch.no_grad():
            for k in range(0, len(texts), chunk):
                model.encode_text(texts[k : k + chunk])
    return len(texts)
