"""A tiny offline world for the engine tests: images, detections, teacher labels, ground truth, tiny student."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

from clhoi import vocab
from clhoi.config import ExperimentConfig
from clhoi.structures import Detections, InteractionPair, LabelRecord

VERBS = [("ride", "bicycle"), ("hold", "cup"), ("ride", "horse"), ("hold", "bicycle")]
COCO = {"bicycle": 1, "horse": 17, "cup": 41}


def _image(i: int, w: int = 64, h: int = 48) -> Image.Image:
    g = torch.Generator().manual_seed(i)
    arr = (torch.rand(h, w, 3, generator=g) * 255).to(torch.uint8).numpy()
    return Image.fromarray(arr)


def make_world(root: Path, n: int = 6) -> ExperimentConfig:
    """Write ``n`` images, a detections file, labels.jsonl and a HICO-DET-style test file; return the config."""
    from clhoi.detect.files import save_detections
    from clhoi.models.testing import tiny_student_config
    from clhoi.teacher.store import write_labels

    images = root / "images"
    images.mkdir(parents=True)
    dets, records, gt = {}, [], []
    verbs = vocab.hicodet().verbs
    for i in range(n):
        name = f"img{i:02d}.png"
        _image(i).save(images / name)
        verb, obj = VERBS[i % len(VERBS)]
        boxes = torch.tensor([[4.0, 4.0, 30.0, 44.0], [20.0, 10.0, 60.0, 40.0], [2.0, 30.0, 14.0, 46.0],
                              [34.0, 2.0, 62.0, 30.0]])
        labels = torch.tensor([0, COCO[obj], 0, 41])
        scores = torch.tensor([0.95, 0.9, 0.6, 0.5])
        dets[name] = Detections(boxes, scores, labels, torch.randn(4, 16, generator=torch.Generator().manual_seed(i)),
                                image_size=(48, 64))
        records.append(LabelRecord(
            image=name, caption=f"a person is {verb}ing a {obj}", pairs=[InteractionPair(verb, obj, obj)],
            negatives=["say", "know"], teacher="stub", status="ok"))
        gt.append({"file_name": name, "width": 64, "height": 48,
                   "annotations": [{"bbox": [4, 4, 30, 44], "category_id": 1},
                                   {"bbox": [20, 10, 60, 40], "category_id": {1: 2, 17: 19, 41: 47}[COCO[obj]]}],
                   "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": verbs.index(verb) + 1}]})
    records.append(LabelRecord(image="nolabel.png", status="no_action", teacher="stub"))
    save_detections(root / "dets.safetensors", dets)
    write_labels(records, root / "labels.jsonl")
    (root / "test_hico.json").write_text(json.dumps(gt))
    model = tiny_student_config(root / "backbones")
    cfg = ExperimentConfig(name="tiny", seed=0, output_dir=str(root / "run"))
    cfg = replace(cfg, model=model)
    cfg.data = replace(cfg.data, dataset="hicodet", image_root=str(images), labels=str(root / "labels.jsonl"),
                       detections_train=str(root / "dets.safetensors"), detections_test=str(root / "dets.safetensors"),
                       test_annotations=str(root / "test_hico.json"))
    cfg.train = replace(cfg.train, epochs=2, batch_size=2, lr=1e-3, log_every=1, tensorboard=False)
    cfg.eval = replace(cfg.eval, batch_size=4)
    return cfg


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> ExperimentConfig:
    """A read-only tiny world (copy it with ``replace`` before changing output paths)."""
    return make_world(tmp_path_factory.mktemp("world"))
