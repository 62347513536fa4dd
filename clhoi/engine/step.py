"""One batch through the student and the criterion: the body of the training loop.

Where the frozen parts run:

* image features: from the feature cache when the batch has them, else the
  frozen CLIP image encoder on ``pixel_values`` (no gradient);
* text embeddings (captions, verbs, objects): the frozen text encoder, which
  memoises each distinct string;
* union-crop embeddings (soft-relation loss, appendix A.3): from the cache, or
  CLIP on crops of the original image (no gradient).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from accelerate import Accelerator
from torch import Tensor, nn

from clhoi.data.collate import Batch
from clhoi.data.transforms import crop_regions, union_boxes
from clhoi.structures import StudentOutput

if TYPE_CHECKING:
    from clhoi.engine.setup import TrainingParts

UNION_CHUNK = 64
"""Union crops encoded per CLIP forward pass."""


def image_features(model: nn.Module, batch: Batch, device: torch.device) -> Tensor:
    """``[B, L, C]`` frozen CLIP patch tokens: cached, or encoded now without gradient."""
    if batch.image_features is not None:
        return batch.image_features.to(device)
    if batch.pixel_values is None:
        raise ValueError("batch has neither cached image features nor pixel values")
    with torch.no_grad():
        return model.encode_images(batch.pixel_values.to(device))


def union_embeddings(model: nn.Module, batch: Batch, output: StudentOutput) -> Tensor:
    """CLIP image embeddings ``[P, D]`` of each output pair's union crop, in output pair order.

    Raises:
        KeyError: a pair is missing from the cache (the cache was made with
            other detections); rebuild it with ``clhoi cache``.
    """
    pair_image, human, obj = (t.cpu() for t in (output.pair_image, output.human_idx, output.object_idx))
    device = output.interaction.device
    if batch.cached is not None and all(c.union_embeddings is not None for c in batch.cached):
        rows = []
        for i, cached in enumerate(batch.cached):
            sel = pair_image == i
            n = max(len(cached.detections), 1)
            keys = (cached.union_pairs[:, 0] * n + cached.union_pairs[:, 1]).tolist()  # type: ignore[index]
            where = {k: r for r, k in enumerate(keys)}
            want = (human[sel] * n + obj[sel]).tolist()
            missing = [k for k in want if k not in where]
            if missing:
                raise KeyError(f"{batch.file_names[i]}: {len(missing)} pair(s) have no cached union crop; "
                               "rebuild the feature cache (`clhoi cache`) with the current detections")
            rows.append(cached.union_embeddings[[where[k] for k in want]])  # type: ignore[index]
        return torch.cat(rows).to(device) if rows else torch.zeros(0, 1, device=device)
    if batch.images is None:
        raise ValueError("the soft-relation loss needs the images or a feature cache with union crops; "
                         "set loss.soft_relation=0 or build the cache with union crops")
    crops = []
    for i, (image, det) in enumerate(zip(batch.images, batch.detections)):
        sel = pair_image == i
        pairs = torch.stack([human[sel], obj[sel]], dim=1)
        crops.extend(crop_regions(image, union_boxes(det.boxes.cpu(), pairs)))
    return embed_crops(model, crops, device)


def embed_crops(model: nn.Module, crops: list, device: torch.device) -> Tensor:
    """CLIP image embeddings ``[K, D]`` of PIL crops, without gradient, in chunks."""
    if not crops:
        return torch.zeros(0, model.encoders.text_dim, device=device)
    out = []
    with torch.no_grad():
        for k in range(0, len(crops), UNION_CHUNK):
            out.append(model.embed_images(model.preprocess(crops[k : k + UNION_CHUNK]).to(device)))
    return torch.cat(out)


def batch_losses(parts: "TrainingParts", batch: Batch, accelerator: Accelerator) -> dict[str, Tensor]:
    """Forward one batch and return the criterion's weighted terms (``total`` included).

    Args:
        parts: model (possibly DDP-wrapped), criterion and label settings.
        batch: the collated batch.
        accelerator: gives the device and the autocast context.
    """
    from clhoi.matching import SupervisedTargets
    from clhoi.targets import build_distill_targets

    raw = accelerator.unwrap_model(parts.model)
    device = accelerator.device
    detections = [d.to(device) for d in batch.detections]
    feats = image_features(raw, batch, device)
    with accelerator.autocast():
        output = parts.model(detections, image_features=feats)
        targets = supervised = None
        if parts.distill:
            union = union_embeddings(raw, batch, output) if parts.needs_union else None
            records = batch.records if batch.records is not None else [None] * len(batch)
            targets = build_distill_targets(records, raw.encode_text, union, verb_template=raw.config.verb_template,
                                            hoi_template=raw.config.training_hoi_template)
        if parts.label_set is not None:
            if batch.annotations is None or any(a is None for a in batch.annotations):
                raise ValueError(f"supervised training needs ground truth for every image; {batch.file_names[0]!r} "
                                 "and others have none")
            text = raw.encode_text(list(parts.label_set.texts))
            supervised = SupervisedTargets.build(output, detections, batch.annotations, parts.label_set, text)
        losses = parts.criterion(output, targets, supervised)
    losses["total"] = losses["total"] + _zero_from_outputs(output)
    return losses


def _zero_from_outputs(output: StudentOutput) -> Tensor:
    """``0 *`` every output tensor with a graph: under DDP each output must reach the loss.

    The terms in use need not touch every output (``logit_scale`` is read only
    by the supervised loss, ``context`` only by ``L_c``); DDP would otherwise
    wait for gradients of the parameters behind them.
    """
    zero = output.interaction.new_zeros(())
    for value in vars(output).values():
        if isinstance(value, Tensor) and value.requires_grad:
            zero = zero + 0.0 * value.float().sum()
    return zero
