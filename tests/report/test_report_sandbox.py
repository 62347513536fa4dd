"""The sandbox: the simulated teacher's miss rate shows up as the recall the report measures.

Scenes are drawn (not rendered: the simulated teacher reads the scene graph,
so 4x4 placeholder PNGs stand in for the images), labelled through the real
label pipeline (``clhoi.sandbox.teacher.label_split`` -> ``clhoi.teacher.run.label``),
and measured with ``clhoi teacher-report --dataset sandbox``.
"""

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from clhoi.cli import app
from clhoi.sandbox.scene import sample_scene
from clhoi.sandbox.teacher import SandboxTeacher, TeacherNoise, label_split, scene_facts
from clhoi.sandbox.world import scene_record, scene_seed

MISS_RATE = 0.3


def test_simulated_teacher_recall_is_one_minus_its_miss_rate(tmp_path):
    records = [scene_record(sample_scene(scene_seed(7, "test", i)), f"test/{i:06d}.png") for i in range(150)]
    for r in records:
        path = tmp_path / "images" / r["file_name"]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(path)
    annotations = tmp_path / "test_sandbox.json"
    annotations.write_text(json.dumps(records))
    noise = TeacherNoise(miss_rate=MISS_RATE, synonym_rate=0.0, hallucination_rate=0.0)
    label_split(records, tmp_path / "images", tmp_path / "labels.jsonl", noise=noise)

    result = CliRunner().invoke(app, ["teacher-report", str(tmp_path / "labels.jsonl"), "--dataset", "sandbox",
                                      "--annotations", str(annotations), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    q = json.loads((tmp_path / "out" / "teacher_report.json").read_text())["label_files"][0]

    # what the teacher said, from its own account of each image
    teacher = SandboxTeacher(records, noise)
    gt = sum(len(set(scene_facts(r)[1])) for r in records)
    said = sum(len(teacher.describe(r["file_name"]).mentions) for r in records)
    assert q["overall"]["gt"] == gt and q["overall"]["found"] == said
    assert q["summary"]["precision"] == 1.0  # no hallucinations, no synonyms: every pair is right
    assert q["summary"]["recall"] == pytest.approx(1 - MISS_RATE, abs=0.06)  # 187 draws: 1.8 standard deviations
    assert q["summary"]["images"] == len(records) and q["open_vocab"] == []
