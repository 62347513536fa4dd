"""Dataset readers at full scale: read time of the real HICO-DET test set in each layout.

The real annotations (fredzzhang layout, 9,658 images) are rewritten as the
converted JSON (test_hico.json) and as an anno_bbox.mat with the official
struct layout, then each file is read back; the three readings must agree.

    python benchmarks/bench_data.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.io import savemat

from clhoi import vocab
from clhoi.data.hicodet import load_hicodet, shipped_test_annotations
from clhoi.structures import ImageAnnotation

REAL = shipped_test_annotations()  # the real HICO-DET test annotations shipped with clhoi (gzip JSON)


def write_converted(images: list[ImageAnnotation], path: Path) -> None:
    space = vocab.hicodet()
    out = []
    for a in images:
        boxes = (a.boxes + 1).tolist()  # back to the files' 1-based numbers
        anns = [{"bbox": b, "category_id": vocab.COCO_IDS[l]} for b, l in zip(boxes, a.labels.tolist())]
        hois = [{"subject_id": s, "object_id": o, "category_id": space.hoi[c][0] + 1} for s, o, c in a.hoi.tolist()]
        out.append({"file_name": a.file_name, "annotations": anns, "hoi_annotation": hois})
    path.write_text(json.dumps(out))


def _boxes(boxes: list[list[float]]) -> np.ndarray:
    arr = np.empty((1, len(boxes)), dtype=[(k, object) for k in ("x1", "x2", "y1", "y2")])
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        arr[0, k] = tuple(np.array([[v]], dtype=np.uint16) for v in (x1, x2, y1, y2))
    return arr


def write_mat(images: list[ImageAnnotation], path: Path) -> None:
    """One hoi entry per (image, class), bboxhuman / bboxobject lists and 1-based connection rows."""
    split = np.empty((1, len(images)), dtype=[(k, object) for k in ("filename", "size", "hoi")])
    for i, a in enumerate(images):
        boxes = (a.boxes + 1).tolist()
        by_class: dict[int, list[tuple[int, int]]] = {}
        for s, o, c in a.hoi.tolist():
            by_class.setdefault(c, []).append((s, o))
        hoi = np.empty((1, max(len(by_class), 1)), dtype=[(k, object) for k in
                                                          ("id", "bboxhuman", "bboxobject", "connection", "invis")])
        if not by_class:  # the official file lists such images with an invisible interaction
            hoi[0, 0] = (np.array([[1]]), np.zeros((0, 0)), np.zeros((0, 0)), np.zeros((0, 0)), np.array([[1]]))
        for k, (c, pairs) in enumerate(by_class.items()):
            hs, os_ = list(dict.fromkeys(s for s, _ in pairs)), list(dict.fromkeys(o for _, o in pairs))
            conn = np.array([[hs.index(s) + 1, os_.index(o) + 1] for s, o in pairs], dtype=np.uint8)
            hoi[0, k] = (np.array([[c + 1]], dtype=np.uint16), _boxes([boxes[s] for s in hs]),
                         _boxes([boxes[o] for o in os_]), conn, np.array([[0]], dtype=np.uint8))
        size = np.empty((1, 1), dtype=[(k, object) for k in ("width", "height", "depth")])
        size[0, 0] = tuple(np.array([[v]], dtype=np.uint16) for v in (*a.size, 3))
        split[0, i] = (np.array([a.file_name]), size, hoi)
    savemat(str(path), {"bbox_test": split})


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sec, real = timed(lambda: load_hicodet(REAL), args.repeat)
    print(f"fredzzhang JSON   {REAL.stat().st_size / 1e6:6.1f} MB  {sec:6.2f} s  ({len(real)} images, {real.num_pairs} pairs)")
    with tempfile.TemporaryDirectory() as tmp:
        conv_path, mat_path = Path(tmp) / "test_hico.json", Path(tmp) / "anno_bbox.mat"
        write_converted(real.images, conv_path)
        write_mat(real.images, mat_path)
        for name, path in (("converted JSON", conv_path), ("anno_bbox.mat", mat_path)):
            sec, other = timed(lambda path=path: load_hicodet(path), args.repeat)
            agree = all(a.file_name == b.file_name and torch.equal(a.boxes, b.boxes) and torch.equal(a.labels, b.labels)
                        and torch.equal(a.hoi, b.hoi) for a, b in zip(real.images, other.images))
            print(f"{name:17s} {path.stat().st_size / 1e6:6.1f} MB  {sec:6.2f} s  agrees with fredzzhang: {agree}")


if __name__ == "__main__":
    main()
