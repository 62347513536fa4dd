"""Sandbox checkpoints name the packaged CLIP as clhoi://..., so a moved checkpoint finds it; predict in memory."""

from __future__ import annotations

import json
import shutil

import torch
import yaml
from PIL import Image

from clhoi.config import ExperimentConfig, load_config, package_root, save_run_config
from clhoi.models.student import CLHOI, build_student
from clhoi.sandbox.experiment import sandbox_label_set, sandbox_model_config
from clhoi.structures import Detections


def test_a_moved_sandbox_checkpoint_loads_the_packaged_clip_and_predicts(tmp_path):
    torch.manual_seed(0)
    model = build_student(sandbox_model_config()).eval()
    model.save_pretrained(tmp_path / "ck")
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["clip"] == "clhoi://sandbox/assets/clip" and config["qformer"] == "clhoi://sandbox/assets/qformer"
    assert set(config["frozen"]) == {"clip"}  # the sandbox trains its Q-Former: it is stored, not named
    shutil.move(str(tmp_path / "ck"), str(tmp_path / "moved"))
    loaded = CLHOI.from_pretrained(tmp_path / "moved").eval()
    assert loaded.config.clip == str(package_root() / "sandbox" / "assets" / "clip")

    arr = (torch.rand(128, 128, 3, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8).numpy()
    image = Image.fromarray(arr)
    det = Detections(torch.tensor([[8.0, 8.0, 60.0, 120.0], [50.0, 40.0, 110.0, 100.0]]), torch.tensor([0.9, 0.8]),
                     torch.tensor([0, 32]), image_size=(image.height, image.width))
    label_set = sandbox_label_set()
    a = model.predict(image, detections=det, label_set=label_set, top_k=3)
    b = loaded.predict(image, detections=det, label_set=label_set, top_k=3)
    assert a == b and len(a) >= 1 and a[0]["interaction"] in label_set.names


def test_a_sandbox_run_config_names_the_packaged_clip(tmp_path):
    cfg = ExperimentConfig(output_dir=str(tmp_path / "run"), model=sandbox_model_config())
    (tmp_path / "run").mkdir()
    save_run_config(cfg, tmp_path / "run" / "config.yaml", roots=(cfg.output_dir,))
    data = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert data["model"]["clip"] == "clhoi://sandbox/assets/clip" and data["output_dir"] == "."
    assert load_config(tmp_path / "run" / "config.yaml").model.clip == sandbox_model_config().clip
