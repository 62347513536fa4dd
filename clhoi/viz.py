"""Drawing HOI predictions and attention maps (Fig. 4 / Fig. 8 style) with PIL only.

Nothing here shows a window: every function returns a new ``PIL.Image`` that
the caller saves. The input image is never modified.

Prediction images (:func:`draw_predictions`):

* one colour per human-object pair: the object box, the human-to-object line
  and the pair's label share it; a human in several pairs keeps a white box;
* the label (every class of the pair above the threshold, best first) sits
  beside its pair, on a spot that covers no drawn box (the canvas gets a margin
  so a label always has room outside the image);
* a score threshold (``min_score``) and ``top_k`` pairs; every detection is
  drawn as a thin grey box, also when no triplet passes the threshold (the
  caption then says so);
* images smaller than ``min_side`` are upscaled by an integer factor
  (:func:`upscale_factor`) so boxes and text stay legible.

Attention maps (:func:`draw_attention`): the heat map over the image, a colour
bar with its low and high values, and a caption under the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
"""Pair colours, in order of the pairs' best scores (Sasha Trubetskoy's distinct colours)."""
HUMAN_COLOR = (255, 255, 255)
DETECTION_COLOR = (170, 170, 170)
BACKGROUND = (24, 24, 24)
TEXT_COLOR = (235, 235, 235)
MIN_SIDE = 512
"""Images whose longer side is below this are upscaled (integer factor) before drawing."""

Box = tuple[float, float, float, float]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def upscale_factor(size: tuple[int, int], min_side: int = MIN_SIDE) -> int:
    """The integer factor that brings the longer side of ``size`` (w, h) to at least ``min_side`` (1 if it is)."""
    longest = max(size)
    return max(1, math.ceil(min_side / longest)) if longest > 0 else 1


def triplet_label(class_name: str, object_label: int | None, score: float) -> str:
    """``"ride bicycle 0.87"``: the object's COCO name is added when the class name lacks it."""
    text = class_name.replace("_", " ")
    if object_label is not None and 0 <= object_label < len(COCO_CLASSES):
        obj = COCO_CLASSES[object_label]
        if not text.endswith(obj):
            text = f"{text} {obj}"
    return f"{text} {score:.2f}"


@dataclass
class PairDrawing:
    """One pair as drawn: its boxes (canvas pixels), colour, label lines and where the label went."""

    human: Box
    obj: Box | None
    color: tuple[int, int, int]
    lines: list[str]
    label_box: Box = (0.0, 0.0, 0.0, 0.0)


def _overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def place_labels(pairs: list[PairDrawing], sizes: list[tuple[float, float]], canvas: tuple[int, int],
                 boxes: list[Box], gap: float = 4.0) -> None:
    """Set each pair's ``label_box``: beside the pair, covering as little of ``boxes`` and earlier labels as can be.

    Candidates hug the pair's union box (above, below, right, left, each at
    both ends) and then move outward in steps; the first spot that covers no
    box and no placed label and lies on the canvas wins, else the spot of
    least overlap.
    """
    placed: list[Box] = []
    width, height = canvas
    for pair, (tw, th) in zip(pairs, sizes):
        parts = [pair.human] + ([pair.obj] if pair.obj is not None else [])
        ux1, uy1 = min(b[0] for b in parts), min(b[1] for b in parts)
        ux2, uy2 = max(b[2] for b in parts), max(b[3] for b in parts)
        best, best_cost = None, math.inf
        for step in range(0, 12):
            d = gap + step * (th + gap)
            spots = [(ux1, uy1 - d - th), (ux2 - tw, uy1 - d - th), (ux1, uy2 + d), (ux2 - tw, uy2 + d),
                     (ux2 + d, uy1), (ux2 + d, uy2 - th), (ux1 - d - tw, uy1), (ux1 - d - tw, uy2 - th)]
            for x, y in spots:
                box = (x, y, x + tw, y + th)
                outside = (max(0.0, -x) + max(0.0, box[2] - width)) * th + (max(0.0, -y) + max(0.0, box[3] - height)) * tw
                cost = sum(_overlap(box, b) for b in boxes) + sum(_overlap(box, p) for p in placed) + 10 * outside
                cost += step * 1e-3  # nearer is better among equals
                if cost < best_cost:
                    best, best_cost = box, cost
            if best_cost < 1.0:
                break
        pair.label_box = best  # type: ignore[assignment]
        placed.append(best)  # type: ignore[arg-type]


