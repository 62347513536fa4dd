"""Human-object pairing and the padded per-image layout the ICN runs on.

As in UPT, every detected human is paired with every *other* detection (other
humans included: HICO-DET has ``person`` objects). Pairs are listed image by
image, human-major, then by object index.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from clhoi.models.geometry import normalize_boxes
from clhoi.structures import Detections

PERSON = 0


@dataclass
class PairLayout:
    """Pairs of a batch, flat and padded.

    Attributes:
        pair_image: ``[P]`` image index of each pair.
        human_idx: ``[P]`` human index into that image's detections.
        object_idx: ``[P]`` object index into that image's detections.
        slot: ``[P]`` position of the pair in its image's padded row.
        boxes: ``[B, N, 4]`` detections' boxes, xyxy in the ``[0, 1]`` frame
            (zeros where padded).
        box_mask: ``[B, N]`` true for real detections.
        pair_human: ``[B, M]`` human index of each padded pair slot (0 where padded).
        pair_object: ``[B, M]`` object index (0 where padded).
        pair_mask: ``[B, M]`` true for real pairs.

    ``N`` and ``M`` are at least 1 so that images without detections or pairs
    still give well-formed (fully padded) rows.
    """

    pair_image: Tensor
    human_idx: Tensor
    object_idx: Tensor
    slot: Tensor
    boxes: Tensor
    box_mask: Tensor
    pair_human: Tensor
    pair_object: Tensor
    pair_mask: Tensor

    @property
    def num_pairs(self) -> int:
        return int(self.pair_image.shape[0])


def image_pairs(labels: Tensor) -> tuple[Tensor, Tensor]:
    """``(human_idx, object_idx)`` of all pairs in one image, from its ``[N]`` COCO-80 labels."""
    n = labels.shape[0]
    humans = torch.nonzero(labels == PERSON).flatten()
    h = humans.repeat_interleave(n)
    o = torch.arange(n, device=labels.device).repeat(humans.shape[0])
    keep = h != o
    return h[keep], o[keep]


def layout_pairs(detections: list[Detections], device: torch.device | None = None) -> PairLayout:
    """Pair humans and objects in each image and pad per image.

    Raises:
        ValueError: a Detections lacks ``image_size`` (needed to normalise boxes).
    """
    b = len(detections)
    n_max = max([1] + [len(d) for d in detections])
    boxes = torch.zeros(b, n_max, 4, device=device)
    box_mask = torch.zeros(b, n_max, dtype=torch.bool, device=device)
    per_image = []
    for i, det in enumerate(detections):
        if det.image_size is None:
            raise ValueError(f"detections of image {i} have no image_size (height, width); set it when building them")
        n = len(det)
        boxes[i, :n] = normalize_boxes(det.boxes.to(device=device, dtype=torch.float32), det.image_size)
        box_mask[i, :n] = True
        per_image.append(image_pairs(det.labels.to(device)))
    m_max = max([1] + [h.shape[0] for h, _ in per_image])
    pair_human = torch.zeros(b, m_max, dtype=torch.long, device=device)
    pair_object = torch.zeros(b, m_max, dtype=torch.long, device=device)
    pair_mask = torch.zeros(b, m_max, dtype=torch.bool, device=device)
    flat_img, flat_h, flat_o, flat_slot = [], [], [], []
    for i, (h, o) in enumerate(per_image):
        m = h.shape[0]
        pair_human[i, :m], pair_object[i, :m], pair_mask[i, :m] = h, o, True
        flat_img.append(torch.full((m,), i, dtype=torch.long, device=device))
        flat_h.append(h)
        flat_o.append(o)
        flat_slot.append(torch.arange(m, device=device))
    return PairLayout(
        torch.cat(flat_img), torch.cat(flat_h), torch.cat(flat_o), torch.cat(flat_slot),
        boxes, box_mask, pair_human, pair_object, pair_mask,
    )
