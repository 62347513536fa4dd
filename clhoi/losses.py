"""Contrastive distillation losses (Eqs. 5-16) and the criterion that weighs them (Eq. 10).

Conventions of every function here:

* Features are compared by cosine: inputs are L2-normalised inside, so any
  norm may come in. ``temperature`` divides the cosine, so ``sim`` of Eq. 5 is
  ``cos / temperature``.
* Padding is explicit: a ``[B, N, D]`` tensor comes with a ``[B, N]`` bool mask.
* An image whose term is undefined (no pairs, no positives, no caption) is left
  out of that term's mean; a batch where no image counts gives an exact ``0``
  that still carries a graph (never NaN).

The targets (:class:`DistillTargets`, re-exported here) are built in :mod:`clhoi.targets`;
the fully supervised loss (Tables 1-2, "Full") lives in :mod:`clhoi.matching`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from clhoi.structures import StudentOutput
from clhoi.targets import DistillTargets

if TYPE_CHECKING:
    from clhoi.engine.config import LossConfig
    from clhoi.matching import SupervisedTargets

SR_LABEL_MODES: tuple[str, ...] = ("minmax", "cosine")
SR_REDUCTIONS: tuple[str, ...] = ("mean", "sum")
__all__ = ["Criterion", "DistillTargets", "SR_LABEL_MODES", "SR_REDUCTIONS", "context_loss", "i2t_loss", "image_level_interaction",
           "pad_pairs", "soft_relation_labels", "soft_relation_loss", "soft_similarity", "soft_similarity_matrix",
           "t2i_loss"]


# ----------------------------------------------------------------------------- helpers
def pad_pairs(values: Tensor, pair_image: Tensor, num_images: int) -> tuple[Tensor, Tensor]:
    """Scatter flattened per-pair rows into a padded per-image tensor.

    Args:
        values: ``[P, ...]`` rows, one per pair.
        pair_image: ``[P]`` int64 image of each pair.
        num_images: ``B``.

    Returns:
        ``([B, K, ...], [B, K] bool mask)`` with ``K`` the most pairs of one image
        (at least 1), pairs in their original order within each image.
    """
    counts = torch.bincount(pair_image, minlength=num_images)
    k = max(int(counts.max()) if counts.numel() else 0, 1)
    order = torch.argsort(pair_image, stable=True)
    starts = torch.cumsum(counts, 0) - counts  # [B]
    slot = torch.empty_like(pair_image)
    slot[order] = torch.arange(pair_image.numel(), device=pair_image.device) - starts[pair_image[order]]
    out = values.new_zeros((num_images, k, *values.shape[1:]))
    mask = torch.zeros(num_images, k, dtype=torch.bool, device=values.device)
    out[pair_image, slot] = values
    mask[pair_image, slot] = True
    return out, mask


def _masked_mean(values: Tensor, valid: Tensor, anchor: Tensor) -> Tensor:
    """Mean of ``values`` where ``valid``; ``0 * anchor.sum()`` when nothing is valid."""
    if bool(valid.any()):
        return values[valid].mean()
    return anchor.sum() * 0.0


# ----------------------------------------------------------------------------- Eq. 5
def soft_similarity(
    f1: Tensor, f2: Tensor, mask1: Tensor | None = None, mask2: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The soft similarity ``s(f1, f2)`` of Eq. 5, batched and masked.

    ``s = 1/M sum_m sum_n softmax_n(sim[m, :])[n] * sim[m, n]`` with
    ``sim[m, n] = <f1[m], f2[n]>`` (inputs used as given: scale them first).

    Args:
        f1: ``[..., M, D]``.
        f2: ``[..., N, D]``; leading dims broadcast with ``f1``'s.
        mask1: ``[..., M]`` bool, rows of ``f1`` that exist (``None``: all).
        mask2: ``[..., N]`` bool, rows of ``f2`` that exist (``None``: all).

    Returns:
        ``(s [...], valid [...] bool)``; ``s`` is 0 where either side has no row.
    """
    sim = f1 @ f2.transpose(-1, -2)  # [..., M, N]
    if mask1 is None:
        mask1 = torch.ones(f1.shape[:-1], dtype=torch.bool, device=f1.device)
    if mask2 is None:
        mask2 = torch.ones(f2.shape[:-1], dtype=torch.bool, device=f2.device)
    return _soft_reduce(sim, mask1, mask2)


