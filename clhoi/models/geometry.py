"""Box geometry: normalisation, pair features (spatial cognition) and sine encodings.

All boxes here are ``xyxy``. Functions that take pixel boxes say so; the rest
work on boxes normalised by the image size (``[0, 1]`` frame).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

NUM_PAIR_FEATURES = 36
"""Width of :func:`pair_features`: 18 raw features and their logs."""


def normalize_boxes(boxes: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Pixel ``xyxy`` boxes ``[N, 4]`` -> ``[0, 1]`` frame, given ``(height, width)``."""
    h, w = image_size
    scale = boxes.new_tensor([w, h, w, h])
    return (boxes / scale).clamp(0.0, 1.0)


def box_cxcywh(boxes: Tensor) -> Tensor:
    """``xyxy`` -> ``(cx, cy, w, h)``, same frame; ``[..., 4]``."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1), (y2 - y1)], -1)


def union_boxes(a: Tensor, b: Tensor) -> Tensor:
    """Smallest boxes enclosing each pair ``a[i], b[i]``; ``[P, 4]`` xyxy."""
    return torch.cat([torch.minimum(a[:, :2], b[:, :2]), torch.maximum(a[:, 2:], b[:, 2:])], -1)


def paired_iou(a: Tensor, b: Tensor, eps: float = 1e-6) -> Tensor:
    """IoU of ``a[i]`` with ``b[i]`` (not all pairs): ``[P]``; 0 for two empty boxes."""
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a + area_b - inter).clamp(min=eps)


def pair_features(h: Tensor, o: Tensor, eps: float = 1e-6) -> Tensor:
    """UPT-style geometry of human-object pairs, the input of the spatial prior ``S``.

    Per pair: the two box centres, widths and heights; both areas and their
    ratio; both aspect ratios; the IoU; and the centre offset split by sign
    (direction) and scaled by the human box (distance). The 18 values are
    concatenated with their logs, the way UPT log-scales its pairwise code.

    Args:
        h: ``[P, 4]`` human boxes, xyxy in the ``[0, 1]`` image frame.
        o: ``[P, 4]`` object boxes, same frame.
        eps: floor that keeps divisions and logs finite for degenerate boxes.

    Returns:
        ``[P, 36]`` float tensor.
    """
    ch, co = box_cxcywh(h), box_cxcywh(o)
    wh_h, wh_o = ch[:, 2:].clamp(min=eps), co[:, 2:].clamp(min=eps)
    area_h, area_o = wh_h.prod(-1), wh_o.prod(-1)
    iou = paired_iou(h, o, eps)
    d = co[:, :2] - ch[:, :2]  # centre offset, [P, 2]
    dx, dy = d[:, 0] / wh_h[:, 0], d[:, 1] / wh_h[:, 1]
    raw = torch.stack(
        [
            ch[:, 0], ch[:, 1], co[:, 0], co[:, 1],
            wh_h[:, 0], wh_h[:, 1], wh_o[:, 0], wh_o[:, 1],
            area_h, area_o, area_o / area_h,
            wh_h[:, 0] / wh_h[:, 1], wh_o[:, 0] / wh_o[:, 1],
            iou,
            dx.clamp(min=0), (-dx).clamp(min=0), dy.clamp(min=0), (-dy).clamp(min=0),
        ],
        dim=-1,
    )  # [P, 18]
    return torch.cat([raw, torch.log(raw + eps)], dim=-1)


def sine_encoding(coords: Tensor, dim_per_coord: int, temperature: float = 10000.0) -> Tensor:
    """DETR-style sinusoidal encoding ``PE(.)`` of coordinates in ``[0, 1]``.

    Args:
        coords: ``[..., K]`` values in ``[0, 1]`` (box ``cx, cy, w, h`` or a point).
        dim_per_coord: even number of channels per coordinate.
        temperature: frequency base.

    Returns:
        ``[..., K * dim_per_coord]``: for each coordinate, interleaved sin/cos.
    """
    if dim_per_coord % 2:
        raise ValueError(f"dim_per_coord must be even, got {dim_per_coord}")
    i = torch.arange(dim_per_coord, dtype=torch.float32, device=coords.device)
    freq = temperature ** (2 * torch.div(i, 2, rounding_mode="floor") / dim_per_coord)
    x = coords.float().unsqueeze(-1) * (2 * math.pi) / freq  # [..., K, d]
    x = torch.stack([x[..., 0::2].sin(), x[..., 1::2].cos()], dim=-1).flatten(-2)
    return x.flatten(-2).to(coords.dtype if coords.is_floating_point() else torch.float32)


def patch_centres(grid: tuple[int, int], device: torch.device | None = None) -> Tensor:
    """Centres of a ``(rows, cols)`` patch grid in the ``[0, 1]`` frame, ``[rows*cols, 2]`` as ``(x, y)``."""
    rows, cols = grid
    ys = (torch.arange(rows, device=device, dtype=torch.float32) + 0.5) / rows
    xs = (torch.arange(cols, device=device, dtype=torch.float32) + 0.5) / cols
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], -1)
