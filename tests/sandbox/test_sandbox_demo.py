"""A reduced ``clhoi demo`` (few images, few steps): every stage produces valid output."""

import json
import math

import pytest

from PIL import Image
from typer.testing import CliRunner

from clhoi.cli import app
from clhoi.detect.files import load_detections
from clhoi.engine.feature_store import read_meta
from clhoi.sandbox.demo import DemoSettings, format_table, run_demo
from clhoi.sandbox.scene import IMAGE_SIZE
from clhoi.teacher.store import read_labels


def test_reduced_demo_runs_every_stage(tmp_path):
    lines: list[str] = []
    settings = DemoSettings(seed=5, num_train=32, num_test=12, epochs=1, max_steps=2, num_images=2, threads=1)
    result = run_demo(settings, tmp_path / "demo", tmp_path / "cache", echo=lines.append, progress=False)
    out = tmp_path / "demo"

    data = json.loads((out / "results.json").read_text())
    assert data["seed"] == 5
    for model in ("random_init", "annotation_free", "supervised"):
        scores = data[model]
        assert set(scores) == {"full", "rare", "non_rare"}
        assert all(0.0 <= v <= 100.0 and not math.isnan(v) for v in scores.values())
        assert (out / model / "checkpoint" / "model.safetensors").is_file()
        assert (out / model / "checkpoint" / "config.yaml").is_file()
        assert data["seconds"][model] > 0
    for stage in ("world", "inputs", "features", "total"):
        assert data["seconds"][stage] >= 0

    labels = read_labels(out / "inputs" / "labels.jsonl")
    assert len(labels) == 32 and any(r.status == "ok" for r in labels)
    for split, n in (("train", 32), ("test", 12)):
        assert len(load_detections(out / "inputs" / f"detections_{split}.safetensors")) == n
        assert read_meta(out / "features" / split)["complete"]
    assert len(result.images) == 2
    for path in result.images:
        with Image.open(path) as im:
            assert im.width >= IMAGE_SIZE[0] and im.height >= IMAGE_SIZE[1]  # upscaled when small, with margins
    text = "\n".join(lines)
    assert format_table(result.scores) in text and "[annotation_free] done" in text

    # `clhoi eval` on a demo checkpoint scores the sandbox's own label space: the demo's numbers
    from clhoi.engine.evaluate import evaluate_checkpoint

    ev = evaluate_checkpoint(out / "annotation_free" / "checkpoint", output_dir=tmp_path / "ev", progress=False)
    assert ev.dataset == "sandbox"
    assert ev.metrics["default_full"] == pytest.approx(data["annotation_free"]["full"], abs=0.006)
    assert ev.metrics["default_rare"] == pytest.approx(data["annotation_free"]["rare"], abs=0.006)


def test_demo_cli_rejects_bad_arguments_and_reused_output(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["demo", "--ablation", "bogus", "--output", str(tmp_path)])
    assert res.exit_code == 2 and "Invalid value" in res.output and "'chain'" in res.output  # a real choice
    (tmp_path / "results.json").write_text("{}")
    res = runner.invoke(app, ["demo", "--output", str(tmp_path), "--cache-dir", str(tmp_path / "c")])
    assert res.exit_code == 2 and "previous demo run" in res.output


def test_ablation_rows_are_valid_configs():
    from dataclasses import replace

    from clhoi.engine.config import LossConfig
    from clhoi.sandbox.demo import chain_rows, loss_rows
    from clhoi.sandbox.experiment import sandbox_model_config

    chain = [(sandbox_model_config(**switches), replace(LossConfig(), **w)) for _, switches, w in chain_rows()]
    assert [m.use_spatial for m, _ in chain] == [False, True, True, True]
    assert chain[-1][0].use_context and chain[-1][0].use_vlt and not any(m.use_vlt for m, _ in chain[:-1])
    assert all(loss.context == 0 for m, loss in chain if not m.use_vlt)  # no f_c, no context loss
    losses = [replace(LossConfig(), **w) for _, w in loss_rows()]
    assert all(l.soft_relation == 1 for l in losses) and losses[-1].i2t == losses[-1].t2i == losses[-1].context == 1