def soft_similarity_matrix(f1: Tensor, f2: Tensor, mask1: Tensor, mask2: Tensor) -> tuple[Tensor, Tensor]:
    """``s(f1[i], f2[j])`` for every pair of batch items, with one matrix product.

    Same result as ``soft_similarity(f1[:, None], f2[None], mask1[:, None], mask2[None])``
    without materialising the broadcast operands.

    Args:
        f1: ``[B1, M, D]``, mask1: ``[B1, M]``.
        f2: ``[B2, N, D]``, mask2: ``[B2, N]``.

    Returns:
        ``(s [B1, B2], valid [B1, B2])``.
    """
    (b1, m, d), (b2, n, _) = f1.shape, f2.shape
    sim = (f1.reshape(b1 * m, d) @ f2.reshape(b2 * n, d).T).reshape(b1, m, b2, n).transpose(1, 2)  # [B1, B2, M, N]
    return _soft_reduce(sim, mask1[:, None], mask2[None])


def _soft_reduce(sim: Tensor, mask1: Tensor, mask2: Tensor) -> tuple[Tensor, Tensor]:
    """Eq. 5 from ``sim [..., M, N]`` and masks broadcastable to ``[..., M]`` / ``[..., N]``."""
    m2 = mask2.unsqueeze(-2)  # [..., 1, N]
    weights = sim.masked_fill(~m2, torch.finfo(sim.dtype).min).softmax(dim=-1) * m2
    per_row = (weights * sim.masked_fill(~m2, 0.0)).sum(-1)  # [..., M]
    m1 = mask1.expand(per_row.shape)
    n1 = m1.sum(-1)
    s = (per_row * m1).sum(-1) / n1.clamp(min=1)
    valid = (n1 > 0) & mask2.any(-1)
    return s.masked_fill(~valid, 0.0), valid


# ----------------------------------------------------------------------------- Eq. 7
def context_loss(context: Tensor, caption: Tensor, caption_mask: Tensor, temperature: float) -> Tensor:
    """Context distillation loss ``L_c`` (Eq. 7).

    Args:
        context: ``[B, Q, D]`` context features ``f_c``.
        caption: ``[B, T, D]`` caption features ``f_cap`` (``T = 1``: pooled).
        caption_mask: ``[B, T]`` bool; an image with no caption row is left out.
        temperature: ``sim = cos / temperature`` inside Eq. 5.

    Returns:
        scalar: mean over images with a caption of ``-log softmax_j s(f_c^i, f_cap^j)`` at ``j = i``.
    """
    c = F.normalize(context, dim=-1) / temperature
    t = F.normalize(caption, dim=-1)
    all_queries = torch.ones(c.shape[:2], dtype=torch.bool, device=c.device)
    s, _ = soft_similarity_matrix(c, t, all_queries, caption_mask)  # [B, B]: s(f_c^i, f_cap^j)
    has = caption_mask.any(-1)  # [B]
    logits = s.masked_fill(~has[None, :], torch.finfo(s.dtype).min)
    diag = torch.arange(s.shape[0], device=s.device)
    per_image = -logits.log_softmax(-1)[diag, diag].where(has, s.new_zeros(()))
    return _masked_mean(per_image, has, context)


# ----------------------------------------------------------------------------- Eqs. 8-9
def image_level_interaction(interaction: Tensor, pair_image: Tensor, num_images: int) -> tuple[Tensor, Tensor]:
    """``I_img`` of Eq. 8: the mean of an image's L2-normalised pair features.

    Returns:
        ``([B, D], has_pairs [B] bool)``.
    """
    feats = F.normalize(interaction, dim=-1)
    total = feats.new_zeros(num_images, feats.shape[1]).index_add(0, pair_image, feats)
    counts = torch.bincount(pair_image, minlength=num_images)
    return total / counts.clamp(min=1)[:, None].to(feats.dtype), counts > 0


