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
