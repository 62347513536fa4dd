"""Image-side helpers of the training data: human-object union boxes and their crops.

The soft-relation loss (appendix A.3) encodes the union region of each
person-object pair with the frozen CLIP image encoder; these functions cut
those regions out of the original image.
"""

from __future__ import annotations

import torch
from PIL import Image
from torch import Tensor


def union_boxes(boxes: Tensor, pairs: Tensor) -> Tensor:
    """The smallest box holding both boxes of each pair.

    Args:
        boxes: ``[N, 4]`` xyxy boxes of one image.
        pairs: ``[P, 2]`` int64 ``(human_idx, object_idx)`` into ``boxes``.

    Returns:
        ``[P, 4]`` xyxy union boxes, same frame as ``boxes``.
    """
    if pairs.numel() == 0:
        return boxes.new_zeros(0, 4)
    h, o = boxes[pairs[:, 0]], boxes[pairs[:, 1]]
    return torch.cat([torch.minimum(h[:, :2], o[:, :2]), torch.maximum(h[:, 2:], o[:, 2:])], dim=1)


def crop_regions(image: Image.Image, boxes: Tensor) -> list[Image.Image]:
    """Crop xyxy pixel boxes out of ``image``, clamped to it and at least 1 pixel wide and high.

    Args:
        image: the original RGB image.
        boxes: ``[K, 4]`` xyxy boxes in pixels of ``image``.

    Returns:
        ``K`` RGB crops.
    """
    w, h = image.size
    out = []
    for x1, y1, x2, y2 in boxes.tolist():
        x1, y1 = min(max(int(x1), 0), w - 1), min(max(int(y1), 0), h - 1)
        x2, y2 = max(min(int(round(x2)), w), x1 + 1), max(min(int(round(y2)), h), y1 + 1)
        out.append(image.crop((x1, y1, x2, y2)))
    return out