def i2t_loss(
    interaction: Tensor,
    pair_image: Tensor,
    positives: Tensor,
    positive_mask: Tensor,
    negatives: Tensor,
    negative_mask: Tensor,
    temperature: float,
) -> Tensor:
    """Image-to-text loss ``L_I2T`` (Eq. 8).

    Args:
        interaction: ``[P, D]`` pair features ``I`` of the whole batch.
        pair_image: ``[P]`` int64 image of each pair.
        positives: ``[B, Np, D]`` positive verb embeddings ``f_pos``, mask ``[B, Np]``.
        negatives: ``[B, Nq, D]`` negative verb embeddings ``f_neg``, mask ``[B, Nq]``.
        temperature: ``sim = cos / temperature``.

    Returns:
        scalar: mean over images with pairs, positives and negatives of
        ``-log(e^{s(I_img, f_pos)} / (e^{s(I_img, f_pos)} + e^{s(I_img, f_neg)}))``.
    """
    b = positives.shape[0]
    img, has_pairs = image_level_interaction(interaction, pair_image, b)
    q = (F.normalize(img, dim=-1) / temperature)[:, None]  # [B, 1, D]: M = 1
    s_pos, v_pos = soft_similarity(q, F.normalize(positives, dim=-1), None, positive_mask)  # [B]
    s_neg, v_neg = soft_similarity(q, F.normalize(negatives, dim=-1), None, negative_mask)  # [B]
    per_image = F.softplus(s_neg - s_pos)  # = -log(e^pos / (e^pos + e^neg))
    return _masked_mean(per_image, has_pairs & v_pos & v_neg, interaction)


def t2i_loss(
    interaction: Tensor, pair_image: Tensor, positives: Tensor, positive_mask: Tensor, temperature: float
) -> Tensor:
    """Text-to-image loss ``L_T2I`` (Eq. 9).

    ``s(f_pos^i, I^j)`` is Eq. 5 with the image's positive verbs as rows and
    image ``j``'s pairs as the softmax axis; the contrast runs over the images
    of the batch that have pairs.

    Returns:
        scalar: mean over images with positives and pairs.
    """
    b = positives.shape[0]
    pairs, pair_mask = pad_pairs(F.normalize(interaction, dim=-1), pair_image, b)  # [B, K, D], [B, K]
    q = F.normalize(positives, dim=-1) / temperature
    s, _ = soft_similarity_matrix(q, pairs, positive_mask, pair_mask)  # [B, B]: s(f_pos^i, I^j)
    has_pairs = pair_mask.any(-1)
    logits = s.masked_fill(~has_pairs[None, :], torch.finfo(s.dtype).min)
    valid = has_pairs & positive_mask.any(-1)
    diag = torch.arange(b, device=s.device)
    per_image = -logits.log_softmax(-1)[diag, diag].where(valid, s.new_zeros(()))
    return _masked_mean(per_image, valid, interaction)


# ----------------------------------------------------------------------------- Eqs. 11-16
def soft_relation_labels(
    union: Tensor,
    pair_image: Tensor,
    verbs: Tensor,
    objects: Tensor,
    mask: Tensor,
    threshold: float = 0.5,
    mode: str = "minmax",
) -> tuple[Tensor, Tensor]:
    """Pseudo labels ``Y_s`` of Eqs. 11-14 from CLIP union-crop embeddings.

    Args:
        union: ``[P, D]`` CLIP image embeddings ``f_u`` of each pair's union crop.
        pair_image: ``[P]`` int64 image of each pair.
        verbs: ``[B, R, D]`` text embeddings of each parsed triplet's verb (``f_pos``).
        objects: ``[B, R, D]`` text embeddings of the same triplets' objects (``f_obj``).
        mask: ``[B, R]`` bool, triplets that exist.
        threshold: the 0.5 of Eqs. 12-13.
        mode: ``"cosine"`` thresholds the raw cosine (the paper's letter); ``"minmax"``
            first rescales each triplet's cosines over the image's pairs to [0, 1]
            (the best pair of the image gets 1), because raw CLIP image-text cosines
            rarely reach 0.5. See docs/paper_map.md.

    Returns:
        ``(Y [P, R] float in {0, 1}, valid [P, R] bool)``.
    """
    if mode not in SR_LABEL_MODES:
        raise ValueError(f"unknown soft-relation label mode {mode!r}; valid: {', '.join(SR_LABEL_MODES)}")
    u = F.normalize(union.float(), dim=-1)
    sim1 = torch.einsum("pd,prd->pr", u, F.normalize(verbs.float(), dim=-1)[pair_image])  # Eq. 11, [P, R]
    sim2 = torch.einsum("pd,prd->pr", u, F.normalize(objects.float(), dim=-1)[pair_image])
    valid = mask[pair_image]  # [P, R]
    if mode == "minmax":
        sim1, sim2 = (_minmax_per_image(s, pair_image, mask.shape[0]) for s in (sim1, sim2))
    y = (sim1 >= threshold) & (sim2 >= threshold) & valid  # Eqs. 12-14
    return y.float(), valid


