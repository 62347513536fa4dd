"""The official V-COCO layout read by arrays gives what the record-by-record reader gives: images, boxes,
rows, left-out boxes and rows, warnings and errors."""

from __future__ import annotations

import copy
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from clhoi.data.coco import _plain_instances
from clhoi.data.errors import AnnotationError
from clhoi.data.vcoco import _official_by_arrays, _read_official

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
from vcoco_official_case import make_case  # noqa: E402


def _read(data, coco, by_arrays):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = _read_official(copy.deepcopy(data), "vcoco_test.json", coco, by_arrays=by_arrays)
        except AnnotationError as e:
            return ("error", str(e)), [str(w.message) for w in caught]
    images = [(a.file_name, a.size, a.boxes.dtype, a.boxes.tolist(), np.signbit(a.boxes).tolist(), a.labels.dtype,
               a.labels.tolist(), a.hoi.dtype, a.hoi.shape, a.hoi.tolist(), a.ignore.dtype, a.ignore.tolist())
              for a in out.images]
    return (out.layout, out.path, out.coco_instances, out.dropped_boxes, out.dropped_rows, images), \
        [str(w.message) for w in caught]


def _edit(rng, vcoco, instances):
    """Boxes the official evaluation leaves out or clips, images without a size, odd numbers."""
    anns, images = instances["annotations"], instances["images"]
    objects = set()  # role objects of positive rows: left out, they would be errors
    for act in vcoco:
        n = len(act["ann_id"])
        for r in range(1, len(act["role_name"])):
            objects.update(o for i, o in enumerate(act["role_object_id"][r * n:(r + 1) * n]) if act["label"][i])
    for act in vcoco:
        if rng.random() < 0.3 and act["label"]:
            act["label"][int(rng.integers(len(act["label"])))] = 1
            objects.update(act["role_object_id"][len(act["ann_id"]):])
    for ann in anns:
        if ann["id"] in objects:
            continue
        u = rng.random()
        x, y, w, h = ann["bbox"]
        if u < 0.04:
            ann["area"] = 0
        elif u < 0.08:
            ann["ignore"] = 1
        elif u < 0.12:
            ann["bbox"] = [x, y, 0.5, h]  # under one pixel wide
        elif u < 0.16:
            ann["bbox"] = [x + 500, y - 400, w, h]  # past the image: clipped
        elif u < 0.18:
            ann["bbox"] = [-0.0, y, w, h]
        elif u < 0.20:
            ann["bbox"] = [x, y, 1, 1.5]
    for img in images:
        if rng.random() < 0.1:
            img["width"] = 0  # no size: nothing is clipped


@pytest.mark.parametrize("seed", range(8))
def test_by_arrays_equals_record_by_record(seed):
    rng = np.random.default_rng(seed)
    case = make_case(seed, num_images=40, dets_per_image=(1, 2))
    vcoco, instances = case["vcoco"], case["instances"]
    if seed:
        _edit(rng, vcoco, instances)
    coco = _plain_instances(instances, "instances.json")
    assert coco is not None
    want = _read(vcoco, coco, by_arrays=False)
    assert _read(vcoco, coco, by_arrays=True) == want
    assert want[0][0] != "error"
    assert _official_by_arrays(copy.deepcopy(vcoco), "vcoco_test.json", coco) is not None  # no fall-back
    if seed:  # boxes and rows left out, with the warning
        assert want[0][3] and want[0][4] > 0 and len(want[1]) == 1


@pytest.mark.parametrize("edit", ["float label", "bool ann id", "agent not a person", "object of another image",
                                  "object left out", "agent of another image", "empty action"])
def test_odd_or_bad_files_read_or_fail_alike(edit):
    case = make_case(3, num_images=20, dets_per_image=(1, 2))
    vcoco, instances = case["vcoco"], case["instances"]
    act = vcoco[0]  # hold: agent, obj
    n = len(act["ann_id"])
    first = act["label"].index(1)
    boxes = {a["id"]: a for a in instances["annotations"]}
    image_of = {a["id"]: a["image_id"] for a in instances["annotations"]}
    if edit == "float label":
        act["label"][first] = 1.0  # the record-by-record reader accepts 1.0
    elif edit == "bool ann id":
        act["label"][first] = True
    elif edit == "agent not a person":
        obj = next(a for a in instances["annotations"] if a["category_id"] != 1
                   and a["image_id"] == act["image_id"][first])
        act["ann_id"][first] = act["role_object_id"][first] = obj["id"]
    elif edit == "object of another image":
        act["role_object_id"][n + first] = next(i for i, img in image_of.items() if img != act["image_id"][first])
    elif edit == "object left out":
        oid = next(a["id"] for a in instances["annotations"] if a["category_id"] != 1
                   and a["image_id"] == act["image_id"][first])
        boxes[oid]["area"] = 0
        act["role_object_id"][n + first] = oid
    elif edit == "agent of another image":
        act["image_id"][first] = next(i for i in {*image_of.values()} if i != act["image_id"][first])
    elif edit == "empty action":
        for k in ("image_id", "ann_id", "label", "role_object_id"):
            act[k] = []
    coco = _plain_instances(instances, "instances.json")
    want = _read(vcoco, coco, by_arrays=False)
    assert _read(vcoco, coco, by_arrays=True) == want
    if edit in ("agent not a person", "object of another image", "object left out"):
        assert want[0][0] == "error"
