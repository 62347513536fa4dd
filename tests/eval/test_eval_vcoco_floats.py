"""V-COCO detection records: the flat reading of nested number lists equals np.array(values, float64)."""

import numpy as np
import pytest

from clhoi.eval.vcoco_detections import _floats


@pytest.mark.parametrize(("values", "shape"), [
    ([[1, 2.5], [3, 4]], (2, 2)), ([(1, 2), (3, 4)], (2, 2)), ([[1, None], [3, 4]], (2, 2)),
    ([[1, 2], [3]], (2, 2)), ([], (0,)), ([], (0, 5)), ([[]], (1, 0)), ([[], []], (2, 0)), ([1, True], (2,)),
    ([[[1, 2], [3, 4]]], (1, 2, 2)), (["1", 2], (2,)), ([[1, 2], [3, 4]], (2, 3)), ([1e308, -0.0, 2**60], (3,)),
    ([[1, 2], [3, 4]], (4,)), ([[1, 2, 3, 4]], (2, 2)), ([1, 2, 3, 4], (2, 2)), ([["ab", "cd"]], (1, 2, 2)),
    ([[[]]], (1, 1, 0)), ([[1, [2]], [3, 4]], (2, 2)),
])
def test_floats_is_np_array_of_the_shape(values, shape):
    try:
        want = np.array(values, dtype=np.float64)
        want = want if want.shape == shape else None
    except (ValueError, TypeError):
        want = None
    got = _floats(values, shape)
    if want is None:
        assert got is None
    else:
        assert got is not None and got.shape == want.shape and got.dtype == np.float64
        assert np.array_equal(got, want, equal_nan=True) and np.array_equal(np.signbit(got), np.signbit(want))