def _minmax_per_image(sim: Tensor, pair_image: Tensor, num_images: int) -> Tensor:
    """Rescale ``sim [P, R]`` to [0, 1] per (image, column) over that image's pairs; 1 where constant."""
    idx = pair_image[:, None].expand_as(sim)
    lo = sim.new_full((num_images, sim.shape[1]), float("inf")).scatter_reduce(0, idx, sim, "amin")[pair_image]
    hi = sim.new_full((num_images, sim.shape[1]), float("-inf")).scatter_reduce(0, idx, sim, "amax")[pair_image]
    span = hi - lo
    flat = span < 1e-6
    return torch.where(flat, torch.ones_like(sim), (sim - lo) / span.where(~flat, torch.ones_like(span)))


def soft_relation_loss(
    interaction: Tensor, pair_image: Tensor, verbs: Tensor, labels: Tensor, valid: Tensor, temperature: float,
    reduction: str = "mean",
) -> Tensor:
    """Soft-relation loss ``L_SR`` (Eqs. 15-16).

    ``Y_hat = sigmoid(cos(I, f_pos) / temperature)`` (Eq. 15 through a sigmoid,
    so that Eq. 16's logs are defined), binary cross-entropy against ``Y_s``.

    Args:
        interaction: ``[P, D]``; pair_image: ``[P]``.
        verbs: ``[B, R, D]`` the triplets' verb embeddings; labels, valid: ``[P, R]``.
        reduction: ``"mean"`` over the valid ``(pair, triplet)`` entries of the
            batch, or ``"sum"``: Eq. 16's sum over an image's ``K x P`` entries,
            averaged over the images that have any (the other losses' ``1/B``).
    """
    if reduction not in SR_REDUCTIONS:
        raise ValueError(f"unknown SR reduction {reduction!r}; valid: {', '.join(SR_REDUCTIONS)}")
    cos = torch.einsum(
        "pd,prd->pr", F.normalize(interaction, dim=-1), F.normalize(verbs, dim=-1)[pair_image]
    )  # Eq. 15
    bce = F.binary_cross_entropy_with_logits(cos / temperature, labels.to(cos.dtype), reduction="none")  # Eq. 16
    if reduction == "mean":
        return _masked_mean(bce, valid, interaction)
    num_images = verbs.shape[0]
    per_image = bce.new_zeros(num_images).index_add(0, pair_image, (bce * valid).sum(-1))  # Eq. 16 per image
    has = torch.zeros(num_images, dtype=torch.bool, device=bce.device).index_fill(
        0, pair_image[valid.any(-1)], True)
    return _masked_mean(per_image, has, interaction)


