"""Reading a run's inputs named in the config, each failing early with an actionable message.

Shared by ``train``, ``cache``, ``eval`` and ``predict``: teacher labels,
ground truth, detections files, the feature cache and the label set scored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from clhoi.config import ExperimentConfig
from clhoi.data.images import check_image_names
from clhoi.engine.feature_store import CacheError, FeatureCache
from clhoi.labelset import LabelSet
from clhoi.structures import Detections, ImageAnnotation, LabelRecord

SPLITS = ("train", "test")


class InputError(ValueError):
    """An input file named by the config is missing, empty or unreadable."""


def _need(path: str, what: str, key: str) -> Path:
    if not path:
        raise InputError(f"{what} is not set; set {key}=PATH in the config or on the command line")
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} {p} does not exist (config key {key})")
    return p


def read_label_records(cfg: ExperimentConfig) -> list[LabelRecord]:
    """All records of ``data.labels`` (the teacher label store)."""
    from clhoi.teacher.store import read_labels

    path = _need(cfg.data.labels, "the teacher label file", "data.labels")
    records = read_labels(path)
    check_image_names((r.image for r in records), str(path))
    if not records:
        raise InputError(f"the teacher label file {path} is empty; run `clhoi label` first")
    return records


def read_ground_truth(dataset: str, path: str, key: str, coco_instances: str = "") -> list[ImageAnnotation]:
    """Ground truth of a split in the dataset's official format (sandbox: HICO-DET format).

    ``coco_instances`` is the COCO instances file of the official V-COCO layout.
    """
    from clhoi.data.registry import get_dataset

    try:
        spec = get_dataset(dataset)
    except ValueError as e:
        raise InputError(str(e)) from None
    p = _need(path, f"the {dataset} annotation file", key)
    instances = _need(coco_instances, "the COCO instances file", "data.coco_instances") if coco_instances else None
    images = spec.read_annotations(p, instances)
    if not images:
        raise InputError(f"the annotation file {p} holds no images")
    check_image_names((a.file_name for a in images), str(p))
    return images


def read_detections(cfg: ExperimentConfig, split: str) -> dict[str, Detections]:
    """The detections file of ``split`` as ``{file name: Detections}``, filtered as UPT does.

    The detector section's thresholds and per-image limits are applied here
    (``clhoi.detect.filter.filter_detections``); a missing ``image_size`` is
    read from the image file's header.
    """
    from clhoi.detect.files import load_detections
    from clhoi.detect.filter import filter_detections

    key = f"data.detections_{split}"
    if not getattr(cfg.data, f"detections_{split}"):
        raise InputError(f"{key} is not set: give a detections file, or build the feature cache with "
                         f"`clhoi cache CONFIG --split {split}` (it runs detector.model) and set data.cache_dir")
    p = _need(getattr(cfg.data, f"detections_{split}"), "the detections file", key)
    dets = load_detections(p)
    check_image_names(dets, str(p))
    if not dets:
        raise InputError(f"the detections file {p} is empty")
    d = cfg.detector
    out = {}
    for name, det in dets.items():
        det = filter_detections(det, d.score_threshold, d.nms_threshold, d.min_humans, d.max_humans,
                                d.min_objects, d.max_objects)
        if det.image_size is None:
            det.image_size = image_size(split_image_root(cfg, split) / name)
        out[name] = det
    return out


def split_image_root(cfg: ExperimentConfig, split: str) -> Path:
    """The folder a split's image paths start from (``data.test_image_root`` for test when set)."""
    if split == "test" and cfg.data.test_image_root:
        return Path(cfg.data.test_image_root)
    return Path(cfg.data.image_root)


