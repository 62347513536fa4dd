"""read_coco_instances: the by-columns reading of plain files equals the record-by-record one; anything
unusual goes to the record-by-record reader (same result or same error)."""

import copy
import json

import pytest

from clhoi.data import coco
from clhoi.data.coco import read_coco_instances
from clhoi.data.errors import AnnotationError

BASE = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480}, {"id": 7, "file_name": "b.jpg"}],
    "annotations": [
        {"id": 10, "image_id": 1, "category_id": 1, "bbox": [1, 2.5, 30, 40], "area": 100.5, "iscrowd": 0},
        {"id": 11, "image_id": 1, "category_id": 18, "bbox": [0.0, 0, 0, 0]},
        {"id": 12, "image_id": 7, "category_id": 90, "bbox": [5, 5, 10, 10], "area": 7, "ignore": 1, "iscrowd": 1},
    ],
}


def _variant(change):
    d = copy.deepcopy(BASE)
    change(d)
    return d


VARIANTS = {
    "plain": lambda d: None,
    "float width": lambda d: d["images"][0].update(width=640.0),
    "null area": lambda d: d["annotations"][0].update(area=None),
    "bool category": lambda d: d["annotations"][0].update(category_id=True),
    "float image id": lambda d: d["annotations"][0].update(image_id=1.0),
    "unknown image": lambda d: d["annotations"][0].update(image_id=3),
    "duplicate annotation": lambda d: d["annotations"][1].update(id=10),
    "negative width": lambda d: d["annotations"][2].update(bbox=[0, 0, -1, 3]),
    "short bbox": lambda d: d["annotations"][2].update(bbox=[0, 0, 3]),
    "string coordinate": lambda d: d["annotations"][2].update(bbox=[0, 0, "3", 3]),
    "empty name": lambda d: d["images"][1].update(file_name=""),
    "no annotations": lambda d: d.pop("annotations"),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_columns_and_records_agree(tmp_path, monkeypatch, name):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(_variant(VARIANTS[name])))

    def read():
        try:
            return read_coco_instances(path)
        except AnnotationError as e:
            return ("error", str(e))

    fast = read()
    monkeypatch.setattr(coco, "_plain_instances", lambda data, p: None)
    assert fast == read()
    if name == "plain":
        assert coco._plain_instances.__name__ == "<lambda>" and fast.instances[1][0].bbox == (1.0, 2.5, 30.0, 40.0)
