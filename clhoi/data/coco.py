"""COCO instance annotations (``instances_*.json``), as V-COCO needs them.

Boxes become ``[x, y, x + w, y + h]``: continuous pixel coordinates of the
original image, the conversion the common HOI codebases use for V-COCO
(QPIC's ``convert_vcoco_annotations.py``). The official V-COCO evaluation uses
``x + max(0, w - 1)`` instead; see docs/datasets.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from clhoi import vocab
from clhoi.data.errors import AnnotationError, check_int, check_list, record_name, require


@dataclass(frozen=True)
class CocoInstance:
    """One COCO annotation.

    Attributes:
        id: the annotation id (what V-COCO's ``ann_id`` / ``role_object_id`` name).
        box: ``(x1, y1, x2, y2)`` pixels, ``x2 = x + w``.
        label: COCO-80 index.
        iscrowd: the COCO crowd flag.
        area: the COCO segmentation area.
    """

    id: int
    box: tuple[float, float, float, float]
    label: int
    iscrowd: bool
    area: float


@dataclass(frozen=True)
class CocoImage:
    """One COCO image entry: ``id``, ``file_name``, ``width``, ``height``."""

    id: int
    file_name: str
    width: int
    height: int


@dataclass
class CocoInstances:
    """A COCO instances file, indexed.

    Attributes:
        path: the file read.
        images: image id -> :class:`CocoImage`.
        instances: image id -> its annotations, in file order (images without
            annotations map to an empty list).
    """

    path: str
    images: dict[int, CocoImage]
    instances: dict[int, list[CocoInstance]]


def read_coco_instances(path: str | Path) -> CocoInstances:
    """Read and check a COCO instances file.

    Raises:
        AnnotationError: a missing field, unknown image or category id, negative
            width/height or a duplicated id, naming the record and field.
    """
    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"COCO instances file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise AnnotationError(path, "<file>", "<json>", f"not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise AnnotationError(path, "<file>", "<top level>", "expected a COCO dict with 'images' and 'annotations'")
    images: dict[int, CocoImage] = {}
    for i, img in enumerate(check_list(require(data, "images", path, "<file>"), path, "<file>", "images")):
        name = record_name(i, img.get("file_name") if isinstance(img, dict) else None)
        where = f"images[{i}]."
        iid = check_int(require(img, "id", path, name, where), path, name, where + "id", 0, 1 << 62)
        file_name = require(img, "file_name", path, name, where)
        if not isinstance(file_name, str) or not file_name:
            raise AnnotationError(path, name, where + "file_name", f"expected a non-empty string, got {file_name!r}")
        if iid in images:
            raise AnnotationError(path, name, where + "id", f"image id {iid} appears twice")
        w = check_int(img.get("width", 0), path, name, where + "width", 0, 1 << 20)
        h = check_int(img.get("height", 0), path, name, where + "height", 0, 1 << 20)
        images[iid] = CocoImage(iid, file_name, w, h)
    instances: dict[int, list[CocoInstance]] = {iid: [] for iid in images}
    seen: set[int] = set()
    for i, ann in enumerate(check_list(require(data, "annotations", path, "<file>"), path, "<file>", "annotations")):
        name = record_name(i)
        where = f"annotations[{i}]."
        aid = check_int(require(ann, "id", path, name, where), path, name, where + "id", 0, 1 << 62)
        name = f"#{i} (annotation id {aid})"
        if aid in seen:
            raise AnnotationError(path, name, where + "id", f"annotation id {aid} appears twice")
        seen.add(aid)
        iid = require(ann, "image_id", path, name, where)
        if iid not in images:
            raise AnnotationError(path, name, where + "image_id", f"{iid!r} is not an id in 'images'")
        cid = require(ann, "category_id", path, name, where)
        if isinstance(cid, bool) or cid not in vocab.COCO_ID_TO_INDEX:
            raise AnnotationError(path, name, where + "category_id", f"{cid!r} is not a COCO category id (1-90)")
        bbox = require(ann, "bbox", path, name, where)
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)):
            raise AnnotationError(path, name, where + "bbox", f"expected [x, y, w, h] numbers, got {bbox!r}")
        x, y, w, h = (float(v) for v in bbox)
        if w < 0 or h < 0:
            raise AnnotationError(path, name, where + "bbox", f"negative width or height in {bbox}")
        instances[iid].append(CocoInstance(
            aid, (x, y, x + w, y + h), vocab.COCO_ID_TO_INDEX[cid], bool(ann.get("iscrowd", 0)), float(ann.get("area", 0.0))
        ))
    return CocoInstances(path, images, instances)
