"""Detections files: round trips and files from other detectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from clhoi.detect import load_detections, save_detections
from clhoi.structures import Detections


def sample() -> dict[str, Detections]:
    g = torch.Generator().manual_seed(0)
    return {
        # valid xyxy (x1 <= x2, y1 <= y2): files with inverted boxes are refused on read
        "a/img1.jpg": Detections((torch.rand(3, 2, 2, generator=g) * 50).sort(1).values.reshape(3, 4),
                                 torch.rand(3, generator=g), torch.tensor([0, 4, 79]),
                                 torch.randn(3, 8, generator=g), (480, 640)),
        "img2.png": Detections.empty(8, (10, 20)),
        "img3.png": Detections(torch.tensor([[1.0, 2, 3, 4]]), torch.tensor([0.5]), torch.tensor([0]), None, None),
    }


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    dets = sample()
    save_detections(tmp_path / f"d{suffix}", dets)
    back = load_detections(tmp_path / f"d{suffix}")
    assert list(back) == list(dets)
    for k, d in dets.items():
        b = back[k]
        assert b.image_size == d.image_size
        for f in ("boxes", "scores", "labels"):
            assert torch.equal(getattr(b, f), getattr(d, f)) and getattr(b, f).dtype == getattr(d, f).dtype
        assert (b.embeddings is None) == (d.embeddings is None)
        if d.embeddings is not None:
            assert torch.equal(b.embeddings, d.embeddings)


def test_json_from_another_detector(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps([
        {"file_name": "x.jpg", "boxes": [[0, 0, 10, 10], [5, 5, 9, 9]], "scores": [0.9, 0.4],
         "labels": ["person", "sports_ball"], "image_size": [20, 30]},
        {"file_name": "y.jpg", "boxes": [], "scores": [], "labels": []},
    ]))
    dets = load_detections(path)
    assert dets["x.jpg"].labels.tolist() == [0, 32] and dets["x.jpg"].embeddings is None
    assert dets["x.jpg"].image_size == (20, 30) and len(dets["y.jpg"]) == 0
    path.write_text(json.dumps({"z.jpg": {"boxes": [[0, 0, 1, 1]], "scores": [1.0], "labels": [3]}}))
    assert load_detections(path)["z.jpg"].labels.tolist() == [3]


def test_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_detections(tmp_path / "nope.safetensors")
    (tmp_path / "d.txt").write_text("")
    with pytest.raises(ValueError, match="unknown detections format"):
        load_detections(tmp_path / "d.txt")
    with pytest.raises(ValueError, match=".safetensors or .npz"):
        save_detections(tmp_path / "d.json", sample())
    (tmp_path / "bad.json").write_text(json.dumps({"x.jpg": {"boxes": [[0, 0, 1, 1]], "labels": ["unicorn"],
                                                             "scores": [1]}}))
    with pytest.raises(ValueError, match="unicorn"):
        load_detections(tmp_path / "bad.json")
    (tmp_path / "bad2.json").write_text(json.dumps({"x.jpg": {"boxes": [[0, 0, 1, 1]]}}))
    with pytest.raises(ValueError, match="scores"):
        load_detections(tmp_path / "bad2.json")
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ValueError, match="not a clhoi detections file"):
        load_detections(tmp_path / "foreign.safetensors")
