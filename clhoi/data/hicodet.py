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
:attr:`HICODataset.invisible` and listed per image in
:attr:`HICODataset.invisible_classes` (the Known-Object setting needs them).

The real HICO-DET test annotations ship with the package
(:func:`shipped_test_annotations`, fredzzhang/hicodet's ``instances_test2015.json``,
MIT licence, gzip-compressed). :func:`read_image_labels` reads HICO's image-level
labels (``anno.mat``), from which the official code takes the Known-Object images.

Importing this module does not import torch: with ``tensors=False`` the readers
give NumPy arrays, the torch-free path of ``clhoi evaluate``.
"""

from __future__ import annotations

import gzip
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np

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
        invisible_classes: ``file_name`` -> the HOI classes (0-599) of its
            ``invis`` entries (.mat only): the image has these interactions,
            without boxes.
        skipped: with ``on_invalid="skip"``, the error of each record left out.
    """

    images: list[ImageAnnotation]
    layout: str
    path: str
    split: str | None = None
    empty: list[int] = field(default_factory=list)
    invisible: int = 0
    skipped: list[str] = field(default_factory=list)
    invisible_classes: dict[str, list[int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_pairs(self) -> int:
        """Annotated (human, object, class) rows over all images."""
        return sum(int(a.hoi.shape[0]) for a in self.images)

    def class_counts(self) -> list[int]:
        """Number of rows of each of the 600 HOI classes."""
        counts = np.zeros(vocab.hicodet().num_classes, dtype=np.int64)
        for a in self.images:
            counts += np.bincount(np.asarray(a.hoi[:, 2].tolist(), dtype=np.int64), minlength=counts.size)
        return counts.tolist()


SHIPPED_TEST = Path(__file__).parent / "assets" / "hicodet" / "instances_test2015.json.gz"


def _loads(raw: bytes) -> Any:
    try:
        import orjson
    except ImportError:  # orjson is a dependency; the standard library gives the same objects, slower
        return json.loads(raw)
    return orjson.loads(raw)


def shipped_test_annotations() -> Path:
    """The HICO-DET test annotations shipped with clhoi (9,658 images; see ``clhoi/data/assets/hicodet/README.md``)."""
    return SHIPPED_TEST


def read_hicodet(
    path: str | Path, split: str | None = None, on_invalid: OnInvalid = "raise", tensors: bool = True
) -> list[ImageAnnotation]:
    """Read a HICO-DET annotation file in any of the three layouts.

    Args:
        path: ``test_hico.json`` / ``trainval_hico.json``, a fredzzhang
            ``instances_*.json`` or the official ``anno_bbox.mat``.
        split: ``train`` or ``test``; needed only for a .mat file holding both.
        on_invalid: ``raise`` (default) stops at the first malformed record;
            ``skip`` leaves such records out with a warning that names each
            one (QPIC's training loader quietly drops images whose indices
            point past their box list; this is that, made visible).
        tensors: ``True`` (default) gives torch tensors; ``False`` NumPy arrays of
            the same shapes and dtypes, without importing torch.

    Returns:
        One :class:`ImageAnnotation` per image, in file order.

    Raises:
        AnnotationError: naming the file, record and field at fault.
    """
    return load_hicodet(path, split, on_invalid, tensors).images


def load_hicodet(
    path: str | Path, split: str | None = None, on_invalid: OnInvalid = "raise", tensors: bool = True
) -> HICODataset:
    """Like :func:`read_hicodet`, keeping the file-level metadata (:class:`HICODataset`).

    A ``.json.gz`` file is read as the gzip-compressed JSON it holds.
    """
    dataset = _load(path, split, on_invalid)
    if tensors:
        import torch

        dataset.images = [
            ImageAnnotation(a.file_name, a.size, torch.from_numpy(a.boxes), torch.from_numpy(a.labels),
                            torch.from_numpy(a.hoi)) for a in dataset.images
        ]
    return dataset


def _load(path: str | Path, split: str | None, on_invalid: OnInvalid) -> HICODataset:
    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"HICO-DET annotation file not found: {path}")
    if Path(path).suffix.lower() == ".mat":
        return _read_mat(path, split, on_invalid)
    if path.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as f:
                data = _loads(f.read())
        except (OSError, EOFError, ValueError) as e:
            raise AnnotationError(path, "<file>", "<json>", f"not valid gzip-compressed JSON ({e})") from None
    else:
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
            boxes=np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4) - np.float32(1),  # 1-based -> 0-based
            labels=np.asarray(self.labels, dtype=np.int64).reshape(-1),
            hoi=np.asarray(self.rows, dtype=np.int64).reshape(-1, 3),
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
    fast = _fredzzhang_vectorised(files, annos, sizes, obj_map, verb_map) if on_invalid == "raise" else None
    if fast is not None:
        return _fredzzhang_dataset(fast, data, path, [])

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
    return _fredzzhang_dataset(images, data, path, skipped)


