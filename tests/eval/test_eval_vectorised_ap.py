"""The all-classes-at-once AP and the fast stable descending sort equal the per-class code bit for bit."""

import numpy as np
import pytest

from clhoi.eval.ap import ap_11_point, ap_11_point_segments, precision_recall
from clhoi.eval.matching import argsort_descending


def _per_class(hits, num_gt):
    ap, rc = [], []
    for h, n in zip(hits, num_gt):
        if h.size == 0:
            ap.append(0.0)
            rc.append(0.0)
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            rec, prec = precision_recall(h, int(n))
        ap.append(ap_11_point(rec, prec))
        rc.append(rec[-1])
    return np.array(ap), np.array(rc)


@pytest.mark.parametrize("seed", range(4))
def test_ap_11_point_segments_equals_the_per_class_loop(seed):
    rng = np.random.default_rng(seed)
    for _ in range(400):
        c = int(rng.integers(1, 15))
        sizes = rng.integers(0, 40, c) * (rng.random(c) < 0.8)
        num_gt = rng.integers(0, 12, c) * (rng.random(c) < 0.85)
        num_gt[rng.random(c) < 0.2] = 5  # recall 3/5 = 0.6 and 7/10: MATLAB's thresholds matter
        hits = []
        for k in range(c):
            h = rng.random(sizes[k]) < rng.random()
            h[np.flatnonzero(h)[num_gt[k]:]] = False  # never more true positives than ground truth
            hits.append(h)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        ap, rc = ap_11_point_segments(np.concatenate(hits + [np.zeros(0, bool)]), bounds, num_gt)
        want_ap, want_rc = _per_class(hits, num_gt)
        assert np.array_equal(ap, want_ap)  # exactly, not approximately
        assert np.array_equal(rc, want_rc, equal_nan=True)


def test_ap_11_point_segments_edge_cases():
    ap, rc = ap_11_point_segments(np.zeros(0, bool), np.zeros(4, np.int64), np.array([1, 0, 3]))
    assert np.array_equal(ap, np.zeros(3)) and np.array_equal(rc, np.zeros(3))
    hits = np.array([True, False, False, True, True])  # class 0: 1 of 1; class 1: no ground truth; class 2: 2 of 4
    ap, rc = ap_11_point_segments(hits, np.array([0, 1, 3, 5]), np.array([1, 0, 4]))
    want_ap, want_rc = _per_class([hits[:1], hits[1:3], hits[3:]], [1, 0, 4])
    assert np.array_equal(ap, want_ap) and ap[0] == sum([1 / 11] * 11) and ap[1] == 0.0  # 11 additions of 1/11
    assert np.array_equal(rc, want_rc, equal_nan=True) and np.isnan(rc[1])


@pytest.mark.parametrize("seed", range(3))
def test_argsort_descending_is_the_stable_sort_of_the_negated_values(seed):
    rng = np.random.default_rng(seed)
    pool = np.array([0.0, -0.0, 0.5, 1.0, 0.25, 1e-300, -2.0, np.inf, -np.inf])
    for n in (0, 1, 2, 7, 100, 1000):
        for values in (rng.random(n), np.round(rng.random(n), 1), rng.choice(pool, n), np.ones(n)):
            got = argsort_descending(values)
            assert np.array_equal(got, np.argsort(-values, kind="stable")), (n, values[:10])
    values = np.round(rng.random(200_000), 3)  # many ties, large
    assert np.array_equal(argsort_descending(values), np.argsort(-values, kind="stable"))


@pytest.mark.parametrize("seed", range(3))
def test_first_hits_is_the_first_valid_visit_of_each_target(seed):
    from clhoi.eval.matching import first_hits

    rng = np.random.default_rng(seed)
    for n, spread in ((0, 5), (1, 1), (50, 5), (500, 40), (300, 10**9)):  # the last: sparse targets (sort path)
        order = rng.permutation(n)[: max(n - 3, 0)]
        valid = rng.random(n) < 0.6
        target = rng.integers(-spread, spread, n)
        want = np.zeros(n, dtype=bool)
        seen = set()
        for i in order.tolist():  # the greedy loop itself
            if valid[i] and target[i] not in seen:
                seen.add(target[i])
                want[i] = True
        assert np.array_equal(first_hits(order, valid, target), want)
