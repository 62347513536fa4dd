"""Hugging Face object detectors -> :class:`~clhoi.structures.Detections`.

Any ``AutoModelForObjectDetection`` whose output has ``logits``,
``pred_boxes`` (normalised ``cx, cy, w, h``) and ``last_hidden_state`` (one
decoder state per query) plugs in by name: DETR (``facebook/detr-resnet-50``,
``-101``), Conditional DETR and Deformable DETR were tried (tiny random
configs, tests/detect). Softmax detectors with a "no object" class (DETR)
and sigmoid ones (Deformable DETR) are both handled. Labels are mapped to
COCO-80 through the model's ``id2label`` names; unmapped ids are dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from clhoi.detect.config import DetectorConfig
from clhoi.detect.filter import filter_detections
from clhoi.structures import Detections
from clhoi.vocab import coco_index

_ALIASES = {
    "motorbike": "motorcycle", "aeroplane": "airplane", "sofa": "couch", "tvmonitor": "tv", "tv monitor": "tv",
    "diningtable": "dining table", "pottedplant": "potted plant", "hair dryer": "hair drier", "mobile phone": "cell phone",
}


def coco_label_map(id2label: dict[int, str]) -> Tensor:
    """``[max_id + 1]`` int64: model label id -> COCO-80 index, ``-1`` where the name is not a COCO class."""
    table = torch.full((max(id2label) + 1,), -1, dtype=torch.long)
    for i, name in id2label.items():
        key = str(name).strip().lower().replace("_", " ")
        try:
            table[int(i)] = coco_index(_ALIASES.get(key, key))
        except KeyError:
            pass
    return table


def decode_outputs(logits: Tensor, pred_boxes: Tensor, states: Tensor, label_map: Tensor,
                   image_size: tuple[int, int], softmax: bool = True) -> Detections:
    """One image's raw queries -> Detections (all mapped queries, unfiltered).

    Args:
        logits: ``[Q, K]`` (``K = num_labels + 1`` with a trailing "no object"
            class for softmax detectors, else ``num_labels`` for sigmoid ones).
        pred_boxes: ``[Q, 4]`` ``cx, cy, w, h`` normalised by the image size.
        states: ``[Q, D]`` decoder states, kept as embeddings.
        label_map: from :func:`coco_label_map`.
        image_size: ``(height, width)`` of the original image.
        softmax: softmax over classes with a trailing "no object" (DETR);
            otherwise per-class sigmoid (Deformable DETR).
    """
    probs = logits.softmax(-1)[:, :-1] if softmax else logits.sigmoid()
    probs = probs[:, : label_map.shape[0]]
    scores, ids = probs.max(-1)
    labels = label_map.to(ids.device)[ids]
    h, w = image_size
    cx, cy, bw, bh = pred_boxes.unbind(-1)
    boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1) * pred_boxes.new_tensor([w, h, w, h])
    boxes = torch.minimum(boxes.clamp(min=0), pred_boxes.new_tensor([w, h, w, h]))
    keep = labels >= 0
    return Detections(boxes[keep].float(), scores[keep].float(), labels[keep], states[keep].float(), (h, w))


class Detector:
    """An off-the-shelf detector with UPT's filtering.

    Args:
        model: a Hugging Face object-detection model (eval mode is set).
        processor: its image processor.
        config: filtering settings (score threshold, NMS, per-kind limits).
    """

    def __init__(self, model: Any, processor: Any, config: DetectorConfig | None = None) -> None:
        self.model = model.eval()
        self.processor = processor
        self.config = config or DetectorConfig()
        self.label_map = coco_label_map({int(k): v for k, v in model.config.id2label.items()})
        if (self.label_map >= 0).sum() == 0:
            raise ValueError("the detector's id2label has no COCO class names; it cannot give COCO-80 labels")

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, config: DetectorConfig | None = None,
                        device: str | torch.device = "cpu") -> "Detector":
        """Load a detector and its processor by Hugging Face id or local directory."""
        from transformers import AutoImageProcessor, AutoModelForObjectDetection

        try:
            model = AutoModelForObjectDetection.from_pretrained(str(name_or_path)).to(device)
        except ImportError as e:  # facebook/detr-resnet-* build their backbone with timm
            raise ImportError(f"loading detector {name_or_path} needs a missing package ({e}); "
                              "for the facebook/detr-resnet-* checkpoints run `pip install timm`") from None
        processor = AutoImageProcessor.from_pretrained(str(name_or_path))
        return cls(model, processor, config)

    @property
    def embed_dim(self) -> int:
        """Width of the decoder states returned as embeddings."""
        return int(self.model.config.d_model)

    @torch.no_grad()
    def detect(self, images: list[Image.Image], filtered: bool = True) -> list[Detections]:
        """Detect objects in PIL images.

        Returns:
            One Detections per image: boxes xyxy in original-image pixels,
            COCO-80 labels, scores, decoder states ``[N, D]`` as embeddings,
            ``image_size = (height, width)``. With ``filtered`` the UPT filter
            of :func:`filter_detections` is applied with this detector's config.
        """
        if not images:
            return []
        device = next(self.model.parameters()).device
        rgb = [im.convert("RGB") for im in images]
        inputs = self.processor(images=rgb, return_tensors="pt").to(device)
        out = self.model(**inputs)
        softmax = out.logits.shape[-1] == self.model.config.num_labels + 1  # DETR's extra "no object" class
        results = []
        for i, im in enumerate(rgb):
            det = decode_outputs(out.logits[i], out.pred_boxes[i], out.last_hidden_state[i], self.label_map,
                                 (im.height, im.width), softmax).to("cpu")
            if filtered:
                c = self.config
                det = filter_detections(det, c.score_threshold, c.nms_threshold, c.min_humans, c.max_humans,
                                        c.min_objects, c.max_objects)
            results.append(det)
        return results