def _fredzzhang_dataset(images: list[ImageAnnotation], data: dict, path: str, skipped: list[str]) -> HICODataset:
    empty = _empty(images)
    if "empty" in data and not skipped and sorted(data["empty"]) != empty:
        raise AnnotationError(
            path, "<file>", "empty",
            f"lists {len(data['empty'])} images without pairs but {len(empty)} images have none",
        )
    return HICODataset(images, "fredzzhang", path, empty=empty, skipped=skipped)


def _fredzzhang_vectorised(
    files: list, annos: list, sizes: list, obj_map: list[int], verb_map: list[int]
) -> list[ImageAnnotation] | None:
    """The fredzzhang layout read with array operations: the same images as the record-by-record reader.

    Returns ``None`` when any check fails; the record-by-record reader then finds
    the first fault and names it.
    """
    from itertools import chain

    space = vocab.hicodet()
    keys = ("boxes_h", "boxes_o", "hoi", "object", "verb")
    try:
        # type checks as set(map(type, ...)): one C-level pass each
        if not (set(map(type, files)) <= {str} and all(files) and set(map(type, annos)) <= {dict}):
            return None
        cols = {k: [a[k] for a in annos] for k in keys}
        if not all(set(map(type, cols[k])) <= {list} for k in keys):
            return None
        count = np.fromiter(map(len, cols["hoi"]), dtype=np.int64, count=len(annos))
        if any((np.fromiter(map(len, cols[k]), dtype=np.int64, count=len(annos)) != count).any() for k in keys):
            return None
        size = np.array(sizes, dtype=np.int64)
        if size.shape != (len(files), 2) or (size < 0).any() or (size > 1 << 20).any():
            return None
        total = int(count.sum())
        boxes = {}
        for k in ("boxes_h", "boxes_o"):
            rows = list(chain.from_iterable(cols[k]))
            if not (set(map(type, rows)) <= {list} and set(map(len, rows)) <= {4}):
                return None
            b = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=4 * total).reshape(-1, 4)
            if not (np.isfinite(b).all() and (b[:, 2] >= b[:, 0]).all() and (b[:, 3] >= b[:, 1]).all()):
                return None
            boxes[k] = b
        ints = {}
        for k, high in (("hoi", space.num_classes), ("object", len(obj_map)), ("verb", len(verb_map))):
            values = list(chain.from_iterable(cols[k]))
            if not set(map(type, values)) <= {int}:
                return None
            a = np.fromiter(values, dtype=np.int64, count=total)
            if (a < 0).any() or (a >= high).any():
                return None
            ints[k] = a
    except (TypeError, ValueError, KeyError):
        return None
    obj = np.asarray(obj_map, dtype=np.int64)[ints["object"]]
    verb = np.asarray(verb_map, dtype=np.int64)[ints["verb"]]
    hoi_table = np.asarray(space.hoi, dtype=np.int64)
    if ((hoi_table[ints["hoi"], 0] != verb) | (hoi_table[ints["hoi"], 1] != obj)).any():
        return None
    # boxes de-duplicated per image by (box, label), numbered by first use: human, object, next row ...
    image = np.repeat(np.arange(len(files), dtype=np.int64), count)
    label = np.asarray(space.object_to_coco, dtype=np.int64)[obj]
    slots = np.empty((2 * total, 4))
    slots[0::2], slots[1::2] = boxes["boxes_h"], boxes["boxes_o"]
    slot_label = np.empty(2 * total, dtype=np.int64)
    slot_label[0::2], slot_label[1::2] = vocab.PERSON, label
    key = np.column_stack([np.repeat(image, 2).astype(np.float64), slot_label.astype(np.float64), slots])
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # unique boxes in order of first use (image-major)
    rank_of_unique = np.empty(order.size, dtype=np.int64)
    rank_of_unique[order] = np.arange(order.size)
    box_image = np.repeat(image, 2)[first[order]]
    box_start = np.searchsorted(box_image, np.arange(len(files) + 1))
    slot_box = rank_of_unique[inverse.reshape(-1)] - np.repeat(box_start[:-1][image], 2)
    all_boxes = (slots[first[order]].astype(np.float32) - np.float32(1))  # 1-based -> 0-based
    all_labels = slot_label[first[order]]
    rows = np.column_stack([slot_box[0::2], slot_box[1::2], ints["hoi"]])
    row_start = np.concatenate([[0], np.cumsum(count)])
    return [
        ImageAnnotation(
            file_name=files[i], size=(int(size[i, 0]), int(size[i, 1])),
            boxes=all_boxes[box_start[i]:box_start[i + 1]], labels=all_labels[box_start[i]:box_start[i + 1]],
            hoi=rows[row_start[i]:row_start[i + 1]],
        )
        for i in range(len(files))
    ]


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
    hidden_classes: dict[str, list[int]] = {}

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
                hidden_classes.setdefault(file_name, []).append(cls)
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
    return HICODataset(images, "mat", path, split=key[5:], empty=_empty(images), invisible=invisible, skipped=skipped,
                       invisible_classes=hidden_classes)


