"""The Hugging Face detector adapter on tiny random DETR-family models saved to disk."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import (
    ConditionalDetrConfig,
    ConditionalDetrForObjectDetection,
    DeformableDetrConfig,
    DeformableDetrForObjectDetection,
    DetrConfig,
    DetrForObjectDetection,
    DetrImageProcessor,
    ResNetConfig,
)

from clhoi.detect import Detector, coco_label_map, decode_outputs
from clhoi.detect.config import DetectorConfig
from clhoi.vocab import COCO_CLASSES, COCO_IDS

ID2LABEL = {i: "N/A" for i in range(91)} | {cid: name for cid, name in zip(COCO_IDS, COCO_CLASSES)}


def backbone(features: list[str]) -> ResNetConfig:
    return ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16, 16], depths=[1, 1, 1],
                        layer_type="basic", out_features=features)


COMMON = dict(use_timm_backbone=False, encoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
              encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=12, id2label=ID2LABEL,
              label2id={v: k for k, v in ID2LABEL.items()})
MODELS = {
    "detr": lambda: DetrForObjectDetection(DetrConfig(backbone_config=backbone(["stage3"]), d_model=16,
                                                      decoder_layers=1, **COMMON)),
    "conditional-detr": lambda: ConditionalDetrForObjectDetection(ConditionalDetrConfig(
        backbone_config=backbone(["stage3"]), d_model=16, decoder_layers=1, **COMMON)),
    "deformable-detr": lambda: DeformableDetrForObjectDetection(DeformableDetrConfig(
        backbone_config=backbone(["stage2", "stage3"]), d_model=32, decoder_layers=2, num_feature_levels=2,
        encoder_n_points=2, decoder_n_points=2, **COMMON)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_detector_by_path(tmp_path: Path, name: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name]()
    model.save_pretrained(tmp_path)
    DetrImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(tmp_path)
    det = Detector.from_pretrained(tmp_path, DetectorConfig(score_threshold=0.0, min_humans=0, max_humans=2,
                                                            min_objects=0, max_objects=3))
    images = [Image.new("RGB", (80, 60), (120, 20, 20)), Image.new("RGB", (40, 50), (0, 90, 10))]
    raw = det.detect(images, filtered=False)
    kept = det.detect(images)
    for im, r, k in zip(images, raw, kept):
        assert r.image_size == (im.height, im.width)
        assert r.embeddings.shape == (len(r), det.embed_dim)
        assert ((r.labels >= 0) & (r.labels < 80)).all()
        assert (r.boxes[:, 2:] >= r.boxes[:, :2]).all()
        assert (r.boxes[:, [0, 2]] <= im.width).all() and (r.boxes[:, [1, 3]] <= im.height).all()
        assert ((r.scores >= 0) & (r.scores <= 1)).all()
        assert len(k) <= 5 and (k.labels == 0).sum() <= 2
    assert det.detect([]) == []


def test_decode_by_hand() -> None:
    label_map = coco_label_map({0: "N/A", 1: "person", 2: "bicycle", 3: "motorbike"})
    assert label_map.tolist() == [-1, 0, 1, 3]
    # columns: N/A, person, bicycle, motorbike, "no object"
    logits = torch.tensor([[0.0, 5.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 4.0, 1.0], [9.0, 0.0, 0.0, 0.0, 0.0]])
    boxes = torch.tensor([[0.5, 0.5, 0.2, 0.4]] * 3)
    d = decode_outputs(logits, boxes, torch.randn(3, 4), label_map, (100, 200), softmax=True)
    assert d.labels.tolist() == [0, 3]  # the "N/A" query is dropped; motorbike -> motorcycle
    p = logits[1].softmax(-1)
    torch.testing.assert_close(d.scores[1], p[3])  # "no object" stays in the softmax denominator
    torch.testing.assert_close(d.boxes[0], torch.tensor([80.0, 30.0, 120.0, 70.0]))
    s = decode_outputs(logits[:, :4], boxes, torch.randn(3, 4), label_map, (100, 200), softmax=False)
    torch.testing.assert_close(s.scores[0], torch.sigmoid(torch.tensor(5.0)))


def test_detector_without_coco_names() -> None:
    model = DetrForObjectDetection(DetrConfig(backbone_config=backbone(["stage3"]), d_model=16, decoder_layers=1,
                                              **(COMMON | {"id2label": {0: "cat-ish", 1: "dog-ish"},
                                                           "label2id": {"cat-ish": 0, "dog-ish": 1}})))
    with pytest.raises(ValueError, match="COCO class names"):
        Detector(model, DetrImageProcessor())


def test_missing_timm_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    def needs_timm(*args: object, **kwargs: object) -> None:
        raise ImportError("TimmBackbone requires the timm library")

    monkeypatch.setattr(transformers.AutoModelForObjectDetection, "from_pretrained", needs_timm)
    with pytest.raises(ImportError, match="pip install timm"):
        Detector.from_pretrained("facebook/detr-resnet-50")
