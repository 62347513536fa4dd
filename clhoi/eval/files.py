"""Predictions files and metrics files.

A predictions file holds one record per image,
``{"file_name", "boxes": [[x1, y1, x2, y2], ...], "labels": [COCO-80 index, ...],
"hoi": [[human_idx, object_idx, class_idx, score], ...]}`` (the
:class:`~clhoi.structures.Predictions` JSON form), either as one JSON list
(:func:`write_predictions`) or as JSON lines, one record per line
(``predictions.jsonl`` of ``clhoi eval``). Both are read the same way. The
per-image files of ``clhoi predict`` (``{"image", "label_set", "triplets"}``)
are read too, one file or a folder of them: each becomes one record.

Reading is made for files of a million triplets: the JSON is parsed with orjson
(with Python's cyclic garbage collector paused: the parse creates millions of
lists) and the records are flattened into NumPy arrays in one pass, then checked
with array operations. Only when a check fails are the records walked one by one,
to name the first bad record and field. Boxes and scores stay float64, as the
official code reads them, so that rounding to float32 cannot create score ties or
move an IoU across the threshold. Nothing here imports torch, except
:func:`read_predictions`, which returns :class:`~clhoi.structures.Predictions`.
"""

from __future__ import annotations

import gc
import json
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

if TYPE_CHECKING:
    from clhoi.structures import Predictions


@dataclass
class PredictionArrays:
    """Per-image prediction records, flattened (``R`` records, ``B`` boxes, ``T`` triplets).

    Record ``r`` owns ``boxes[box_start[r]:box_start[r + 1]]`` and the triplets
    ``[hoi_start[r]:hoi_start[r + 1]]``; ``pairs`` index its own boxes.

    Attributes:
        file_names: ``R`` image file names, in file order.
        num_boxes: ``[R]`` int64 boxes per record.
        boxes: ``[B, 4]`` float64 xyxy pixels.
        labels: ``[B]`` int64 COCO-80 indices.
        num_triplets: ``[R]`` int64 triplets per record.
        pairs: ``[T, 2]`` int64 ``(human_idx, object_idx)`` into the record's boxes (-1: no object).
        classes: ``[T]`` int64 class indices.
        scores: ``[T]`` float64.
        source: the file read (for messages).
    """

    file_names: list[str]
    num_boxes: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    num_triplets: np.ndarray
    pairs: np.ndarray
    classes: np.ndarray
    scores: np.ndarray
    source: str = "predictions"

    def __len__(self) -> int:
        return len(self.file_names)

    @property
    def box_start(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.num_boxes)])

    @property
    def hoi_start(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.num_triplets)])

    def to_predictions(self) -> list[Predictions]:
        """One :class:`~clhoi.structures.Predictions` per record (float64 tensors; imports torch)."""
        import torch

        from clhoi.structures import Predictions

        b, h = self.box_start, self.hoi_start
        return [
            Predictions(name, torch.from_numpy(self.boxes[b[r]:b[r + 1]].copy()),
                        torch.from_numpy(self.labels[b[r]:b[r + 1]].copy()),
                        torch.from_numpy(self.pairs[h[r]:h[r + 1]].copy()),
                        torch.from_numpy(self.classes[h[r]:h[r + 1]].copy()),
                        torch.from_numpy(self.scores[h[r]:h[r + 1]].copy()))
            for r, name in enumerate(self.file_names)
        ]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (parsing a large JSON file creates millions of containers,
    and each collection would walk them all); restores its previous state."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _loads(raw: bytes | str) -> Any:
    try:
        import orjson
    except ImportError:  # orjson is a dependency; the standard library gives the same objects, slower
        return json.loads(raw)
    return orjson.loads(raw)


