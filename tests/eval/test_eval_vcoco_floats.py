"""V-COCO detection records: the flat reading of nested number lists (np.fromiter over their elements) equals
np.array(values, float64)."""

import numpy as np
import pytest

from clhoi.eval.vcoco_detections import _floats


@pytest.mark.parametrize(("values", "shape"), [
    ([[1, 2.5], [3, 4]], (2, 2)), ([(1, 2), (3, 4)], (2, 2)), ([[1, None], [3, 4]], (2, 2)),
    ([[1, 2], [3]], (2, 2)), ([], (0,)), ([], (0, 5)), ([[]], (1, 0)), ([[], []], (2, 0)), ([1, True], (2,)),
    ([[[1, 2], [3, 4]]], (1, 2, 2)), (["1", 2], (2,)), ([[1, 2], [3, 4]], (2, 3)), ([1e308, -0.0, 2**60], (3,)),
    ([[1, 2], [3, 4]], (4,)), ([[1, 2, 3, 4]], (2, 2)), ([1, 2, 3, 4], (2, 2)), ([["ab", "cd"]], (1, 2, 2)),
    ([[[]]], (1, 1, 0)), ([[1, [2]], [3, 4]], (2, 2)),
    ([[1, None, True, "2.5"], [2**70, -0.0, False, 0.1]], (2, 4)), ([[[1, 2], [3, 4]], [[5, None], (7, 8)]], (2, 2, 2)),
    ([[[1, 2], [3, 4]], [[5, 6], [7]]], (2, 2, 2)), ([[np.array([1.0]), 2.0]], (1, 2)),
    ([[np.float32(0.1), np.array(2.0)]], (1, 2)),
    ([["12", "34"]], (1, 2)), ([[{"a": 1}, 2]], (1, 2)), ([[1, 2], [3, (4,)]], (2, 2)), ([np.array([1.0]), 2.0], (2,)),
    ([[b"1", 2]], (1, 2)), ([[1, "x"]], (1, 2)),
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


def _tables(table):
    return {k: getattr(table, k) for k in ("image", "box", "ignore", "actions", "role_mask", "role_box", "num_pos")}


@pytest.mark.parametrize("seed", range(3))
def test_person_table_vectorised_equals_the_per_image_pass(seed):
    from clhoi.eval.vcoco import _label_space, _PersonTable
    from clhoi.structures import ImageAnnotation

    rng = np.random.default_rng(seed)
    action_of, has_role, _ = _label_space()
    images = []
    for i in range(60):
        n = int(rng.integers(0, 7))
        labels = rng.integers(0, 3, n)  # many persons (label 0)
        ignore = (rng.random(n) < 0.2) & (labels == 0) if rng.random() < 0.7 else None
        persons = [j for j in range(n) if labels[j] == 0 and (ignore is None or not ignore[j])]
        rows = [(int(rng.choice(persons)), int(rng.integers(-1, n)), int(rng.integers(0, 29)))
                for _ in range(int(rng.integers(0, 8)) if persons else 0)]
        rows += rows[: int(rng.integers(0, 3))]  # repeated (agent, class): the first role object counts
        images.append(ImageAnnotation(f"{i}.jpg", (640, 480), (rng.random((n, 4)) * 300).astype(np.float32),
                                      labels.astype(np.int64), np.array(rows, dtype=np.int64).reshape(-1, 3),
                                      ignore))
    fast = _PersonTable(images, action_of, has_role)
    slow = _PersonTable.__new__(_PersonTable)
    slow._per_image(images, action_of, has_role)
    slow.num_pos = (slow.actions & ~slow.ignore[:, None]).sum(0).astype(np.int64)
    assert fast.none == slow.none
    for k, v in _tables(fast).items():
        w = getattr(slow, k)
        assert v.dtype == w.dtype and v.shape == w.shape and np.array_equal(v, w), k


def test_person_table_names_the_first_bad_row():
    from clhoi.eval.vcoco import _label_space, _PersonTable
    from clhoi.structures import ImageAnnotation

    action_of, has_role, _ = _label_space()
    good = ImageAnnotation("a.jpg", (9, 9), np.zeros((2, 4), np.float32), np.array([0, 3]), np.array([[0, 1, 0]]))
    bad = ImageAnnotation("b.jpg", (9, 9), np.zeros((2, 4), np.float32), np.array([0, 3]), np.array([[1, 0, 0]]))
    with pytest.raises(ValueError, match=r"b.jpg: ground-truth row \(1, 0, 0\): the agent must be a labelled person"):
        _PersonTable([good, bad], action_of, has_role)
