"""`clhoi check-annotations`: counts of a good file, one-line errors for a bad one."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from clhoi.cli import app
from clhoi.data.summary import summarize_annotations

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hicodet" / "test_hico_00000017.json"


def test_summary_of_the_documented_record() -> None:
    s = summarize_annotations("hicodet", FIXTURE)
    assert (s.layout, s.images, s.empty, s.boxes, s.pairs, s.classes_seen, s.num_classes) == (
        "converted", 1, 0, 4, 2, 2, 600)


def test_command_prints_counts_and_fails_with_the_field(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["check-annotations", str(FIXTURE)])
    assert ok.exit_code == 0 and "interactions: 2" in ok.output and "converted layout" in ok.output
    bad = json.loads(FIXTURE.read_text())
    bad[0]["hoi_annotation"][1]["object_id"] = 7
    path = tmp_path / "test_hico.json"
    path.write_text(json.dumps(bad))
    res = runner.invoke(app, ["check-annotations", str(path)])
    assert res.exit_code == 2 and "hoi_annotation[1].object_id" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["check-annotations", "--dataset", "coco", str(FIXTURE)])
    assert res.exit_code == 2 and "hicodet, vcoco" in res.output


def test_image_list_holds_the_images_with_interactions(tmp_path: Path) -> None:
    data = json.loads(FIXTURE.read_text())
    empty = dict(data[0], file_name="HICO_test2015_99999999.jpg", hoi_annotation=[])
    path = tmp_path / "test_hico.json"
    path.write_text(json.dumps([data[0], empty]))
    out = tmp_path / "lists" / "images.txt"
    res = CliRunner().invoke(app, ["check-annotations", str(path), "--image-list", str(out)])
    assert res.exit_code == 0 and "wrote 1 image names" in res.output
    assert out.read_text().splitlines() == [data[0]["file_name"]]
