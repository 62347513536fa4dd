"""The one-pass flattening of a predictions file (files._vectorised) equals the record-by-record reader on
regular records, and declines (None) anything irregular, which the record-by-record reader then names."""

import numpy as np
import pytest

from clhoi.eval.files import _record_by_record, _vectorised


def _regular(seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(40):
        n = int(rng.integers(0, 5))
        boxes = [[float(v) for v in rng.uniform(0, 50, 4)] for _ in range(n)]
        if n and rng.random() < 0.3:
            boxes[0] = [1, 2, 30, 40]  # ints in a box
        labels = [int(v) for v in rng.integers(0, 80, n)]
        hoi = [[int(rng.integers(0, n)), int(rng.integers(-1, n)), int(rng.integers(0, 600)), float(rng.random())]
               for _ in range(int(rng.integers(0, 6)) if n else 0)]
        if hoi and rng.random() < 0.3:
            hoi[0][2], hoi[0][3] = float(hoi[0][2]), 1  # an integral float class, an int score
        out.append({"file_name": f"{i}.jpg", "boxes": boxes, "labels": labels, "hoi": hoi})
    return out


@pytest.mark.parametrize("seed", range(4))
def test_equals_record_by_record(seed):
    records = _regular(seed)
    fast, slow = _vectorised(records, "p.json"), _record_by_record(records, "p.json")
    assert fast is not None and fast.file_names == slow.file_names
    for k in ("num_boxes", "boxes", "labels", "num_triplets", "pairs", "classes", "scores"):
        a, b = getattr(fast, k), getattr(slow, k)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), k
    assert fast.num_triplets.sum() > 20


@pytest.mark.parametrize("change, message", [
    (lambda r: r[2].update(hoi=[[0, 0, 1], [0, 0, 1, 0.5, 0.5]]), "field 'hoi' is not numeric"),  # 3 + 5 = 2 x 4 numbers
    (lambda r: r[2].update(boxes=[[0, 0, 1, 1], [0, 0, 1]]), "field 'boxes' is not numeric"),
    (lambda r: r[2].update(boxes={"abcd": 1}, labels=[0]), "field 'boxes'"),
    (lambda r: r[2].update(hoi=["abcd"]), "field 'hoi'"),
    (lambda r: r[2].update(labels=[0.5] * len(r[2]["boxes"])), "field 'labels' must hold integers"),
])
def test_irregular_records_are_declined_and_named(change, message):
    records = _regular(0)
    records[2]["boxes"] = [[0.0, 0.0, 5.0, 5.0]]
    records[2]["labels"] = [0]
    records[2]["hoi"] = [[0, 0, 1, 0.5]]
    change(records)
    assert _vectorised(records, "p.json") is None
    with pytest.raises(ValueError, match=r"^p\.json: record 2 \(2\.jpg\): " + message):
        _record_by_record(records, "p.json")
