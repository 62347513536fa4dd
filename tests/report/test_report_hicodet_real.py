"""``clhoi teacher-report`` on the real HICO-DET test annotations, with a label file of known quality.

The label file is the ground truth itself, reduced to image level, with known
drops (every 4th image silent, the first interaction of every other 4th image
dropped), known hallucinations and open-vocabulary verbs. The expected figures
are counted here from the raw JSON, independently of the report's code.
"""

import gzip
import json
from collections import Counter

import pytest
from PIL import Image
from typer.testing import CliRunner

from clhoi.cli import app
from clhoi.data.hicodet import shipped_test_annotations
from clhoi.structures import InteractionPair, LabelRecord
from clhoi.vocab import COCO_CLASSES, hicodet

HICO_TEST = shipped_test_annotations()  # the real HICO-DET test annotations shipped with clhoi (gzip JSON)
HALLUCINATION = ("ride", "elephant")


@pytest.fixture(scope="module")
def hico_case(tmp_path_factory):
    assert HICO_TEST.is_file(), f"real HICO-DET test annotations missing at {HICO_TEST}"
    raw = json.loads(gzip.decompress(HICO_TEST.read_bytes()))
    space = hicodet()
    assert raw["verbs"] == list(space.verbs) and raw["objects"] == list(space.objects)
    expected = Counter()
    gt_images = Counter()
    records = []
    for i, (name, ann) in enumerate(zip(raw["filenames"], raw["annotation"])):
        keys = list(dict.fromkeys(
            (raw["verbs"][v], COCO_CLASSES[space.object_to_coco[o]])
            for v, o in zip(ann["verb"], ann["object"]) if raw["verbs"][v] != "no_interaction"
        ))
        gt_images.update(keys)
        expected["gt"] += len(keys)
        kept = [] if i % 4 == 0 else keys[1:] if i % 4 == 1 else keys
        expected["found"] += len(kept)
        pairs = [InteractionPair(v.replace("_", " "), o, o) for v, o in kept]
        if i % 5 == 2 and HALLUCINATION not in keys:
            pairs.append(InteractionPair(*HALLUCINATION, HALLUCINATION[1]))
            expected["hallucinated"] += 1
        if i % 7 == 3:
            pairs.append(InteractionPair("pedal", "bicycle", "bicycle"))
            expected["open_vocab"] += 1
        expected["no_action"] += not pairs
        records.append(LabelRecord(name, pairs=pairs, teacher="gt:hicodet-dropped",
                                   status="ok" if pairs else "no_action"))
    path = tmp_path_factory.mktemp("labels") / "dropped.jsonl"
    path.write_text("".join(r.to_json() + "\n" for r in records), encoding="utf-8")
    return path, expected, gt_images, len(records)


def test_report_on_real_hicodet_matches_counts(hico_case, tmp_path):
    labels, expected, gt_images, n_images = hico_case
    silent = tmp_path / "silent.jsonl"
    silent.write_text(LabelRecord("HICO_test2015_00000001.jpg", status="no_action").to_json() + "\n")
    result = CliRunner().invoke(app, ["teacher-report", str(labels), str(silent), "--annotations", str(HICO_TEST),
                                      "--dataset", "hicodet", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "dropped" in result.output and "ride elephant" in result.output
    report = json.loads((tmp_path / "out" / "teacher_report.json").read_text())
    q = report["label_files"][0]
    assert q["summary"]["images"] == n_images
    assert q["overall"]["gt"] == expected["gt"] and q["overall"]["found"] == expected["found"]
    predicted = expected["found"] + expected["hallucinated"]
    assert q["overall"]["predicted"] == predicted and q["overall"]["matched"] == expected["found"]
    assert q["summary"]["recall"] == pytest.approx(expected["found"] / expected["gt"])
    assert q["summary"]["precision"] == pytest.approx(expected["found"] / predicted)
    assert q["status"]["no_action"] == expected["no_action"]
    assert q["open_vocab"] == [{"name": "pedal", "count": expected["open_vocab"]}]
    assert q["hallucinated"][0] == {"verb": "ride", "object": "elephant", "count": expected["hallucinated"]}
    top = report["top_interactions"]
    assert len(top) == 30
    want = sorted(gt_images.items(), key=lambda kv: (-kv[1], kv[0][0].replace("_", " "), kv[0][1]))[:30]
    assert [(r["interaction"], r["gt_images"]) for r in top] == [
        (f"{v.replace('_', ' ')} {o}", n) for (v, o), n in want
    ]
    assert all(0 < r["teacher_images"]["dropped"] <= r["gt_images"] for r in top)
    assert all(r["teacher_images"]["silent"] == 0 for r in top)
    png = Image.open(tmp_path / "out" / "teacher_report_top30.png")
    assert png.format == "PNG" and png.width > 800
    # the second file, side by side: one image, labelled no_action
    rows = {r["name"]: r for r in report["comparison"]}
    assert rows["silent"]["images"] == 1 and rows["silent"]["recall"] == 0.0
    assert rows["silent"]["no_action_share"] == 1.0
    assert rows["silent"]["images_without_labels"] == n_images - 1


def test_cli_errors_name_the_fix(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(app, ["teacher-report", str(tmp_path / "nope.jsonl"), "--annotations", str(HICO_TEST)])
    assert missing.exit_code == 2 and "nope.jsonl does not exist" in missing.output
    other = tmp_path / "other.jsonl"
    other.write_text(LabelRecord("train/0001.png").to_json() + "\n")
    bad = runner.invoke(app, ["teacher-report", str(other), "--annotations", str(HICO_TEST), "--dataset", "coco"])
    assert bad.exit_code == 2 and "Invalid value" in bad.output and "--dataset" in bad.output  # a real choice
    names = runner.invoke(app, ["teacher-report", str(other), "--annotations", str(HICO_TEST), "--name", "a",
                                "--name", "b"])
    assert names.exit_code == 2 and "one name per file" in names.output
    tiny = tmp_path / "test_tiny.json"  # the converted HICO-DET layout, one image
    tiny.write_text(json.dumps([{"file_name": "test/0001.png", "width": 64, "height": 48,
                                 "annotations": [{"bbox": [0, 0, 10, 20], "category_id": 1},
                                                 {"bbox": [5, 5, 30, 30], "category_id": 2}],
                                 "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 88}]}]))
    split = runner.invoke(app, ["teacher-report", str(other), "--annotations", str(tiny), "--out", str(tmp_path)])
    assert split.exit_code == 2 and "another split or dataset" in split.output