def draw_predictions(
    image: Image.Image,
    pred: Predictions,
    class_names: list[str] | tuple[str, ...],
    top_k: int = 5,
    min_score: float = 0.0,
    line_width: int | None = None,
    font_size: int | None = None,
    min_side: int = MIN_SIDE,
    caption: str | None = None,
) -> Image.Image:
    """Draw the best pairs of one image: boxes, a human-to-object line and a label per pair (see the module doc).

    Args:
        image: the original image (``pred`` boxes are in its pixels).
        pred: predictions of this image.
        class_names: name of each class ``pred.classes`` indexes (``LabelSet.names``).
        top_k: draw at most this many pairs, best first.
        min_score: triplets scoring below this are not drawn (their boxes stay as grey detections).
        line_width: box / line width in output pixels (default: from the output size).
        font_size: label size in output pixels (default: from the output size).
        min_side: upscale images whose longer side is below this (``0``: never).
        caption: a line under the image (default: the number of pairs shown and the threshold).

    Returns:
        a new RGB image: the (upscaled) image on a dark canvas with margins for the labels.
    """
    if len(pred.classes) and (int(pred.classes.min()) < 0 or int(pred.classes.max()) >= len(class_names)):
        c = int(pred.classes.max()) if int(pred.classes.max()) >= len(class_names) else int(pred.classes.min())
        raise ValueError(f"class {c} out of range for {len(class_names)} class names; pass the label set's names")
    base = image.convert("RGB")
    scale = upscale_factor(base.size, min_side) if min_side else 1
    if scale > 1:
        base = base.resize((base.width * scale, base.height * scale), Image.LANCZOS)
    side = max(base.size)
    width = line_width or max(2, round(side / 250))
    font = _font(font_size or max(12, round(side / 45)))
    probe = ImageDraw.Draw(base)
    line_h = probe.textbbox((0, 0), "Ag", font=font)[3] + 4

    # pairs above the threshold, best first; one colour each
    keep = pred.scores >= min_score
    order = [int(t) for t in torch.argsort(pred.scores, descending=True, stable=True) if bool(keep[t])]
    groups: dict[tuple[int, int], list[int]] = {}
    for t in order:
        key = (int(pred.pairs[t, 0]), int(pred.pairs[t, 1]))
        if key in groups or len(groups) < top_k:
            groups.setdefault(key, []).append(t)
    boxes = (pred.boxes.double() * scale).tolist()

    pairs: list[PairDrawing] = []
    for k, ((h, o), triplets) in enumerate(groups.items()):
        obj_label = int(pred.labels[o]) if o >= 0 else None
        lines = [triplet_label(class_names[int(pred.classes[t])], obj_label, float(pred.scores[t])) for t in triplets]
        pairs.append(PairDrawing(tuple(boxes[h]), tuple(boxes[o]) if o >= 0 else None,  # type: ignore[arg-type]
                                 PALETTE[k % len(PALETTE)], lines))

    # canvas: the image with a margin wide enough for a label on every side
    sizes = []
    for p in pairs:
        tw = max(probe.textlength(line, font=font) for line in p.lines) + 8
        sizes.append((tw, line_h * len(p.lines) + 4))
    margin = int(max([line_h * 2] + [s[1] + 8 for s in sizes]))
    side_margin = int(max([margin] + [min(s[0], base.width) for s in sizes]) // 2)
    caption = caption if caption is not None else (
        f"{len(pairs)} pair(s) with a triplet scoring >= {min_score:.2f}" if pairs
        else f"no triplet scores >= {min_score:.2f}; grey boxes: the {len(boxes)} detection(s)")
    cap_h = line_h + 8
    out = Image.new("RGB", (base.width + 2 * side_margin, base.height + 2 * margin + cap_h), BACKGROUND)
    out.paste(base, (side_margin, margin))
    draw = ImageDraw.Draw(out)
    dx, dy = side_margin, margin

    def shift(b: Box) -> Box:
        return (b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy)

    for p in pairs:
        p.human = shift(p.human)
        p.obj = shift(p.obj) if p.obj is not None else None
    in_pairs = {i for key in groups for i in key if i >= 0}
    for i, b in enumerate(boxes):  # every detection, thin grey (under the pairs)
        if i not in in_pairs:
            draw.rectangle(shift(tuple(b)), outline=DETECTION_COLOR, width=max(1, width // 2))  # type: ignore[arg-type]
    for p in reversed(pairs):  # the best pair last, on top (an object may be in several pairs)
        if p.obj is not None:
            draw.rectangle(p.obj, outline=p.color, width=width)
            hc = ((p.human[0] + p.human[2]) / 2, (p.human[1] + p.human[3]) / 2)
            oc = ((p.obj[0] + p.obj[2]) / 2, (p.obj[1] + p.obj[3]) / 2)
            draw.line([hc, oc], fill=p.color, width=width)
            r = width * 2
            for x, y in (hc, oc):
                draw.ellipse([x - r, y - r, x + r, y + r], fill=p.color)
    for p in reversed(pairs):  # humans last, so a shared human box stays white on top
        draw.rectangle(p.human, outline=HUMAN_COLOR, width=width)
        draw.rectangle(p.human, outline=p.color, width=max(1, width // 2))

    drawn = [p.human for p in pairs] + [p.obj for p in pairs if p.obj is not None]
    drawn += [shift(tuple(b)) for i, b in enumerate(boxes) if i not in in_pairs]  # type: ignore[arg-type]
    place_labels(pairs, sizes, out.size, drawn)
    for p in pairs:
        x1, y1, x2, y2 = p.label_box
        draw.rectangle([x1, y1, x2, y2], fill=p.color)
        anchor = (min(max(p.human[0], x1), x2), min(max(p.human[1], y1), y2))  # leader: label -> its human
        near = (min(max(anchor[0], p.human[0]), p.human[2]), min(max(anchor[1], p.human[1]), p.human[3]))
        if _overlap((x1, y1, x2, y2), p.human) == 0:
            draw.line([anchor, near], fill=p.color, width=max(1, width // 2))
        ink = (0, 0, 0) if sum(p.color) > 300 else (255, 255, 255)
        for j, line in enumerate(p.lines):
            draw.text((x1 + 4, y1 + 2 + j * line_h), line, fill=ink, font=font)
    draw.text((side_margin, out.height - cap_h + 2), caption, fill=TEXT_COLOR, font=font)
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
    caption: str | None = None,
    colorbar: bool = True,
    min_side: int = MIN_SIDE,
) -> Image.Image:
    """Overlay an attention map on the image (Fig. 8), with a colour bar and a caption.

    Args:
        image: the original image.
        attention: ``[h, w]`` map, or ``[L]`` weights over patch tokens (then
            ``grid`` gives ``(h, w)``; a square ``L`` needs none).
        grid: token grid of a flat ``attention``.
        alpha: weight of the heat map in the blend.
        boxes: optional ``[N, 4]`` xyxy pixel boxes of the original image to outline (e.g. the pair).
        caption: a line under the image (e.g. which query and which triplet); none when None.
        colorbar: add the colour bar (low to high attention, with the map's min and max) on the right.
        min_side: upscale images whose longer side is below this (``0``: never).

    Returns:
        a new RGB image: the blend at the top left (upscaled by :func:`upscale_factor`),
        the colour bar to its right, the caption below.
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
    norm = (att - lo) / (hi - lo) if hi > lo else np.zeros_like(att)
    base = image.convert("RGB")
    scale = upscale_factor(base.size, min_side) if min_side else 1
    if scale > 1:
        base = base.resize((base.width * scale, base.height * scale), Image.LANCZOS)
    heat = Image.fromarray((norm * 255).astype(np.uint8)).resize(base.size, Image.BILINEAR)
    heat_rgb = Image.fromarray(_jet(np.asarray(heat, dtype=np.float32) / 255.0))
    blend = Image.blend(base, heat_rgb, alpha)
    width = max(1, round(max(blend.size) / 200))
    if boxes is not None:
        d = ImageDraw.Draw(blend)
        for i, b in enumerate((boxes.double() * scale).tolist()):
            d.rectangle(b, outline=PALETTE[i % len(PALETTE)], width=width)
    if not colorbar and caption is None:
        return blend
    font = _font(max(12, round(max(blend.size) / 45)))
    probe = ImageDraw.Draw(blend)
    line_h = probe.textbbox((0, 0), "Ag", font=font)[3] + 4
    labels = (f"{hi:.3g}", f"{lo:.3g}")
    bar_w = max(12, blend.width // 30)
    text_w = int(max(probe.textlength(t, font=font) for t in labels)) + 8 if colorbar else 0
    right = bar_w + text_w + 16 if colorbar else 0
    bottom = line_h + 8 if caption is not None else 0
    out = Image.new("RGB", (blend.width + right, blend.height + bottom), BACKGROUND)
    out.paste(blend, (0, 0))
    draw = ImageDraw.Draw(out)
    if colorbar:
        x0 = blend.width + 8
        ramp = np.linspace(1.0, 0.0, blend.height)[:, None].repeat(bar_w, 1)  # high at the top
        out.paste(Image.fromarray(_jet(ramp)), (x0, 0))
        draw.rectangle([x0, 0, x0 + bar_w - 1, blend.height - 1], outline=TEXT_COLOR, width=1)
        draw.text((x0 + bar_w + 4, 0), labels[0], fill=TEXT_COLOR, font=font)
        draw.text((x0 + bar_w + 4, blend.height - line_h), labels[1], fill=TEXT_COLOR, font=font)
    if caption is not None:
        draw.text((4, blend.height + 4), caption, fill=TEXT_COLOR, font=font)
    return out
