"""Detections from COCO results JSON (detectron2 / mmdetection / ultralytics) and UPT's per-image files."""

from __future__ import annotations

import json

import pytest
import torch

from clhoi import vocab
from clhoi.detect.files import load_detections, save_detections
from clhoi.detect.formats import load_foreign_detections, read_coco_results, read_upt_folder


def _coco_files(tmp_path):
    images = {"images": [{"id": 7, "file_name": "a.jpg", "height": 100, "width": 200},
                         {"id": 9, "file_name": "b.jpg", "height": 50, "width": 60}]}
    results = [{"image_id": 7, "category_id": 1, "bbox": [10, 20, 30, 40], "score": 0.9},
               {"image_id": 7, "category_id": 90, "bbox": [0.5, 0, 10, 10], "score": 0.4},  # toothbrush
               {"image_id": 7, "category_id": 2, "bbox": [1, 1, 2, 2], "score": 0.01}]
    (tmp_path / "images.json").write_text(json.dumps(images))
    (tmp_path / "results.json").write_text(json.dumps(results))
    return tmp_path / "results.json", tmp_path / "images.json"


def test_coco_results_round_trip_through_a_detections_file(tmp_path):
    results, images = _coco_files(tmp_path)
    dets = read_coco_results(results, images, min_score=0.05)
    a = dets["a.jpg"]
    assert a.boxes.tolist() == [[10.0, 20.0, 40.0, 60.0], [0.5, 0.0, 10.5, 10.0]]  # xywh -> xyxy
    assert a.labels.tolist() == [0, vocab.coco_index("toothbrush")] and a.image_size == (100, 200)
    assert len(dets["b.jpg"].boxes) == 0  # an image without boxes is kept, empty
    save_detections(tmp_path / "d.safetensors", dets)
    back = load_detections(tmp_path / "d.safetensors")
    assert torch.equal(back["a.jpg"].boxes, a.boxes) and torch.equal(back["a.jpg"].scores, a.scores)
    # back to COCO results: the same records
    recs = [{"image_id": 7, "category_id": vocab.COCO_IDS[int(c)], "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
             "score": round(float(s), 6)} for b, c, s in zip(a.boxes.tolist(), a.labels, a.scores)]
    orig = [r for r in json.loads(results.read_text()) if r["score"] >= 0.05]
    assert [(r["category_id"], r["bbox"]) for r in recs] == [(r["category_id"], [float(v) for v in r["bbox"]])
                                                              for r in orig]


def test_coco_results_errors_name_record_and_field(tmp_path):
    results, images = _coco_files(tmp_path)
    results.write_text(json.dumps([{"image_id": 8, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]))
    with pytest.raises(ValueError, match="record 0: field 'image_id': 8 is not in the image map"):
        read_coco_results(results, images)
    results.write_text(json.dumps([{"image_id": 7, "category_id": 12, "bbox": [0, 0, 1, 1], "score": 1}]))
    with pytest.raises(ValueError, match="'category_id': 12 is not a coco91 class id"):  # 12 is unused in COCO
        read_coco_results(results, images)
    results.write_text(json.dumps([{"image_id": 7, "bbox": [0, 0, 1, 1], "score": 1}]))
    with pytest.raises(ValueError, match="lacks field"):
        read_coco_results(results, images)
    with pytest.raises(ValueError, match="clhoi convert-detections"):  # the plain reader points to the converter
        load_detections(_coco_files(tmp_path)[0])
    with pytest.raises(ValueError, match="pass the image list"):
        load_foreign_detections(results)


def test_coco_results_with_a_plain_id_map(tmp_path):
    results, _ = _coco_files(tmp_path)
    (tmp_path / "map.json").write_text(json.dumps({"7": "x/a.jpg", "9": "x/b.jpg"}))
    dets = load_foreign_detections(results, images=tmp_path / "map.json")
    assert sorted(dets) == ["x/a.jpg", "x/b.jpg"] and dets["x/a.jpg"].image_size is None


def test_upt_folder_round_trip(tmp_path):
    space = vocab.hicodet()
    person, cup = space.objects.index("person"), space.objects.index("cup")
    assert person == 49  # UPT's human index in HICO-DET's object order
    folder = tmp_path / "test2015"
    folder.mkdir()
    rec = {"boxes": [[1.0, 2.0, 30.0, 40.0], [5.0, 5.0, 9.0, 9.5]], "scores": [0.8, 0.3], "labels": [person, cup],
           "size": [480, 640]}
    (folder / "HICO_test2015_00000001.json").write_text(json.dumps(rec))
    (folder / "HICO_test2015_00000002.json").write_text(json.dumps({"boxes": [], "scores": [], "labels": []}))
    dets = read_upt_folder(folder)
    d = dets["HICO_test2015_00000001.jpg"]
    assert d.labels.tolist() == [0, vocab.coco_index("cup")] and d.image_size == (480, 640)
    assert d.boxes.tolist() == rec["boxes"] and len(dets["HICO_test2015_00000002.jpg"].boxes) == 0
    assert load_detections(folder).keys() == dets.keys()  # the detections reader takes the folder as it is
    # and back: our detections in UPT's layout read the same
    out = tmp_path / "again"
    out.mkdir()
    coco_to_hico = {c: o for o, c in enumerate(space.object_to_coco)}
    for name, det in dets.items():
        (out / name.replace(".jpg", ".json")).write_text(json.dumps(
            {"boxes": det.boxes.tolist(), "scores": det.scores.tolist(),
             "labels": [coco_to_hico[int(v)] for v in det.labels]}))
    again = read_upt_folder(out)
    assert all(torch.equal(again[n].boxes, dets[n].boxes) and torch.equal(again[n].labels, dets[n].labels)
               for n in dets)


def test_upt_folder_errors(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"boxes": [[0, 0, 1, 1]], "scores": [0.5], "labels": [80]}))
    with pytest.raises(ValueError, match=r"labels\[0\]': 80 is not a hico80 class index"):
        read_upt_folder(tmp_path)
    assert read_upt_folder(tmp_path, labels="coco91")["x.jpg"].labels.tolist() == [vocab.COCO_ID_TO_INDEX[80]]
    (tmp_path / "x.json").write_text(json.dumps({"boxes": [[0, 0, 1, 1]], "scores": [0.5, 0.2], "labels": [1]}))
    with pytest.raises(ValueError, match="differ in number"):
        read_upt_folder(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_upt_folder(tmp_path / "nope")


def test_convert_detections_command(tmp_path):
    from typer.testing import CliRunner

    from clhoi.cli import app

    results, images = _coco_files(tmp_path)
    out = tmp_path / "dets.safetensors"
    done = CliRunner().invoke(app, ["convert-detections", str(results), "--images", str(images), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "wrote 3 boxes of 2 images" in done.output and set(load_detections(out)) == {"a.jpg", "b.jpg"}
    done = CliRunner().invoke(app, ["convert-detections", str(results), "--out", str(out)])
    assert done.exit_code == 2 and "image list" in done.output