def load_records(path: str | Path) -> list:
    """The records of a JSON list file, a JSON lines file (one JSON object per line), or of
    ``clhoi predict`` output (one ``<image>.json`` file, or a folder of them).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not JSON, not a list, or a line is not JSON; the message names the file (and line).
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise FileNotFoundError(f"{path}: a folder, but without the <image>.json files of `clhoi predict`")
        with gc_paused():
            return [_from_predict(_loads(f.read_bytes()), f) for f in files]
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    raw = path.read_bytes()
    head = raw.lstrip()[:1]
    with gc_paused():
        if head == b"{":  # JSON lines, or one `clhoi predict` file
            try:
                doc = _loads(raw)
            except ValueError:
                doc = None
            if isinstance(doc, dict) and "triplets" in doc:
                return [_from_predict(doc, path)]
            records = []
            for n, line in enumerate(raw.split(b"\n"), 1):
                if line.strip():
                    try:
                        records.append(_loads(line))
                    except ValueError as e:
                        raise ValueError(f"{path}: line {n}: not valid JSON ({e}); a predictions file is a JSON "
                                         "list of per-image records or JSON lines (one record per line)") from None
            return records
        try:
            data = _loads(raw)
        except ValueError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of per-image records (or JSON lines, one record per line), "
                         f"got {type(data).__name__}")
    return data


PARALLEL_BYTES = 8 << 20
"""Prediction files at least this large are read by two processes (:func:`read_arrays_in_two`)."""


def read_arrays_in_two(path: str | Path) -> PredictionArrays | None:
    """A large predictions file read by two processes, each parsing and flattening one half of its records.

    Python builds an object per number while parsing JSON; for a million triplets that is
    most of the reading time, and it does not shrink. Here a forked child process parses
    the second half of the records into :class:`PredictionArrays` and sends them back
    (:func:`clhoi.eval.parallel.fork_call`), while this process parses the first half. The file is cut between two
    records: a JSON list after a ``}`` that is followed by ``,`` and ``{`` (each half is
    then made a list again), JSON lines at a line break. If the cut were not between two
    top-level records (a ``}, {`` inside a string or a nested list), a half would not be
    valid JSON, or not a list.

    Returns ``None``, and the caller reads the file the ordinary way (:func:`load_records`
    and :func:`records_to_arrays`, which also name any fault), whenever this path does not
    apply or anything differs from the plain case: a file under :data:`PARALLEL_BYTES`, no
    ``fork``, no idle CPU or ``CLHOI_EVALUATE_PROCESSES=1`` (:func:`clhoi.eval.parallel.idle_cpu`),
    no cut found, a half that is not valid JSON, not a list of
    records, or not regular (:func:`_vectorised`), records carrying ``label_set`` or
    ``person_box`` (``clhoi predict`` files, V-COCO detection records), or a failed child.
    Otherwise the arrays equal ``records_to_arrays(load_records(path))`` exactly: each half's
    records are that many consecutive records of the file, flattened record by record.
    """
    from clhoi.eval import parallel

    path = Path(path)
    try:
        if path.stat().st_size < PARALLEL_BYTES or not parallel.idle_cpu():
            return None
    except OSError:
        return None
    halves = _cut_in_two(path)
    if halves is None:
        return None
    first, second, lines = halves
    # the arrays take at most ~2.7 bytes per byte of JSON (a triplet "[0, 1, 2, 0.5], " of 16 bytes: 32 bytes)
    join = parallel.fork_call(_half_arrays, second, lines, str(path), capacity=4 * len(second) + (1 << 20))
    if join is None:
        return None
    try:
        mine = _half_arrays(first, lines, str(path))
    finally:
        theirs = join()
    if mine is None or not isinstance(theirs, PredictionArrays):
        return None
    both = PredictionArrays(
        mine.file_names + theirs.file_names, *(np.concatenate([getattr(mine, k), getattr(theirs, k)]) for k in (
            "num_boxes", "boxes", "labels", "num_triplets", "pairs", "classes", "scores")), source=str(path))
    return both if _fast_checks_pass(both) else None


def _cut_in_two(path: Path) -> tuple[memoryview, memoryview, bool] | None:
    """The file cut between two records near its middle: ``(first half, second half, JSON lines?)``.

    A JSON list ``[..., {...}, {...}, ...]`` is cut at a ``}`` + ``,`` + ``{`` (white space
    allowed): the two bytes after the ``}`` become ``]`` and ``[``, so both halves are JSON
    lists without copying the file (with no white space, the second half is copied).
    """
    import re

    with open(path, "rb") as f:
        buf = bytearray(path.stat().st_size)
        if f.readinto(buf) != len(buf) or f.read(1):  # the file changed while being read
            return None
    start = re.compile(rb"\s*").match(buf).end()
    head = bytes(buf[start:start + 1])
    middle = len(buf) // 2
    view = memoryview(buf)
    if head == b"[":
        m = re.compile(rb"\}\s*,\s*\{").search(buf, middle)
        if m is None:
            return None
        brace, opening = m.start(), m.end() - 1
        buf[brace + 1] = ord("]")
        if opening - brace >= 3:
            buf[brace + 2] = ord("[")
            return view[: brace + 2], view[brace + 2:], False
        return view[: brace + 2], memoryview(b"[" + bytes(view[opening:])), False
    if head == b"{":
        cut = buf.find(b"\n", middle)
        if cut < 0 or not buf[cut:].strip():
            return None
        return view[:cut], view[cut + 1:], True
    return None


def _half_arrays(raw: memoryview, lines: bool, source: str) -> PredictionArrays | None:
    """One half's records, flattened; ``None`` when anything is not the plain case."""
    try:
        if lines:
            records = [_loads(line) for line in bytes(raw).split(b"\n") if line.strip()]
        else:
            records = _loads(raw)
        if not isinstance(records, list) or not records or not all(type(r) is dict for r in records):
            return None
        if any("label_set" in r or "person_box" in r for r in records):
            return None
        return _vectorised(records, source)
    except Exception:  # noqa: BLE001 - not valid JSON, or anything unexpected: the ordinary path decides
        return None


def _from_predict(doc: Any, path: Path) -> dict:
    """One ``clhoi predict`` file ``{"image", "label_set", "triplets": [{human_idx, object_idx, human_box,
    object_box, object, class_index, score}]}`` -> a per-image record (boxes by their index; a box no
    triplet uses is a zero box). ``label_set`` is kept, for the dataset check."""
    from clhoi import vocab

    if not isinstance(doc, dict) or not isinstance(doc.get("triplets"), list) or not isinstance(doc.get("image"), str):
        raise ValueError(f"{path}: not a `clhoi predict` file (expected 'image', 'label_set', 'triplets')")
    boxes: dict[int, list] = {}
    labels: dict[int, int] = {}
    hoi = []
    for j, t in enumerate(doc["triplets"]):
        try:
            h, o = int(t["human_idx"]), int(t["object_idx"])
            boxes[h], labels[h] = list(t["human_box"]), vocab.PERSON
            if o >= 0:
                boxes[o], labels[o] = list(t["object_box"]), vocab.coco_index(t["object"])
            hoi.append([h, o, int(t["class_index"]), t["score"]])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: triplets[{j}]: malformed `clhoi predict` triplet ({e!r})") from None
    n = max(boxes, default=-1) + 1
    return {"file_name": Path(doc["image"]).name, "label_set": doc.get("label_set"),
            "boxes": [boxes.get(i, [0.0, 0.0, 0.0, 0.0]) for i in range(n)],
            "labels": [labels.get(i, 0) for i in range(n)], "hoi": hoi}


def read_json_list(path: str | Path) -> list:
    """A JSON list file or JSON lines file, as a list (of per-image or per-detection records)."""
    return load_records(path)


def read_prediction_arrays(path: str | Path) -> PredictionArrays:
    """Read a predictions file (JSON list or JSON lines) into :class:`PredictionArrays` without torch.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not JSON, or a record is malformed; the message names
            the file, the record (index and file name) and the field.
    """
    return records_to_arrays(load_records(path), path)


def read_predictions(path: str | Path) -> list[Predictions]:
    """Read a predictions file into :class:`~clhoi.structures.Predictions` (float64 boxes and scores)."""
    return read_prediction_arrays(path).to_predictions()


def parse_predictions(data: list, path: str | Path = "predictions") -> list[Predictions]:
    """Per-image records (already loaded JSON) -> Predictions, float64 boxes and scores."""
    return records_to_arrays(data, path).to_predictions()


def records_to_arrays(records: list, path: str | Path = "predictions") -> PredictionArrays:
    """Per-image records (loaded JSON) -> :class:`PredictionArrays`, checked.

    Checks here: each record is an object with a string ``file_name`` and numeric
    ``boxes [N, 4]``, ``labels [N]``, ``hoi [M, 4]``; box indices are integers
    inside the record's boxes (``object_idx`` may be -1). The evaluators check
    the rest (class range, finite scores, box geometry, known images).
    """
    with gc_paused():
        fast = _vectorised(records, str(path))
        if fast is not None and _fast_checks_pass(fast):
            return fast
        return _record_by_record(records, str(path))


def _vectorised(records: list, path: str) -> PredictionArrays | None:
    """All records flattened in one pass; ``None`` when the shapes are not as expected."""
    try:
        names = [r["file_name"] for r in records]
        boxes = [r["boxes"] for r in records]
        labels = [r["labels"] for r in records]
        hoi = [r["hoi"] for r in records]
        if not all(type(n) is str for n in names):
            return None
        r = len(records)
        nb = np.fromiter(map(len, boxes), dtype=np.int64, count=r)
        if (np.fromiter(map(len, labels), dtype=np.int64, count=r) != nb).any():
            return None
        nt = np.fromiter(map(len, hoi), dtype=np.int64, count=r)
        # the rows are iterated where they lie (a list of all rows would cost more than a second pass)
        n_boxes, n_hoi = int(nb.sum()), int(nt.sum())  # rows: a JSON list, object or string has len() items
        if set(map(len, chain.from_iterable(boxes))) - {4} or set(map(len, chain.from_iterable(hoi))) - {4}:
            return None
        b = np.fromiter(chain.from_iterable(chain.from_iterable(boxes)), dtype=np.float64, count=4 * n_boxes)
        lab = np.fromiter(chain.from_iterable(labels), dtype=np.float64, count=n_boxes)
        h = np.fromiter(chain.from_iterable(chain.from_iterable(hoi)), dtype=np.float64, count=4 * n_hoi)
        b, h = b.reshape(-1, 4), h.reshape(-1, 4)
    except (TypeError, ValueError, KeyError):
        return None
    # integers: the int64 cast gives the same value back (NaN, infinities, fractions and values out of
    # int64's range do not; the cast's warning for those is silenced, the record-by-record path names them)
    with np.errstate(invalid="ignore"):
        lab_int = lab.astype(np.int64)
        idx = h[:, :3].astype(np.int64)
    if not ((lab_int == lab).all() and (idx == h[:, :3]).all()):
        return None
    return PredictionArrays(names, nb, b, lab_int, nt, idx[:, :2], np.ascontiguousarray(idx[:, 2]),
                            np.ascontiguousarray(h[:, 3]), path)


def _fast_checks_pass(a: PredictionArrays) -> bool:
    n = np.repeat(a.num_boxes, a.num_triplets)
    h, o = a.pairs[:, 0], a.pairs[:, 1]  # column by column: `.any(1)` over rows of two is several times slower
    return not ((h < 0) | (h >= n) | (o < -1) | (o >= n)).any()


def _record_by_record(records: list, path: str) -> PredictionArrays:
    """The slow path: each record checked on its own; the first fault raises, naming record and field."""
    parts = [_record(rec, f"{path}: record {i}") for i, rec in enumerate(records)]
    if not parts:
        z = np.zeros(0, dtype=np.int64)
        return PredictionArrays([], z, np.zeros((0, 4)), z, z, np.zeros((0, 2), np.int64), z, np.zeros(0), path)
    return PredictionArrays(
        [p[0] for p in parts], np.array([p[1].shape[0] for p in parts], dtype=np.int64),
        np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]),
        np.array([p[3].shape[0] for p in parts], dtype=np.int64),
        np.concatenate([p[3][:, :2] for p in parts]).astype(np.int64),
        np.concatenate([p[3][:, 2] for p in parts]).astype(np.int64),
        np.concatenate([p[3][:, 3] for p in parts]), path,
    )


