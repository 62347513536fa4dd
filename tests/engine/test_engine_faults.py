"""Damaged data in train / eval / predict / cache: one-line errors or documented skips (issue 13)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from clhoi.cli import app
from clhoi.config import ConfigError, load_config, save_config
from clhoi.data import images as images_mod
from clhoi.engine.train import train
from clhoi.structures import LabelRecord
from clhoi.teacher.store import read_labels, write_labels

runner = CliRunner()


def _world_copy(tiny_world, tmp_path):
    """A private copy of the tiny world's images (the session world is shared)."""
    root = tmp_path / "images"
    shutil.copytree(tiny_world.data.image_root, root)
    cfg = replace(tiny_world, output_dir=str(tmp_path / "run"), data=replace(tiny_world.data, image_root=str(root)))
    return cfg, root


def _yaml(cfg, path):
    save_config(cfg, path)
    return str(path)


@pytest.fixture(scope="module")
def random_checkpoint(tiny_world, tmp_path_factory):
    """A checkpoint of the untrained student (train.epochs=0: no data read, fast)."""
    out = tmp_path_factory.mktemp("ckpt")
    cfg = replace(tiny_world, output_dir=str(out))
    cfg.train = replace(cfg.train, epochs=0)
    return train(cfg, progress=False)


@pytest.mark.parametrize("damage", ["empty", "truncated", "text"])
def test_eval_names_a_bad_image_or_skips_it(tiny_world, random_checkpoint, tmp_path, damage):
    cfg, root = _world_copy(tiny_world, tmp_path)
    bad = root / "img03.png"
    data = bad.read_bytes()
    bad.write_bytes({"empty": b"", "truncated": data[: len(data) // 3], "text": b"hello, not a png"}[damage])
    args = ["eval", str(random_checkpoint), "--image-root", str(root), "--out", str(tmp_path / "ev"), "--device", "cpu"]
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "img03.png" in r.output and "--skip-bad-images" in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    images_mod.skipped.clear()
    r = runner.invoke(app, [*args, "--skip-bad-images"])
    assert r.exit_code == 0, r.output
    assert "skipped 1 unreadable image(s)" in r.output and "img03.png" in r.output
    predicted = [json.loads(x)["file_name"] for x in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    assert "img03.png" not in predicted and len(predicted) == 5
    images_mod.skipped.clear()


def test_eval_writes_beside_a_checkpoint_that_fell_back_to_old(tiny_world, random_checkpoint, tmp_path):
    ckpt = tmp_path / "checkpoint"
    shutil.copytree(random_checkpoint, tmp_path / ".checkpoint.old")  # as a save killed between its renames leaves it
    r = runner.invoke(app, ["eval", str(ckpt), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert not ckpt.exists() and (tmp_path / "checkpoint-eval-hicodet" / "metrics.json").is_file()


@pytest.mark.parametrize("name", ["../escape.png", "/etc/hostname"])
def test_label_records_cannot_name_files_outside_the_image_root(tiny_world, tmp_path, name):
    cfg, _ = _world_copy(tiny_world, tmp_path)
    records = read_labels(cfg.data.labels)
    records[0] = LabelRecord(**{**records[0].__dict__, "image": name})
    labels = tmp_path / "labels.jsonl"
    write_labels(records, labels)
    cfg = replace(cfg, data=replace(cfg.data, labels=str(labels)))
    r = runner.invoke(app, ["train", _yaml(cfg, tmp_path / "c.yaml"), "--no-progress"])
    assert r.exit_code == 2 and str(labels) in r.output and name in r.output
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_annotation_names_cannot_leave_the_image_root(tiny_world, random_checkpoint, tmp_path):
    gt = json.loads(open(tiny_world.data.test_annotations).read())
    gt[1]["file_name"] = "../../etc/passwd"
    ann = tmp_path / "test.json"
    ann.write_text(json.dumps(gt))
    r = runner.invoke(app, ["eval", str(random_checkpoint), "--annotations", str(ann), "--device", "cpu",
                            "--out", str(tmp_path / "ev")])
    assert r.exit_code == 2 and str(ann) in r.output and "leaves the image folder" in r.output
    r = runner.invoke(app, ["check-annotations", str(ann)])
    assert r.exit_code == 2 and "leaves the image folder" in r.output


@pytest.mark.parametrize("override, key", [
    ("train.clip_grad_norm=nan", "train.clip_grad_norm"), ("train.lr_drop_factor=.nan", "train.lr_drop_factor"),
    ("train.lr=inf", "train.lr"), ("model.image_size=-224", "model.image_size"),
    ("model.hidden_dim=-8", "model.hidden_dim"), ("eval.predict_threshold=7", "eval.predict_threshold"),
])
def test_training_values_are_checked_at_start(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [override])


def test_full_supervision_without_ground_truth_is_refused_at_start(tiny_world, tmp_path):
    cfg, _ = _world_copy(tiny_world, tmp_path)
    cfg = replace(cfg, supervision="full")
    r = runner.invoke(app, ["train", _yaml(cfg, tmp_path / "c.yaml"), "--no-progress"])
    assert r.exit_code == 2 and "supervision=full needs ground truth" in r.output


def test_predict_keeps_both_results_of_inputs_sharing_a_name(tiny_world, random_checkpoint, tmp_path):
    from clhoi.detect.files import load_detections, save_detections

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    shutil.copy(f"{tiny_world.data.image_root}/img01.png", a / "x.png")
    shutil.copy(f"{tiny_world.data.image_root}/img02.png", b / "x.png")
    dets = load_detections(tiny_world.data.detections_test)
    save_detections(tmp_path / "d.safetensors", {"x.png": dets["img01.png"]})
    out = tmp_path / "pred"
    r = runner.invoke(app, ["predict", str(a / "x.png"), str(b / "x.png"), "--checkpoint", str(random_checkpoint),
                            "--detections", str(tmp_path / "d.safetensors"), "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "x.json").read_text())["image"] == str(a / "x.png")
    assert json.loads((out / "x-2.json").read_text())["image"] == str(b / "x.png")


@pytest.mark.parametrize("args, needle", [
    (["eval", "CKPT", "--device", "tpu9"], "--device 'tpu9' is not a device"),
    (["eval", "CKPT", "--out", "FILE"], "is a file"),
    (["predict", "IMG", "--checkpoint", "CKPT", "--out", "FILE"], "is a file"),
    (["demo", "--train-images", "100000000000000000000"], "at most 100000"),
])
def test_bad_options_are_one_line_errors(tiny_world, random_checkpoint, tmp_path, args, needle):
    f = tmp_path / "a_file"
    f.write_text("x")
    subst = {"CKPT": str(random_checkpoint), "FILE": str(f), "IMG": f"{tiny_world.data.image_root}/img01.png"}
    r = runner.invoke(app, [subst.get(a, a) for a in args])
    assert r.exit_code == 2 and needle in r.output and len(r.output.strip().splitlines()) == 1


def test_a_binary_config_file_is_one_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_bytes(bytes(range(256)) * 4)
    r = runner.invoke(app, ["train", str(p)])
    assert r.exit_code == 2 and str(p) in r.output and "not a text" in r.output


def test_check_annotations_refuses_duplicate_images_naming_file_and_image(tiny_world, tmp_path):
    gt = json.loads(open(tiny_world.data.test_annotations).read())
    gt.append(dict(gt[2]))
    ann = tmp_path / "dup.json"
    ann.write_text(json.dumps(gt))
    r = runner.invoke(app, ["check-annotations", str(ann)])
    assert r.exit_code == 2 and str(ann) in r.output and gt[2]["file_name"] in r.output and "twice" in r.output


def test_a_bug_exits_3_and_shows_the_traceback_only_with_v(monkeypatch):
    import clhoi.engine.evaluate as evaluate

    def boom(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(evaluate, "evaluate_checkpoint", boom)
    r = runner.invoke(app, ["eval", "anything"])
    assert r.exit_code == 3 and "internal error" in r.output and "-v" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["-v", "eval", "anything"])
    assert r.exit_code == 3 and "Traceback" in r.output and "ZeroDivisionError: boom" in r.output


def test_a_damaged_cache_shard_is_named_and_rebuilt_alone(tiny_world, tmp_path):
    from clhoi.engine.cache import build_cache
    from clhoi.engine.feature_store import CacheError, FeatureCache

    cfg = replace(tiny_world, data=replace(tiny_world.data, cache_dir=str(tmp_path / "cache")))
    out = build_cache(cfg, "test", shard_size=2)
    shards = sorted(out.glob("shard-*.safetensors"))
    assert len(shards) == 3
    data = shards[1].read_bytes()
    shards[1].write_bytes(data[: len(data) // 2])
    with pytest.raises(CacheError, match=r"shard-00001.safetensors is damaged.*delete that file"):
        FeatureCache(out)
    shards[1].unlink()
    build_cache(cfg, "test", shard_size=2)
    cache = FeatureCache(out)
    assert len(cache) == 6 and len(list(out.glob("shard-*.safetensors"))) == 3
    assert all(cache[n].image_features.numel() for n in cache)
