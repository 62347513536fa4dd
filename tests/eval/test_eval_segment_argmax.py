"""segment_first_argmax_reaching (HICO-DET matching) equals segment_first_argmax where the max reaches the
threshold, and says -1 elsewhere."""

import numpy as np
import pytest

from clhoi.eval.matching import segment_first_argmax, segment_first_argmax_reaching


@pytest.mark.parametrize("seed", range(6))
def test_equals_segment_first_argmax_reaching_the_threshold(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 6, 3000) * (rng.random(3000) < 0.7)
    k = int(counts.sum())
    values = rng.integers(0, 9, k) / 8.0  # many ties, and values exactly at the threshold 0.5
    values[rng.random(k) < 0.1] = 0.0
    segment = np.repeat(np.arange(counts.size), counts)
    best, pos = segment_first_argmax(values, counts)
    for threshold in (0.5, 0.0, 1.0, 0.51):
        got = segment_first_argmax_reaching(values, segment, counts.size, threshold)
        assert np.array_equal(got, np.where(best >= threshold, pos, -1))
    assert ((best >= 0.5) & (counts > 1)).any() and (counts == 0).any()


def test_hand_case_and_empty():
    values = np.array([0.3, 0.7, 0.7, 0.1, 0.5, 0.2, 0.6])
    segment = np.array([0, 0, 0, 2, 2, 3, 3])  # segment 1 and 4 are empty
    assert segment_first_argmax_reaching(values, segment, 5, 0.5).tolist() == [1, -1, 4, 6, -1]
    assert segment_first_argmax_reaching(values, segment, 5, 0.8).tolist() == [-1] * 5
    none = segment_first_argmax_reaching(np.zeros(0), np.zeros(0, dtype=np.int64), 3, 0.5)
    assert none.tolist() == [-1, -1, -1] and none.dtype == np.int64
