"""``clhoi cache``: precompute detections and frozen CLIP features of a split, once.

Training from the cache skips the frozen CLIP image encoder (and the union-crop
encoding of the soft-relation loss), which is most of a training step's cost
at real sizes. The cache is sharded and resumable (see
:mod:`clhoi.engine.feature_store`); a rerun continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from clhoi.config import ExperimentConfig
from clhoi.data.images import keep_readable
from clhoi.data.labels import CachedImage, load_rgb, select_training_records
from clhoi.data.transforms import crop_regions, union_boxes
from clhoi.engine.feature_store import (
    FORMAT_VERSION,
    CacheError,
    finished_shards,
    read_meta,
    shard_name,
    write_meta,
    write_shard,
)
from clhoi.engine.sources import (
    InputError,
    cache_dir,
    cache_key,
    key_differences,
    read_detections,
    read_ground_truth,
    read_label_records,
    split_image_root,
)
from clhoi.engine.step import embed_crops
from clhoi.models.student import fingerprint
from clhoi.structures import Detections

CacheCallback = Callable[[int, int], None]
"""Called with ``(images done, images in the split)`` after each shard."""


def split_images(cfg: ExperimentConfig, split: str) -> list[str]:
    """The images of a split: training = usable label records (or the ground truth in
    full supervision); test = the test annotation file."""
    if split == "test":
        return [a.file_name for a in read_ground_truth(cfg.data.dataset, cfg.data.test_annotations,
                                                       "data.test_annotations", cfg.data.coco_instances)]
    if cfg.supervision == "full" and cfg.data.train_annotations:
        return [a.file_name for a in read_ground_truth(cfg.data.dataset, cfg.data.train_annotations,
                                                       "data.train_annotations", cfg.data.coco_instances)]
    names = [r.image for r in select_training_records(read_label_records(cfg)).records]
    if not names:
        raise InputError(f"{cfg.data.labels} has no usable label records; nothing to cache")
    return names


def union_pairs(detections: Detections) -> torch.Tensor:
    """``[P, 2]`` every (human, other detection) pair, as the student pairs them."""
    from clhoi.models.pairs import image_pairs

    h, o = image_pairs(detections.labels)
    return torch.stack([h, o], dim=1)


def build_cache(
    cfg: ExperimentConfig,
    split: str,
    shard_size: int = 256,
    union_crops: bool | None = None,
    dtype: str = "float32",
    model: nn.Module | None = None,
    callback: CacheCallback | None = None,
) -> Path:
    """Write (or complete) the feature cache of ``split`` under ``data.cache_dir/<split>``.

    Detections come from ``data.detections_<split>`` when set, otherwise the
    config's detector (``detector.model``) runs here and they are stored in the cache.

    Args:
        cfg: the experiment; its ``model`` section fixes the frozen encoder and
            its ``data.detections_<split>`` the detections.
        split: ``train`` or ``test``.
        shard_size: images per shard file (the unit of resumption).
        union_crops: also cache CLIP embeddings of every human-object union crop
            (the soft-relation loss); default: for ``train`` when ``loss.soft_relation`` is on.
        dtype: ``float32`` or ``float16`` storage of the features.
        model: the student to encode with (built from ``cfg.model`` when None).
        callback: progress, ``(done, total)`` after each shard.

    Returns:
        the split's cache directory.
    """
    if shard_size < 1:
        raise InputError("shard_size must be >= 1")
    store_dtype = {"float32": torch.float32, "float16": torch.float16}.get(dtype)
    if store_dtype is None:
        raise InputError(f"dtype must be float32 or float16, got {dtype!r}")
    if union_crops is None:
        union_crops = split == "train" and cfg.loss.soft_relation != 0
    directory = cache_dir(cfg, split)
    if model is None:
        from clhoi.models.student import build_student

        model = build_student(cfg.model)
    clip = fingerprint(model.encoders.clip)
    key = cache_key(cfg, split, clip)
    names = list(dict.fromkeys(split_images(cfg, split)))
    root = split_image_root(cfg, split)
    names = keep_readable(root, names, cfg.data.skip_bad_images)  # --skip-bad-images
    detections: dict[str, Detections] | None = None
    if key["detections"]:
        detections = read_detections(cfg, split)
        missing = [n for n in names if n not in detections]
        if missing:
            raise InputError(f"{len(missing)} image(s) of the {split} split have no detections, e.g. {missing[0]!r}; "
                             f"run the detector over the whole split")

    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "meta.json").exists():
        meta = read_meta(directory)
        if key_differences(meta.get("key", {}), cfg, split, clip) or meta.get("union_crops") != union_crops:
            raise CacheError(f"{directory} holds a cache made with other settings; delete it or set another "
                             f"data.cache_dir")
    from clhoi.engine.setup import run_provenance

    meta = {"format": FORMAT_VERSION, "key": key, "union_crops": union_crops, "dtype": dtype,
            "images": len(names), "complete": False, "provenance": run_provenance(cfg, None)}
    write_meta(directory, meta)

    from clhoi.engine.feature_store import FeatureCache

    done = set(FeatureCache(directory))
    todo = [n for n in names if n not in done]
    # after the highest shard: a deleted (damaged) shard in the middle is rebuilt without overwriting the next
    next_shard = max((int(p.stem.split("-")[-1]) for p in finished_shards(directory)), default=-1) + 1
    model.eval()
    device = next(model.parameters()).device
    detector = None
    if detections is None:  # no detections file: run the config's detector (filtered as UPT)
        from clhoi.detect.detector import Detector

        detector = Detector.from_pretrained(cfg.detector.model, cfg.detector, device)
    batch = max(1, cfg.eval.batch_size)
    for start in range(0, len(todo), shard_size):
        chunk = todo[start : start + shard_size]
        items: list[tuple[str, CachedImage]] = []
        for b in range(0, len(chunk), batch):
            part = chunk[b : b + batch]
            images = [load_rgb(root / n) for n in part]
            with torch.no_grad():
                feats = model.encode_images(model.preprocess(images).to(device)).to(store_dtype).cpu()
            found = detector.detect(images) if detector is not None else [detections[n] for n in part]  # type: ignore[index]
            for name, image, f, det in zip(part, images, feats, found):
                det = det.to("cpu")
                pairs = emb = None
                if union_crops:
                    pairs = union_pairs(det)
                    crops = crop_regions(image, union_boxes(det.boxes, pairs))
                    emb = embed_crops(model, crops, device).to(store_dtype).cpu()
                items.append((name, CachedImage(det, f.clone(), pairs, emb)))
        write_shard(directory / shard_name(next_shard), items)
        next_shard += 1
        if callback is not None:
            callback(len(done) + start + len(chunk), len(names))
    meta["complete"] = True
    write_meta(directory, meta)
    return directory
