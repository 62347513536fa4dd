"""Runs that travel: a moved run evaluates, predicts and resumes; the feature cache is keyed on content;
safetensors files get the user's file mode."""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

import clhoi
from clhoi.config import RUN_CONFIG_HEADER, load_config
from clhoi.data.labels import CachedImage
from clhoi.detect.files import load_detections, save_detections
from clhoi.engine.cache import build_cache
from clhoi.engine.checkpoint import CheckpointError, load_checkpoint_config, load_train_state, save_checkpoint
from clhoi.engine.evaluate import evaluate_checkpoint
from clhoi.engine.feature_store import CacheError, finished_shards, read_meta, write_meta, write_shard
from clhoi.engine.predict import predict
from clhoi.engine.sources import open_cache
from clhoi.engine.train import train
from clhoi.models.student import build_student, fingerprint


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(scope="module")
def trained_run(tiny_world, tmp_path_factory):
    """A run trained for 2 steps from a feature cache kept inside the run folder (read-only)."""
    run = tmp_path_factory.mktemp("trained") / "run"
    cfg = replace(tiny_world, output_dir=str(run), data=replace(tiny_world.data, cache_dir=str(run / "cache")))
    cfg.train = replace(cfg.train, epochs=2, max_steps=2)
    model = build_student(cfg.model)
    for split in ("train", "test"):
        build_cache(cfg, split, model=model)
    train(cfg, progress=False)
    return cfg


def test_a_moved_run_evaluates_predicts_and_resumes(trained_run, tmp_path):
    cfg, run = trained_run, Path(trained_run.output_dir)
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)  # a copied run ...
    moved = tmp_path / "elsewhere" / "moved-run"
    moved.parent.mkdir()
    shutil.move(str(copy), str(moved))  # ... then moved
    shards = {p.name: p.stat().st_mtime_ns for p in finished_shards(moved / "cache" / "test")}
    ckpt = moved / "checkpoint"
    text = (ckpt / "config.yaml").read_text()
    assert text.startswith(RUN_CONFIG_HEADER) and str(run) not in text

    saved = load_checkpoint_config(ckpt)  # paths inside the run resolve against the moved folder
    assert load_config(ckpt / "config.yaml") == saved  # what `clhoi train CKPT/config.yaml --resume` reads
    assert saved.output_dir == str(moved) and saved.data.cache_dir == str(moved / "cache")
    assert saved.data.labels == cfg.data.labels  # a file outside the run keeps its absolute path

    result = evaluate_checkpoint(ckpt, progress=False, device="cpu")  # reads the moved cache: no rebuild
    assert 0.0 <= result.metrics["default_full"] <= 100.0 and result.output_dir.is_relative_to(moved)
    assert {p.name: p.stat().st_mtime_ns for p in finished_shards(moved / "cache" / "test")} == shards
    open_cache(saved, "train", fingerprint(build_student(saved.model).encoders.clip))

    image = f"{cfg.data.image_root}/img01.png"
    out = predict([image], ckpt, tmp_path / "pred", detections=cfg.data.detections_test, device="cpu")
    assert json.loads(out[0].json_path.read_text())["triplets"]

    resumed = train(replace(saved, train=replace(saved.train, max_steps=3)), resume=True, progress=False)
    assert resumed == ckpt and load_train_state(ckpt).step == 3
    assert load_train_state(run / "checkpoint").step == 2  # the original run is untouched


def test_python_api_predicts_in_memory(trained_run, tmp_path, monkeypatch):
    cfg = trained_run
    model = clhoi.load_model(str(Path(cfg.output_dir) / "checkpoint"), device="cpu")
    assert model.detector is None and model.label_set.name == "hicodet"  # detector.model is a Hub id: offline
    image = Image.open(f"{cfg.data.image_root}/img00.png").convert("RGB")
    det = load_detections(cfg.data.detections_test)["img00.png"]
    monkeypatch.chdir(tmp_path)
    triplets = model.predict(image, verbs=["ride", "hold"], detections=det, top_k=5)
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert 0 < len(triplets) <= 5 and {t["interaction"] for t in triplets} <= {"ride", "hold"}
    assert [t["score"] for t in triplets] == sorted((t["score"] for t in triplets), reverse=True)
    assert len(model.predict(image, detections=det)[0]["interaction"].split()) >= 2  # HICO-DET's "verb object"
    with pytest.raises(ValueError, match="detections="):
        model.predict(image, verbs=["ride"])
    with pytest.raises(CheckpointError, match="nowhere is not a checkpoint folder or a reachable Hub id"):
        clhoi.load_model(str(tmp_path / "nowhere"))


def test_a_checkpoint_refuses_another_frozen_clip_in_one_line(trained_run, tmp_path):
    from clhoi.engine.checkpoint import load_model
    from clhoi.models.testing import save_tiny_backbones

    ckpt = tmp_path / "checkpoint"
    shutil.copytree(Path(trained_run.output_dir) / "checkpoint", ckpt)
    other, _ = save_tiny_backbones(tmp_path / "other", seed=1)  # same architecture, other weights
    config = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**config, "clip": str(other)}))
    with pytest.raises(CheckpointError, match=r"frozen clip .* is not the one this checkpoint was trained with") as e:
        load_model(ckpt)
    assert "\n" not in str(e.value) and str(e.value).count(str(ckpt)) == 1


