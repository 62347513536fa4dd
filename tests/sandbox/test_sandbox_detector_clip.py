"""The simulated detector, and the shipped small CLIP loaded the way real CLIP checkpoints are."""

import random

import torch

from clhoi.detect.files import load_detections, save_detections
from clhoi.models.encoders import load_clip
from clhoi.sandbox.clip_training import zero_shot
from clhoi.sandbox.detector import DetectorNoise, simulate_detections, simulate_split
from clhoi.sandbox.tiny_clip import ASSET_DIR, BOS, EOS, shipped_clip_path
from clhoi.sandbox.world import WorldSpec, generate_split
from clhoi.vocab import COCO_ID_TO_INDEX
from torchvision.ops import box_iou


def test_detections_are_imperfect_but_close(tmp_path):
    records = generate_split(WorldSpec(seed=4), "test", None, 150)
    dets = simulate_split(records, seed=0)
    assert simulate_split(records, seed=0)["test/000000.png"].boxes.equal(dets["test/000000.png"].boxes)
    matched = total = fp = 0
    for r in records:
        d = dets[r["file_name"]]
        assert d.embeddings is None and d.image_size == (192, 256)
        assert (d.scores[:-1] >= d.scores[1:]).all() and ((d.scores > 0) & (d.scores < 1)).all()
        gt = torch.tensor([a["bbox"] for a in r["annotations"]]) - 1.0
        labels = torch.tensor([COCO_ID_TO_INDEX[a["category_id"]] for a in r["annotations"]])
        if len(d):
            iou = box_iou(gt, d.boxes)
            same = labels[:, None] == d.labels[None, :]
            matched += int(((iou >= 0.5) & same).any(1).sum())
            fp += int((~((iou >= 0.5) & same).any(0)).sum())
        total += len(gt)
    assert 0.75 < matched / total < 0.99  # misses and jitter, but mostly found
    assert fp > 20  # false positives and duplicates
    save_detections(tmp_path / "d.safetensors", dets)
    back = load_detections(tmp_path / "d.safetensors")
    assert back["test/000001.png"].boxes.allclose(dets["test/000001.png"].boxes)
    clean = simulate_detections(records[0], random.Random(0), DetectorNoise(0, 0, 0, 0, 0, 0))
    assert len(clean) == len(records[0]["annotations"])


def test_shipped_clip_loads_by_path_and_classifies_above_chance():
    path = shipped_clip_path()
    size = sum(f.stat().st_size for f in ASSET_DIR.parent.rglob("*") if f.is_file())
    assert size <= 5 * 1024 * 1024
    model, tokenizer, processor = load_clip(str(path))
    vocab = tokenizer.get_vocab()
    assert model.config.text_config.eos_token_id == vocab[EOS] and model.config.text_config.bos_token_id == vocab[BOS]
    ids = tokenizer(["a photo of a person riding a bicycle"])["input_ids"][0]
    assert ids[0] == vocab[BOS] and ids[-1] == vocab[EOS] and len(ids) == 10  # 8 whole-word tokens
    zs = zero_shot(model.eval(), tokenizer, processor, num_scenes=40, seed=7)
    assert zs.accuracy > 4 * zs.chance
    assert zs.accuracy_known_object > zs.chance_known_object + 0.2
