"""The PIL grouped bar chart (Fig. 9)."""

import pytest
from PIL import Image

from clhoi.report.chart import PALETTE, grouped_bar_chart, save_chart


def column_colours(img: Image.Image, x: int) -> set[tuple[int, int, int]]:
    return {img.getpixel((x, y)) for y in range(img.height)}


def test_bars_have_heights_in_proportion(tmp_path):
    img = grouped_bar_chart(["ride horse", "hold cup"], [("ground truth", [100, 50]), ("teacher", [40, 0])],
                            title="t", y_label="images")
    path = save_chart(img, tmp_path / "sub" / "chart.png")
    img = Image.open(path).convert("RGB")
    heights = {}
    for colour in PALETTE[:2]:
        mask = [(x, y) for x in range(img.width) for y in range(img.height) if img.getpixel((x, y)) == colour]
        # bar columns: the tallest run of this colour in each x column, excluding the legend square
        by_x: dict[int, int] = {}
        for x, y in mask:
            if y > 70:
                by_x[x] = by_x.get(x, 0) + 1
        heights[colour] = sorted(set(by_x.values()), reverse=True)
    gt_tall, gt_short = heights[PALETTE[0]][:2]
    assert gt_short / gt_tall == pytest.approx(0.5, abs=0.02)
    assert heights[PALETTE[1]][0] / gt_tall == pytest.approx(0.4, abs=0.02)


def test_chart_grows_with_categories_and_checks_lengths():
    small = grouped_bar_chart([f"c{i}" for i in range(5)], [("a", [1] * 5)])
    large = grouped_bar_chart([f"c{i}" for i in range(30)], [("a", [1] * 30), ("b", [2] * 30)])
    assert large.width > small.width
    with pytest.raises(ValueError, match="one value per category"):
        grouped_bar_chart(["a", "b"], [("x", [1])])
