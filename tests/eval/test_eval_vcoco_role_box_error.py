"""A role box that mixes numbers and NaN is named by file, record and key on every reading path."""

from __future__ import annotations

import math

import pytest

from clhoi import vocab
from clhoi.eval.vcoco_detections import _slow_official, from_official


def _record(image_id: int, bad: str | None = None, every_key: bool = True) -> dict:
    rec = {"image_id": image_id, "person_box": [1.0, 2.0, 30.0, 40.0]}
    for a in vocab.vcoco_actions():
        rec[f"{a.name}_agent"] = 0.5
    for act, role in vocab.vcoco_classes():
        if role is not None and (every_key or act == "ride"):
            rec[f"{act}_{role}"] = [5.0, 6.0, 20.0, 25.0, 0.25]
    if bad is not None:
        rec[bad] = [5.0, math.nan, 20.0, 25.0, 0.25]
    return rec


@pytest.mark.parametrize("every_key", [True, False], ids=["all-keys", "some-keys"])
def test_mixed_role_box_names_file_record_and_key(every_key):
    images = {"COCO_val2014_000000000139.jpg": 0, "COCO_val2014_000000000285.jpg": 1}
    records = [_record(139, every_key=every_key), _record(285, "ride_instr", every_key=every_key)]
    with pytest.raises(ValueError) as e:
        from_official(records, images, where="dets.json")
    msg = str(e.value)
    assert msg.startswith("dets.json: record 1: 'ride_instr' role box mixes numbers and NaN") and "\n" not in msg
    # the record-by-record reader (where any odd record sends a file) says the same
    by_id = {139: 0, 285: 1}
    with pytest.raises(ValueError) as slow:
        _slow_official(records, images, by_id, "dets.json")
    assert str(slow.value) == msg