def _record(rec: Any, where: str) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """One record -> ``(file_name, boxes [N, 4] float64, labels [N] int64, hoi [M, 4] float64)``."""
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: expected an object with file_name, boxes, labels, hoi; got {type(rec).__name__}")
    name = rec.get("file_name")
    if not isinstance(name, str):
        raise ValueError(f"{where}: no string 'file_name'")
    where = f"{where} ({name})"
    arrays = {}
    for key, dtype, width in (("boxes", np.float64, 4), ("labels", np.float64, 0), ("hoi", np.float64, 4)):
        if key not in rec:
            raise ValueError(f"{where}: lacks field '{key}'")
        try:
            a = np.asarray(rec[key], dtype=dtype)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: field '{key}' is not numeric ({e})") from None
        if a.size == 0:
            a = a.reshape((0, width) if width else (0,))
        if (width and (a.ndim != 2 or a.shape[1] != width)) or (not width and a.ndim != 1):
            shape = f"[N, {width}]" if width else "[N]"
            raise ValueError(f"{where}: field '{key}' must be {shape}, got shape {list(a.shape)}")
        arrays[key] = a
    boxes, labels, hoi = arrays["boxes"], arrays["labels"], arrays["hoi"]
    if labels.shape[0] != boxes.shape[0]:
        raise ValueError(f"{where}: {boxes.shape[0]} boxes but {labels.shape[0]} labels")
    if not (np.isfinite(labels).all() and (labels == np.round(labels)).all()):
        raise ValueError(f"{where}: field 'labels' must hold integers (COCO-80 indices)")
    idx = hoi[:, :3]
    if not (np.isfinite(idx).all() and (idx == np.round(idx)).all()):
        raise ValueError(f"{where}: field 'hoi' box and class indices must be integers")
    n = boxes.shape[0]
    bad = (idx[:, 0] < 0) | (idx[:, 1] < -1) | (idx[:, :2] >= n).any(1)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}: hoi[{j}] = {hoi[j].tolist()} indexes outside its {n} boxes")
    return name, boxes, labels.astype(np.int64), hoi


def write_predictions(predictions: list[Predictions], path: str | Path) -> None:
    """Write predictions as one JSON list, the form :func:`read_predictions` reads."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump([p.to_dict() for p in predictions], f)


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, +-Infinity, also NumPy floats) replaced by ``None``."""
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_metrics(metrics: dict[str, Any], path: str | Path) -> None:
    """Write a metrics dict as JSON, creating the parent folder.

    NaN and Infinity become ``null`` (strict JSON never holds them): an AP or mean
    that is undefined, e.g. the AP of a class without ground truth in V-COCO.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(finite(metrics), f, indent=2, allow_nan=False)
        f.write("\n")
