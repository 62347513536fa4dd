"""The array check of a file's box indices (files._fast_checks_pass) lets through exactly the records the
record-by-record reader accepts; a fault is named by file, record and row."""

import numpy as np
import pytest

from clhoi.eval.files import _fast_checks_pass, _vectorised, records_to_arrays


def _records(pair: list[int]) -> list[dict]:
    box = [0.0, 0.0, 9.0, 9.0]
    ok = {"file_name": "a.jpg", "boxes": [box, box], "labels": [0, 4], "hoi": [[0, 1, 3, 0.5]]}
    empty = {"file_name": "b.jpg", "boxes": [], "labels": [], "hoi": []}
    bad = {"file_name": "c.jpg", "boxes": [box, box, box], "labels": [0, 4, 4],
           "hoi": [[0, 2, 3, 0.5], [*pair, 7, 0.25]]}
    return [ok, empty, bad]


@pytest.mark.parametrize("pair, fine", [
    ([0, 2], True), ([2, 0], True), ([1, -1], True),  # -1: no object (V-COCO)
    ([3, 0], False), ([0, 3], False), ([-1, 0], False), ([0, -2], False), ([-2, -2], False),
])
def test_pair_checks_agree_with_the_record_by_record_reader(pair, fine):
    records = _records(pair)
    assert _fast_checks_pass(_vectorised(records, "p.json")) is fine
    if fine:
        arrays = records_to_arrays(records, "p.json")
        assert arrays.pairs.tolist() == [[0, 1], [0, 2], pair]
        assert np.array_equal(arrays.num_triplets, [1, 0, 2])
    else:
        with pytest.raises(ValueError, match=r"^p\.json: record 2 \(c\.jpg\): hoi\[1\] = .* indexes outside its 3 boxes$"):
            records_to_arrays(records, "p.json")
