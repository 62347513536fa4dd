"""The Swin-L rows' path: a detections file carrying the detector's box embeddings feeds them to the student."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from clhoi.detect.files import load_detections, save_detections
from clhoi.models.config import ModelConfig
from clhoi.models.student import build_student
from clhoi.models.testing import tiny_student_config
from clhoi.structures import Detections


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> ModelConfig:
    return dataclasses.replace(tiny_student_config(tmp_path_factory.mktemp("tiny_det")), box_embedding="detector")


def write(path: Path, embeddings: torch.Tensor | None) -> dict[str, Detections]:
    boxes = torch.tensor([[2.0, 2, 30, 40], [20, 10, 50, 30], [5, 5, 20, 20]])
    det = Detections(boxes, torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 3, 0]), embeddings, (48, 64))
    save_detections(path, {"img.jpg": det})
    return load_detections(path)


def test_file_embeddings_are_what_the_student_projects(cfg: ModelConfig, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_student(cfg).eval()
    emb = torch.randn(3, cfg.box_embed_dim)
    dets = write(tmp_path / "dets.safetensors", emb)
    torch.testing.assert_close(dets["img.jpg"].embeddings, emb)
    seen: list[torch.Tensor] = []
    model.embed_proj.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    feats = torch.randn(1, 16, 32, generator=torch.Generator().manual_seed(1))
    a = model([dets["img.jpg"]], image_features=feats).interaction
    assert len(seen) == 1
    torch.testing.assert_close(seen[0], emb)  # the file's rows, in the file's order, no pooling
    other = write(tmp_path / "other.safetensors", emb + 1.0)
    b = model([other["img.jpg"]], image_features=feats).interaction
    assert not torch.allclose(a, b)


def test_a_file_without_embeddings_is_refused_by_detector_mode(cfg: ModelConfig, tmp_path: Path) -> None:
    model = build_student(cfg).eval()
    dets = write(tmp_path / "plain.safetensors", None)
    with pytest.raises(ValueError, match="box_embedding"):
        model([dets["img.jpg"]], image_features=torch.randn(1, 16, 32))
