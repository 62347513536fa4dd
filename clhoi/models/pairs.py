"""Human-object pairing and the padded per-image layout the ICN runs on.

As in UPT, every detected human is paired with every *other* detection (other
humans included: HICO-DET has ``person`` objects). Pairs are listed image by
image, human-major, then by object index.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

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
        box_image: ``[T]`` image of each detection of the batch, concatenated.
        box_local: ``[T]`` index of each detection within its image.
        first_box: ``[B]`` position of each image's first detection in the
            concatenation (so ``first_box[pair_image] + human_idx`` indexes it).

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
    box_image: Tensor
    box_local: Tensor
    first_box: Tensor

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


def _ranks(groups: Tensor, sizes: Tensor) -> Tensor:
    """Position of each element within its group, for elements listed group by group."""
    starts = sizes.cumsum(0) - sizes
    return torch.arange(groups.shape[0], device=groups.device) - starts[groups]


def layout_pairs(detections: list[Detections], device: torch.device | str | None = None) -> PairLayout:
    """Pair humans and objects in each image and pad per image (vectorised over the batch).

    Pairs come image by image, human-major, then by object index, exactly as
    :func:`image_pairs` lists them for each image.

    Raises:
        ValueError: an empty batch, or a Detections without ``image_size``.
    """
    if not detections:
        raise ValueError("layout_pairs needs at least one image")
    for i, det in enumerate(detections):
        if det.image_size is None:
            raise ValueError(f"detections of image {i} have no image_size (height, width); set it when building them")
    b = len(detections)
    counts = torch.tensor([len(d) for d in detections], dtype=torch.long, device=device)
    n_max = max(1, max(len(d) for d in detections))
    box_image = torch.repeat_interleave(torch.arange(b, device=device), counts)  # [T]
    box_local = _ranks(box_image, counts)
    scale = torch.tensor([[w, h, w, h] for h, w in (d.image_size for d in detections)], dtype=torch.float32,
                         device=device)
    flat = torch.cat([d.boxes for d in detections]).to(device=device, dtype=torch.float32)
    boxes = torch.zeros(b, n_max, 4, device=device)
    boxes[box_image, box_local] = (flat / scale[box_image]).clamp(0.0, 1.0)
    box_mask = torch.zeros(b, n_max, dtype=torch.bool, device=device)
    box_mask[box_image, box_local] = True

    labels = torch.cat([d.labels for d in detections]).to(device)
    humans = torch.nonzero(labels == PERSON).flatten()  # global indices, image by image
    reps = counts[box_image[humans]]  # each human is tried with every detection of its image
    h_global = torch.repeat_interleave(humans, reps)
    o_local = _ranks(torch.repeat_interleave(torch.arange(humans.shape[0], device=device), reps), reps)
    h_local = box_local[h_global]
    keep = o_local != h_local  # not with itself
    pair_image, human_idx, object_idx = box_image[h_global][keep], h_local[keep], o_local[keep]
    per_image = torch.bincount(pair_image, minlength=b)
    slot = _ranks(pair_image, per_image)
    m_max = max(1, int(per_image.max()))
    pair_human = torch.zeros(b, m_max, dtype=torch.long, device=device)
    pair_object = torch.zeros(b, m_max, dtype=torch.long, device=device)
    pair_mask = torch.zeros(b, m_max, dtype=torch.bool, device=device)
    pair_human[pair_image, slot] = human_idx
    pair_object[pair_image, slot] = object_idx
    pair_mask[pair_image, slot] = True
    return PairLayout(pair_image, human_idx, object_idx, slot, boxes, box_mask, pair_human, pair_object, pair_mask,
                      box_image, box_local, counts.cumsum(0) - counts)
