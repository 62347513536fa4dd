"""The sandbox as an experiment: inputs on disk, experiment configs, evaluation in the sandbox label space.

Everything after the teacher labels goes through the same code as a real
run: detections files (:func:`clhoi.detect.files.save_detections`), the label
store, the feature cache and trainer of :mod:`clhoi.engine`, the student of
:mod:`clhoi.models` and the HICO-DET evaluator of :mod:`clhoi.eval`, given the
sandbox's :class:`~clhoi.vocab.HOILabelSpace`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch

from clhoi.config import ExperimentConfig
from clhoi.data.config import DataConfig
from clhoi.detect.config import DetectorConfig
from clhoi.engine.config import EvalConfig, LossConfig, TrainConfig
from clhoi.labelset import LabelSet, hoi_prompt
from clhoi.models.config import ModelConfig
from clhoi.sandbox.detector import DetectorNoise, simulate_split
from clhoi.sandbox.labels import HOI_KINDS, hicodet_to_sandbox, sandbox_label_space
from clhoi.sandbox.teacher import TeacherNoise, label_split
from clhoi.sandbox.tiny_clip import QFORMER_DIR, shipped_clip_path
from clhoi.sandbox.world import World
from clhoi.structures import ImageAnnotation, Predictions


def sandbox_model_config(**overrides: Any) -> ModelConfig:
    """The student for the sandbox: the shipped small CLIP, a small random Q-Former, a narrow ICN."""
    cfg = ModelConfig(clip=str(shipped_clip_path()), qformer=str(QFORMER_DIR), image_size=128, num_context_queries=8,
                      box_embed_dim=64, hidden_dim=64, num_heads=4, num_spatial_layers=1, dropout=0.0,
                      freeze_qformer=False)
    return replace(cfg, **overrides)


def sandbox_label_set(template: str = "a photo of a person {verb} {object}") -> LabelSet:
    """The 28 sandbox classes as a :class:`LabelSet` (each valid only for its object)."""
    space = sandbox_label_space()
    texts = tuple(hoi_prompt(k.verb, k.object, template) for k in HOI_KINDS)
    names = tuple(space.hoi_name(c) for c in range(space.num_classes))
    objs = tuple(space.hoi_coco_object(c) for c in range(space.num_classes))
    return LabelSet("sandbox", texts, names, objs, (True,) * len(texts))


def to_sandbox_classes(annotations: list[ImageAnnotation]) -> list[ImageAnnotation]:
    """Ground truth read by the HICO-DET reader (600-class ids) -> sandbox class ids."""
    out = []
    for a in annotations:
        hoi = a.hoi.clone()
        if hoi.numel():
            hoi[:, 2] = torch.tensor([hicodet_to_sandbox(int(c)) for c in hoi[:, 2].tolist()], dtype=hoi.dtype)
        out.append(replace(a, hoi=hoi))
    return out


@dataclass
class SandboxInputs:
    """The files a sandbox run reads.

    Attributes:
        world: the generated world.
        labels: the teacher label store of the training split.
        detections: ``{"train": path, "test": path}`` detections files.
        label_summary: the label store's summary.
    """

    world: World
    labels: Path
    detections: dict[str, Path]
    label_summary: Any = None


def prepare_inputs(world: World, out_dir: str | Path, seed: int = 0, teacher: TeacherNoise = TeacherNoise(),
                   detector: DetectorNoise = DetectorNoise(), echo: Callable[[str], None] = print) -> SandboxInputs:
    """Simulate the detector over both splits and label the training split with the simulated teacher."""
    from clhoi.detect.files import save_detections

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dets = {}
    for split in ("train", "test"):
        path = out / f"detections_{split}.safetensors"
        if not path.is_file():
            save_detections(path, simulate_split(world.records(split), seed, detector))
        dets[split] = path
    labels = out / "labels.jsonl"
    summary = label_split(world.records("train"), world.image_root, labels, seed=seed, noise=teacher, echo=echo)
    return SandboxInputs(world, labels, dets, summary)


def experiment(inputs: SandboxInputs, output_dir: str | Path, supervision: str = "annotation_free", seed: int = 0,
               epochs: int = 8, batch_size: int = 16, lr: float = 1e-3, max_steps: int = 0,
               model: ModelConfig | None = None, loss: LossConfig | None = None, feature_cache: str | Path = "",
               name: str = "sandbox") -> ExperimentConfig:
    """An experiment config over the sandbox inputs.

    ``supervision="full"`` trains on the ground-truth HOIs with the supervised
    loss only; ``"annotation_free"`` on the teacher labels with the four
    distillation losses (Eq. 10). ``epochs=0`` is the random-init model.
    """
    w = inputs.world
    if loss is None:
        loss = LossConfig(context=0, i2t=0, t2i=0, soft_relation=0, supervised=1) if supervision == "full" else LossConfig()
    # strict annotation-free mode: an annotation-free run must not even name the training ground truth
    train_gt = str(w.annotations("train")) if supervision == "full" else ""
    data = DataConfig(dataset="sandbox", image_root=str(w.image_root), train_annotations=train_gt,
                      test_annotations=str(w.annotations("test")), labels=str(inputs.labels),
                      detections_train=str(inputs.detections["train"]), detections_test=str(inputs.detections["test"]),
                      cache_dir=str(feature_cache))
    return ExperimentConfig(
        name=name, seed=seed, output_dir=str(output_dir), supervision=supervision, data=data,
        detector=DetectorConfig(model="sandbox-simulated-detector", score_threshold=0.2, nms_threshold=0.5,
                                min_humans=1, max_humans=6, min_objects=1, max_objects=8, trained_on="sandbox"),
        model=model or sandbox_model_config(),
        loss=loss,
        train=TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, lr_drop_epoch=max(1, int(epochs * 0.75)),
                          weight_decay=1e-4, clip_grad_norm=1.0, max_steps=max_steps, log_every=10, tensorboard=False),
        eval=EvalConfig(batch_size=32),
    )


@dataclass
class SandboxScores:
    """mAP (percent) of one model on the sandbox test split, in the sandbox label space."""

    full: float
    rare: float
    non_rare: float
    predictions: list[Predictions]
    details: Any = None

    def to_dict(self) -> dict[str, float]:
        return {"full": round(self.full, 2), "rare": round(self.rare, 2), "non_rare": round(self.non_rare, 2)}


def evaluate_sandbox(checkpoint: str | Path, use_cache: bool | None = None, progress: bool = False) -> SandboxScores:
    """Evaluate a checkpoint on the sandbox test split with the HICO-DET evaluator (Default setting)."""
    from clhoi.engine.checkpoint import load_model
    from clhoi.engine.evaluate import eval_loader, evaluate
    from clhoi.engine.sources import read_ground_truth
    from clhoi.eval.hicodet import evaluate_hicodet
    from clhoi.postprocess import PostProcess

    model, cfg = load_model(checkpoint, "cpu")
    gts = to_sandbox_classes(read_ground_truth("sandbox", cfg.data.test_annotations, "data.test_annotations"))
    loader = eval_loader(cfg, model, [a.file_name for a in gts], use_cache, None)
    preds = evaluate(model, loader, PostProcess(score_lambda=cfg.model.score_lambda), sandbox_label_set(
        cfg.model.class_template), "cpu")
    result = evaluate_hicodet(preds, gts, space=sandbox_label_space())
    d = result.default
    return SandboxScores(100 * d.full, 100 * d.rare, 100 * d.non_rare, preds, result)
