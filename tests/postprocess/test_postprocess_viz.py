"""Drawing: one colour per pair, labels beside their pair and off the boxes, threshold, upscaling, colour bar."""

import numpy as np
import pytest
import torch
from PIL import Image

from clhoi.structures import Predictions
from clhoi.viz import (
    DETECTION_COLOR,
    PALETTE,
    PairDrawing,
    draw_attention,
    draw_predictions,
    place_labels,
    triplet_label,
    upscale_factor,
)


def _pred() -> Predictions:
    # boxes 0, 2: humans; 1, 3: objects. Pairs (0, 1) twice (two classes), (2, 3) once, (0, -1) agent only
    return Predictions(
        file_name="a.jpg",
        boxes=torch.tensor([[10, 40, 70, 140], [120, 60, 190, 130.0], [200, 20, 260, 140], [300, 30, 380, 100]]),
        labels=torch.tensor([0, 1, 0, 41]),
        pairs=torch.tensor([[0, 1], [0, 1], [2, 3], [0, -1]]),
        classes=torch.tensor([0, 1, 2, 3]),
        scores=torch.tensor([0.87, 0.4, 0.6, 0.3]),
    )


NAMES = ["ride", "hold", "drink_with", "stand"]


def _has(arr: np.ndarray, color) -> np.ndarray:
    return (np.abs(arr.astype(int) - np.array(color)).sum(-1) == 0)


def test_one_colour_per_pair_and_input_untouched() -> None:
    image = Image.new("RGB", (400, 160), (128, 128, 128))
    before = np.asarray(image).copy()
    out = draw_predictions(image, _pred(), NAMES, min_side=0, line_width=3)
    assert np.array_equal(np.asarray(image), before)
    arr = np.asarray(out)
    # pairs by best score: (0, 1) 0.87 -> colour 0, (2, 3) 0.6 -> colour 1, (0, -1) 0.3 -> colour 2
    assert PALETTE[0] != PALETTE[1]
    assert _has(arr, PALETTE[0]).sum() > 200 and _has(arr, PALETTE[1]).sum() > 200 and _has(arr, PALETTE[2]).sum() > 50
    # the object box of pair (2, 3) is drawn in colour 1 and that of pair (0, 1) in colour 0
    mx = (out.width - 400) // 2  # the image sits in the middle of the canvas
    assert _has(arr[:, mx + 300 + 1], PALETTE[1]).sum() >= 60  # left edge of box 3 (70 px tall)
    assert _has(arr[:, mx + 120 + 1], PALETTE[0]).sum() >= 60  # left edge of box 1 (70 px tall)
    with pytest.raises(ValueError, match="class names"):
        draw_predictions(image, _pred(), ["ride"])


def test_threshold_keeps_detections_and_draws_no_pair() -> None:
    image = Image.new("RGB", (400, 160), (128, 128, 128))
    out = np.asarray(draw_predictions(image, _pred(), NAMES, min_score=0.99, min_side=0))
    assert not any(_has(out, c).any() for c in PALETTE)  # nothing above the threshold is drawn
    assert _has(out, DETECTION_COLOR).sum() > 400  # but every detection is, in grey
    top1 = np.asarray(draw_predictions(image, _pred(), NAMES, top_k=1, min_side=0))
    assert _has(top1, PALETTE[0]).any() and not _has(top1, PALETTE[1]).any()  # top_k counts pairs


def test_small_images_are_upscaled() -> None:
    assert upscale_factor((64, 48)) == 8 and upscale_factor((600, 400)) == 1 and upscale_factor((300, 100), 512) == 2
    small = Image.new("RGB", (100, 40), (128, 128, 128))
    pred = Predictions("s", _pred().boxes / 4, _pred().labels, _pred().pairs, _pred().classes, _pred().scores)
    out = draw_predictions(small, pred, NAMES)
    assert out.width >= 6 * 100 and out.height >= 6 * 40  # 6x, plus margins
    att = draw_attention(small, torch.rand(16), colorbar=False)
    assert att.size == (600, 240)


def test_labels_sit_beside_their_pair_and_off_every_box() -> None:
    boxes = [(100.0, 100.0, 160.0, 220.0), (200.0, 120.0, 260.0, 180.0), (300.0, 90.0, 360.0, 230.0)]
    pairs = [PairDrawing(boxes[0], boxes[1], PALETTE[0], ["ride bicycle 0.87"]),
             PairDrawing(boxes[2], boxes[1], PALETTE[1], ["hold bicycle 0.40", "ride bicycle 0.30"])]
    place_labels(pairs, [(120.0, 20.0), (120.0, 40.0)], (500, 400), boxes)
    a, b = pairs[0].label_box, pairs[1].label_box

    def overlap(p, q):
        return min(p[2], q[2]) > max(p[0], q[0]) and min(p[3], q[3]) > max(p[1], q[1])

    assert not any(overlap(lab, box) for lab in (a, b) for box in boxes)
    assert not overlap(a, b)
    for lab, pair in ((a, pairs[0]), (b, pairs[1])):  # beside the pair: within a label height of its union box
        ux1, uy1 = min(pair.human[0], pair.obj[0]), min(pair.human[1], pair.obj[1])
        ux2, uy2 = max(pair.human[2], pair.obj[2]), max(pair.human[3], pair.obj[3])
        assert lab[0] < ux2 + 50 and lab[2] > ux1 - 50 and lab[1] < uy2 + 50 and lab[3] > uy1 - 50
        assert 0 <= lab[0] and lab[2] <= 500 and 0 <= lab[1] and lab[3] <= 400


def test_triplet_label() -> None:
    assert triplet_label("ride", 1, 0.8712) == "ride bicycle 0.87"
    assert triplet_label("ride bicycle", 1, 0.5) == "ride bicycle 0.50"
    assert triplet_label("stand", None, 0.4) == "stand 0.40"


def test_draw_attention_heat_colour_bar_and_caption() -> None:
    image = Image.new("RGB", (640, 320), (0, 0, 0))
    att = torch.zeros(4, 8)
    att[0, 0] = 1.0  # hot top-left cell
    out = draw_attention(image, att.flatten(), grid=(4, 8), alpha=1.0, caption="ride bicycle")
    arr = np.asarray(out).astype(int)
    assert out.width > 640 and out.height > 320  # colour bar on the right, caption below
    assert arr[20, 20, 0] > 200 and arr[20, 20, 2] < 60  # hot: red
    assert arr[300, 600, 2] > 100 and arr[300, 600, 0] < 60  # cold: blue
    bar = arr[:320, 650:700]
    red_rows = np.flatnonzero(((bar[..., 0] > 200) & (bar[..., 2] < 60)).any(1))
    blue_rows = np.flatnonzero(((bar[..., 2] > 200) & (bar[..., 0] < 60)).any(1))
    assert red_rows.size and blue_rows.size and red_rows.mean() < blue_rows.mean()  # high at the top
    assert (arr[325:, :200] > 150).any()  # caption text
    plain = draw_attention(image, torch.rand(16), colorbar=False)
    assert plain.size == (640, 320)
    with pytest.raises(ValueError, match="grid"):
        draw_attention(image, torch.rand(15))
