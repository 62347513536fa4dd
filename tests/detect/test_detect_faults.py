"""Damaged detections files are refused on read, naming the file, the image and the field (issue 13)."""

from __future__ import annotations

import json

import pytest
import torch

from clhoi.detect.files import load_detections, save_detections
from clhoi.models.pooling import pool_box_features
from clhoi.structures import Detections


def _json(tmp_path, data) -> str:
    p = tmp_path / "dets.json"
    p.write_text(json.dumps(data))
    return str(p)


GOOD = {"boxes": [[1, 2, 10, 20]], "scores": [0.9], "labels": [0]}


@pytest.mark.parametrize("record, field", [
    ({**GOOD, "boxes": [[1, 2, float("nan"), 20]]}, "boxes[0]"),
    ({**GOOD, "boxes": [[1, 2, float("inf"), 20]]}, "boxes[0]"),
    ({**GOOD, "boxes": [[10, 2, 1, 20]]}, "boxes[0]"),
    ({**GOOD, "labels": ["unicorn"]}, "labels[0]"),
    ({**GOOD, "labels": [80]}, "labels[0]"),
    ({**GOOD, "labels": [10.7]}, "labels[0]"),
    ({**GOOD, "scores": ["high"]}, "scores"),
    ({**GOOD, "image_size": [0, 10]}, "image_size"),
])
def test_bad_json_record_names_file_image_field(tmp_path, record, field):
    path = _json(tmp_path, {"a.jpg": record})
    with pytest.raises(ValueError) as e:
        load_detections(path)
    msg = str(e.value)
    assert path in msg and "[a.jpg]" in msg and f"'{field}'" in msg


def test_list_of_numbers_instead_of_records(tmp_path):
    path = _json(tmp_path, [1, 2, 3])
    with pytest.raises(ValueError, match=r"record #0.*expected an object"):
        load_detections(path)


def test_good_json_still_reads(tmp_path):
    dets = load_detections(_json(tmp_path, [{"file_name": "a.jpg", **GOOD, "labels": ["person"]}]))
    assert dets["a.jpg"].boxes.tolist() == [[1.0, 2.0, 10.0, 20.0]] and dets["a.jpg"].labels.tolist() == [0]


def test_nan_box_in_safetensors_is_refused(tmp_path):
    path = tmp_path / "d.safetensors"
    save_detections(path, {"x.png": Detections(torch.tensor([[0.0, 0.0, float("nan"), 5.0]]), torch.tensor([0.5]),
                                               torch.tensor([0]))})
    with pytest.raises(ValueError, match=r"\[x.png\]: field 'boxes\[0\]': non-finite"):
        load_detections(path)


@pytest.mark.parametrize("content", [b"", b"\x00" * 7, b"garbage that is not safetensors at all"])
def test_damaged_safetensors_is_one_clear_error(tmp_path, content):
    path = tmp_path / "d.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"damaged detections file.*write it again"):
        load_detections(path)


def test_truncated_safetensors(tmp_path):
    path = tmp_path / "d.safetensors"
    save_detections(path, {"x.png": Detections(torch.rand(3, 4).sort(1).values, torch.rand(3), torch.zeros(3).long())})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])
    with pytest.raises(ValueError, match="damaged detections file"):
        load_detections(path)


def test_damaged_npz(tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="damaged detections file"):
        load_detections(path)


@pytest.mark.parametrize("box", [[0.1, 0.1, float("nan"), 0.5], [0.5, 0.1, 0.2, 0.5], [0.1, float("-inf"), 0.2, 0.3]])
def test_roi_pooling_refuses_bad_boxes_instead_of_crashing(box):
    tokens = torch.randn(1, 16, 8)
    with pytest.raises(ValueError, match="box"):
        pool_box_features(tokens, (4, 4), torch.tensor([box]), torch.tensor([0]))


def test_roi_pooling_refuses_bad_image_index():
    with pytest.raises(ValueError, match="out of range"):
        pool_box_features(torch.randn(1, 16, 8), (4, 4), torch.tensor([[0.1, 0.1, 0.5, 0.5]]), torch.tensor([3]))
