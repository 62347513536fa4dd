"""AP integration, IoU convention and greedy matching, on hand-computed cases."""

import numpy as np
import pytest

from clhoi.eval.ap import ELEVEN_POINTS, ap_11_point, ap_voc, matlab_colon, precision_recall
from clhoi.eval.matching import box_iou_inclusive, expand_groups, first_hits, segment_first_argmax


def test_eleven_points_are_matlab_colon_values_not_numpy_arange():
    # MATLAB builds the second half of 0:0.1:1 from the right end: 1 - 4*0.1 == 0.6, 1 - 3*0.1 == 0.7
    assert ELEVEN_POINTS.tolist() == [0.0, 0.1, 0.2, 3 * 0.1, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    arange = np.arange(0.0, 1.1, 0.1)
    assert (ELEVEN_POINTS != arange).tolist() == [False] * 6 + [True, True] + [False] * 3
    assert ELEVEN_POINTS[3] > 0.3  # 3*0.1 = 0.30000000000000004 in both


def test_matlab_colon_short_range_matches_the_documented_example():
    # MATLAB: (0:0.1:0.3) - (0:0.1:0.4)(1:4) = [0 0 -0.2776e-16 -0.5551e-16]
    x, y = matlab_colon(0, 0.1, 0.3), matlab_colon(0, 0.1, 0.4)
    assert x[-1] == 0.3 and y[-1] == 0.4
    np.testing.assert_allclose(x - y[:4], [0, 0, -0.2776e-16, -0.5551e-16], atol=1e-20)


def test_11_point_ap_at_recall_exactly_0_6():
    # 3 true positives of 5 ground truths: recall reaches exactly 0.6
    rec, prec = precision_recall(np.array([True, True, True]), 5)
    assert rec[-1] == 0.6
    assert ap_11_point(rec, prec) == pytest.approx(7 / 11, abs=1e-15)  # t = 0 ... 0.6 count
    # the np.arange thresholds of the python ports miss t = 0.6: 6/11
    port = sum((prec[rec >= t].max() if (rec >= t).any() else 0) / 11 for t in np.arange(0.0, 1.1, 0.1))
    assert port == pytest.approx(6 / 11)


def test_11_point_ap_hand_cases():
    # TP, FP, TP over 2 ground truths: rec .5 .5 1, prec 1 .5 2/3
    rec, prec = precision_recall(np.array([True, False, True]), 2)
    assert ap_11_point(rec, prec) == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)
    # no detections, no ground truth (MATLAB: rec = 0/0 = NaN, every p = 0)
    assert ap_11_point(np.zeros(0), np.zeros(0)) == 0.0
    rec, prec = precision_recall(np.array([False, False]), 0)
    assert np.isnan(rec).all() and ap_11_point(rec, prec) == 0.0


def test_voc_ap_hand_case():
    rec = np.array([0.5, 0.5, 1.0])
    prec = np.array([1.0, 0.5, 2 / 3])
    assert ap_voc(rec, prec) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert ap_voc(np.array([0.0, 0.0]), np.array([0.0, 0.0])) == 0.0


@pytest.mark.parametrize(
    "box, expected",
    [
        ([0, 0, 19, 9], 0.5),  # 100 / 200: exactly at the threshold
        ([0, 0, 20, 9], 100 / 210),  # just below
        ([0, 0, 18, 9], 100 / 190),  # just above
        ([9, 0, 18, 9], 10 / 190),  # sharing one pixel column still overlaps (+1 convention)
        ([10, 0, 19, 9], 0.0),  # adjacent: no overlap
        ([0, 0, 9, 9], 1.0),
    ],
)
def test_iou_uses_inclusive_pixels(box, expected):
    gt = np.array([[0, 0, 9, 9]], dtype=np.float64)  # 10 x 10 pixels
    assert box_iou_inclusive(np.array([box], dtype=np.float64), gt)[0] == expected


def test_iou_threshold_comparison_is_inclusive():
    at = box_iou_inclusive(np.array([[0, 0, 19, 9.0]]), np.array([[0, 0, 9, 9.0]]))[0]
    assert at >= 0.5 and at == 0.5


def test_join_and_segment_argmax_take_the_first_maximum():
    q, t, counts = expand_groups(np.array([2, 0, 1]), np.array([0, 0, 2, 2, 2]))
    assert counts.tolist() == [3, 2, 0]
    assert q.tolist() == [0, 0, 0, 1, 1] and t.tolist() == [2, 3, 4, 0, 1]
    best, pos = segment_first_argmax(np.array([0.3, 0.7, 0.7, 0.1, 0.2]), counts)
    assert best[:2].tolist() == [0.7, 0.2] and best[2] == -np.inf
    assert pos.tolist() == [1, 4, -1]


def test_first_hits_marks_the_first_valid_visit_per_target():
    order = np.array([3, 0, 1, 2, 4])
    valid = np.array([True, False, True, True, True])
    target = np.array([7, 7, 7, 8, 8])
    # visits: 3 (8, valid) -> TP; 0 (7) -> TP; 1 invalid; 2 (7 taken) -> FP; 4 (8 taken) -> FP
    assert first_hits(order, valid, target).tolist() == [True, False, False, True, False]
