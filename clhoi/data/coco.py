"""COCO instance annotations (``instances_*.json``), as V-COCO needs them.

Annotations keep COCO's ``[x, y, w, h]``; :meth:`CocoInstance.xyxy` gives
corner boxes in either frame: continuous (``x + w``, what the converted HOI
files store) or the official V-COCO evaluation's inclusive pixel indices
(``x + max(0, w - 1)``, clipped to the image). See docs/datasets.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clhoi import vocab
from clhoi.data.errors import AnnotationError, load_json_file, check_int, check_list, record_name, require


@dataclass(frozen=True)
class CocoInstance:
    """One COCO annotation.

    Attributes:
        id: the annotation id (what V-COCO's ``ann_id`` / ``role_object_id`` name).
        bbox: COCO's ``(x, y, w, h)`` in pixels.
        label: COCO-80 index.
        iscrowd: the COCO crowd flag.
        area: the COCO segmentation area (``w * h`` when the file has none).
        ignore: the optional ``ignore`` flag some COCO-style files carry.
    """

    id: int
    bbox: tuple[float, float, float, float]
    label: int
    iscrowd: bool
    area: float
    ignore: bool = False

    def xyxy(self, inclusive: bool = False, size: tuple[int, int] | None = None) -> tuple[float, float, float, float]:
        """Corner box: ``(x, y, x + w, y + h)``, or with ``inclusive`` the official V-COCO
        frame ``(x, y, x + max(0, w - 1), y + max(0, h - 1))`` clipped to ``size = (width, height)``."""
        x, y, w, h = self.bbox
        if not inclusive:
            return (x, y, x + w, y + h)
        box = [x, y, x + max(0.0, w - 1.0), y + max(0.0, h - 1.0)]
        if size is not None:
            lim = (size[0] - 1.0, size[1] - 1.0)
            box = [min(lim[k % 2], max(0.0, v)) for k, v in enumerate(box)]
        return tuple(box)  # type: ignore[return-value]


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
    data = load_json_file(path, "COCO instances file")
    if not isinstance(data, dict):
        raise AnnotationError(path, "<file>", "<top level>", "expected a COCO dict with 'images' and 'annotations'")
    fast = _plain_instances(data, path)
    if fast is not None:
        return fast
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
        area = ann.get("area", w * h)
        if isinstance(area, bool) or not isinstance(area, (int, float)):
            raise AnnotationError(path, name, where + "area", f"expected a number, got {area!r}")
        instances[iid].append(CocoInstance(
            aid, (x, y, w, h), vocab.COCO_ID_TO_INDEX[cid], bool(ann.get("iscrowd", 0)), float(area),
            bool(ann.get("ignore", 0)),
        ))
    return CocoInstances(path, images, instances)


_MISSING = object()


def _plain_instances(data: dict, path: str) -> CocoInstances | None:
    """:func:`read_coco_instances` for a file whose every record is plain, checked by columns (several times
    faster); ``None`` when anything is not (then the record-by-record reader accepts it or names the fault)."""
    from itertools import chain

    imgs, anns = data.get("images"), data.get("annotations")
    if type(imgs) is not list or type(anns) is not list:
        return None
    try:
        if not (set(map(type, imgs)) <= {dict} and set(map(type, anns)) <= {dict}):
            return None
        ids = [d["id"] for d in imgs]
        names = [d["file_name"] for d in imgs]
        widths = [d.get("width", 0) for d in imgs]
        heights = [d.get("height", 0) for d in imgs]
        if not (set(map(type, ids)) | set(map(type, widths)) | set(map(type, heights)) <= {int}
                and set(map(type, names)) <= {str} and all(names) and len(set(ids)) == len(ids)):
            return None
        if ids and (min(ids) < 0 or max(ids) > 1 << 62):
            return None
        if widths and (min(widths) < 0 or max(widths) > 1 << 20 or min(heights) < 0 or max(heights) > 1 << 20):
            return None
        aids = [d["id"] for d in anns]
        iids = [d["image_id"] for d in anns]
        cids = [d["category_id"] for d in anns]
        bboxes = [d["bbox"] for d in anns]
        areas = [d.get("area", _MISSING) for d in anns]
        if not (set(map(type, aids)) | set(map(type, iids)) | set(map(type, cids)) <= {int}
                and len(set(aids)) == len(aids) and set(cids) <= vocab.COCO_ID_TO_INDEX.keys()):
            return None
        if aids and (min(aids) < 0 or max(aids) > 1 << 62):
            return None
        images = {i: CocoImage(i, n, w, h) for i, n, w, h in zip(ids, names, widths, heights)}
        if not set(iids) <= images.keys():
            return None
        if not (set(map(type, bboxes)) <= {list} and set(map(len, bboxes)) <= {4}
                and set(map(type, chain.from_iterable(bboxes))) <= {int, float}
                and set(map(type, areas)) <= {int, float, type(_MISSING)}):
            return None
    except (KeyError, TypeError):
        return None
    instances: dict[int, list[CocoInstance]] = {iid: [] for iid in images}
    to_index = vocab.COCO_ID_TO_INDEX
    for d, aid, iid, cid, bbox, area in zip(anns, aids, iids, cids, bboxes, areas):
        x, y, w, h = float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])
        if w < 0 or h < 0:
            return None
        instances[iid].append(CocoInstance(
            aid, (x, y, w, h), to_index[cid], bool(d.get("iscrowd", 0)), float(w * h if area is _MISSING else area),
            bool(d.get("ignore", 0)),
        ))
    return CocoInstances(path, images, instances)