# ----------------------------------------------------------------------------- criterion
class Criterion(torch.nn.Module):
    """The weighted sum of Eq. 10 (plus the supervised focal loss).

    ``forward`` returns ``{"context", "i2t", "t2i", "soft_relation", "supervised", "total"}``
    for the terms whose weight is non-zero, each already multiplied by its
    weight; ``"total"`` is their sum. A term with a non-zero weight whose
    inputs are missing raises ``ValueError`` naming the weight to zero.

    Args:
        weights: weight per term name (a missing name weighs 0).
        temperature: ``tau`` of Eqs. 5-9 (``sim = cos / tau``).
        sr_temperature: ``tau`` of the SR logits (Eq. 15).
        sr_threshold: the threshold of Eqs. 12-13.
        sr_label_mode: ``"minmax"`` or ``"cosine"`` (:func:`soft_relation_labels`).
        sr_reduction: ``"mean"`` or ``"sum"`` (:func:`soft_relation_loss`).
        focal_alpha, focal_gamma: the supervised focal loss (UPT: 0.5, 0.2).
        prior_lambda: exponent of ``s_h * s_o`` in the supervised score (UPT training: 1).
    """

    TERMS: tuple[str, ...] = ("context", "i2t", "t2i", "soft_relation", "supervised")

    def __init__(
        self,
        weights: dict[str, float],
        temperature: float = 0.07,
        sr_temperature: float = 0.1,
        sr_threshold: float = 0.5,
        sr_label_mode: str = "minmax",
        sr_reduction: str = "sum",
        focal_alpha: float = 0.5,
        focal_gamma: float = 0.2,
        prior_lambda: float = 1.0,
    ) -> None:
        super().__init__()
        unknown = set(weights) - set(self.TERMS)
        if unknown:
            raise ValueError(f"unknown loss term(s) {sorted(unknown)}; valid: {', '.join(self.TERMS)}")
        if temperature <= 0 or sr_temperature <= 0:
            raise ValueError("loss temperatures must be > 0")
        if sr_label_mode not in SR_LABEL_MODES:
            raise ValueError(f"unknown sr_label_mode {sr_label_mode!r}; valid: {', '.join(SR_LABEL_MODES)}")
        self.weights = {k: float(weights.get(k, 0.0)) for k in self.TERMS}
        self.temperature = temperature
        self.sr_temperature = sr_temperature
        self.sr_threshold = sr_threshold
        self.sr_label_mode = sr_label_mode
        if sr_reduction not in SR_REDUCTIONS:
            raise ValueError(f"unknown sr_reduction {sr_reduction!r}; valid: {', '.join(SR_REDUCTIONS)}")
        self.sr_reduction = sr_reduction
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.prior_lambda = prior_lambda

    @classmethod
    def from_config(cls, cfg: "LossConfig") -> "Criterion":
        """Build from the ``loss`` section of the experiment config."""
        return cls(
            weights={t: getattr(cfg, t) for t in cls.TERMS},
            temperature=cfg.temperature,
            sr_temperature=cfg.sr_temperature,
            sr_threshold=cfg.sr_threshold,
            sr_label_mode=cfg.sr_label_mode,
            sr_reduction=cfg.sr_reduction,
            focal_alpha=cfg.focal_alpha,
            focal_gamma=cfg.focal_gamma,
            prior_lambda=cfg.prior_lambda,
        )

    def forward(
        self,
        output: StudentOutput,
        targets: DistillTargets | None = None,
        supervised: "SupervisedTargets | None" = None,
    ) -> dict[str, Tensor]:
        """Compute the weighted terms.

        Args:
            output: the student's output for the batch.
            targets: teacher targets (needed by context / i2t / t2i / soft_relation).
            supervised: ground-truth targets (needed by ``supervised``).

        Returns:
            ``{term: weighted scalar}`` plus ``"total"``.
        """
        distill = [t for t in ("context", "i2t", "t2i", "soft_relation") if self.weights[t] != 0]
        if distill and targets is None:
            raise ValueError(f"loss terms {distill} need DistillTargets; pass targets or set their weights to 0")
        # the losses run in float32, also under bf16 autocast (features and texts may come in bf16)
        with torch.autocast(device_type=output.interaction.device.type, enabled=False):
            return self._terms(output, None if targets is None else targets.float(), supervised)

    def _terms(
        self, output: StudentOutput, targets: DistillTargets | None, supervised: "SupervisedTargets | None"
    ) -> dict[str, Tensor]:
        w = self.weights
        out: dict[str, Tensor] = {}
        tau, inter, img = self.temperature, output.interaction.float(), output.pair_image
        if w["context"] != 0:
            if output.context is None:
                raise ValueError("loss.context is non-zero but the student has no context features (VLT off); "
                                 "set loss.context=0")
            out["context"] = w["context"] * context_loss(output.context.float(), targets.caption, targets.caption_mask, tau)
        if w["i2t"] != 0:
            out["i2t"] = w["i2t"] * i2t_loss(inter, img, targets.positives, targets.positive_mask,
                                             targets.negatives, targets.negative_mask, tau)
        if w["t2i"] != 0:
            out["t2i"] = w["t2i"] * t2i_loss(inter, img, targets.positives, targets.positive_mask, tau)
        if w["soft_relation"] != 0:
            if targets.union is None or targets.sr_verbs is None or targets.sr_objects is None:
                raise ValueError("loss.soft_relation is non-zero but the targets carry no union-crop embeddings / "
                                 "triplet texts; compute them or set loss.soft_relation=0")
            sr_mask = targets.sr_mask if targets.sr_mask is not None else torch.ones(
                targets.sr_verbs.shape[:2], dtype=torch.bool, device=inter.device)
            y, valid = soft_relation_labels(targets.union, img, targets.sr_verbs, targets.sr_objects, sr_mask,
                                            self.sr_threshold, self.sr_label_mode)
            out["soft_relation"] = w["soft_relation"] * soft_relation_loss(
                inter, img, targets.sr_verbs, y, valid, self.sr_temperature, self.sr_reduction)
        if w["supervised"] != 0:
            if supervised is None:
                raise ValueError("loss.supervised is non-zero but no SupervisedTargets were given; "
                                 "pass them or set loss.supervised=0")
            from clhoi.matching import supervised_loss

            out["supervised"] = w["supervised"] * supervised_loss(
                output, supervised, self.focal_alpha, self.focal_gamma, self.prior_lambda)
        out["total"] = sum(out.values()) if out else inter.sum() * 0.0
        return out
