"""Grouped bar chart drawn with PIL (the paper's Fig. 9, without matplotlib).

Imports only PIL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

PALETTE: tuple[tuple[int, int, int], ...] = (
    (68, 114, 196),   # ground truth: blue
    (237, 125, 49),   # first teacher: orange
    (112, 173, 71),
    (165, 165, 165),
    (255, 192, 0),
    (91, 155, 213),
)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 without sizes
        return ImageFont.load_default()


def _nice_step(top: float, ticks: int = 6) -> float:
    raw = max(top, 1.0) / ticks
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def grouped_bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    title: str = "",
    y_label: str = "images",
    x_label: str = "",
) -> Image.Image:
    """Draw ``series`` side by side for each category.

    Args:
        categories: the ``C`` category names along the x axis (drawn rotated).
        series: ``(legend name, C values)`` per bar series, in drawing order.
        title: chart title.
        y_label: y-axis label.
        x_label: x-axis label.

    Returns:
        An RGB image; width grows with ``C`` and the number of series.
    """
    if not series or any(len(v) != len(categories) for _, v in series):
        raise ValueError("grouped_bar_chart: every series needs one value per category")
    font, small, big = _font(14), _font(12), _font(18)
    n_series = len(series)
    bar_w = 10 if n_series > 2 else 12
    group_w = n_series * bar_w + 12
    label_h = max([int(small.getlength(c)) for c in categories] + [40]) * 0.75 + 20
    left, right, top_m = 80, 30, 80
    plot_w = max(group_w * len(categories), 300)
    plot_h = 360
    width = left + plot_w + right
    height = int(top_m + plot_h + label_h + 40)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    y0 = top_m + plot_h  # pixel row of value 0

    top_value = max([max(v, default=0) for _, v in series] + [1])
    step = _nice_step(top_value)
    y_max = step * math.ceil(top_value / step)

    def y_of(value: float) -> float:
        return y0 - plot_h * value / y_max

    # grid, y ticks and axes
    tick = 0.0
    while tick <= y_max + 1e-9:
        y = y_of(tick)
        draw.line([(left, y), (left + plot_w, y)], fill=(225, 225, 225))
        text = f"{tick:g}"
        draw.text((left - 8 - small.getlength(text), y - 7), text, fill="black", font=small)
        tick += step
    draw.line([(left, top_m), (left, y0)], fill="black", width=1)
    draw.line([(left, y0), (left + plot_w, y0)], fill="black", width=1)

    # bars and rotated category labels
    for i, cat in enumerate(categories):
        gx = left + i * group_w + 6
        for s, (_, values) in enumerate(series):
            x = gx + s * bar_w
            draw.rectangle([x, y_of(values[i]), x + bar_w - 2, y0], fill=PALETTE[s % len(PALETTE)])
        text_w = int(small.getlength(cat)) + 4
        label = Image.new("RGBA", (text_w, 16), (255, 255, 255, 0))
        ImageDraw.Draw(label).text((0, 0), cat, fill="black", font=small)
        label = label.rotate(45, expand=True, resample=Image.Resampling.BICUBIC)
        img.paste(label, (int(gx + group_w / 2 - label.width + 4), int(y0 + 6)), label)

    # titles and legend
    if title:
        draw.text(((width - big.getlength(title)) / 2, 12), title, fill="black", font=big)
    y_text = Image.new("RGBA", (int(font.getlength(y_label)) + 4, 18), (255, 255, 255, 0))
    ImageDraw.Draw(y_text).text((0, 0), y_label, fill="black", font=font)
    y_text = y_text.rotate(90, expand=True)
    img.paste(y_text, (8, int(top_m + plot_h / 2 - y_text.height / 2)), y_text)
    if x_label:
        draw.text(((width - font.getlength(x_label)) / 2, height - 24), x_label, fill="black", font=font)
    lx = left + 10
    for s, (name, _) in enumerate(series):
        draw.rectangle([lx, 46, lx + 14, 60], fill=PALETTE[s % len(PALETTE)])
        draw.text((lx + 20, 46), name, fill="black", font=font)
        lx += 40 + int(font.getlength(name))
    return img


def save_chart(img: Image.Image, path: str | Path) -> Path:
    """Save a chart as PNG, creating the folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG")
    return path