def test_a_clhoi_0_1_checkpoint_still_loads_and_resumes(trained_run, tmp_path):
    from safetensors.torch import save_model

    from clhoi.engine.checkpoint import load_model

    new, cfg = load_model(Path(trained_run.output_dir) / "checkpoint")
    run = tmp_path / "old-run"
    ckpt = run / "checkpoint"  # the 0.1 layout: every weight, architectures in clip/ and qformer/, no config.json
    shutil.copytree(Path(trained_run.output_dir) / "checkpoint", ckpt)
    (ckpt / "config.json").unlink()
    save_model(new, str(ckpt / "model.safetensors"))
    new.encoders.save_architecture(ckpt / "clip")
    new.vlt.qformer.config.save_pretrained(ckpt / "qformer")
    old, _ = load_model(ckpt)
    feats = torch.randn(1, new.grid[0] * new.grid[1], new.encoders.image_dim)
    det = load_detections(cfg.data.detections_test)["img00.png"]
    assert torch.equal(new([det], image_features=feats).interaction, old([det], image_features=feats).interaction)
    resumed = train(replace(cfg, output_dir=str(run), train=replace(cfg.train, max_steps=3)), resume=True,
                    progress=False)
    assert load_train_state(resumed).step == 3 and (resumed / "config.json").is_file()  # saved in the new format


def test_the_cache_is_keyed_on_content_not_paths(tiny_world, tmp_path):
    dets = tmp_path / "a" / "dets.safetensors"
    dets.parent.mkdir()
    shutil.copy(tiny_world.data.detections_test, dets)
    cfg = replace(tiny_world, data=replace(tiny_world.data, detections_test=str(dets), cache_dir=str(tmp_path / "c")))
    model = build_student(cfg.model)
    clip = fingerprint(model.encoders.clip)
    build_cache(cfg, "test", model=model)

    # the detections file and the cache both move: same content, no rebuild
    moved = tmp_path / "b" / "renamed.safetensors"
    moved.parent.mkdir()
    shutil.move(str(dets), str(moved))
    shutil.move(str(tmp_path / "c"), str(tmp_path / "c2"))
    there = replace(cfg, data=replace(cfg.data, detections_test=str(moved), cache_dir=str(tmp_path / "c2")))
    assert len(open_cache(there, "test", clip)) == 6

    with pytest.raises(CacheError, match="lacks 1 image"):  # an image list that grew since
        open_cache(there, "test", clip, names=["img00.png", "new.png"])
    with pytest.raises(CacheError, match="clip: cache has"):  # another CLIP
        open_cache(there, "test", clip.replace("sha256:", "sha256:0"))
    table = load_detections(moved)
    table["img00.png"].scores[0] = 0.5
    save_detections(moved, table)  # same path, other content
    with pytest.raises(CacheError, match="detections: cache has"):
        open_cache(there, "test", clip)
    with pytest.raises(CacheError, match="other settings"):
        build_cache(there, "test", model=model)


def test_a_clhoi_0_1_cache_keyed_on_paths_still_opens(tiny_world, tmp_path):
    cfg = replace(tiny_world, data=replace(tiny_world.data, cache_dir=str(tmp_path / "c")))
    model = build_student(cfg.model)
    build_cache(cfg, "test", model=model)
    directory = tmp_path / "c" / "test"
    meta = read_meta(directory)
    m, d = cfg.model, cfg.detector
    meta["key"] = {"split": "test", "dataset": "hicodet", "clip": m.clip, "clip_feature_layer": m.clip_feature_layer,
                   "image_size": m.image_size, "detector": d.model, "score_threshold": d.score_threshold,
                   "nms_threshold": d.nms_threshold,
                   "limits": [d.min_humans, d.max_humans, d.min_objects, d.max_objects],
                   "detections_file": cfg.data.detections_test}
    write_meta(directory, meta)
    assert len(open_cache(cfg, "test", fingerprint(model.encoders.clip))) == 6
    other = replace(cfg, data=replace(cfg.data, detections_test=str(tmp_path / "x.safetensors")))
    with pytest.raises(CacheError, match="detections_file"):
        open_cache(other, "test")


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_safetensors_files_get_the_users_file_mode(tiny_world, tmp_path, umask):
    model = build_student(tiny_world.model)
    table = load_detections(tiny_world.data.detections_test)
    old = os.umask(umask)
    try:
        ckpt = save_checkpoint(tmp_path / "ck", model, tiny_world)
        write_shard(tmp_path / "shard.safetensors", [("img00.png", CachedImage(table["img00.png"], torch.zeros(4, 8)))])
        save_detections(tmp_path / "dets.safetensors", table)
    finally:
        os.umask(old)
    want = 0o666 & ~umask  # 0644 under the usual umask 022
    for path in (ckpt / "model.safetensors", tmp_path / "shard.safetensors", tmp_path / "dets.safetensors"):
        assert _mode(path) == want, path.name
