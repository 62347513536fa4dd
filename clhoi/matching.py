"""The fully supervised setting (Tables 1-2, "Full"): pairs matched to ground truth, focal loss (as UPT).

A detected pair ``(h, o)`` takes class ``c`` when some ground-truth triplet
``(h*, o*, c)`` of its image has ``IoU(h, h*) >= iou`` and ``IoU(o, o*) >= iou``
(only the human box counts for a ground truth without an object). The logits
are the cosines of interaction features to the label set's text embeddings
times the student's ``logit_scale``; as in UPT, the probability is multiplied
by ``(s_h * s_o)^prior_lambda`` and only classes allowed for the pair's object
enter the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import box_iou

from clhoi.labelset import LabelSet
from clhoi.structures import Detections, ImageAnnotation, StudentOutput


def match_pairs(
    output: StudentOutput,
    detections: list[Detections],
    gts: list[ImageAnnotation],
    num_classes: int,
    iou_threshold: float = 0.5,
) -> Tensor:
    """Multi-hot class labels of each detected pair.

    Args:
        output: gives ``pair_image``, ``human_idx``, ``object_idx`` of the ``P`` pairs.
        detections: the ``B`` detections the pairs index (xyxy, original pixels).
        gts: the ``B`` ground truths, same frame; ``hoi`` rows ``(subject, object, class)``.
        num_classes: ``C``, the size of the label space of ``gts``' classes.
        iou_threshold: both boxes must overlap their ground truth this much.

    Returns:
        ``[P, C]`` float32 in {0, 1}, on the device of ``output.interaction``.
    """
    if len(detections) != len(gts):
        raise ValueError(f"{len(detections)} detections but {len(gts)} ground truths")
    device = output.interaction.device
    labels = torch.zeros(output.num_pairs, num_classes, device=device)
    pair_image = output.pair_image.to(device)
    for i, (det, gt) in enumerate(zip(detections, gts)):
        rows = (pair_image == i).nonzero().flatten()
        if rows.numel() == 0 or gt.hoi.shape[0] == 0:
            continue
        if int(gt.hoi[:, 2].max()) >= num_classes:
            raise ValueError(f"{gt.file_name}: class {int(gt.hoi[:, 2].max())} >= num_classes={num_classes}")
        boxes, gt_boxes, hoi = det.boxes.to(device).float(), gt.boxes.to(device).float(), gt.hoi.to(device)
        h = boxes[output.human_idx[rows].to(device)]  # [K, 4]
        o = boxes[output.object_idx[rows].to(device)]
        iou_h = box_iou(h, gt_boxes[hoi[:, 0]])  # [K, M]
        has_obj = hoi[:, 1] >= 0
        iou_o = box_iou(o, gt_boxes[hoi[:, 1].clamp(min=0)]).where(has_obj[None, :], torch.ones_like(iou_h))
        k, m = (torch.minimum(iou_h, iou_o) >= iou_threshold).nonzero(as_tuple=True)
        labels[rows[k], hoi[m, 2]] = 1.0
    return labels


def focal_loss(probs: Tensor, labels: Tensor, alpha: float = 0.5, gamma: float = 0.2, eps: float = 1e-8) -> Tensor:
    """Element-wise binary focal loss on probabilities (Lin et al.; UPT's alpha / gamma).

    ``-alpha y (1-p)^gamma log p - (1-alpha) (1-y) p^gamma log(1-p)``, same shape as ``probs``.
    """
    p = probs.clamp(eps, 1.0 - eps)
    pos = -alpha * labels * (1.0 - p) ** gamma * torch.log(p)
    neg = -(1.0 - alpha) * (1.0 - labels) * p**gamma * torch.log1p(-p)
    return pos + neg


@dataclass
class SupervisedTargets:
    """Ground-truth targets of the supervised loss for the ``P`` pairs of a batch.

    Attributes:
        labels: ``[P, C]`` multi-hot (:func:`match_pairs`).
        text: ``[C, D]`` CLIP text embeddings of the label set's classes.
        valid: ``[P, C]`` bool, classes allowed for each pair's object
            (:meth:`LabelSet.valid_mask`); ``None`` allows all.
    """

    labels: Tensor
    text: Tensor
    valid: Tensor | None = None

    @classmethod
    def build(
        cls,
        output: StudentOutput,
        detections: list[Detections],
        gts: list[ImageAnnotation],
        label_set: LabelSet,
        text: Tensor,
        iou_threshold: float = 0.5,
    ) -> "SupervisedTargets":
        """Match pairs to ``gts`` (classes in ``label_set``'s space) and restrict classes by object."""
        labels = match_pairs(output, detections, gts, label_set.num_classes, iou_threshold)
        valid = label_set.valid_mask(output.object_labels.to(labels.device))
        return cls(labels=labels, text=text.to(labels.device), valid=valid)


def supervised_loss(
    output: StudentOutput,
    targets: SupervisedTargets,
    alpha: float = 0.5,
    gamma: float = 0.2,
    prior_lambda: float = 1.0,
) -> Tensor:
    """Focal loss of the supervised setting, summed over allowed entries, divided by the positives.

    ``p = sigmoid(logit_scale * cos(I, Y)) * (s_h * s_o)^prior_lambda``; ``logit_scale``
    is ``output.logit_scale`` taken as the multiplier (already exponentiated), 1 when absent.

    Returns:
        scalar; ``0`` (with a graph) when there are no pairs.
    """
    inter = output.interaction.float()
    if inter.shape[0] == 0:
        return inter.sum() * 0.0
    scale = output.logit_scale if output.logit_scale is not None else 1.0
    logits = scale * (F.normalize(inter, dim=-1) @ F.normalize(targets.text.to(inter), dim=-1).T)  # [P, C]
    prior = (output.pair_scores[:, 0] * output.pair_scores[:, 1]).clamp(min=0.0).to(inter) ** prior_lambda
    probs = torch.sigmoid(logits) * prior[:, None]
    labels = targets.labels.to(probs)
    if targets.valid is not None:  # only the allowed (pair, class) entries: [V]
        probs, labels = probs[targets.valid], labels[targets.valid]
    return focal_loss(probs, labels, alpha, gamma).sum() / labels.sum().clamp(min=1.0)
