"""Detections in the formats other detectors write, read into ``{file_name: Detections}``.

* **COCO results JSON** (what detectron2's ``COCOEvaluator``, mmdetection's
  ``CocoMetric`` with ``outfile_prefix`` and ultralytics' ``save_json`` write): a
  list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``, one
  per box, ``category_id`` in COCO's 91-id space, boxes in pixels of the
  original image. The records carry no file names, so an image map is needed:
  a COCO-style JSON with ``"images": [{"id", "file_name", "height", "width"}]``
  (e.g. ``instances_val2017.json``, HICO-DET's ``instances_test2015.json``
  also works when it has ``images``), or a plain ``{"<image_id>": "file_name"}`` map.
* **UPT's per-image detection files** (fredzzhang/hicodet ``detections/``:
  ``preprocessing.py``, ``h_detr_cache.py``, ``generate_gt_detections.py``): a
  folder with one JSON file per image, named after the image with ``.json``
  for ``.jpg``, holding ``{"boxes": [[x1, y1, x2, y2], ...], "scores": [...],
  "labels": [...]}`` and, from ``h_detr_cache.py``, ``"size"``. Their labels
  are indices in HICO-DET's 80-object order (person = 49; ``coco91tohico80``
  maps detector outputs to it), so ``labels="hico80"`` is the default; a file
  written straight from a COCO detector can be read with ``coco91`` or ``coco80``.

:func:`load_foreign_detections` dispatches on what a path holds;
``clhoi convert-detections`` writes the result as a ``.safetensors`` detections file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from clhoi import vocab
from clhoi.detect.files import check_detections
from clhoi.structures import Detections

LABEL_SPACES = ("hico80", "coco80", "coco91")
"""How a foreign file numbers its object classes: HICO-DET's 80-object order, COCO-80 indices, COCO's 91 ids."""


def label_map(space: str) -> dict[int, int]:
    """Foreign label -> COCO-80 index for a label space of :data:`LABEL_SPACES`."""
    if space == "coco80":
        return {i: i for i in range(len(vocab.COCO_CLASSES))}
    if space == "coco91":
        return dict(vocab.COCO_ID_TO_INDEX)
    if space == "hico80":
        return dict(enumerate(vocab.hicodet().object_to_coco))
    raise ValueError(f"unknown label space {space!r}; use one of {', '.join(LABEL_SPACES)}")


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def read_image_map(path: str | Path) -> dict[int, tuple[str, tuple[int, int] | None]]:
    """``{image_id: (file_name, (h, w) or None)}`` from a COCO-style ``images`` list or an ``{id: name}`` map."""
    path = Path(path)
    data = _read_json(path, "image map")
    out: dict[int, tuple[str, tuple[int, int] | None]] = {}
    if isinstance(data, dict) and isinstance(data.get("images"), list):
        for k, im in enumerate(data["images"]):
            if not isinstance(im, dict) or not isinstance(im.get("file_name"), str) or "id" not in im:
                raise ValueError(f"{path}: images[{k}]: expected an object with 'id' and 'file_name'")
            size = (int(im["height"]), int(im["width"])) if "height" in im and "width" in im else None
            out[_int_id(im["id"], f"{path}: images[{k}].id")] = (im["file_name"], size)
        return out
    if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        return {_int_id(k, f"{path}: key {k!r}"): (v, None) for k, v in data.items()}
    raise ValueError(f"{path}: expected a COCO-style file with an 'images' list, or a {{\"image_id\": \"file_name\"}} map")


def _int_id(value: Any, where: str) -> int:
    try:
        if isinstance(value, bool) or float(value) != int(float(value)):
            raise ValueError
        return int(float(value))
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected an integer image id, got {value!r}") from None


def read_coco_results(path: str | Path, images: str | Path | dict, labels: str = "coco91",
                      min_score: float = 0.0) -> dict[str, Detections]:
    """Read a COCO results JSON (detectron2 / mmdetection / ultralytics) into ``{file_name: Detections}``.

    Args:
        path: the results file (a JSON list of per-box records).
        images: the image map (a path, see :func:`read_image_map`, or its dict);
            every image of the map gets an entry, an image without boxes an empty one.
        labels: how ``category_id`` is numbered (COCO's 91 ids by default).
        min_score: drop boxes scoring below this.

    Raises:
        ValueError: naming the file, the record index and the field.
    """
    path = Path(path)
    image_map = images if isinstance(images, dict) else read_image_map(images)
    to_coco = label_map(labels)
    data = _read_json(path, "COCO results file")
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of {{image_id, category_id, bbox, score}} records")
    rows: dict[int, list[tuple[list[float], float, int]]] = {i: [] for i in image_map}
    for k, rec in enumerate(data):
        where = f"{path}: record {k}"
        if not isinstance(rec, dict):
            raise ValueError(f"{where}: expected an object, got {type(rec).__name__}")
        missing = [f for f in ("image_id", "category_id", "bbox", "score") if f not in rec]
        if missing:
            raise ValueError(f"{where}: lacks field(s) {missing}; COCO results records have image_id, category_id, "
                             "bbox [x, y, w, h], score")
        image_id = _int_id(rec["image_id"], f"{where}: field 'image_id'")
        if image_id not in rows:
            raise ValueError(f"{where}: field 'image_id': {image_id} is not in the image map; pass the image list "
                             "the detector ran on")
        cat = rec["category_id"]
        if isinstance(cat, bool) or not isinstance(cat, int) or cat not in to_coco:
            raise ValueError(f"{where}: field 'category_id': {cat!r} is not a {labels} class id")
        bbox = rec["bbox"]
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise ValueError(f"{where}: field 'bbox': expected [x, y, width, height], got {bbox!r}")
        score = rec["score"]
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise ValueError(f"{where}: field 'score': expected a number, got {score!r}")
        if score < min_score:
            continue
        x, y, w, h = (float(v) for v in bbox)
        rows[image_id].append(([x, y, x + w, y + h], float(score), to_coco[cat]))
    out: dict[str, Detections] = {}
    for image_id, boxes in rows.items():
        name, size = image_map[image_id]
        det = Detections(
            torch.tensor([b for b, _, _ in boxes], dtype=torch.float32).reshape(-1, 4),
            torch.tensor([s for _, s, _ in boxes], dtype=torch.float32),
            torch.tensor([c for _, _, c in boxes], dtype=torch.long),
            None, size,
        )
        out[name] = check_detections(det, f"{path} [{name}]")
    return out


def read_upt_folder(folder: str | Path, labels: str = "hico80", image_suffix: str = ".jpg") -> dict[str, Detections]:
    """Read UPT's per-image detection files (``<image stem>.json``) into ``{file_name: Detections}``.

    Args:
        folder: the folder of ``.json`` files (e.g. ``test2015/`` of ``preprocessing.py``).
        labels: how ``labels`` are numbered (UPT's files: HICO-DET's 80-object order).
        image_suffix: the images' suffix; ``HICO_test2015_00000001.json`` is the
            detections of ``HICO_test2015_00000001.jpg``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"detections folder {folder} does not exist")
    to_coco = label_map(labels)
    files = sorted(folder.glob("*.json"))
    if not files:
        raise ValueError(f"{folder}: no .json detection files (UPT writes one <image>.json per image)")
    out: dict[str, Detections] = {}
    for f in files:
        name = f.stem + image_suffix
        where = f"{f} [{name}]"
        rec = _read_json(f, "detections file")
        if not isinstance(rec, dict):
            raise ValueError(f"{where}: expected an object with boxes, scores, labels")
        missing = [k for k in ("boxes", "scores", "labels") if k not in rec]
        if missing:
            raise ValueError(f"{where}: lacks field(s) {missing}; UPT files have boxes (xyxy pixels), scores, labels")
        raw = rec["labels"]
        if not isinstance(raw, list):
            raise ValueError(f"{where}: field 'labels': expected a list")
        for k, v in enumerate(raw):
            if isinstance(v, bool) or not isinstance(v, int) or v not in to_coco:
                raise ValueError(f"{where}: field 'labels[{k}]': {v!r} is not a {labels} class index "
                                 "(set the label space: hico80, coco80 or coco91)")
        size = rec.get("size")
        try:
            boxes = torch.tensor(rec["boxes"], dtype=torch.float32).reshape(-1, 4)
            scores = torch.tensor(rec["scores"], dtype=torch.float32).reshape(-1)
        except (TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"{where}: malformed boxes or scores ({e})") from None
        if not (len(boxes) == len(scores) == len(raw)):
            raise ValueError(f"{where}: {len(boxes)} boxes, {len(scores)} scores and {len(raw)} labels differ in number")
        # h_detr_cache.py stores size as the image's [h, w] tensor (torchvision's convention)
        image_size = (int(size[0]), int(size[1])) if isinstance(size, list) and len(size) == 2 else None
        det = Detections(boxes, scores, torch.tensor([to_coco[v] for v in raw], dtype=torch.long), None, image_size)
        out[name] = check_detections(det, where)
    return out


def is_coco_results(data: Any) -> bool:
    """True for a JSON list whose records look like COCO results (``image_id`` and ``bbox``)."""
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) and {"image_id", "bbox"} <= set(data[0])


def load_foreign_detections(path: str | Path, images: str | Path | None = None, labels: str | None = None,
                            image_suffix: str = ".jpg", min_score: float = 0.0) -> dict[str, Detections]:
    """Read a folder of UPT files or a COCO results JSON (which needs ``images``).

    ``labels`` defaults to each format's own (UPT: ``hico80``, COCO results: ``coco91``).
    """
    path = Path(path)
    if path.is_dir():
        return read_upt_folder(path, labels or "hico80", image_suffix)
    if images is None:
        raise ValueError(f"{path}: COCO results name images by id only; pass the image list (--images "
                         "instances.json, a COCO-style file with 'images', or an {{id: file_name}} map)")
    return read_coco_results(path, images, labels or "coco91", min_score)
