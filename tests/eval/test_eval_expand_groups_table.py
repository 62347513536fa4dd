"""expand_groups gives the same join whether it searches for each query's group or looks it up in a table."""

import numpy as np
import pytest

from clhoi.eval.matching import expand_groups


@pytest.mark.parametrize("seed", range(5))
def test_table_lookup_equals_search(seed):
    rng = np.random.default_rng(seed)
    bound = int(rng.integers(1, 400))
    targets = np.sort(rng.integers(0, bound, int(rng.integers(0, 300))))
    queries = rng.integers(0, bound, int(rng.integers(bound // 8 + 1, 600)))
    queries[: min(3, queries.size)] = [bound - 1, 0, bound - 1][: min(3, queries.size)]  # both ends of the range
    searched = expand_groups(queries, targets)
    looked_up = expand_groups(queries, targets, key_bound=bound)
    for a, b in zip(searched, looked_up):
        assert np.array_equal(a, b) and a.dtype == b.dtype
    q, t, counts = looked_up
    assert np.array_equal(queries[q], targets[t]) and counts.sum() == q.size


def test_table_edge_cases():
    none = np.zeros(0, dtype=np.int64)
    for bound in (None, 10):
        q, t, counts = expand_groups(np.array([3, 9, 0]), none, key_bound=bound)
        assert q.size == t.size == 0 and counts.tolist() == [0, 0, 0]
        q, t, counts = expand_groups(np.array([4, 4, 9]), np.array([0, 4, 4, 9]), key_bound=bound)
        assert q.tolist() == [0, 0, 1, 1, 2] and t.tolist() == [1, 2, 1, 2, 3] and counts.tolist() == [2, 2, 1]
