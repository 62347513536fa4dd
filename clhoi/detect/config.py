"""Detector section of the experiment config (no torch imports)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DetectorConfig:
    """The off-the-shelf detector and the filtering applied before pairing.

    Attributes:
        model: Hugging Face detector id or path (``facebook/detr-resnet-50``).
        score_threshold: drop detections below this score.
        nms_threshold: per-class NMS IoU threshold.
        min_humans, max_humans, min_objects, max_objects: UPT's per-image limits.
        trained_on: what the detector's boxes were trained on (provenance):
            ``coco2017`` for the off-the-shelf DETR, the dataset name (``hicodet``,
            ``vcoco``) for one fine-tuned on that dataset's boxes.
    """

    model: str = "facebook/detr-resnet-50"
    score_threshold: float = 0.2
    nms_threshold: float = 0.5
    min_humans: int = 3
    max_humans: int = 15
    min_objects: int = 3
    max_objects: int = 15
    trained_on: str = "coco2017"
