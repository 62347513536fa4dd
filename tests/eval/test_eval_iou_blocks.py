"""The blocked IoU of HICO-DET matching gives the doubles of the row-wise reference, block size aside."""

import numpy as np
import pytest

from clhoi.eval.matching import box_iou_inclusive, pair_overlap


def _boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Boxes on a small pixel grid (many touching, disjoint and equal boxes) and with fractional corners."""
    xy = rng.integers(0, 40, (n, 2)).astype(np.float64)
    wh = rng.integers(-1, 25, (n, 2)).astype(np.float64)  # -1: a degenerate box, x2 < x1 + 1 - 1
    boxes = np.concatenate([xy, xy + wh], 1)
    frac = rng.random(n) < 0.3
    boxes[frac] += rng.normal(0, 3, (int(frac.sum()), 4))
    return boxes


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 14])
def test_human_iou_equals_box_iou_inclusive_bit_for_bit(chunk):
    """Above any IoU (threshold 2) pair_overlap is the human-box IoU of every pair: the blocked IoU itself."""
    rng = np.random.default_rng(3)
    a, b = _boxes(rng, 300), _boxes(rng, 200)
    ia, ib = rng.integers(0, 300, 5000), rng.integers(0, 200, 5000)
    b[:20] = a[:20]
    ia[:100] = ib[:100] = rng.integers(0, 20, 100)  # equal boxes: IoU 1 (or 0 for a degenerate one)
    rows = np.arange(300)
    got = pair_overlap(np.ascontiguousarray(a.T), rows, rows, ia, np.ascontiguousarray(b.T), np.ascontiguousarray(b.T),
                       ib, 2.0, chunk=chunk)
    want = box_iou_inclusive(a[ia], b[ib])
    assert got.dtype == np.float64 and got.shape == (5000,)
    assert np.array_equal(got.view(np.int64), want.view(np.int64))
    assert (got == 0).any() and (got == 1).any() and ((got > 0) & (got < 1)).any()


@pytest.mark.parametrize("chunk", [1, 5, 128, 1 << 14])
def test_pair_overlap_equals_human_then_object_iou(chunk):
    rng = np.random.default_rng(4)
    a, bh, bo = _boxes(rng, 400), _boxes(rng, 150), _boxes(rng, 150)
    bh[:50] = a[:50]  # some human boxes equal: IoU_h == 1 >= threshold, so the object IoU decides
    human, obj = rng.integers(0, 400, 900), rng.integers(0, 400, 900)
    human[:300] = rng.integers(0, 50, 300)
    ia, ib = rng.integers(0, 900, 6000), rng.integers(0, 150, 6000)
    ib[human[ia] < 50] = human[ia][human[ia] < 50]
    got = pair_overlap(np.ascontiguousarray(a.T), human, obj, ia, np.ascontiguousarray(bh.T),
                       np.ascontiguousarray(bo.T), ib, 0.5, chunk=chunk)
    iou_h = box_iou_inclusive(a[human[ia]], bh[ib])
    want = np.where(iou_h >= 0.5, np.minimum(iou_h, box_iou_inclusive(a[obj[ia]], bo[ib])), iou_h)
    assert np.array_equal(got.view(np.int64), want.view(np.int64))
    assert (iou_h >= 0.5).sum() > 100 and (got < iou_h).any()


def test_empty_pairs():
    cols = np.zeros((4, 0))
    none = np.zeros(0, dtype=np.int64)
    assert pair_overlap(cols, none, none, none, cols, cols, none, 0.5).shape == (0,)
