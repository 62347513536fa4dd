"""The train / cache / eval / predict commands: happy path, and early, actionable failures."""

from __future__ import annotations

from dataclasses import replace

from typer.testing import CliRunner

from clhoi.cli import app
from clhoi.config import save_config
from clhoi.structures import LabelRecord
from clhoi.teacher.store import write_labels

runner = CliRunner()


def _yaml(cfg, path):
    save_config(cfg, path)
    return str(path)


def test_commands_happy_path(tiny_world, tmp_path):
    cfg = replace(tiny_world, output_dir=str(tmp_path / "run"), data=replace(tiny_world.data, cache_dir=str(tmp_path / "c")))
    cfg.train = replace(cfg.train, epochs=1, batch_size=3)
    config = _yaml(cfg, tmp_path / "tiny.yaml")

    r = runner.invoke(app, ["cache", config, "--split", "train", "--shard-size", "4"])
    assert r.exit_code == 0, r.output
    assert "cached 6/6" in r.output
    r = runner.invoke(app, ["train", config, "train.lr=0.002", "--no-progress"])
    assert r.exit_code == 0, r.output
    ckpt = tmp_path / "run" / "checkpoint"
    assert f"checkpoint: {ckpt}" in r.output

    r = runner.invoke(app, ["eval", str(ckpt), "--out", str(tmp_path / "ev")])
    assert r.exit_code == 0, r.output
    assert "provenance" in r.output and "default_full" in r.output
    assert (tmp_path / "ev" / "metrics.json").is_file()

    r = runner.invoke(app, ["predict", f"{cfg.data.image_root}/img02.png", "--checkpoint", str(ckpt),
                            "--verbs", "ride, hold", "--detections", cfg.data.detections_test,
                            "--out", str(tmp_path / "p"), "--threshold", "0"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "p" / "img02.json").is_file() and (tmp_path / "p" / "img02.png").is_file()


def test_commands_fail_early_with_a_fix(tiny_world, tmp_path):
    cfg = replace(tiny_world, output_dir=str(tmp_path / "run"))
    cfg.train = replace(cfg.train, max_steps=1)
    config = _yaml(cfg, tmp_path / "tiny.yaml")

    def fails(args, *needles):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, r.output
        for n in needles:
            assert n in r.output, r.output

    fails(["train", str(tmp_path / "missing.yaml")], "does not exist")
    fails(["train", config, "train.learning_rate=1"], "unknown config key", "lr")
    fails(["train", config, "data.labels=" + str(tmp_path / "nope.jsonl")], "teacher label file", "does not exist")
    fails(["train", config, "data.detections_train="], "data.detections_train")

    empty = tmp_path / "empty.jsonl"
    write_labels([LabelRecord(image="img00.png", status="no_action")], empty)
    fails(["train", config, f"data.labels={empty}"], "no usable label records")

    assert runner.invoke(app, ["train", config, "--no-progress"]).exit_code == 0
    fails(["train", config, "model.hidden_dim=64", "--resume", "--no-progress"], "another config", "model.hidden_dim")
    fails(["train", config, "--no-progress"], "--resume")

    ckpt = str(tmp_path / "run" / "checkpoint")
    fails(["eval", str(tmp_path / "nope")], "does not exist")
    fails(["eval", ckpt, "--dataset", "coco"], "hicodet, vcoco or sandbox")
    fails(["eval", ckpt, "--annotations", str(tmp_path / "gt.json")], "does not exist")
    fails(["cache", config, "--split", "train"], "data.cache_dir")
    fails(["train", config, "data.cache_dir=" + str(tmp_path / "c"), "output_dir=" + str(tmp_path / "r2")],
          "clhoi cache CONFIG --split train")
    fails(["cache", config, "data.cache_dir=" + str(tmp_path / "c"), "--split", "val"], "Invalid value", "--split")
    fails(["predict", str(tmp_path / "missing.png"), "--checkpoint", ckpt], "does not exist")
    fails(["predict", f"{cfg.data.image_root}/img00.png", "--checkpoint", ckpt, "--verbs", " , "], "--verbs")
    # the config's detector cannot be loaded offline: say how to go on instead of a hub traceback
    fails(["predict", f"{cfg.data.image_root}/img00.png", "--checkpoint", ckpt], "detector", "--detections")
