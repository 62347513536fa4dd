"""HICO-DET ground truth from its three common file layouts.

* ``converted``: the JSON list of the DETR-style HOI codebases (PPDM, QPIC,
  CDN, GEN-VLKT: ``trainval_hico.json`` / ``test_hico.json``). Each record has
  ``file_name``, ``annotations`` ``[{bbox: [x1, y1, x2, y2], category_id}]``
  with COCO ids in the 91-id space, and ``hoi_annotation``
  ``[{subject_id, object_id, category_id}]`` where ``category_id`` is the
  1-based *verb* id (1-117); the HOI class is derived from (verb, object).
  ``hoi_category_id`` (1-600), present in the training file, is checked.
* ``fredzzhang``: the dict of fredzzhang/hicodet (``instances_test2015.json``):
  ``filenames``, ``size`` ([w, h]), ``annotation`` (per image ``boxes_h``,
  ``boxes_o``, ``hoi`` 0-599, ``object`` into the file's ``objects``,
  ``verb`` into its ``verbs``), ``empty``, ``correspondence``.
* ``mat``: the official ``anno_bbox.mat`` (``bbox_train`` / ``bbox_test``
  struct arrays: ``filename``, ``size``, ``hoi`` with 1-based ``id``,
  ``bboxhuman`` / ``bboxobject`` (``x1, x2, y1, y2``), 1-based
  ``connection`` rows (human, object) and ``invis``).

Every layout becomes the same :class:`~clhoi.structures.ImageAnnotation`:
boxes are de-duplicated (identical box and label = one box), ordered by first
use in the HOI rows (human, then object) and then any unreferenced boxes;
rows keep file order.

Boxes: all three layouts store the .mat file's 1-based inclusive pixel
indices. The reader subtracts 1, giving 0-based inclusive indices: the frame
in which the official evaluation (ho-rcnn ``eval_one.m``, which adds 1 to
0-based detections before a ``+1``-width IoU) compares detections, and the
frame of the V-COCO reader. Like the official evaluation, HOI entries marked
``invis`` in the .mat file give no rows; they are counted in
:attr:`HICODataset.invisible`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import torch

from clhoi import vocab
from clhoi.data.errors import AnnotationError, load_json_file, check_int, check_list, check_xyxy, record_name, require
from clhoi.structures import ImageAnnotation

HICO_LAYOUTS: tuple[str, ...] = ("converted", "fredzzhang", "mat")
OnInvalid = Literal["raise", "skip"]
Box = tuple[float, float, float, float]


@dataclass
class HICODataset:
    """A HICO-DET annotation file, read.

    Attributes:
        images: one :class:`ImageAnnotation` per image, in file order; labels
            are COCO-80 indices, ``hoi`` rows ``(human_idx, object_idx,
            class 0-599)``; boxes xyxy, 0-based inclusive pixel indices
            (the file's numbers minus 1).
        layout: ``converted``, ``fredzzhang`` or ``mat``.
        path: the file read.
        split: ``train`` / ``test`` for a .mat file, else ``None``.
        empty: indices of images without any HOI row (kept in ``images``).
        invisible: .mat HOI entries marked ``invis`` (no rows, as in the
            official evaluation).
        skipped: with ``on_invalid="skip"``, the error of each record left out.
    """

    images: list[ImageAnnotation]
    layout: str
    path: str
    split: str | None = None
    empty: list[int] = field(default_factory=list)
    invisible: int = 0
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_pairs(self) -> int:
        """Annotated (human, object, class) rows over all images."""
        return sum(int(a.hoi.shape[0]) for a in self.images)

    def class_counts(self) -> list[int]:
        """Number of rows of each of the 600 HOI classes."""
        counts = torch.zeros(vocab.hicodet().num_classes, dtype=torch.long)
        for a in self.images:
            counts += torch.bincount(a.hoi[:, 2], minlength=counts.numel())
        return counts.tolist()


def read_hicodet(path: str | Path, split: str | None = None, on_invalid: OnInvalid = "raise") -> list[ImageAnnotation]:
    """Read a HICO-DET annotation file in any of the three layouts.

    Args:
        path: ``test_hico.json`` / ``trainval_hico.json``, a fredzzhang
            ``instances_*.json`` or the official ``anno_bbox.mat``.
        split: ``train`` or ``test``; needed only for a .mat file holding both.
        on_invalid: ``raise`` (default) stops at the first malformed record;
            ``skip`` leaves such records out with a warning that names each
            one (QPIC's training loader quietly drops images whose indices
            point past their box list; this is that, made visible).

    Returns:
        One :class:`ImageAnnotation` per image, in file order.

    Raises:
        AnnotationError: naming the file, record and field at fault.
    """
    return load_hicodet(path, split, on_invalid).images


def load_hicodet(path: str | Path, split: str | None = None, on_invalid: OnInvalid = "raise") -> HICODataset:
    """Like :func:`read_hicodet`, keeping the file-level metadata (:class:`HICODataset`)."""
    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"HICO-DET annotation file not found: {path}")
    if Path(path).suffix.lower() == ".mat":
        return _read_mat(path, split, on_invalid)
    data = load_json_file(path, "HICO-DET annotation file")
    if isinstance(data, list):
        return _read_converted(data, path, on_invalid)
    if isinstance(data, dict) and "annotation" in data and "filenames" in data:
        return _read_fredzzhang(data, path, on_invalid)
    raise AnnotationError(
        path, "<file>", "<top level>",
        "not a HICO-DET layout: expected a list of records (test_hico.json), a dict with 'filenames' and "
        "'annotation' (fredzzhang/hicodet) or an anno_bbox.mat file",
    )


def detect_layout(path: str | Path) -> str:
    """``converted``, ``fredzzhang`` or ``mat``: the layout :func:`read_hicodet` reads (it reads the file)."""
    return load_hicodet(path).layout


# --------------------------------------------------------------------------- shared
class _ImageBuilder:
    """Collects one image's pairs into de-duplicated boxes and index rows."""

    def __init__(self) -> None:
        self.boxes: list[Box] = []
        self.labels: list[int] = []
        self.rows: list[tuple[int, int, int]] = []
        self._index: dict[tuple[Box, int], int] = {}

    def box(self, box: Box, label: int) -> int:
        key = (box, label)
        idx = self._index.get(key)
        if idx is None:
            idx = self._index[key] = len(self.boxes)
            self.boxes.append(box)
            self.labels.append(label)
        return idx

    def pair(self, human: Box, obj: Box, obj_label: int, cls: int) -> None:
        self.rows.append((self.box(human, vocab.PERSON), self.box(obj, obj_label), cls))

    def build(self, file_name: str, size: tuple[int, int]) -> ImageAnnotation:
        return ImageAnnotation(
            file_name=file_name,
            size=size,
            boxes=torch.tensor(self.boxes, dtype=torch.float32).reshape(-1, 4) - 1.0,  # 1-based -> 0-based
            labels=torch.tensor(self.labels, dtype=torch.long),
            hoi=torch.tensor(self.rows, dtype=torch.long).reshape(-1, 3),
        )


def _hoi_lookup() -> dict[tuple[int, int], int]:
    """(verb idx, HICO object idx) -> HOI class."""
    return {vo: c for c, vo in enumerate(vocab.hicodet().hoi)}


def _collect(
    n: int, read_one: Callable[[int], ImageAnnotation], on_invalid: OnInvalid, path: str
) -> tuple[list[ImageAnnotation], list[str]]:
    images: list[ImageAnnotation] = []
    skipped: list[str] = []
    for i in range(n):
        try:
            images.append(read_one(i))
        except AnnotationError as e:
            if on_invalid == "raise":
                raise
            skipped.append(str(e))
    if skipped:
        shown = "\n  ".join(skipped[:5])
        warnings.warn(f"{path}: skipped {len(skipped)} malformed record(s) (on_invalid='skip'):\n  {shown}", stacklevel=3)
    return images, skipped


def _empty(images: list[ImageAnnotation]) -> list[int]:
    return [i for i, a in enumerate(images) if a.hoi.shape[0] == 0]


# --------------------------------------------------------------------------- converted JSON
def _read_converted(data: list, path: str, on_invalid: OnInvalid) -> HICODataset:
    space = vocab.hicodet()
    coco_to_hico = {c: o for o, c in enumerate(space.object_to_coco)}
    lookup = _hoi_lookup()

    def read_one(i: int) -> ImageAnnotation:
        rec = data[i]
        name = record_name(i, rec.get("file_name") if isinstance(rec, dict) else None)
        file_name = require(rec, "file_name", path, name)
        if not isinstance(file_name, str) or not file_name:
            raise AnnotationError(path, name, "file_name", f"expected a non-empty string, got {file_name!r}")
        anns = check_list(require(rec, "annotations", path, name), path, name, "annotations")
        hois = check_list(require(rec, "hoi_annotation", path, name), path, name, "hoi_annotation")
        raw: list[tuple[Box, int]] = []
        for j, ann in enumerate(anns):
            where = f"annotations[{j}]."
            box = check_xyxy(require(ann, "bbox", path, name, where), path, name, where + "bbox")
            cid = require(ann, "category_id", path, name, where)
            if cid not in vocab.COCO_ID_TO_INDEX or isinstance(cid, bool):
                raise AnnotationError(path, name, where + "category_id", f"{cid!r} is not a COCO category id (1-90)")
            raw.append((box, vocab.COCO_ID_TO_INDEX[cid]))
        b = _ImageBuilder()
        used: set[int] = set()
        for j, hoi in enumerate(hois):
            where = f"hoi_annotation[{j}]."
            s = check_int(require(hoi, "subject_id", path, name, where), path, name, where + "subject_id", 0, len(raw) - 1)
            o = check_int(require(hoi, "object_id", path, name, where), path, name, where + "object_id", 0, len(raw) - 1)
            v = check_int(require(hoi, "category_id", path, name, where), path, name, where + "category_id", 1, 117) - 1
            if raw[s][1] != vocab.PERSON:
                raise AnnotationError(
                    path, name, where + "subject_id",
                    f"box {s} is a {vocab.COCO_CLASSES[raw[s][1]]!r}; HICO-DET subjects are persons",
                )
            cls = lookup.get((v, coco_to_hico[raw[o][1]]))
            if cls is None:
                raise AnnotationError(
                    path, name, where + "category_id",
                    f"verb {space.verbs[v]!r} with object {vocab.COCO_CLASSES[raw[o][1]]!r} (box {o}) is not one "
                    "of the 600 HICO-DET classes",
                )
            if "hoi_category_id" in hoi:
                given = check_int(hoi["hoi_category_id"], path, name, where + "hoi_category_id", 1, 600) - 1
                if given != cls:
                    raise AnnotationError(
                        path, name, where + "hoi_category_id",
                        f"{given + 1} disagrees with verb {v + 1} and the object box, which give class {cls + 1}",
                    )
            b.pair(raw[s][0], raw[o][0], raw[o][1], cls)
            used.update((s, o))
        for j, (box, label) in enumerate(raw):
            if j not in used:
                b.box(box, label)
        size = tuple(check_int(rec.get(k, 0), path, name, k, 0, 1 << 20) for k in ("width", "height"))
        return b.build(file_name, size)  # type: ignore[arg-type]

    images, skipped = _collect(len(data), read_one, on_invalid, path)
    return HICODataset(images, "converted", path, empty=_empty(images), skipped=skipped)


# --------------------------------------------------------------------------- fredzzhang JSON
def _file_vocabulary(data: dict, path: str) -> tuple[list[int], list[int]]:
    """Map the file's own object and verb indices onto clhoi.vocab's, by name; check ``correspondence``."""
    space = vocab.hicodet()
    maps = []
    for key, names in (("objects", space.objects), ("verbs", space.verbs)):
        listed = check_list(require(data, key, path, "<file>"), path, "<file>", key)
        table = []
        for k, n in enumerate(listed):
            if n not in names:
                raise AnnotationError(path, "<file>", f"{key}[{k}]", f"{n!r} is not a HICO-DET {key[:-1]} name")
            table.append(names.index(n))
        maps.append(table)
    obj_map, verb_map = maps
    for k, row in enumerate(data.get("correspondence", [])):
        ok = isinstance(row, list) and len(row) == 3 and 0 <= row[0] < space.num_classes
        if not ok or not (0 <= row[1] < len(obj_map) and 0 <= row[2] < len(verb_map)) or space.hoi[row[0]] != (
            verb_map[row[2]], obj_map[row[1]]
        ):
            raise AnnotationError(
                path, "<file>", f"correspondence[{k}]",
                f"{row!r} disagrees with the official 600-class list (hoi, object, verb)",
            )
    return obj_map, verb_map


def _read_fredzzhang(data: dict, path: str, on_invalid: OnInvalid) -> HICODataset:
    space = vocab.hicodet()
    obj_map, verb_map = _file_vocabulary(data, path)
    files = check_list(data["filenames"], path, "<file>", "filenames")
    annos = check_list(data["annotation"], path, "<file>", "annotation")
    sizes = check_list(data.get("size", [[0, 0]] * len(files)), path, "<file>", "size")
    if not len(files) == len(annos) == len(sizes):
        raise AnnotationError(
            path, "<file>", "annotation",
            f"{len(annos)} annotations, {len(files)} filenames and {len(sizes)} sizes; they must be as many",
        )

    def read_one(i: int) -> ImageAnnotation:
        name = record_name(i, files[i])
        if not isinstance(files[i], str) or not files[i]:
            raise AnnotationError(path, name, f"filenames[{i}]", f"expected a non-empty string, got {files[i]!r}")
        size = sizes[i]
        if not (isinstance(size, list) and len(size) == 2):
            raise AnnotationError(path, name, f"size[{i}]", f"expected [width, height], got {size!r}")
        size = (check_int(size[0], path, name, f"size[{i}][0]", 0, 1 << 20),
                check_int(size[1], path, name, f"size[{i}][1]", 0, 1 << 20))
        rec = annos[i]
        cols = {k: check_list(require(rec, k, path, name, f"annotation[{i}]."), path, name, f"annotation[{i}].{k}")
                for k in ("boxes_h", "boxes_o", "hoi", "object", "verb")}
        lengths = {k: len(v) for k, v in cols.items()}
        if len(set(lengths.values())) > 1:
            raise AnnotationError(path, name, f"annotation[{i}]", f"per-pair lists differ in length: {lengths}")
        b = _ImageBuilder()
        for j in range(lengths["hoi"]):
            where = f"annotation[{i}]."
            h = check_xyxy(cols["boxes_h"][j], path, name, f"{where}boxes_h[{j}]")
            o = check_xyxy(cols["boxes_o"][j], path, name, f"{where}boxes_o[{j}]")
            cls = check_int(cols["hoi"][j], path, name, f"{where}hoi[{j}]", 0, space.num_classes - 1)
            obj = obj_map[check_int(cols["object"][j], path, name, f"{where}object[{j}]", 0, len(obj_map) - 1)]
            verb = verb_map[check_int(cols["verb"][j], path, name, f"{where}verb[{j}]", 0, len(verb_map) - 1)]
            if space.hoi[cls] != (verb, obj):
                raise AnnotationError(
                    path, name, f"{where}hoi[{j}]",
                    f"class {cls} ({space.hoi_name(cls)!r}) disagrees with verb {space.verbs[verb]!r} and object "
                    f"{space.objects[obj]!r} of the same pair",
                )
            b.pair(h, o, space.object_to_coco[obj], cls)
        return b.build(files[i], size)

    images, skipped = _collect(len(files), read_one, on_invalid, path)
    empty = _empty(images)
    if "empty" in data and not skipped and sorted(data["empty"]) != empty:
        raise AnnotationError(
            path, "<file>", "empty",
            f"lists {len(data['empty'])} images without pairs but {len(empty)} images have none",
        )
    return HICODataset(images, "fredzzhang", path, empty=empty, skipped=skipped)


# --------------------------------------------------------------------------- official .mat
def _as_list(value: Any) -> list:
    """A MATLAB struct array read with ``simplify_cells``: dict (one), list (many) or empty array (none)."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return value
    if hasattr(value, "size") and value.size == 0:
        return []
    if hasattr(value, "tolist"):
        out = value.tolist()
        return out if isinstance(out, list) else [out]
    raise TypeError(type(value).__name__)


def _mat_box(s: Any, path: str, name: str, where: str) -> Box:
    if not isinstance(s, dict) or not {"x1", "x2", "y1", "y2"} <= set(s):
        raise AnnotationError(path, name, where, f"expected a struct with x1, x2, y1, y2, got {s!r}")
    return check_xyxy([s["x1"], s["y1"], s["x2"], s["y2"]], path, name, where)


def _read_mat(path: str, split: str | None, on_invalid: OnInvalid) -> HICODataset:
    from scipy.io import loadmat

    try:
        mat = loadmat(path, simplify_cells=True)
    except Exception as e:  # scipy raises several types for a bad file
        raise AnnotationError(path, "<file>", "<mat>", f"cannot be read as a MATLAB file ({e})") from None
    keys = [k for k in ("bbox_train", "bbox_test") if k in mat]
    if split is None:
        if len(keys) != 1:
            raise ValueError(
                f"{path} holds {keys or 'no bbox_train/bbox_test'}; pass split='train' or split='test'"
                if keys else f"{path} has neither 'bbox_train' nor 'bbox_test'; is it HICO-DET's anno_bbox.mat?"
            )
        key = keys[0]
    elif split in ("train", "test"):
        key = f"bbox_{split}"
        if key not in mat:
            raise AnnotationError(path, "<file>", key, f"missing; the file holds {keys}")
    else:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    space = vocab.hicodet()
    entries = _as_list(mat[key])
    invisible = 0

    def read_one(i: int) -> ImageAnnotation:
        nonlocal invisible
        rec = entries[i]
        name = record_name(i, rec.get("filename") if isinstance(rec, dict) else None)
        prefix = f"{key}({i + 1})."
        file_name = require(rec, "filename", path, name, prefix)
        if not isinstance(file_name, str) or not file_name:
            raise AnnotationError(path, name, prefix + "filename", f"expected a non-empty string, got {file_name!r}")
        size = require(rec, "size", path, name, prefix)
        if not isinstance(size, dict) or not {"width", "height"} <= set(size):
            raise AnnotationError(path, name, prefix + "size", f"expected a struct with width, height, got {size!r}")
        size = (check_int(size["width"], path, name, prefix + "size.width", 0, 1 << 20),
                check_int(size["height"], path, name, prefix + "size.height", 0, 1 << 20))
        b = _ImageBuilder()
        hidden = 0
        unreferenced: list[tuple[Box, int]] = []
        for j, hoi in enumerate(_as_list(require(rec, "hoi", path, name, prefix))):
            where = f"{prefix}hoi({j + 1})."
            cls = check_int(require(hoi, "id", path, name, where), path, name, where + "id", 1, space.num_classes) - 1
            if check_int(require(hoi, "invis", path, name, where), path, name, where + "invis", 0, 1):
                hidden += 1
                continue
            humans = [_mat_box(s, path, name, f"{where}bboxhuman({k + 1})")
                      for k, s in enumerate(_as_list(require(hoi, "bboxhuman", path, name, where)))]
            objects = [_mat_box(s, path, name, f"{where}bboxobject({k + 1})")
                       for k, s in enumerate(_as_list(require(hoi, "bboxobject", path, name, where)))]
            conn = require(hoi, "connection", path, name, where)
            rows = _as_list(conn.reshape(-1, 2) if hasattr(conn, "reshape") and conn.size else conn)
            label = space.hoi_coco_object(cls)
            for k, row in enumerate(rows):
                if not (isinstance(row, list) and len(row) == 2):
                    raise AnnotationError(path, name, f"{where}connection({k + 1},:)", f"expected [human, object], got {row!r}")
                ih = check_int(row[0], path, name, f"{where}connection({k + 1},1)", 1, len(humans)) - 1
                io = check_int(row[1], path, name, f"{where}connection({k + 1},2)", 1, len(objects)) - 1
                b.pair(humans[ih], objects[io], label, cls)
            unreferenced += [(box, vocab.PERSON) for box in humans] + [(box, label) for box in objects]
        for box, lab in unreferenced:  # boxes no connection uses: kept, after the rows' boxes
            b.box(box, lab)
        invisible += hidden
        return b.build(file_name, size)

    images, skipped = _collect(len(entries), read_one, on_invalid, path)
    return HICODataset(images, "mat", path, split=key[5:], empty=_empty(images), invisible=invisible, skipped=skipped)
