"""A compact, pre-read copy of the shipped HICO-DET test annotations, for a fast ``clhoi evaluate``.

Reading ``instances_test2015.json.gz`` (decompress, parse 3.4 MB of JSON, check and
de-duplicate every box) takes about 0.2 s; ``clhoi evaluate --dataset hicodet`` does it on
every run. ``instances_test2015.npz`` beside it holds the result of that reading, the
:class:`~clhoi.data.hicodet.HICODataset` that :func:`clhoi.data.hicodet.load_hicodet` returns
for the file, as flat arrays (0.5 MB), and the SHA-256 of the ``.json.gz`` it was made
from. The HICO-DET dataset spec (:mod:`clhoi.data.registry`, what ``clhoi evaluate`` and
``clhoi eval`` read ground truth through) uses :func:`read_compact` for NumPy annotations,
and only when that hash matches the ``.json.gz`` being read; otherwise (a changed or
replaced file) the JSON is read as before. :func:`clhoi.data.hicodet.read_hicodet` itself
always reads the JSON. The JSON stays the source of truth:
``tests/data/test_data_hicodet_compact.py`` checks that the compact copy gives the same
images, field for field and dtype for dtype.

Regenerate after changing the shipped annotations or the reader::

    python -m clhoi.data.hicodet_compact

Imports nothing heavy (NumPy only; no torch).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from clhoi.structures import ImageAnnotation

FORMAT = 1
"""Bumped when the arrays' meaning changes; a file of another format is not used."""


def compact_path(source: str | Path) -> Path:
    """Where the compact copy of ``source`` (``name.json.gz``) lives: ``name.npz`` beside it."""
    source = Path(source)
    name = source.name[: -len(".json.gz")] if source.name.endswith(".json.gz") else source.stem
    return source.with_name(name + ".npz")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_compact(source: str | Path, out: str | Path | None = None) -> Path:
    """Read ``source`` with the JSON reader and write its compact copy (default: :func:`compact_path`)."""
    from clhoi.data.hicodet import _load

    source = Path(source)
    out = Path(out) if out is not None else compact_path(source)
    data = _load(source, None, "raise")
    if data.layout != "fredzzhang" or data.split or data.invisible or data.skipped or data.invisible_classes:
        raise ValueError(f"{source}: only a fredzzhang-layout file without skipped or invisible entries is stored")
    images = data.images
    boxes = np.concatenate([a.boxes for a in images] + [np.zeros((0, 4), np.float32)])
    labels = np.concatenate([a.labels for a in images] + [np.zeros(0, np.int64)])
    hoi = np.concatenate([a.hoi for a in images] + [np.zeros((0, 3), np.int64)])
    if boxes.dtype != np.float32 or labels.dtype != np.int64 or hoi.dtype != np.int64:
        raise ValueError("the reader's dtypes changed: update clhoi/data/hicodet_compact.py")
    # small integer types on disk (every value is checked to round-trip), the reader's dtypes in memory
    small = {"labels": labels.astype(np.uint8), "hoi": hoi.astype(np.int16),
             "num_boxes": np.array([a.boxes.shape[0] for a in images], dtype=np.int32),
             "num_hoi": np.array([a.hoi.shape[0] for a in images], dtype=np.int32),
             "size": np.array([a.size for a in images], dtype=np.int32).reshape(-1, 2)}
    wide = {"labels": labels, "hoi": hoi}
    for k, v in wide.items():
        if not np.array_equal(small[k].astype(np.int64), v):
            raise ValueError(f"{k} does not fit its on-disk type")
    names = "\n".join(a.file_name for a in images)
    if any("\n" in a.file_name for a in images):
        raise ValueError("a file name holds a newline")
    with open(out, "wb") as f:
        np.savez_compressed(
            f, format=np.array(FORMAT), source_sha256=np.array(_sha256(source)),
            file_names=np.frombuffer(names.encode("utf-8"), dtype=np.uint8), boxes=boxes,
            empty=np.array(data.empty, dtype=np.int32), **small,
        )
    return out


def read_compact(source: str | Path):
    """The :class:`~clhoi.data.hicodet.HICODataset` of ``source`` from its compact copy, or ``None``
    when there is no copy, it is of another format, or it was made from other bytes than ``source``'s."""
    from clhoi.data.hicodet import HICODataset

    given, source = str(source), Path(source)
    path = compact_path(source)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["format"]) != FORMAT or str(z["source_sha256"]) != _sha256(source):
                return None
            names = z["file_names"].tobytes().decode("utf-8").split("\n")
            boxes = z["boxes"]
            labels = z["labels"].astype(np.int64)
            hoi = z["hoi"].astype(np.int64)
            nb, nh = z["num_boxes"].astype(np.int64), z["num_hoi"].astype(np.int64)
            size = z["size"].tolist()
            empty = z["empty"].tolist()
    except (OSError, ValueError, KeyError, UnicodeDecodeError):
        return None
    if not (len(names) == nb.size == nh.size == len(size)) or nb.sum() != boxes.shape[0] or nh.sum() != hoi.shape[0]:
        return None
    b = np.concatenate([[0], np.cumsum(nb)]).tolist()
    h = np.concatenate([[0], np.cumsum(nh)]).tolist()
    images = [
        ImageAnnotation(name, (s[0], s[1]), boxes[b[i]:b[i + 1]], labels[b[i]:b[i + 1]], hoi[h[i]:h[i + 1]])
        for i, (name, s) in enumerate(zip(names, size))
    ]
    return HICODataset(images, "fredzzhang", given, empty=empty)


if __name__ == "__main__":
    from clhoi.data.hicodet import shipped_test_annotations

    print(f"wrote {write_compact(shipped_test_annotations())}")
