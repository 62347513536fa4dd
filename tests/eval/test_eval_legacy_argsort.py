"""The NumPy 1.x argsort replay: its shortcut for ranges of equal values against the level-by-level replay,
and NumPy's own argsort of int16 ranks (the native path) against the replay.

The replay itself is checked against recorded NumPy 1.23.5 permutations in
``test_eval_vcoco_official.py``; here the shortcut (:func:`equal_order`) is checked
against NumPy 1.23.5 (a digest) and against the replay without it (``equal_ranges=False``).
"""

import hashlib

import numpy as np

from clhoi.eval import legacy_argsort
from clhoi.eval.legacy_argsort import equal_order, native_is_numpy_1, segmented_argsort

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
        want = segmented_argsort(values, starts, ends, equal_ranges=False, native=False)
        assert np.array_equal(segmented_argsort(values, starts, ends, native=False), want)
        assert np.array_equal(segmented_argsort(values, starts, ends), want)  # the native path
        # with labels: the same labels in sorted order
        labels = rng.integers(0, 4, values.size)
        got = segmented_argsort(values, starts, ends, labels)
        assert np.array_equal(values[got], values[want]) and np.array_equal(labels[got], labels[want])


def test_numpy_s_own_int16_argsort_is_numpy_1_s_quicksort_here():
    # NumPy 1.26-2.x sort 16-bit values with the generic introsort (no SIMD): the native path is taken
    assert native_is_numpy_1(), "this NumPy's int16 argsort is not NumPy 1.x's: the (slower) replay is used"


def test_the_native_path_equals_the_replay_and_falls_back_beyond_int16(monkeypatch):
    rng = np.random.default_rng(1)
    for k in range(40):  # (more than FEW_RANGES long ranges in some: ranked all at once)
        parts, starts, ends, pos = [], [], [], 0
        for n in rng.integers(1, [18, 200, 5000, 60][k % 4], rng.integers(1, 40) if k % 4 < 3 else 200).tolist():
            parts += [np.float32([-1.0]), _tie_heavy(rng, n)]  # a value outside every segment, then a segment
            starts.append(pos + 1)
            pos += 1 + n
            ends.append(pos)
        values = np.concatenate(parts)
        want = segmented_argsort(values, starts, ends, native=False)
        got = segmented_argsort(values, starts, ends)
        assert np.array_equal(got, want)
        assert np.array_equal(got[np.asarray(starts) - 1], np.asarray(starts) - 1)  # outside: in place
    # 66,667 distinct values do not fit int16 ranks: the replay sorts them
    values = rng.permutation(100000).astype(np.float32)
    values[::3] = 7.0
    native = legacy_argsort._native_ranges
    done = []
    monkeypatch.setattr(legacy_argsort, "_native_ranges", lambda *a: done.append(native(*a)) or done[-1])
    want = segmented_argsort(values, [0], [values.size], native=False)
    assert np.array_equal(segmented_argsort(values, [0], [values.size]), want) and done == [False]
    # and where NumPy's int16 argsort were another algorithm, the replay is used throughout
    monkeypatch.setattr(legacy_argsort, "native_is_numpy_1", lambda: False)
    assert np.array_equal(segmented_argsort(values[:3000], [0], [3000]),
                          segmented_argsort(values[:3000], [0], [3000], native=False)) and done == [False]