def image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` of an image file, from its header."""
    from PIL import Image

    if not path.is_file():
        raise InputError(f"image {path} does not exist; check data.image_root")
    with Image.open(path) as im:
        return im.height, im.width


def cache_key(cfg: ExperimentConfig, split: str, clip: str | None = None) -> dict[str, Any]:
    """What the cached features depend on; a cache made with another key is refused.

    The inputs enter by content, not by path, so a moved or copied cache,
    detections file or CLIP folder is still recognised: ``clip`` is the
    fingerprint of the frozen CLIP's parameters (``clhoi.models.student.fingerprint``;
    ``None`` = not compared), ``detections`` the SHA-256 of the detections file.
    """
    m, d = cfg.model, cfg.detector
    detections = cfg.data.detections_train if split == "train" else cfg.data.detections_test
    key = {
        "split": split,
        "dataset": cfg.data.dataset,
        "clip": clip,
        "clip_feature_layer": m.clip_feature_layer,
        "image_size": m.image_size,
        "detector": "" if detections else d.model,  # the detector ran only without a detections file
        "score_threshold": d.score_threshold,
        "nms_threshold": d.nms_threshold,
        "limits": [d.min_humans, d.max_humans, d.min_objects, d.max_objects],
        "detections": file_fingerprint(_need(detections, "the detections file", f"data.detections_{split}"))
        if detections else "",
    }
    if m.visual_feature_layer is not None:  # absent otherwise: caches made before it keep their key
        key["visual_feature_layer"] = m.visual_feature_layer
    return key


def key_differences(have: dict[str, Any], cfg: ExperimentConfig, split: str, clip: str | None) -> list[str]:
    """``key: cache has ..., config has ...`` for every setting a cache was made with that differs."""
    if "detections_file" in have:  # a cache of clhoi 0.1, keyed on paths: still accepted when they match
        m, d = cfg.model, cfg.detector
        want: dict[str, Any] = {
            "split": split, "dataset": cfg.data.dataset, "clip": m.clip, "clip_feature_layer": m.clip_feature_layer,
            "image_size": m.image_size, "detector": d.model, "score_threshold": d.score_threshold,
            "nms_threshold": d.nms_threshold, "limits": [d.min_humans, d.max_humans, d.min_objects, d.max_objects],
            "detections_file": cfg.data.detections_train if split == "train" else cfg.data.detections_test,
        }
    else:
        want = cache_key(cfg, split, clip)
        if clip is None:
            want.pop("clip")
    want.setdefault("visual_feature_layer", None)  # a cache with a second layer does not fit a config without
    return [f"{k}: cache has {have.get(k)!r}, config has {v!r}" for k, v in want.items() if have.get(k) != v]


_FINGERPRINTS: dict[tuple[str, int, int], str] = {}


def file_fingerprint(path: str | Path) -> str:
    """``sha256:`` of a file's bytes (remembered per path, size and modification time in this process)."""
    p = Path(path)
    st = p.stat()
    memo = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _FINGERPRINTS:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 24), b""):
                h.update(block)
        _FINGERPRINTS[memo] = "sha256:" + h.hexdigest()
    return _FINGERPRINTS[memo]


def cache_dir(cfg: ExperimentConfig, split: str) -> Path:
    if not cfg.data.cache_dir:
        raise InputError("data.cache_dir is not set; set data.cache_dir=DIR to build or use a feature cache")
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    return Path(cfg.data.cache_dir) / split


def open_cache(cfg: ExperimentConfig, split: str, clip: str | None = None,
               names: list[str] | None = None) -> FeatureCache:
    """The feature cache of ``split``, checked against the config (and the frozen CLIP's
    fingerprint ``clip``, and the images ``names`` the run needs, when given).

    Raises:
        CacheError: missing, made with other settings, unfinished, or without some of ``names``.
    """
    directory = cache_dir(cfg, split)
    if not (directory / "meta.json").is_file():
        raise CacheError(f"data.cache_dir is set but the {split} split is not cached in {directory}; run "
                         f"`clhoi cache CONFIG --split {split}` or clear data.cache_dir")
    cache = FeatureCache(directory)
    diff = key_differences(cache.meta.get("key", {}), cfg, split, clip)
    if diff:
        raise CacheError(f"the feature cache {directory} was made with other settings ({'; '.join(diff)}); "
                         f"rebuild it with `clhoi cache CONFIG --split {split}` or point data.cache_dir elsewhere")
    if not cache.meta.get("complete", False):
        raise CacheError(f"the feature cache {directory} is unfinished ({len(cache)} of {cache.meta.get('images')} "
                         f"images); rerun `clhoi cache CONFIG --split {split}` to complete it")
    missing = [n for n in names or [] if n not in cache]
    if missing and not getattr(cfg.data, "skip_bad_images", False):
        raise CacheError(f"the feature cache {directory} lacks {len(missing)} image(s) of the {split} split, e.g. "
                         f"{missing[0]!r} (the image list changed since it was built); rerun "
                         f"`clhoi cache CONFIG --split {split}` to add them")
    return cache


def eval_label_set(cfg: ExperimentConfig, dataset: str | None = None, verbs: list[str] | None = None) -> LabelSet:
    """The classes scored: the dataset's (HICO-DET 600, V-COCO 29) or the user's verbs."""
    if verbs:
        return LabelSet.verbs(verbs, cfg.model.verb_template)
    from clhoi.data.registry import get_dataset

    try:
        spec = get_dataset(dataset or cfg.data.dataset)
    except ValueError as e:
        raise InputError(str(e)) from None
    return spec.label_set(cfg.model.class_template, cfg.model.verb_template)
