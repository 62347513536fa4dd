"""The NumPy 1.x argsort replay: its shortcut for ranges of equal values against the level-by-level replay.

The replay itself is checked against recorded NumPy 1.23.5 permutations in
``test_eval_vcoco_official.py``; here the shortcut (:func:`equal_order`) is checked
against NumPy 1.23.5 (a digest) and against the replay without it (``equal_ranges=False``).
"""

import hashlib

import numpy as np

from clhoi.eval.legacy_argsort import equal_order, segmented_argsort

# sha256 of NumPy 1.23.5's np.zeros(n, np.float32).argsort() as little-endian int64, n = 1..300, 1000, 4097
# (recomputed with the side environment of tests/fixtures/vcoco_official/record_official.py)
NUMPY_1_ZEROS = "a9af0cce3c320e5085f8e6f3c4a9e11e41c0a14759aecc66b40e9d0b51ae123a"


def test_equal_order_is_numpy_1_argsort_of_equal_values():
    sizes = list(range(1, 301)) + [1000, 4097]
    h = hashlib.sha256()
    for n in sizes:
        h.update(equal_order(n)[0].astype("<i8").tobytes())
    assert h.hexdigest() == NUMPY_1_ZEROS
    # printed by NumPy 1.23.5 for 40 equal values
    assert equal_order(40)[0].tolist() == [0, 22, 23, 24, 25, 26, 27, 28, 21, 29, 31, 32, 33, 34, 35, 36, 37, 30,
                                           20, 19, 18, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 38, 39]
    for n in sizes:
        assert segmented_argsort(np.zeros(n, np.float32), [0], [n], equal_ranges=False).tolist() == \
            equal_order(n)[0].tolist()
    assert [equal_order(n)[1] for n in (1, 16, 17, 33, 34, 1000)] == [0, 0, 1, 1, 2, 6]


def _tie_heavy(rng, size):
    """float32 values like the dense V-COCO scores: a 0.1 grid, one value many times, and distinct values."""
    u = rng.random(size)
    return np.where(u < 0.4, np.floor(rng.random(size) * 11) / 10,
                    np.where(u < 0.7, 0.5, rng.random(size))).astype(np.float32)


def test_the_shortcut_gives_the_replay_s_permutation():
    rng = np.random.default_rng(0)
    for _ in range(60):
        sizes = rng.integers(1, [20, 400, 3000][rng.integers(3)], rng.integers(1, 6))
        values = np.concatenate([_tie_heavy(rng, n) if rng.random() < 0.8 else np.full(n, 0.25, np.float32)
                                 for n in sizes])
        ends = np.cumsum(sizes)
        starts = ends - sizes
        want = segmented_argsort(values, starts, ends, equal_ranges=False)
        assert np.array_equal(segmented_argsort(values, starts, ends), want)
        # with labels: the same labels in sorted order
        labels = rng.integers(0, 4, values.size)
        got = segmented_argsort(values, starts, ends, labels)
        assert np.array_equal(values[got], values[want]) and np.array_equal(labels[got], labels[want])