# --------------------------------------------------------------------------- image-level labels (anno.mat)
@dataclass
class HICOImageLabels:
    """HICO's image-level labels of one split (``anno.mat``: ``anno_train`` / ``anno_test``).

    Attributes:
        file_names: the split's images (``list_train`` / ``list_test``), in file order.
        labels: ``[N, 600]`` float64, HICO's codes: 1 positive, 0 ambiguous, -1 negative,
            NaN unknown; column ``c`` is HOI class ``c`` (0-based, the official order).
        path: the file read.
        split: ``train`` or ``test``.
    """

    file_names: list[str]
    labels: np.ndarray
    path: str
    split: str

    def positive_classes(self) -> dict[str, np.ndarray]:
        """``file_name`` -> the classes labelled 1 (ho-rcnn ``eval_one.m``: ``anno_im(nid, :) == 1``)."""
        return {name: np.flatnonzero(row == 1) for name, row in zip(self.file_names, self.labels)}


def read_image_labels(path: str | Path, split: str = "test") -> HICOImageLabels:
    """Read HICO's image-level labels (``anno.mat`` of ``hico_20160224_det``) with ``scipy.io.loadmat``.

    The file holds ``list_<split>`` (cell array of file names), ``anno_<split>``
    (``600 x N`` double) and ``list_action`` (the 600 classes; when present,
    its ``nname`` / ``vname`` are checked against :func:`clhoi.vocab.hicodet`).

    Raises:
        FileNotFoundError: no such file.
        AnnotationError: naming the file and the variable at fault.
    """
    from scipy.io import loadmat

    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"HICO image-level label file (anno.mat) not found: {path}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    try:
        mat = loadmat(path, simplify_cells=True)
    except Exception as e:  # scipy raises several types for a bad file
        raise AnnotationError(path, "<file>", "<mat>", f"cannot be read as a MATLAB file ({e})") from None
    space = vocab.hicodet()
    for key in (f"list_{split}", f"anno_{split}"):
        if key not in mat:
            raise AnnotationError(path, "<file>", key, "missing; is this HICO's anno.mat (hico_20160224_det)?")
    names = mat[f"list_{split}"]
    names = [names] if isinstance(names, str) else _as_list(names)  # one image: loadmat gives the string
    if not all(isinstance(n, str) and n for n in names):
        raise AnnotationError(path, "<file>", f"list_{split}", "expected a cell array of file names")
    try:
        labels = np.asarray(mat[f"anno_{split}"], dtype=np.float64)
    except (TypeError, ValueError):
        raise AnnotationError(path, "<file>", f"anno_{split}", "expected a numeric 600 x N matrix") from None
    if labels.ndim == 1 and len(names) == 1:
        labels = labels.reshape(-1, 1)
    if labels.shape != (space.num_classes, len(names)):
        raise AnnotationError(path, "<file>", f"anno_{split}",
                              f"has shape {list(labels.shape)}; expected [{space.num_classes}, {len(names)}] "
                              f"(classes x images of list_{split})")
    if "list_action" in mat:
        actions = _as_list(mat["list_action"])
        if len(actions) != space.num_classes:
            raise AnnotationError(path, "<file>", "list_action", f"has {len(actions)} entries, expected 600")
        for c, (a, (v, o)) in enumerate(zip(actions, space.hoi)):
            got = (str(a.get("vname", "")).replace("_", " "), str(a.get("nname", "")).replace("_", " ")) \
                if isinstance(a, dict) else None
            want = (space.verbs[v].replace("_", " "), space.objects[o].replace("_", " "))
            if got != want:
                raise AnnotationError(path, "<file>", f"list_action({c + 1})",
                                      f"is {got!r}, but class {c} is {want!r}: the class order differs from HICO's")
    return HICOImageLabels(list(names), np.ascontiguousarray(labels.T), path, split)
