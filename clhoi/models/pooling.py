"""Box embeddings pooled from image features, for detections that carry none."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import roi_align


def pool_box_features(tokens: Tensor, grid: tuple[int, int], boxes: Tensor, box_image: Tensor,
                      output_size: int = 2) -> Tensor:
    """RoIAlign-pool one feature per box from patch-token maps.

    Args:
        tokens: ``[B, L, C]`` patch tokens, row-major over ``grid``.
        grid: ``(rows, cols)`` with ``rows * cols == L``.
        boxes: ``[K, 4]`` xyxy in the ``[0, 1]`` image frame.
        box_image: ``[K]`` int64 image of each box.
        output_size: RoIAlign bins per side; bins are averaged.

    Returns:
        ``[K, C]`` pooled features.

    Raises:
        ValueError: a box is non-finite or has ``x2 < x1`` / ``y2 < y1``, or
            ``box_image`` names no image of the batch. RoIAlign's native kernel
            does not check its input (a NaN box crashes the process), so this does.
    """
    rows, cols = grid
    if boxes.ndim != 2 or boxes.shape[-1] != 4 or box_image.shape != boxes.shape[:1]:
        raise ValueError(f"boxes must be [K, 4] with one image index each, got {tuple(boxes.shape)} "
                         f"and {tuple(box_image.shape)}")
    if boxes.numel():
        if not bool(torch.isfinite(boxes).all()):
            raise ValueError("a detection box has a non-finite coordinate; check the detections file")
        if bool(((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any()):
            raise ValueError("a detection box has x2 < x1 or y2 < y1; check the detections file")
        if int(box_image.min()) < 0 or int(box_image.max()) >= tokens.shape[0]:
            raise ValueError(f"box image index out of range [0, {tokens.shape[0]})")
    fmap = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, rows, cols)  # [B, C, rows, cols]
    scaled = boxes * boxes.new_tensor([cols, rows, cols, rows])
    rois = torch.cat([box_image.to(scaled.dtype)[:, None], scaled], 1).to(fmap.dtype)  # [K, 5]: (image, x1, y1, x2, y2)
    pooled = roi_align(fmap, rois, output_size=output_size, spatial_scale=1.0, sampling_ratio=2, aligned=True)
    return pooled.mean(dim=(2, 3))  # [K, C]
