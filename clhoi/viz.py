"""Drawing HOI predictions and attention maps (Fig. 4 / Fig. 8 style) with PIL only.

Nothing here shows a window: every function returns a new ``PIL.Image`` that
the caller saves. The input image is never modified.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from clhoi.structures import Predictions
from clhoi.vocab import COCO_CLASSES

PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40),
)
HUMAN_COLOR = (255, 255, 255)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def triplet_label(class_name: str, object_label: int | None, score: float) -> str:
    """``"ride bicycle 0.87"``: the object's COCO name is added when the class name lacks it."""
    text = class_name.replace("_", " ")
    if object_label is not None and 0 <= object_label < len(COCO_CLASSES):
        obj = COCO_CLASSES[object_label]
        if not text.endswith(obj):
            text = f"{text} {obj}"
    return f"{text} {score:.2f}"


def draw_predictions(
    image: Image.Image,
    pred: Predictions,
    class_names: list[str] | tuple[str, ...],
    top_k: int = 5,
    min_score: float = 0.0,
    line_width: int | None = None,
    font_size: int | None = None,
) -> Image.Image:
    """Draw the best triplets of one image: both boxes, a human-to-object line, a label.

    Args:
        image: the original image (``pred`` boxes are in its pixels).
        pred: predictions of this image.
        class_names: name of each class ``pred.classes`` indexes (``LabelSet.names``).
        top_k: draw at most this many triplets, best first.
        min_score: skip triplets scoring below this.
        line_width: box / line width in pixels (default: from the image size).
        font_size: label size in pixels (default: from the image size).

    Returns:
        a new RGB image of the same size.
    """
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    side = max(out.size)
    width = line_width or max(1, round(side / 200))
    font = _font(font_size or max(10, round(side / 40)))
    order = torch.argsort(pred.scores, descending=True, stable=True)
    order = order[pred.scores[order] >= min_score][:top_k]
    boxes = pred.boxes.tolist()
    stacked: dict[int, int] = {}
    for rank, t in enumerate(order.tolist()):
        h, o = (int(v) for v in pred.pairs[t].tolist())
        c, score = int(pred.classes[t]), float(pred.scores[t])
        if not 0 <= c < len(class_names):
            raise ValueError(f"class {c} out of range for {len(class_names)} class names; pass the label set's names")
        color = PALETTE[rank % len(PALETTE)]
        hb = boxes[h]
        draw.rectangle(hb, outline=HUMAN_COLOR, width=width)
        draw.rectangle(hb, outline=color, width=max(1, width // 2))
        obj_label = None
        if o >= 0:
            ob = boxes[o]
            obj_label = int(pred.labels[o])
            draw.rectangle(ob, outline=color, width=width)
            hc = ((hb[0] + hb[2]) / 2, (hb[1] + hb[3]) / 2)
            oc = ((ob[0] + ob[2]) / 2, (ob[1] + ob[3]) / 2)
            draw.line([hc, oc], fill=color, width=width)
            r = width * 2
            for x, y in (hc, oc):
                draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
        text = triplet_label(class_names[c], obj_label, score)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        x = min(max(hb[0], 0), max(out.width - (right - left) - 2, 0))
        y = max(hb[1] - (bottom - top) - 4, 0) + stacked.get(h, 0) * (bottom - top + 4)  # stack per human
        stacked[h] = stacked.get(h, 0) + 1
        draw.rectangle([x, y, x + (right - left) + 4, y + (bottom - top) + 4], fill=color)
        draw.text((x + 2 - left, y + 2 - top), text, fill=(0, 0, 0), font=font)
    return out


def _jet(values: np.ndarray) -> np.ndarray:
    """``[H, W]`` in [0, 1] -> ``[H, W, 3]`` uint8, a jet-like colour map (0: blue, 1: red)."""
    v = 0.1 + 0.8 * np.clip(values, 0.0, 1.0)[..., None]  # the bright part of jet
    rgb = np.clip(1.5 - np.abs(4.0 * v - np.array([3.0, 2.0, 1.0])), 0.0, 1.0)
    return (rgb * 255).astype(np.uint8)


def draw_attention(
    image: Image.Image,
    attention: Tensor | np.ndarray,
    grid: tuple[int, int] | None = None,
    alpha: float = 0.5,
    boxes: Tensor | None = None,
) -> Image.Image:
    """Overlay an attention map on the image (Fig. 8).

    Args:
        image: the original image.
        attention: ``[h, w]`` map, or ``[L]`` weights over patch tokens (then
            ``grid`` gives ``(h, w)``; a square ``L`` needs none).
        grid: token grid of a flat ``attention``.
        alpha: weight of the heat map in the blend.
        boxes: optional ``[N, 4]`` xyxy pixel boxes to outline (e.g. the pair).

    Returns:
        a new RGB image of the same size.
    """
    att = attention.detach().float().cpu().numpy() if isinstance(attention, Tensor) else np.asarray(attention, float)
    if att.ndim == 1:
        if grid is None:
            side = math.isqrt(att.size)
            if side * side != att.size:
                raise ValueError(f"{att.size} attention weights are not a square grid; pass grid=(h, w)")
            grid = (side, side)
        if grid[0] * grid[1] != att.size:
            raise ValueError(f"grid {grid} does not hold {att.size} attention weights")
        att = att.reshape(grid)
    if att.ndim != 2:
        raise ValueError(f"attention must be [h, w] or [L], got shape {att.shape}")
    lo, hi = float(att.min()), float(att.max())
    att = (att - lo) / (hi - lo) if hi > lo else np.zeros_like(att)
    base = image.convert("RGB")
    heat = Image.fromarray((att * 255).astype(np.uint8)).resize(base.size, Image.BILINEAR)
    heat_rgb = Image.fromarray(_jet(np.asarray(heat, dtype=np.float32) / 255.0))
    out = Image.blend(base, heat_rgb, alpha)
    if boxes is not None:
        draw = ImageDraw.Draw(out)
        width = max(1, round(max(out.size) / 200))
        for i, b in enumerate(boxes.tolist()):
            draw.rectangle(b, outline=PALETTE[i % len(PALETTE)], width=width)
    return out
