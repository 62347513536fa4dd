"""Teacher runs with bad values, bad names, broken answers and killed compactions (issue 13)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import clhoi.teacher.endpoint as endpoint_mod
from clhoi.cli import app
from clhoi.structures import LabelRecord
from clhoi.teacher.client import StubClient, TeacherImage
from clhoi.teacher.config import TeacherConfig
from clhoi.teacher.endpoint import OpenAIClient
from clhoi.teacher.run import label, list_images
from clhoi.teacher.store import LabelStore, read_labels, write_labels


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    for i in range(4):
        Image.new("RGB", (16, 12), (i * 40, 0, 0)).save(root / f"{i}.png")
    return root


@pytest.mark.parametrize("override", [
    {"timeout_s": float("nan")}, {"timeout_s": float("inf")}, {"timeout_s": 0}, {"backoff_s": float("nan")},
    {"backoff_s": -1.0}, {"temperature": float("nan")}, {"temperature": -0.5}, {"top_p": 1.5},
    {"batch_size": 0}, {"batch_size": 2.5}, {"concurrency": -3}, {"retries": -1}, {"max_new_tokens": True},
])
def test_numeric_teacher_settings_are_checked_at_start(override):
    name = next(iter(override))
    with pytest.raises(ValueError, match=f"teacher.{name} must be"):
        TeacherConfig(backend="stub", **override)


def test_label_refuses_nan_timeout_on_the_command_line(images, tmp_path):
    res = CliRunner().invoke(app, ["label", "--images", str(images), "--out", str(tmp_path / "l.jsonl"),
                                   "backend=stub", "timeout_s=nan", "--no-progress"])
    assert res.exit_code == 2 and "timeout_s" in res.output and "finite" in res.output
    assert not (tmp_path / "l.jsonl").exists()


@pytest.mark.parametrize("name", ["../outside.png", "/etc/hostname", "sub/../../x.png", "C:\\\\x.png"])
def test_image_list_names_must_stay_inside_the_root(images, tmp_path, name):
    listing = tmp_path / "list.txt"
    listing.write_text(f"0.png\n{name}\n")
    with pytest.raises(ValueError, match=r"list.txt line 2: image name .* (absolute|leaves)"):
        list_images(images, listing)


def test_label_never_reads_outside_the_image_root(images, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("/etc/hostname\n")
    res = CliRunner().invoke(app, ["label", "--images", str(images), "--out", str(tmp_path / "l.jsonl"),
                                   "--image-list", str(listing), "backend=stub", "--no-progress"])
    assert res.exit_code == 2 and "/etc/hostname" in res.output and "absolute" in res.output
    assert not (tmp_path / "l.jsonl").exists() or not read_labels(tmp_path / "l.jsonl")


class _NotText(StubClient):
    def caption(self, images, prompt):
        return [{"text": "a dict, not a caption"} for _ in images]


def test_a_caption_that_is_not_text_is_a_retryable_error(images, tmp_path):
    out = tmp_path / "l.jsonl"
    cfg = TeacherConfig(backend="stub", batch_size=2)
    bad = _NotText()
    summary = label(cfg, images, out, progress=False, clients=(bad, bad), echo=lambda s: None)
    records = read_labels(out)
    assert all(r.status == "error" and "dict caption" in r.reason for r in records) and summary.failed_now == 4
    good = StubClient()
    label(cfg, images, out, progress=False, clients=(good, good), echo=lambda s: None, retry_errors=True)
    assert {r.status for r in read_labels(out)} <= {"ok", "no_action"}


def test_label_exits_non_zero_when_every_image_failed(images, tmp_path, monkeypatch):
    import clhoi.teacher.run as run

    bad = StubClient(fail=[f"{i}.png" for i in range(4)])
    monkeypatch.setattr(run, "build_clients", lambda cfg: (bad, bad))
    res = CliRunner().invoke(app, ["label", "--images", str(images), "--out", str(tmp_path / "l.jsonl"),
                                   "backend=stub", "--no-progress"])
    assert res.exit_code == 1 and "4 of 4 images failed" in res.output

    some = StubClient(fail=["1.png"])
    monkeypatch.setattr(run, "build_clients", lambda cfg: (some, some))
    res = CliRunner().invoke(app, ["label", "--images", str(images), "--out", str(tmp_path / "m.jsonl"),
                                   "backend=stub", "--no-progress"])
    assert res.exit_code == 0 and "1 of 4 images failed" in res.output


def test_a_killed_compaction_is_finished_by_the_next_run(images, tmp_path):
    out = tmp_path / "l.jsonl"
    first = [LabelRecord(image=f"{i}.png", status="error", reason="x", teacher="stub") for i in range(4)]
    retried = [LabelRecord(image="1.png", status="no_action", reason="y", teacher="stub")]
    write_labels(first, out)
    with open(out, "a", encoding="utf-8") as f:  # what --retry-errors appends before it compacts
        f.write(json.dumps(retried[0].to_dict()) + "\n")
    stale = tmp_path / f".{out.name}.tmp424242"  # the rewrite a kill interrupted before its rename
    stale.write_text("partial")
    store = LabelStore(out)
    assert not stale.exists() and store.superseded == 1
    store.close()
    cfg = TeacherConfig(backend="stub", batch_size=2)
    good = StubClient()
    label(cfg, images, out, progress=False, clients=(good, good), echo=lambda s: None)
    lines = out.read_text().splitlines()
    assert len(lines) == 4 and len({json.loads(x)["image"] for x in lines}) == 4


def test_endpoint_answers_are_read_with_a_size_cap(tmp_path, monkeypatch):
    class Huge:
        read_sizes = []

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self, n=-1):
            Huge.read_sizes.append(n)
            return b"x" * (endpoint_mod.MAX_RESPONSE_BYTES + 1 if n < 0 else n)

    monkeypatch.setattr(endpoint_mod.urllib.request, "urlopen", lambda *a, **k: Huge())
    monkeypatch.setattr(endpoint_mod, "MAX_RESPONSE_BYTES", 1000)
    path = tmp_path / "a.png"
    Image.new("RGB", (4, 4)).save(path)
    (err,) = OpenAIClient("http://127.0.0.1:1/v1", model="m", retries=0).caption([TeacherImage("a.png", path)], "p")
    assert "larger than" in str(err) and Huge.read_sizes == [1001]


def test_the_protocol_module_imports_none_of_its_backends():
    tree = ast.parse(Path("clhoi/teacher/client.py").read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    backends = {"clhoi.teacher.hf", "clhoi.teacher.endpoint", "clhoi.teacher.captions", "clhoi.teacher.backends"}
    assert not imported & backends
    code = ("import sys, clhoi.teacher.client; "
            "print(sorted(m for m in sys.modules if m.startswith('clhoi.teacher.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert not any(b in loaded for b in backends)
