"""Small checkpoints that load by name: save_pretrained / from_pretrained / push_to_hub (offline, a local fake Hub),
frozen parts refused on a fingerprint mismatch, clhoi 0.1 full checkpoints still load, predict in memory."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import huggingface_hub
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_model

from clhoi.config import save_config
from clhoi.models.student import CLHOI, build_student
from clhoi.models.testing import save_tiny_backbones, tiny_student_config
from clhoi.structures import Detections


def _dets(seed: int = 0) -> Detections:
    g = torch.Generator().manual_seed(seed)
    boxes = torch.tensor([[2.0, 2.0, 30.0, 44.0], [20.0, 10.0, 60.0, 40.0], [34.0, 2.0, 62.0, 30.0]])
    return Detections(boxes, torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 1, 41]), torch.randn(3, 16, generator=g),
                      image_size=(48, 64))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> CLHOI:
    torch.manual_seed(0)
    return build_student(tiny_student_config(tmp_path_factory.mktemp("backbones"))).eval()


def _same_outputs(a: CLHOI, b: CLHOI) -> None:
    feats = torch.randn(1, a.grid[0] * a.grid[1], a.encoders.image_dim, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a([_dets()], image_features=feats).interaction,
                               b([_dets()], image_features=feats).interaction, rtol=0, atol=0)
    torch.testing.assert_close(a.encode_text(["a person riding"]), b.encode_text(["a person riding"]))


def test_checkpoint_stores_trained_parameters_and_names_the_frozen_parts(model, tmp_path):
    model.save_pretrained(tmp_path / "ck")
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["clhoi_format"] == 2 and config["clip"] == model.config.clip
    assert set(config["frozen"]) == {"clip", "qformer"}
    assert config["frozen"]["clip"]["name"] == model.config.clip
    assert config["frozen"]["clip"]["parameters"] == sum(p.numel() for p in model.encoders.clip.parameters())
    stored = load_file(str(tmp_path / "ck" / "model.safetensors"))
    assert not any(k.startswith(("encoders.clip.", "vlt.qformer.")) for k in stored)
    assert set(stored) == set(model.trained_state_dict())
    assert "vlt.context_queries" in stored and "out_proj.weight" in stored
    loaded = CLHOI.from_pretrained(tmp_path / "ck").eval()  # CLIP and Q-Former by name (here: their folders)
    assert loaded.config == model.config
    _same_outputs(model, loaded)


def test_a_frozen_part_with_other_weights_is_refused_in_one_line(model, tmp_path):
    model.save_pretrained(tmp_path / "ck")
    other_clip, _ = save_tiny_backbones(tmp_path / "other", seed=1)  # same architecture, other weights
    with pytest.raises(ValueError, match=r"frozen clip .* is not the one this checkpoint was trained with") as e:
        CLHOI.from_pretrained(tmp_path / "ck", clip=str(other_clip))
    assert "\n" not in str(e.value)
    copy = tmp_path / "same-clip"
    shutil.copytree(model.config.clip, copy)  # the same weights elsewhere load fine
    _same_outputs(model, CLHOI.from_pretrained(tmp_path / "ck", clip=str(copy)).eval())


def test_a_trained_qformer_is_stored_not_named(tmp_path):
    cfg = tiny_student_config(tmp_path / "b", freeze_qformer=False)  # the sandbox's setting
    model = build_student(cfg).eval()
    model.save_pretrained(tmp_path / "ck")
    assert set(json.loads((tmp_path / "ck" / "config.json").read_text())["frozen"]) == {"clip"}
    assert any(k.startswith("vlt.qformer.") for k in load_file(str(tmp_path / "ck" / "model.safetensors")))
    _same_outputs(model, CLHOI.from_pretrained(tmp_path / "ck").eval())


def test_a_clhoi_0_1_full_checkpoint_still_loads(model, tmp_path):
    old = tmp_path / "old"  # what CLHOI.save_pretrained wrote before: config.yaml, all weights, architectures
    old.mkdir()
    save_config(model.config, old / "config.yaml")
    model.encoders.save_architecture(old / "clip")
    model.vlt.qformer.config.save_pretrained(old / "qformer")
    save_model(model, str(old / "model.safetensors"))
    _same_outputs(model, CLHOI.from_pretrained(old).eval())


def test_push_to_hub_then_load_by_hub_id_offline(model, tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    calls = []

    class FakeApi:  # stands in for HfApi: the repository is a local folder
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private=None, exist_ok=False):
            calls.append(("create_repo", repo_id))
            return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id}")

        def upload_folder(self, repo_id, folder_path, **kwargs):
            calls.append(("upload_folder", repo_id))
            shutil.copytree(folder_path, hub / repo_id, dirs_exist_ok=True)
            return f"https://huggingface.co/{repo_id}/commit/0"

    def fake_download(repo_id, filename, **kwargs):
        path = hub / repo_id / filename
        if not path.is_file():
            raise huggingface_hub.errors.EntryNotFoundError(f"{filename} not in {repo_id}")
        return str(path)

    monkeypatch.setattr(huggingface_hub.hub_mixin, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub.hub_mixin, "hf_hub_download", fake_download)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    model.push_to_hub("someone/clhoi-tiny")
    assert calls == [("create_repo", "someone/clhoi-tiny"), ("upload_folder", "someone/clhoi-tiny")]
    pushed = {p.name for p in (hub / "someone" / "clhoi-tiny").iterdir()}
    assert pushed == {"config.json", "model.safetensors", "README.md"}  # the model card comes with it
    assert "clhoi" in (hub / "someone" / "clhoi-tiny" / "README.md").read_text()
    _same_outputs(model, CLHOI.from_pretrained("someone/clhoi-tiny").eval())


def test_predict_in_memory(model, tmp_path, monkeypatch):
    image = Image.new("RGB", (64, 48), (120, 80, 40))
    monkeypatch.chdir(tmp_path)
    triplets = model.predict(image, verbs=["ride", "hold", "kick"], detections=_dets(), top_k=4)
    assert list(tmp_path.iterdir()) == []
    assert len(triplets) == 4 and {t["interaction"] for t in triplets} <= {"ride", "hold", "kick"}
    assert triplets[0]["human_box"] == [2.0, 2.0, 30.0, 44.0] or triplets[0]["object_box"] == [2.0, 2.0, 30.0, 44.0]
    assert all(triplets[i]["score"] >= triplets[i + 1]["score"] for i in range(3))
    with pytest.raises(ValueError, match="detections="):
        model.predict(image, verbs=["ride"])


def test_real_size_checkpoint_is_small(tmp_path):
    """ViT-B/16 CLIP + BLIP-2 Q-Former on the meta device: what a checkpoint stores vs what it names."""
    from clhoi.models.config import ModelConfig
    from clhoi.models.student import build_architecture
    from clhoi.models.testing import save_real_size_architecture

    clip_dir, qformer_dir = save_real_size_architecture(tmp_path)
    with torch.device("meta"):
        model = build_architecture(dataclasses.replace(ModelConfig(), box_embed_dim=256), clip_dir, qformer_dir)
    frozen = sum(p.numel() for part in model.frozen_parts().values() for p in part.parameters())
    trained = sum(v.numel() for v in model.trained_state_dict().values())
    total = sum(v.numel() for v in model.state_dict().values())
    assert frozen + trained == total
    assert frozen > 250e6 and trained < frozen / 10  # ~255 M named, a few M stored


def test_load_by_name_from_a_moved_folder(model, tmp_path):
    model.save_pretrained(tmp_path / "a")
    shutil.move(str(tmp_path / "a"), str(tmp_path / "b"))
    assert Path(tmp_path / "b" / "config.json").is_file()
    _same_outputs(model, CLHOI.from_pretrained(str(tmp_path / "b")).eval())
