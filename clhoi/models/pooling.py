"""Box embeddings pooled from image features, for detections that carry none."""

from __future__ import annotations

from torch import Tensor
from torchvision.ops import roi_align


def pool_box_features(tokens: Tensor, grid: tuple[int, int], boxes: Tensor, output_size: int = 2) -> Tensor:
    """RoIAlign-pool one feature per box from a patch-token map.

    Args:
        tokens: ``[L, C]`` patch tokens of one image, row-major over ``grid``.
        grid: ``(rows, cols)`` with ``rows * cols == L``.
        boxes: ``[N, 4]`` xyxy in the ``[0, 1]`` image frame.
        output_size: RoIAlign bins per side; bins are averaged.

    Returns:
        ``[N, C]`` pooled features.
    """
    rows, cols = grid
    fmap = tokens.transpose(0, 1).reshape(1, -1, rows, cols)  # [1, C, rows, cols]
    scaled = boxes * boxes.new_tensor([cols, rows, cols, rows])
    rois = [scaled.to(fmap.dtype)]
    pooled = roi_align(fmap, rois, output_size=output_size, spatial_scale=1.0, sampling_ratio=2, aligned=True)
    return pooled.mean(dim=(2, 3))  # [N, C]
