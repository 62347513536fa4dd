"""V-COCO's per-image detection order: the one packed argsort equals the list-by-list NumPy 1.x order."""

import numpy as np
import pytest

from clhoi.eval.vcoco import _per_image_order


def _case(rng, n, num_cls, num_images, per_list, det_scale=1):
    cls = rng.integers(0, num_cls, n)
    rank = rng.integers(0, num_images, n)
    # ties everywhere: a 0.1 grid, one value many times, -0.0 next to 0.0, and distinct values
    u = rng.random(n)
    score = np.where(u < 0.4, np.floor(rng.random(n) * 11) / 10, np.where(u < 0.6, 0.5, rng.random(n)))
    score = np.where(rng.random(n) < 0.05, -0.0, score).astype(np.float32)
    # det_index: distinct within a (class, image) list, as the detections' positions in their image are
    det = rng.permutation(n) * det_scale
    if per_list is not None:  # at most per_list detections in a list
        group = cls * num_images + rank
        nth = np.zeros(n, dtype=np.int64)
        order = np.argsort(group, kind="stable")
        first = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]
        nth[order] = np.arange(n) - np.repeat(first, np.diff(np.r_[first, n]))
        keep = nth < per_list
        cls, rank, score, det = cls[keep], rank[keep], score[keep], det[keep]
    return cls, rank, det, score


@pytest.mark.parametrize("seed", range(6))
def test_packed_order_equals_the_list_by_list_order(seed, monkeypatch):
    import clhoi.eval.vcoco as vcoco

    listwise = vcoco._descending
    used = []
    monkeypatch.setattr(vcoco, "_descending", lambda *a: used.append(1) or listwise(*a))
    rng = np.random.default_rng(seed)
    for n, num_cls, num_images, per_list, det_scale, packed in [
        (3000, 26, 200, 16, 1, True), (3000, 29, 50, 3, 1, True), (500, 1, 1, 16, 1, True), (1, 1, 1, 16, 1, True),
        (3000, 26, 5000, 16, 1 << 20, True),  # more than 63 bits: dense score ranks
        (3000, 26, 300, 16, 1 << 40, False),  # more than 63 bits even so
        (4000, 2, 10, None, 1, False), (0, 1, 1, 16, 1, False),  # lists of more than 16; nothing
    ]:
        cls, rank, det, score = _case(rng, n, num_cls, num_images, per_list, det_scale)
        used.clear()
        got = _per_image_order(cls, rank, det, score)
        assert bool(used) != packed
        assert np.array_equal(got, _per_image_order(cls, rank, det, score, packed=False))


def test_equal_det_index_in_a_list_goes_the_list_by_list_way():
    cls, rank = np.zeros(4, np.int64), np.zeros(4, np.int64)
    det, score = np.array([0, 0, 1, 1]), np.float32([0.5, 0.5, 0.5, 0.2])
    assert np.array_equal(_per_image_order(cls, rank, det, score), _per_image_order(cls, rank, det, score, packed=False))
