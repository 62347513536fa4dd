"""Speed of the teacher report on the real HICO-DET test set (9,658 images).

Run from the repository root::

    python benchmarks/bench_report.py [--files 4]

Label files are synthesised from the ground truth (each image-level interaction
kept with probability 0.7), so the numbers measure the report, not a teacher.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import clhoi.provenance  # noqa: F401  (import cost kept out of the timings)
from clhoi.data.hicodet import read_hicodet, shipped_test_annotations
from clhoi.report.teacher import compare, read_annotations, teacher_report
from clhoi.structures import InteractionPair, LabelRecord
from clhoi.teacher.store import read_labels, write_labels
from clhoi.vocab import COCO_CLASSES, hicodet

HICO_TEST = shipped_test_annotations()  # the real HICO-DET test annotations shipped with clhoi (gzip JSON)


def synth_labels(path: Path, seed: int) -> None:
    space, rng = hicodet(), random.Random(seed)
    records = []
    for ann in read_hicodet(HICO_TEST):
        keys = {(space.verbs[space.hoi[c][0]], COCO_CLASSES[int(ann.labels[o])]) for _, o, c in ann.hoi.tolist()}
        pairs = [InteractionPair(v.replace("_", " "), o, o) for v, o in sorted(keys)
                 if v != "no_interaction" and rng.random() < 0.7]
        records.append(LabelRecord(ann.file_name, pairs=pairs, teacher=f"synthetic-{seed}",
                                   status="ok" if pairs else "no_action"))
    write_labels(records, path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"teacher{i}.jsonl" for i in range(args.files)]
        for i, p in enumerate(paths):
            synth_labels(p, i)
        t0 = time.perf_counter()
        gt = read_annotations("hicodet", HICO_TEST)
        t1 = time.perf_counter()
        labels = [(p.stem, read_labels(p)) for p in paths]
        t2 = time.perf_counter()
        report = compare(labels, gt, "hicodet")
        t3 = time.perf_counter()
        json.dumps(report.to_dict())
        png = report.chart()
        t4 = time.perf_counter()
        print(f"HICO-DET test, {len(gt)} images, {len(paths)} label files")
        print(f"  read ground truth      {t1 - t0:6.2f} s")
        print(f"  read label files       {t2 - t1:6.2f} s  ({(t2 - t1) / len(paths):.2f} s per file)")
        print(f"  measure (compare)      {t3 - t2:6.2f} s  ({(t3 - t2) / len(paths):.2f} s per file)")
        print(f"  JSON + chart {png.width}x{png.height} {t4 - t3:6.2f} s")
        t5 = time.perf_counter()
        teacher_report(paths, "hicodet", HICO_TEST, Path(tmp) / "out")
        print(f"  end to end (teacher_report, writes JSON + PNG) {time.perf_counter() - t5:.2f} s")
        print(report.table())

if __name__ == "__main__":
    main()
