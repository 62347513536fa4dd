"""``clhoi evaluate``: tables, JSON output, and user errors that name file, record and field."""

import json

import pytest
from typer.testing import CliRunner

from clhoi import vocab
from clhoi.cli import app

runner = CliRunner()
H, O = [0.0, 0.0, 9.0, 9.0], [20.0, 20.0, 29.0, 29.0]


def hico_converted(path):
    """Two images in the converted (QPIC-style) HICO-DET layout: 'board airplane' in each."""
    verb, obj = vocab.hicodet().hoi[0]
    airplane = vocab.COCO_IDS[vocab.hicodet().object_to_coco[obj]]
    records = [{"file_name": name, "annotations": [{"bbox": H, "category_id": 1}, {"bbox": O, "category_id": airplane}],
                "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": verb + 1}]} for name in ("a.jpg", "b.jpg")]
    path.write_text(json.dumps(records))


def predictions(path, records):
    path.write_text(json.dumps(records))


def test_hicodet_table_and_json(tmp_path):
    hico_converted(tmp_path / "test_hico.json")
    predictions(tmp_path / "preds.json", [
        {"file_name": "a.jpg", "boxes": [H, O], "labels": [0, 4], "hoi": [[0, 1, 0, 0.9]]},
        {"file_name": "b.jpg", "boxes": [H, O], "labels": [0, 4], "hoi": [[0, 1, 0, 0.8], [0, 1, 1, 0.7]]},
    ])
    out = tmp_path / "metrics" / "hico.json"
    result = runner.invoke(app, ["evaluate", "--dataset", "hicodet", "--annotations", str(tmp_path / "test_hico.json"),
                                 "--predictions", str(tmp_path / "preds.json"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Known-Object" in result.output and "0.17" in result.output  # 100 / 600
    metrics = json.loads(out.read_text())
    assert metrics["default"]["mAP_full"] == pytest.approx(100 / 600)
    assert metrics["default"]["mAP_full_classes_with_gt"] == pytest.approx(100.0)
    assert metrics["per_class"][0]["ap_known_object"] == pytest.approx(100.0)
    assert metrics["num_triplets"] == 3


def test_vcoco_table_and_json(tmp_path):
    hold = vocab.vcoco_classes().index(("hold", "obj"))
    (tmp_path / "test_vcoco.json").write_text(json.dumps([{
        "file_name": "c.jpg", "annotations": [{"bbox": H, "category_id": 1}, {"bbox": O, "category_id": 47}],
        "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": hold}]}]))
    predictions(tmp_path / "preds.json", [{"file_name": "c.jpg", "boxes": [H, O], "labels": [0, 41], "hoi": [[0, 1, hold, 0.9]]}])
    out = tmp_path / "vcoco.json"
    result = runner.invoke(app, ["evaluate", "--dataset", "vcoco", "--annotations", str(tmp_path / "test_vcoco.json"),
                                 "--predictions", str(tmp_path / "preds.json"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "AP_role scenario 1" in result.output and "100.00" in result.output
    metrics = json.loads(out.read_text())
    assert metrics["role_mAP_scenario_1"] == pytest.approx(100.0)
    assert metrics["agent_mAP"] == pytest.approx(100 / 26)
    assert metrics["agent"][1]["ap"] is None  # 'stand' has no positives: NaN is written as null


def test_vcoco_official_detection_records(tmp_path):
    hold = vocab.vcoco_classes().index(("hold", "obj"))
    (tmp_path / "test_vcoco.json").write_text(json.dumps([{
        "file_name": "COCO_val2014_000000000042.jpg", "annotations": [{"bbox": H, "category_id": 1}, {"bbox": O, "category_id": 47}],
        "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": hold}]}]))
    predictions(tmp_path / "dets.json", [{"image_id": 42, "person_box": H, "hold_agent": 0.9, "hold_obj": O + [0.9]},
                                         {"image_id": 42, "person_box": H, "hold_agent": 0.5, "hold_obj": [0, 0, 0, 0, 0.8]}])
    result = runner.invoke(app, ["evaluate", "--dataset", "vcoco", "--annotations", str(tmp_path / "test_vcoco.json"),
                                 "--predictions", str(tmp_path / "dets.json")])
    assert result.exit_code == 0, result.output
    assert "100.00" in result.output and "2 predictions" in result.output


@pytest.mark.parametrize("records, expected", [
    ([{"file_name": "a.jpg", "boxes": [H, O], "labels": [0, 4]}], ["record 0", "a.jpg", "'hoi'"]),
    ([{"file_name": "a.jpg", "boxes": [H, O], "labels": [0, 4], "hoi": [[0, 5, 0, 0.9]]}], ["record 0", "a.jpg", "hoi"]),
    ([{"file_name": "a.jpg", "boxes": [H, O], "labels": [0, 4], "hoi": [[0, 1, 600, 0.9]]}], ["preds.json", "a.jpg", "hoi[0]", "class 600"]),
    ([{"file_name": "nope.jpg", "boxes": [], "labels": [], "hoi": []}], ["nope.jpg", "not in the HICO-DET annotations"]),
    ({"file_name": "a.jpg"}, ["preds.json", "record 0", "a.jpg", "'boxes'"]),  # one JSON line
    ("a.jpg", ["preds.json", "expected a JSON list"]),
])
def test_bad_predictions_fail_with_a_message_naming_file_record_and_field(tmp_path, records, expected):
    hico_converted(tmp_path / "test_hico.json")
    predictions(tmp_path / "preds.json", records)
    result = runner.invoke(app, ["evaluate", "--dataset", "hicodet", "--annotations", str(tmp_path / "test_hico.json"),
                                 "--predictions", str(tmp_path / "preds.json")])
    assert result.exit_code == 2
    assert result.output.startswith("error: ")
    for text in expected:
        assert text in result.output


def test_missing_files_and_unknown_dataset(tmp_path):
    hico_converted(tmp_path / "test_hico.json")
    result = runner.invoke(app, ["evaluate", "--dataset", "hicodet", "--annotations", str(tmp_path / "test_hico.json"),
                                 "--predictions", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "predictions file not found" in result.output
    result = runner.invoke(app, ["evaluate", "--dataset", "coco", "--annotations", "x", "--predictions", "y"])
    assert result.exit_code == 2 and "hicodet, vcoco, sandbox" in result.output


def test_json_lines_and_json_list_score_the_same(tmp_path):
    hico_converted(tmp_path / "test_hico.json")
    records = [{"file_name": "a.jpg", "boxes": [H, O], "labels": [0, 4], "hoi": [[0, 1, 0, 0.9], [0, 1, 0, 0.3]]},
               {"file_name": "b.jpg", "boxes": [O, H], "labels": [4, 0], "hoi": [[1, 0, 0, 0.8]]}]
    predictions(tmp_path / "list.json", records)
    (tmp_path / "lines.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    out = {}
    for name in ("list.json", "lines.jsonl"):
        result = runner.invoke(app, ["evaluate", "--dataset", "hicodet", "--annotations", str(tmp_path / "test_hico.json"),
                                     "--predictions", str(tmp_path / name), "--out", str(tmp_path / f"{name}.m")])
        assert result.exit_code == 0, result.output
        out[name] = json.loads((tmp_path / f"{name}.m").read_text())
    assert out["list.json"] == out["lines.jsonl"] and out["list.json"]["num_triplets"] == 3
    (tmp_path / "bad.jsonl").write_text(json.dumps(records[0]) + "\n{not json\n")
    result = runner.invoke(app, ["evaluate", "--dataset", "hicodet", "--annotations", str(tmp_path / "test_hico.json"),
                                 "--predictions", str(tmp_path / "bad.jsonl")])
    assert result.exit_code == 2 and "bad.jsonl: line 2: not valid JSON" in result.output


def test_metrics_json_is_strict_json_null_where_undefined(tmp_path):
    # class 1 is predicted but has no ground truth: its recall is 0/0 (NaN in MATLAB), so is the mean recall
    hico_converted(tmp_path / "test_hico.json")
    predictions(tmp_path / "preds.json", [{"file_name": "a.jpg", "boxes": [H, O], "labels": [0, 4],
                                           "hoi": [[0, 1, 0, 0.9], [0, 1, 1, 0.7]]}])
    out = tmp_path / "m.json"
    result = runner.invoke(app, ["evaluate", "--dataset", "hicodet", "--annotations", str(tmp_path / "test_hico.json"),
                                 "--predictions", str(tmp_path / "preds.json"), "--out", str(out)])
    assert result.exit_code == 0, result.output

    def refuse(name):
        raise AssertionError(f"{name} in the metrics JSON")

    metrics = json.loads(out.read_text(), parse_constant=refuse)
    assert metrics["default"]["mean_recall"] is None
    assert metrics["default"]["mAP_full"] == pytest.approx(100 * 6 / 11 / 600)  # recall 0.5 reaches 6 of 11 points


def test_a_label_space_mix_up_warns_instead_of_printing_zeros(tmp_path):
    hico_converted(tmp_path / "test_hico.json")  # ground truth: class 0 only
    predictions(tmp_path / "preds.json", [{"file_name": "a.jpg", "boxes": [H, O], "labels": [0, 4],
                                           "hoi": [[0, 1, 3, 0.9], [0, 1, 7, 0.8]]}])
    out = tmp_path / "m.json"
    result = runner.invoke(app, ["evaluate", "--dataset", "hicodet", "--annotations", str(tmp_path / "test_hico.json"),
                                 "--predictions", str(tmp_path / "preds.json"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "WARNING: none of the 2 predicted classes (3, 7) has any ground truth" in result.output
    assert "label space" in result.output and "0.00" not in result.output
    assert "label space" in json.loads(out.read_text())["label_space_warning"]
    # one predicted class with ground truth: no warning, the table as usual
    predictions(tmp_path / "preds.json", [{"file_name": "a.jpg", "boxes": [H, O], "labels": [0, 4],
                                           "hoi": [[0, 1, 3, 0.9], [0, 1, 0, 0.8]]}])
    result = runner.invoke(app, ["evaluate", "--dataset", "hicodet", "--annotations", str(tmp_path / "test_hico.json"),
                                 "--predictions", str(tmp_path / "preds.json"), "--out", str(out)])
    assert result.exit_code == 0 and "WARNING" not in result.output and "Known-Object" in result.output
    assert json.loads(out.read_text())["label_space_warning"] is None


def test_vcoco_label_space_mix_up_warns_too(tmp_path):
    hold = vocab.vcoco_classes().index(("hold", "obj"))
    stand = vocab.vcoco_classes().index(("stand", None))
    (tmp_path / "test_vcoco.json").write_text(json.dumps([{
        "file_name": "c.jpg", "annotations": [{"bbox": H, "category_id": 1}, {"bbox": O, "category_id": 47}],
        "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": hold}]}]))
    predictions(tmp_path / "preds.json", [{"file_name": "c.jpg", "boxes": [H, O], "labels": [0, 41],
                                           "hoi": [[0, -1, stand, 0.9]]}])
    result = runner.invoke(app, ["evaluate", "--dataset", "vcoco", "--annotations", str(tmp_path / "test_vcoco.json"),
                                 "--predictions", str(tmp_path / "preds.json")])
    assert result.exit_code == 0 and "WARNING: none of the 1 predicted classes" in result.output
    assert "AP_role" not in result.output


def test_datasets_without_shipped_annotations_need_them(tmp_path):
    predictions(tmp_path / "preds.json", [])
    for dataset in ("vcoco", "sandbox"):
        result = runner.invoke(app, ["evaluate", "--dataset", dataset, "--predictions", str(tmp_path / "preds.json")])
        assert result.exit_code == 2 and f"--annotations is required for {dataset}" in result.output
