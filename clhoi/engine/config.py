"""Loss, training and evaluation sections of the experiment config (no torch imports)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LossConfig:
    """Weights of the loss terms of Eq. 10 (0 switches a term off), temperatures, thresholds.

    Attributes:
        context, i2t, t2i, soft_relation: weights of L_c, L_I2T, L_T2I, L_SR.
        supervised: weight of the focal loss of the fully supervised setting
            (Tables 1-2 "Full"; needs ground truth, so 0 by default).
        temperature: ``tau`` of Eqs. 5-9: ``sim = cosine / tau``.
        sr_temperature: ``tau`` of the soft-relation logits ``cosine / tau`` (Eqs. 15-16).
        sr_threshold: the threshold of the pseudo labels (Eqs. 12-13; paper: 0.5).
        sr_label_mode: ``minmax`` (cosines rescaled to [0, 1] over an image's pairs
            before thresholding) or ``cosine`` (raw cosine, the paper's letter).
        sr_reduction: ``sum`` (Eq. 16's sum over an image's entries, averaged over
            images; the default, measured in docs/results.md) or ``mean`` over the
            batch's valid (pair, triplet) entries.
        focal_alpha, focal_gamma: focal loss of the supervised setting (UPT: 0.5, 0.2).
        prior_lambda: exponent of ``s_h * s_o`` multiplying the supervised score (UPT: 1).
    """

    context: float = 1.0
    i2t: float = 1.0
    t2i: float = 1.0
    soft_relation: float = 1.0
    supervised: float = 0.0
    temperature: float = 0.07
    sr_temperature: float = 0.1
    sr_threshold: float = 0.5
    sr_label_mode: str = "minmax"
    sr_reduction: str = "sum"
    focal_alpha: float = 0.5
    focal_gamma: float = 0.2
    prior_lambda: float = 1.0

    def __post_init__(self) -> None:
        for name in ("context", "i2t", "t2i", "soft_relation", "supervised", "prior_lambda", "focal_gamma"):
            if getattr(self, name) < 0:
                raise ValueError(f"loss.{name} must be >= 0, got {getattr(self, name)}")
        if self.temperature <= 0 or self.sr_temperature <= 0:
            raise ValueError("loss.temperature and loss.sr_temperature must be > 0")
        if self.sr_label_mode not in ("minmax", "cosine"):
            raise ValueError(f"loss.sr_label_mode must be 'minmax' or 'cosine', got {self.sr_label_mode!r}")
        if self.sr_reduction not in ("mean", "sum"):
            raise ValueError(f"loss.sr_reduction must be 'mean' or 'sum', got {self.sr_reduction!r}")
        if not 0.0 <= self.focal_alpha <= 1.0:
            raise ValueError(f"loss.focal_alpha must be in [0, 1], got {self.focal_alpha}")


@dataclass
class TrainConfig:
    """Optimisation schedule and loop settings (defaults: the paper's, section 4.1).

    Attributes:
        epochs: training epochs (paper: 5). ``0`` writes the randomly
            initialised model as the checkpoint (Table 6, "w/o training").
        batch_size: images per optimizer step, summed over all processes (paper: 16).
        lr: AdamW learning rate (paper: 1e-4).
        lr_drop_epoch: the learning rate is multiplied by ``lr_drop_factor``
            after this many epochs (paper: after epoch 3, to 1e-5).
        lr_drop_factor: see ``lr_drop_epoch``.
        weight_decay: AdamW weight decay.
        clip_grad_norm: max gradient norm (``0`` = no clipping).
        mixed_precision: ``no`` or ``bf16`` (autocast; weights stay fp32).
        max_steps: stop after this many optimizer steps (``0`` = no limit; smoke runs).
        log_every: log the loss terms every this many steps.
        save_every: also write a resumable checkpoint every this many steps
            (``0`` = only at the end of each epoch).
        tensorboard: also log to TensorBoard (``<output_dir>/tensorboard``) when
            ``tensorboard`` is installed (``pip install "clhoi[tensorboard]"``).
        trackers: more accelerate trackers to log to, comma-separated, from
            :data:`TRACKERS` (e.g. ``wandb,mlflow``); each must be installed.
        deterministic: use PyTorch's deterministic kernels (GPU runs then resume
            bit-exactly too, somewhat slower); CPU runs are deterministic anyway.
        strict_annotation_free: in an annotation-free run, refuse ground-truth
            HOI labels (``False``: only warn; see ``clhoi.provenance``).
    """

    epochs: int = 5
    batch_size: int = 16
    lr: float = 1e-4
    lr_drop_epoch: int = 3
    lr_drop_factor: float = 0.1
    weight_decay: float = 1e-4
    clip_grad_norm: float = 0.1
    mixed_precision: str = "no"
    max_steps: int = 0
    log_every: int = 10
    save_every: int = 0
    tensorboard: bool = True
    trackers: str = ""
    deterministic: bool = False
    strict_annotation_free: bool = True

    def __post_init__(self) -> None:
        if self.mixed_precision not in ("no", "bf16"):
            raise ValueError(f"train.mixed_precision must be 'no' or 'bf16', got {self.mixed_precision!r}")
        for name in ("epochs", "max_steps", "save_every", "lr_drop_epoch"):
            if getattr(self, name) < 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"train.lr must be > 0, got {self.lr}")
        unknown = [t for t in tracker_names(self.trackers) if t not in TRACKERS]
        if unknown:
            raise ValueError(f"train.trackers: unknown tracker(s) {', '.join(unknown)}; valid: {', '.join(TRACKERS)}")
        if self.lr_drop_factor <= 0:
            raise ValueError(f"train.lr_drop_factor must be > 0, got {self.lr_drop_factor}")
        for name in ("weight_decay", "clip_grad_norm"):
            if getattr(self, name) < 0:
                raise ValueError(f"train.{name} must be >= 0 (0 = off), got {getattr(self, name)}")


TRACKERS = ("tensorboard", "wandb", "mlflow", "comet_ml", "aim", "clearml", "dvclive")
"""Accelerate trackers ``train.trackers`` may name."""


def tracker_names(value: str) -> list[str]:
    """``"wandb, mlflow"`` -> ``["wandb", "mlflow"]``."""
    return [t.strip() for t in str(value).split(",") if t.strip()]


@dataclass
class EvalConfig:
    """Evaluation and prediction settings.

    Attributes:
        batch_size: images per forward pass.
        predict_threshold: ``clhoi predict`` keeps triplets scoring at least this.
        predict_top_k: ``clhoi predict`` keeps at most this many triplets per image.
    """

    batch_size: int = 16
    predict_threshold: float = 0.2
    predict_top_k: int = 10

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"eval.batch_size must be >= 1, got {self.batch_size}")
        if not 0.0 <= self.predict_threshold <= 1.0:
            raise ValueError(f"eval.predict_threshold must be in [0, 1], got {self.predict_threshold}")
        if self.predict_top_k < 1:
            raise ValueError(f"eval.predict_top_k must be >= 1, got {self.predict_top_k}")
