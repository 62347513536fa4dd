"""Box geometry, pairing layout, sine encodings and RoIAlign pooling against hand-computed references."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from clhoi.models.geometry import (
    NUM_PAIR_FEATURES,
    normalize_boxes,
    pair_features,
    patch_centres,
    sine_encoding,
    union_boxes,
)
from clhoi.models.pairs import image_pairs, layout_pairs
from clhoi.models.pooling import pool_box_features
from clhoi.structures import Detections


def test_pair_features_by_hand() -> None:
    h = torch.tensor([[0.0, 0.0, 0.5, 0.5]])  # centre (0.25, 0.25), 0.5 x 0.5
    o = torch.tensor([[0.25, 0.25, 0.5, 0.75]])  # centre (0.375, 0.5), 0.25 x 0.5
    f = pair_features(h, o)
    assert f.shape == (1, NUM_PAIR_FEATURES)
    raw = f[0, :18]
    iou = (0.25 * 0.25) / (0.25 + 0.125 - 0.0625)
    expect = [0.25, 0.25, 0.375, 0.5, 0.5, 0.5, 0.25, 0.5, 0.25, 0.125, 0.5, 1.0, 0.5, iou,
              0.125 / 0.5, 0.0, 0.25 / 0.5, 0.0]
    torch.testing.assert_close(raw, torch.tensor(expect))
    torch.testing.assert_close(f[0, 18:], torch.log(raw + 1e-6))


def test_pair_features_direction_flips_with_the_object() -> None:
    h = torch.tensor([[0.4, 0.4, 0.6, 0.6]] * 2)
    o = torch.tensor([[0.7, 0.4, 0.9, 0.6], [0.1, 0.4, 0.3, 0.6]])  # right of, left of the human
    f = pair_features(h, o)
    assert f[0, 14] > 0 and f[0, 15] == 0  # dx > 0
    assert f[1, 14] == 0 and f[1, 15] > 0  # dx < 0
    torch.testing.assert_close(f[0, 14], f[1, 15])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=8, max_size=8))
def test_pair_features_always_finite(v: list[float]) -> None:
    a = torch.tensor(v[:4]).view(1, 4)
    b = torch.tensor(v[4:]).view(1, 4)
    a = torch.cat([torch.minimum(a[:, :2], a[:, 2:]), torch.maximum(a[:, :2], a[:, 2:])], 1)  # degenerate allowed
    b = torch.cat([torch.minimum(b[:, :2], b[:, 2:]), torch.maximum(b[:, :2], b[:, 2:])], 1)
    assert torch.isfinite(pair_features(a, b)).all()


def test_sine_encoding_matches_formula() -> None:
    x = torch.tensor([[0.3, 0.7]])
    pe = sine_encoding(x, 4)
    assert pe.shape == (1, 8)
    ref = []
    for v in (0.3, 0.7):
        for i in range(4):
            freq = 10000 ** (2 * (i // 2) / 4)
            arg = v * 2 * math.pi / freq
            ref.append(math.sin(arg) if i % 2 == 0 else math.cos(arg))
    torch.testing.assert_close(pe[0], torch.tensor(ref))


def test_boxes_centres_unions() -> None:
    b = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    torch.testing.assert_close(normalize_boxes(b, (40, 60)), torch.tensor([[10 / 60, 0.5, 0.5, 1.0]]))
    u = union_boxes(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([[0.5, -1.0, 2.0, 0.5]]))
    torch.testing.assert_close(u, torch.tensor([[0.0, -1.0, 2.0, 1.0]]))
    c = patch_centres((2, 3))
    torch.testing.assert_close(c[:4], torch.tensor([[1 / 6, 0.25], [0.5, 0.25], [5 / 6, 0.25], [1 / 6, 0.75]]))


def test_image_pairs_humans_with_every_other_detection() -> None:
    h, o = image_pairs(torch.tensor([3, 0, 0, 7]))
    assert list(zip(h.tolist(), o.tolist())) == [(1, 0), (1, 2), (1, 3), (2, 0), (2, 1), (2, 3)]
    h, o = image_pairs(torch.tensor([3, 7]))
    assert h.numel() == 0 and o.numel() == 0


def test_layout_pads_and_indexes() -> None:
    dets = [
        Detections(torch.tensor([[0.0, 0, 10, 10], [5, 5, 20, 20]]), torch.ones(2), torch.tensor([0, 1]), None, (20, 40)),
        Detections.empty(image_size=(8, 8)),
        Detections(torch.tensor([[0.0, 0, 4, 4]] * 3), torch.ones(3), torch.tensor([0, 0, 2]), None, (8, 8)),
    ]
    lay = layout_pairs(dets)
    assert lay.boxes.shape == (3, 3, 4) and lay.box_mask.sum(1).tolist() == [2, 0, 3]
    assert lay.pair_mask.sum(1).tolist() == [1, 0, 4]
    assert lay.pair_image.tolist() == [0, 2, 2, 2, 2]
    assert lay.slot.tolist() == [0, 0, 1, 2, 3]
    torch.testing.assert_close(lay.boxes[0, 1], torch.tensor([5 / 40, 5 / 20, 0.5, 1.0]))
    assert torch.equal(lay.pair_human[2, :4], torch.tensor([0, 0, 1, 1]))


def test_roi_pooling_reads_the_box_region() -> None:
    grid = (4, 4)
    tokens = torch.zeros(16, 2)
    tokens[:, 0] = torch.arange(16.0)  # channel 0 = token index
    tokens[:, 1] = 1.0
    # the central 2x2 patches: indices 5, 6, 9, 10 -> mean 7.5 (a linear field: bilinear sampling is exact)
    pooled = pool_box_features(tokens[None], grid, torch.tensor([[0.25, 0.25, 0.75, 0.75], [0.5, 0.25, 1.0, 0.75]]),
                               torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(pooled[:, 1], torch.ones(2))
    torch.testing.assert_close(pooled[0, 0], torch.tensor(7.5))
    assert pooled[1, 0] > pooled[0, 0]  # further right: larger indices


def test_paired_iou_matches_torchvision() -> None:
    from torchvision.ops import box_iou

    from clhoi.models.geometry import paired_iou

    g = torch.Generator().manual_seed(0)
    xy = torch.rand(20, 2, generator=g)
    a = torch.cat([xy, xy + torch.rand(20, 2, generator=g)], 1)
    xy = torch.rand(20, 2, generator=g)
    b = torch.cat([xy, xy + torch.rand(20, 2, generator=g)], 1)
    torch.testing.assert_close(paired_iou(a, b), box_iou(a, b).diagonal())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from([0, 0, 1, 5]), max_size=6), min_size=1, max_size=4))
def test_layout_matches_per_image_pairing(labels: list[list[int]]) -> None:
    dets = [Detections(torch.rand(len(ls), 4).sort(-1).values * 10, torch.rand(len(ls)), torch.tensor(ls, dtype=torch.long),
                       None, (10, 10)) for ls in labels]
    lay = layout_pairs(dets)
    ref = [(i, h, o) for i, d in enumerate(dets) for h, o in zip(*(t.tolist() for t in image_pairs(d.labels)))]
    assert list(zip(lay.pair_image.tolist(), lay.human_idx.tolist(), lay.object_idx.tolist())) == ref
    for p, (i, h, o) in enumerate(ref):
        s = lay.slot[p]
        assert lay.pair_mask[i, s] and lay.pair_human[i, s] == h and lay.pair_object[i, s] == o
        assert lay.first_box[i] + h == sum(len(d) for d in dets[:i]) + h
    assert lay.pair_mask.sum() == len(ref) and lay.box_mask.sum() == sum(len(d) for d in dets)


def test_roi_pooling_reads_the_right_image() -> None:
    tokens = torch.stack([torch.zeros(16, 3), torch.ones(16, 3)])  # image 0 all 0, image 1 all 1
    boxes = torch.tensor([[0.1, 0.1, 0.6, 0.6]] * 3)
    pooled = pool_box_features(tokens, (4, 4), boxes, torch.tensor([1, 0, 1]))
    torch.testing.assert_close(pooled, torch.tensor([[1.0] * 3, [0.0] * 3, [1.0] * 3]))
