"""`clhoi detect`: images -> detections file, with errors a user can act on."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessor, ResNetConfig
from typer.testing import CliRunner

from clhoi.cli import app
from clhoi.detect import load_detections
from clhoi.vocab import COCO_CLASSES, COCO_IDS


def tiny_detr(path: Path) -> None:
    torch.manual_seed(0)
    id2label = {i: "N/A" for i in range(91)} | {cid: name for cid, name in zip(COCO_IDS, COCO_CLASSES)}
    cfg = DetrConfig(use_timm_backbone=False, d_model=16, encoder_layers=1, decoder_layers=1,
                     encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                     num_queries=20, id2label=id2label, label2id={v: k for k, v in id2label.items()},
                     backbone_config=ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16],
                                                  depths=[1, 1], layer_type="basic", out_features=["stage2"]))
    DetrForObjectDetection(cfg).save_pretrained(path)
    DetrImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(path)


def test_detect_writes_a_file(tmp_path: Path) -> None:
    tiny_detr(tmp_path / "detr")
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    Image.new("RGB", (64, 48), (200, 10, 10)).save(root / "a.jpg")
    Image.new("RGB", (40, 40), (10, 200, 10)).save(root / "sub" / "b.png")
    out = tmp_path / "dets.safetensors"
    r = CliRunner().invoke(app, ["detect", str(root), "--out", str(out), "--model", str(tmp_path / "detr"),
                                 "--image-root", str(root), "--device", "cpu", "--min-instances", "1",
                                 "--max-instances", "2", "--batch-size", "1"])
    assert r.exit_code == 0, r.output
    dets = load_detections(out)
    assert set(dets) == {"a.jpg", "sub/b.png"}
    assert dets["a.jpg"].image_size == (48, 64) and dets["a.jpg"].embeddings.shape[1] == 16
    assert all((d.labels == 0).sum() <= 2 and (d.labels != 0).sum() <= 2 for d in dets.values())
    r = CliRunner().invoke(app, ["detect", str(root), "--out", str(tmp_path / "raw.npz"), "--model",
                                 str(tmp_path / "detr"), "--image-root", str(root), "--raw", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert len(load_detections(tmp_path / "raw.npz")["a.jpg"]) >= len(dets["a.jpg"])


def test_detect_user_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["detect", str(tmp_path / "missing"), "--out", str(tmp_path / "d.safetensors")])
    assert r.exit_code == 2 and "does not exist" in r.output
    (tmp_path / "empty").mkdir()
    r = runner.invoke(app, ["detect", str(tmp_path / "empty"), "--out", str(tmp_path / "d.safetensors")])
    assert r.exit_code == 2 and "no images" in r.output
    Image.new("RGB", (8, 8)).save(tmp_path / "x.jpg")
    r = runner.invoke(app, ["detect", str(tmp_path / "x.jpg"), "--out", str(tmp_path / "d.json")])
    assert r.exit_code == 2 and ".safetensors or .npz" in r.output
    r = runner.invoke(app, ["detect", str(tmp_path / "x.jpg"), "--out", str(tmp_path / "d.npz"), "--model",
                            str(tmp_path / "no-such-detector")])
    assert r.exit_code == 2 and "error:" in r.output
