"""Teacher label records -> :class:`~clhoi.losses.DistillTargets` (the texts, encoded once per batch)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from clhoi.labelset import OBJECT_TEMPLATE, VERB_TEMPLATE, object_prompt, verb_prompt
from clhoi.losses import DistillTargets
from clhoi.structures import LabelRecord


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
        positives.append([slot(verb_prompt(v, verb_template)) for v in rec.verbs] if ok else [])
        negatives.append([slot(verb_prompt(v, verb_template)) for v in dict.fromkeys(rec.negatives)] if ok else [])
        pairs = rec.pairs if ok else []
        sr_verbs.append([slot(verb_prompt(p.verb, verb_template)) for p in pairs])
        sr_objects.append([slot(object_prompt(p.coco or p.object, object_template)) for p in pairs])
    if texts:
        table = encode_text(list(texts))
    else:  # nothing to encode: a width-1 placeholder; every mask is empty
        table = torch.zeros(1, 1) if union is None else union.new_zeros(1, union.shape[-1])
    caption, caption_mask = _pad(captions, table)
    pos, pos_mask = _pad(positives, table)
    neg, neg_mask = _pad(negatives, table)
    targets = DistillTargets(caption, caption_mask, pos, pos_mask, neg, neg_mask)
    if union is not None:
        targets.union = union
        targets.sr_verbs, targets.sr_mask = _pad(sr_verbs, table)
        targets.sr_objects, _ = _pad(sr_objects, table)
    return targets
