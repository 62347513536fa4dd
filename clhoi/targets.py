"""The distillation targets of a batch, and how teacher label records become them (texts encoded once)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from clhoi.labelset import OBJECT_TEMPLATE, VERB_TEMPLATE, hoi_prompt, object_prompt, verb_prompt
from clhoi.structures import LabelRecord


@dataclass
class DistillTargets:
    """The teacher's targets for one batch of ``B`` images, as CLIP embeddings of width ``D``.

    Build it with :func:`build_distill_targets` or by hand. Any
    norm is accepted (everything is L2-normalised in the losses).

    Attributes:
        caption: ``[B, T, D]`` caption features ``f_cap`` (``T = 1``: the pooled
            CLIP text embedding of the caption, the default).
        caption_mask: ``[B, T]`` bool; an all-False row (no caption) leaves the
            image out of ``L_c``.
        positives: ``[B, Np, D]`` embeddings of the image's distinct positive verbs.
        positive_mask: ``[B, Np]`` bool.
        negatives: ``[B, Nq, D]`` embeddings of the negative verbs.
        negative_mask: ``[B, Nq]`` bool.
        union: ``[P, D]`` CLIP image embeddings of each pair's union crop, row
            ``p`` = pair ``p`` of the :class:`StudentOutput`; ``None`` without SR.
        sr_verbs: ``[B, R, D]`` verb embeddings of each parsed triplet.
        sr_objects: ``[B, R, D]`` object embeddings of the same triplets.
        sr_mask: ``[B, R]`` bool.
    """

    caption: Tensor
    caption_mask: Tensor
    positives: Tensor
    positive_mask: Tensor
    negatives: Tensor
    negative_mask: Tensor
    union: Tensor | None = None
    sr_verbs: Tensor | None = None
    sr_objects: Tensor | None = None
    sr_mask: Tensor | None = None

    def to(self, device: torch.device | str) -> "DistillTargets":
        kw = {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in self.__dict__.items()}
        return DistillTargets(**kw)

    def float(self) -> "DistillTargets":
        """A copy whose embeddings are float32 (masks unchanged)."""
        kw = {k: (v.float() if isinstance(v, Tensor) and v.is_floating_point() else v) for k, v in self.__dict__.items()}
        return DistillTargets(**kw)


def _pad(rows: list[list[int]], table: Tensor) -> tuple[Tensor, Tensor]:
    """Gather ``table`` rows per image into ``[B, N, D]`` with a ``[B, N]`` mask (N >= 1)."""
    n = max([len(r) for r in rows] + [1])
    idx = torch.zeros(len(rows), n, dtype=torch.long)
    mask = torch.zeros(len(rows), n, dtype=torch.bool)
    for i, r in enumerate(rows):
        idx[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
        mask[i, : len(r)] = True
    idx, mask = idx.to(table.device), mask.to(table.device)
    return table[idx] * mask[..., None].to(table.dtype), mask


def build_distill_targets(
    records: Sequence[LabelRecord | None],
    encode_text: Callable[[list[str]], Tensor],
    union: Tensor | None = None,
    verb_template: str = VERB_TEMPLATE,
    object_template: str = OBJECT_TEMPLATE,
    hoi_template: str | None = None,
) -> DistillTargets:
    """Encode the captions, verbs and objects of a batch's label records.

    All distinct texts of the batch go through ``encode_text`` in one call.
    The caption is one pooled embedding per image (``T = 1``). A record that is
    ``None``, not ``ok`` or has no caption / pairs contributes empty masks.

    Args:
        records: ``B`` label records.
        encode_text: texts -> ``[N, D]`` (L2-normalised CLIP text embeddings).
        union: ``[P, D]`` union-crop CLIP image embeddings of the batch's pairs,
            for the soft-relation loss (``None`` leaves SR targets out).
        verb_template: prompt of a verb (:func:`clhoi.labelset.verb_prompt`);
            use the one the inference label set uses.
        object_template: prompt of an object name.
        hoi_template: when given (``model.text_space: verb_object``), the verb
            texts carry the teacher's object: positives are the image's distinct
            ``<verb, object>`` texts, negatives each negative verb with each of
            the image's objects, and the SR verbs (Eqs. 11, 15) the triplet's
            ``<verb, object>`` text. ``None``: verb texts (``verb_template``).

    Returns:
        the batch's targets, on the device of ``encode_text``'s output.
    """
    texts: dict[str, int] = {}

    def slot(text: str) -> int:
        return texts.setdefault(text, len(texts))

    captions, positives, negatives, sr_verbs, sr_objects = [], [], [], [], []
    for rec in records:
        ok = rec is not None and rec.status == "ok"
        cap = rec.caption.strip() if ok else ""
        captions.append([slot(cap)] if cap else [])
        pairs = rec.pairs if ok else []
        negs = list(dict.fromkeys(rec.negatives)) if ok else []
        if hoi_template is None:
            positives.append([slot(verb_prompt(v, verb_template)) for v in rec.verbs] if ok else [])
            negatives.append([slot(verb_prompt(v, verb_template)) for v in negs])
            sr_verbs.append([slot(verb_prompt(p.verb, verb_template)) for p in pairs])
        else:
            objs = list(dict.fromkeys(p.coco or p.object for p in pairs)) or [""]
            hoi = [hoi_prompt(p.verb, p.coco or p.object, hoi_template) for p in pairs]
            positives.append([slot(t) for t in dict.fromkeys(hoi)])
            negatives.append([slot(hoi_prompt(v, o, hoi_template)) for v in negs for o in objs])
            sr_verbs.append([slot(t) for t in hoi])
        sr_objects.append([slot(object_prompt(p.coco or p.object, object_template)) for p in pairs])
    if texts:
        table = encode_text(list(texts))
    else:  # nothing to encode: one zero row of the encoder's width, device and dtype; every mask is empty
        table = encode_text(["a photo"]) * 0.0
    caption, caption_mask = _pad(captions, table)
    pos, pos_mask = _pad(positives, table)
    neg, neg_mask = _pad(negatives, table)
    targets = DistillTargets(caption, caption_mask, pos, pos_mask, neg, neg_mask)
    if union is not None:
        targets.union = union
        targets.sr_verbs, targets.sr_mask = _pad(sr_verbs, table)
        targets.sr_objects, _ = _pad(sr_objects, table)
    return targets
