"""Drawing: right size, input untouched, pixels change where boxes are."""

import numpy as np
import pytest
import torch
from PIL import Image

from clhoi.structures import Predictions
from clhoi.viz import draw_attention, draw_predictions, triplet_label


def _pred() -> Predictions:
    return Predictions(
        file_name="a.jpg",
        boxes=torch.tensor([[10, 40, 70, 140], [120, 60, 190, 130.0]]),
        labels=torch.tensor([0, 1]),
        pairs=torch.tensor([[0, 1], [0, -1]]),
        classes=torch.tensor([0, 1]),
        scores=torch.tensor([0.87, 0.4]),
    )


def test_draw_predictions_marks_boxes_and_line() -> None:
    image = Image.new("RGB", (200, 150), (128, 128, 128))
    before = np.asarray(image).copy()
    out = draw_predictions(image, _pred(), ["ride", "stand"], top_k=5, line_width=2)
    assert out.size == image.size and out.mode == "RGB"
    assert np.array_equal(np.asarray(image), before)  # input untouched
    arr = np.asarray(out).astype(int)
    changed = np.abs(arr - before).sum(-1) > 0
    assert changed[100, 120] and changed[95, 190]  # object box left / right edges
    assert changed[140, 40]  # human box bottom edge
    assert changed[91:95, 97].any()  # the human-object line, from (40, 90) to (155, 95), at x = 97
    assert not changed[5, 195] and not changed[145, 100]  # far from everything


def test_draw_predictions_top_k_and_bad_class_names() -> None:
    image = Image.new("RGB", (200, 150), (128, 128, 128))
    one = np.asarray(draw_predictions(image, _pred(), ["ride", "stand"], top_k=1))
    none = np.asarray(draw_predictions(image, _pred(), ["ride", "stand"], min_score=0.99))
    assert np.array_equal(none, np.asarray(image))
    assert not np.array_equal(one, np.asarray(image))
    with pytest.raises(ValueError, match="class names"):
        draw_predictions(image, _pred(), ["ride"])


def test_triplet_label() -> None:
    assert triplet_label("ride", 1, 0.8712) == "ride bicycle 0.87"
    assert triplet_label("ride bicycle", 1, 0.5) == "ride bicycle 0.50"
    assert triplet_label("stand", None, 0.4) == "stand 0.40"


def test_draw_attention_heat_follows_the_map() -> None:
    image = Image.new("RGB", (64, 32), (0, 0, 0))
    att = torch.zeros(4, 8)
    att[0, 0] = 1.0  # hot top-left cell
    out = draw_attention(image, att.flatten(), grid=(4, 8), alpha=1.0)
    arr = np.asarray(out).astype(int)
    assert out.size == (64, 32)
    assert arr[2, 2, 0] > 200 and arr[2, 2, 2] < 60  # hot: red
    assert arr[30, 60, 2] > 100 and arr[30, 60, 0] < 60  # cold: blue
    square = draw_attention(image, torch.rand(16))
    assert square.size == (64, 32)
    with pytest.raises(ValueError, match="grid"):
        draw_attention(image, torch.rand(15))
