"""CLI hygiene: --version, real choices, parse goes on after a bad line, predict checks inputs before writing."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from clhoi import __version__
from clhoi.cli import app


def test_version_option():
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"clhoi {__version__}"


@pytest.mark.parametrize(("args", "choices"), [
    (["cache", "--help"], ["train|test", "float32|float16"]),
    (["demo", "--help"], ["chain|losses"]),
    (["export", "--help"], ["qpic|matlab"]),
    (["convert-detections", "--help"], ["hico80|coco80|coco91"]),
])
def test_fixed_values_are_choices_in_help(args, choices):
    res = CliRunner().invoke(app, args, terminal_width=200)
    assert res.exit_code == 0
    text = res.output.replace(" ", "")
    assert all(c in text for c in choices), res.output


def test_parse_reports_bad_lines_and_goes_on():
    stdin = "\n".join([json.dumps({"text": "*Ride, horse."}), "not json", json.dumps({"txt": 1}),
                       json.dumps({"text": "*Hold, cup."})]) + "\n"
    res = CliRunner().invoke(app, ["parse"], input=stdin)
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["pairs"][0]["verb"] for r in rows] == ["ride", "hold"]  # both good lines, around the bad ones
    assert res.exit_code == 2
    assert "stdin line 2" in res.stderr and "stdin line 3" in res.stderr and "2 stdin line(s) were skipped" in res.stderr


def test_predict_checks_every_input_before_writing(tmp_path):
    from clhoi.engine.predict import _check_inputs
    from clhoi.engine.sources import InputError

    good, bad = tmp_path / "a.png", tmp_path / "b.png"
    Image.new("RGB", (8, 8)).save(good)
    bad.write_bytes(b"not an image")
    out = tmp_path / "out"

    class Source:  # a detections file that knows a.png only
        @staticmethod
        def has(path):
            return path.name == "a.png"

    with pytest.raises(InputError, match="b.png cannot be used"):
        _check_inputs([good, bad], None, None, out, skip_bad_images=False)
    _check_inputs([good, bad], None, None, out, skip_bad_images=True)  # skipped later, by request
    other = tmp_path / "c.png"
    Image.new("RGB", (8, 8)).save(other)
    with pytest.raises(InputError, match="no detections for c.png"):
        _check_inputs([good, other], "dets.safetensors", Source, out, skip_bad_images=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        _check_inputs([good], None, None, tmp_path / "file", skip_bad_images=False)
    assert not out.exists()  # nothing was written
