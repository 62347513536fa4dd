"""Feature cache: contents equal the frozen encoders' output, resumable, checked against the config,
and training from it matches training from images."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from clhoi.data.labels import load_rgb
from clhoi.engine.cache import build_cache
from clhoi.engine.feature_store import CacheError, FeatureCache, finished_shards
from clhoi.engine.log import read_log
from clhoi.engine.sources import open_cache, read_detections
from clhoi.engine.train import train
from clhoi.models.pairs import image_pairs
from clhoi.models.student import build_student


class _Interrupt(Exception):
    pass


def test_cache_contents_resume_and_key(tiny_world, tmp_path):
    cfg = replace(tiny_world, data=replace(tiny_world.data, cache_dir=str(tmp_path / "cache")))
    model = build_student(cfg.model)

    def stop_after_first(done, total):
        if done < total:
            raise _Interrupt

    with pytest.raises(_Interrupt):  # killed after the first shard
        build_cache(cfg, "train", shard_size=4, model=model, callback=stop_after_first)
    assert len(finished_shards(tmp_path / "cache" / "train")) == 1
    with pytest.raises(CacheError, match="unfinished"):
        open_cache(cfg, "train")
    build_cache(cfg, "train", shard_size=4, model=model)  # the rerun only does the rest
    assert len(finished_shards(tmp_path / "cache" / "train")) == 2

    cache = open_cache(cfg, "train")
    assert sorted(cache) == [f"img{i:02d}.png" for i in range(6)]
    dets = read_detections(cfg, "train")
    for name in ("img00.png", "img05.png"):
        item = cache[name]
        with torch.no_grad():
            want = model.encode_images(model.preprocess([load_rgb(f"{cfg.data.image_root}/{name}")]))[0]
        torch.testing.assert_close(item.image_features, want, rtol=1e-5, atol=1e-5)
        assert torch.equal(item.detections.boxes, dets[name].boxes) and item.detections.image_size == (48, 64)
        h, o = image_pairs(item.detections.labels)
        assert item.union_pairs.tolist() == torch.stack([h, o], 1).tolist()
        assert item.union_embeddings.shape == (h.numel(), model.encoders.text_dim)

    stale = replace(cfg, detector=replace(cfg.detector, score_threshold=0.9))
    with pytest.raises(CacheError, match="score_threshold"):
        open_cache(stale, "train")
    with pytest.raises(CacheError, match="other settings"):
        build_cache(stale, "train", model=model)


def test_training_from_cache_matches_training_from_images(tiny_world, tmp_path):
    base = replace(tiny_world)
    base.train = replace(base.train, epochs=1, batch_size=2)
    train(replace(base, output_dir=str(tmp_path / "images")), progress=False)

    cached = replace(base, output_dir=str(tmp_path / "cached"), data=replace(base.data, cache_dir=str(tmp_path / "c")))
    build_cache(cached, "train", dtype="float32")
    assert FeatureCache(tmp_path / "c" / "train").meta["union_crops"] is True
    train(cached, progress=False)

    def losses(run):
        return [r["total"] for r in read_log(tmp_path / run / "log.jsonl") if r["event"] == "train"]

    a, b = losses("images"), losses("cached")
    assert len(a) == len(b) == 3
    torch.testing.assert_close(torch.tensor(a), torch.tensor(b), rtol=1e-4, atol=1e-5)


def _tiny_detr(path):
    from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessor, ResNetConfig

    from clhoi.vocab import COCO_CLASSES, COCO_IDS

    id2label = {i: "N/A" for i in range(91)} | dict(zip(COCO_IDS, COCO_CLASSES))
    backbone = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16, 16], depths=[1, 1, 1],
                            layer_type="basic", out_features=["stage3"])
    torch.manual_seed(0)
    model = DetrForObjectDetection(DetrConfig(
        backbone_config=backbone, use_timm_backbone=False, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        num_queries=12, id2label=id2label, label2id={v: k for k, v in id2label.items()},
    ))
    with torch.no_grad():  # make the random detector see persons and bicycles
        model.class_labels_classifier.bias[1] += 6.0
        model.class_labels_classifier.bias[2] += 5.0
    model.save_pretrained(path)
    DetrImageProcessor(size={"shortest_edge": 48, "longest_edge": 64}).save_pretrained(path)
    return str(path)


def test_cache_runs_the_detector_then_train_and_eval_read_it(tiny_world, tmp_path):
    from clhoi.engine.evaluate import evaluate_checkpoint

    cfg = replace(tiny_world, output_dir=str(tmp_path / "run"))
    cfg.data = replace(cfg.data, detections_train="", detections_test="", cache_dir=str(tmp_path / "c"),
                       test_image_root=cfg.data.image_root, image_root=str(tmp_path / "elsewhere"))
    cfg.detector = replace(cfg.detector, model=_tiny_detr(tmp_path / "detr"), nms_threshold=1.0,
                           min_humans=2, min_objects=2)
    cfg.train = replace(cfg.train, epochs=1, batch_size=3)
    cfg.loss = replace(cfg.loss, soft_relation=0.0)  # no union crops: training never opens an image
    build_cache(cfg, "test")
    cache = open_cache(cfg, "test")
    item = cache["img03.png"]
    assert item.detections.embeddings.shape[1] == 16 and item.union_pairs is None
    assert (item.detections.labels == 0).sum() >= 2  # the UPT filter's minimum of humans

    (tmp_path / "elsewhere").mkdir()  # training images are not there: the train split must come from the cache
    with pytest.raises(CacheError, match="--split train"):
        train(cfg, progress=False)
    build_cache(replace(cfg, data=replace(cfg.data, image_root=cfg.data.test_image_root)), "train")
    ckpt = train(cfg, progress=False)
    result = evaluate_checkpoint(ckpt, progress=False)
    assert 0.0 <= result.metrics["default_full"] <= 100.0
