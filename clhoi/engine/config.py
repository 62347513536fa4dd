"""Loss, training and evaluation sections of the experiment config (no torch imports)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LossConfig:
    """Weights of the loss terms of Eq. 10 (0 switches a term off).

    Attributes:
        context, i2t, t2i, soft_relation: weights of L_c, L_I2T, L_T2I, L_SR.
        supervised: weight of the focal loss of the fully supervised setting.
    """

    context: float = 1.0
    i2t: float = 1.0
    t2i: float = 1.0
    soft_relation: float = 1.0
    supervised: float = 1.0


@dataclass
class TrainConfig:
    """Optimisation schedule (defaults: the paper's, section 4.1)."""

    epochs: int = 5
    batch_size: int = 16
    lr: float = 1e-4
    lr_drop_epoch: int = 3
    lr_drop_factor: float = 0.1
    weight_decay: float = 1e-4
    clip_grad_norm: float = 0.1
    mixed_precision: str = "no"


@dataclass
class EvalConfig:
    """Evaluation settings."""

    batch_size: int = 16
