"""The detection filtering UPT applies before pairing, as a pure function."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import batched_nms

from clhoi.structures import Detections

PERSON = 0


def _keep_in_range(candidates: Tensor, passing: Tensor, scores: Tensor, lo: int, hi: int) -> Tensor:
    """Indices to keep of one kind (humans or objects), best score first.

    ``passing`` (those above the score threshold) are kept when their number
    is within ``[lo, hi]``; otherwise the best ``lo`` (topping up with
    below-threshold ones) or the best ``hi`` of ``candidates`` are kept.
    """
    if passing.numel() < lo:
        chosen = candidates[scores[candidates].argsort(descending=True, stable=True)[:lo]]
    elif passing.numel() > hi:
        chosen = passing[scores[passing].argsort(descending=True, stable=True)[:hi]]
    else:
        chosen = passing
    return chosen[scores[chosen].argsort(descending=True, stable=True)]


def filter_detections(det: Detections, score_threshold: float = 0.2, nms_threshold: float = 0.5,
                      min_humans: int = 3, max_humans: int = 15, min_objects: int = 3,
                      max_objects: int = 15) -> Detections:
    """UPT's region-proposal filtering.

    1. Per-class NMS at ``nms_threshold`` IoU.
    2. Keep detections scoring at least ``score_threshold``.
    3. Per kind (humans = COCO label 0, objects = the rest): when fewer than
       ``min_*`` pass, keep the best ``min_*`` survivors of NMS regardless of
       score; when more than ``max_*`` pass, keep the best ``max_*``.

    Args:
        det: detections of one image (any order).

    Returns:
        The kept detections: humans first, then objects, each by descending
        score. Embeddings and ``image_size`` follow.
    """
    if min_humans > max_humans or min_objects > max_objects:
        raise ValueError("min_humans/min_objects must not exceed max_humans/max_objects")
    if len(det) == 0:
        return det
    boxes = det.boxes.float()
    nms_keep = batched_nms(boxes, det.scores.float(), det.labels, nms_threshold)  # sorted by score
    is_human = det.labels[nms_keep] == PERSON
    passing = det.scores[nms_keep] >= score_threshold
    humans = _keep_in_range(nms_keep[is_human], nms_keep[is_human & passing], det.scores, min_humans, max_humans)
    objects = _keep_in_range(nms_keep[~is_human], nms_keep[~is_human & passing], det.scores, min_objects, max_objects)
    return det.select(torch.cat([humans, objects]))