def test_demo_variants_reach_every_row(tmp_path):
    """run_demo's measured variants (benchmarks/demo_options.py): model options and object-centric detections."""
    from clhoi.engine.checkpoint import load_checkpoint_config
    from clhoi.sandbox.demo import run_demo

    with pytest.raises(ValueError, match="unknown box embeddings"):
        run_demo(DemoSettings(), tmp_path / "bad", tmp_path / "cache", box_embeddings="bogus", echo=lambda s: None)
    settings = DemoSettings(seed=5, num_train=16, num_test=6, epochs=1, max_steps=1, num_images=0)
    run_demo(settings, tmp_path / "v", tmp_path / "cache", ablation="chain", echo=lambda s: None, progress=False,
             model_overrides={"visual_union_guidance": "mask", "baseline": "mlp"}, box_embeddings="class")
    data = json.loads((tmp_path / "v" / "results.json").read_text())
    assert data["model_overrides"] == {"visual_union_guidance": "mask", "baseline": "mlp"}
    assert data["box_embeddings"] == "class"
    assert "baseline (MLP(e_h, e_o))" in data and "baseline (UPT head)" not in data  # the row says what it ran
    for i in range(4):
        cfg = load_checkpoint_config(tmp_path / "v" / f"chain{i}" / "checkpoint")
        assert cfg.model.visual_union_guidance == "mask" and cfg.data.detections_train.endswith("_class.safetensors")
        assert cfg.model.baseline == "mlp"
    with pytest.raises(ValueError, match="unknown chain supervision"):
        run_demo(DemoSettings(), tmp_path / "bad", tmp_path / "cache", chain_supervision="weak", echo=lambda s: None)
    run_demo(settings, tmp_path / "s", tmp_path / "cache", ablation="chain", echo=lambda s: None, progress=False,
             chain_supervision="full", data_overrides={"object_negatives": 2}, model_overrides={"upt_global_token": False})
    data = json.loads((tmp_path / "s" / "results.json").read_text())
    assert data["chain_supervision"] == "full" and data["data_overrides"] == {"object_negatives": 2}
    assert "baseline (UPT head)" in data
    for i in range(4):
        cfg = load_checkpoint_config(tmp_path / "s" / f"chain{i}" / "checkpoint")
        assert cfg.supervision == "full" and cfg.loss.supervised == 1 and cfg.loss.i2t == 0
        assert cfg.model.upt_global_token is False and cfg.model.baseline == "upt"
    run_demo(settings, tmp_path / "n", tmp_path / "cache", ablation="losses", echo=lambda s: None, progress=False,
             data_overrides={"object_negatives": 2}, teacher_noise={"miss_rate": 0.0, "hallucination_rate": 0.0})
    assert json.loads((tmp_path / "n" / "results.json").read_text())["teacher_noise"] == {
        "miss_rate": 0.0, "hallucination_rate": 0.0}
    noisy = [json.loads(x) for x in (tmp_path / "s" / "inputs" / "labels.jsonl").read_text().splitlines()]
    clean = [json.loads(x) for x in (tmp_path / "n" / "inputs" / "labels.jsonl").read_text().splitlines()]
    assert noisy != clean  # the same world and seed, another teacher
    for i in range(5):
        cfg = load_checkpoint_config(tmp_path / "n" / f"losses{i}" / "checkpoint")
        assert cfg.data.object_negatives == 2 and cfg.supervision == "annotation_free"
    dets = load_detections(tmp_path / "v" / "inputs" / "detections_train_class.safetensors")
    d = next(d for d in dets.values() if len(d))
    assert d.embeddings is not None and d.embeddings.shape == (len(d), 64)
