"""Speed and memory of the HICO-DET evaluator at full scale.

1. A synthetic HICO-DET test set of the real size: 9,546 images with HOIs (the
   real test set's count), about 3.5 ground-truth pairs per image over the 600
   classes, and about one million scored triplets (jittered copies of the
   ground truth plus background pairs, the kind of output a detector gives).
   Reported: wall time of ``process`` + ``evaluate`` and peak memory.
2. Optionally the same predictions through a JSON file (``--json``): write,
   ``read_predictions``, evaluate.
3. Optionally the real test annotations (``--real PATH``) with the ground truth
   as predictions (must give mAP 100).
4. Optionally (``--vcoco``) the V-COCO evaluator on a synthetic test set of V-COCO's
   size: 4,946 images, ~200 random triplets each (about one million).

Run: ``python benchmarks/bench_eval.py [--json] [--vcoco] [--real ../shared/data/hicodet/instances_test2015.json]``.
Target (issue 2): under 10 s and under 4 GiB on 2 cores. Results: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from clhoi import vocab
from clhoi.eval import HICODetEvaluator, VCOCOEvaluator
from clhoi.eval.files import read_predictions, write_predictions
from clhoi.structures import ImageAnnotation, Predictions


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def synthetic(num_images: int, num_triplets: int, seed: int) -> tuple[list[ImageAnnotation], list[Predictions]]:
    """Ground truth and predictions shaped like HICO-DET test and a detector's output."""
    rng = np.random.default_rng(seed)
    space = vocab.hicodet()
    class_object = np.array([space.hoi_coco_object(c) for c in range(space.num_classes)])
    per_image = max(num_triplets // num_images, 1)
    gts, preds = [], []
    for i in range(num_images):
        n = int(rng.integers(1, 7))  # ~3.5 pairs per image
        cls = rng.integers(0, space.num_classes, n)
        xy = rng.uniform(0, 500, (2 * n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(20, 200, (2 * n, 2))], 1)
        labels = np.zeros(2 * n, dtype=np.int64)
        labels[1::2] = class_object[cls]
        hoi = np.stack([np.arange(0, 2 * n, 2), np.arange(1, 2 * n, 2), cls], 1)
        name = f"HICO_test2015_{i:08d}.jpg"
        gts.append(ImageAnnotation(name, (640, 480), torch.from_numpy(boxes).float(), torch.from_numpy(labels),
                                   torch.from_numpy(hoi)))
        # predictions: 2n jittered ground-truth boxes + 8 background boxes, all pairs scored for some classes
        pb = np.concatenate([boxes + rng.normal(0, 8, boxes.shape), np.concatenate(
            [q := rng.uniform(0, 500, (8, 2)), q + rng.uniform(20, 200, (8, 2))], 1)])
        pb[:, 2:] = np.maximum(pb[:, 2:], pb[:, :2])
        m = per_image
        h = np.where(rng.random(m) < 0.5, rng.choice(np.arange(0, 2 * n, 2), m), rng.integers(0, pb.shape[0], m))
        o = rng.integers(0, pb.shape[0], m)
        c = np.where(rng.random(m) < 0.3, rng.choice(cls, m), rng.integers(0, space.num_classes, m))
        preds.append(Predictions(name, torch.from_numpy(pb), torch.zeros(pb.shape[0], dtype=torch.long),
                                 torch.from_numpy(np.stack([h, o], 1)), torch.from_numpy(c),
                                 torch.from_numpy(rng.random(m))))
    return gts, preds


def synthetic_vcoco(num_images: int, per_image: int, seed: int) -> tuple[list[ImageAnnotation], list[Predictions]]:
    """Persons (10 % unlabelled) doing two random classes each with a random object; random triplets."""
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    for i in range(num_images):
        n, m = int(rng.integers(1, 6)), int(rng.integers(1, 4))
        xy = rng.uniform(0, 400, (n + m, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(20, 150, (n + m, 2))], 1)
        labels = np.r_[np.zeros(n, dtype=np.int64), rng.integers(1, 80, m)]
        ignore = np.r_[rng.random(n) < 0.1, np.zeros(m, dtype=bool)]
        rows = [(j, n + int(rng.integers(m)), int(c)) for j in range(n) if not ignore[j] for c in rng.choice(29, 2, replace=False)]
        name = f"COCO_val2014_{i:012d}.jpg"
        gts.append(ImageAnnotation(name, (640, 480), torch.from_numpy(boxes).float(), torch.from_numpy(labels),
                                   torch.tensor(rows, dtype=torch.long).reshape(-1, 3), torch.from_numpy(ignore)))
        pb = boxes + rng.normal(0, 5, boxes.shape)
        pb[:, 2:] = np.maximum(pb[:, 2:], pb[:, :2])
        h, o, c = rng.integers(0, n, per_image), rng.integers(-1, n + m, per_image), rng.integers(0, 29, per_image)
        preds.append(Predictions(name, torch.from_numpy(pb), torch.from_numpy(labels), torch.from_numpy(np.stack([h, o], 1)),
                                 torch.from_numpy(c), torch.from_numpy(np.round(rng.random(per_image), 2))))
    return gts, preds


def run(gts: list[ImageAnnotation], preds: list[Predictions]) -> tuple[float, object]:
    start, cpu = time.perf_counter(), time.process_time()
    evaluator = HICODetEvaluator(gts)
    evaluator.process(preds)
    result = evaluator.evaluate()
    run.cpu = time.process_time() - cpu  # CPU seconds of this process: less sensitive to a shared machine
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=9546)
    parser.add_argument("--triplets", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="also time the round trip through a predictions file")
    parser.add_argument("--vcoco", action="store_true", help="also time the V-COCO evaluator on ~1M triplets")
    parser.add_argument("--real", type=Path, help="also evaluate the real test annotations, ground truth as predictions")
    args = parser.parse_args()
    torch.set_num_threads(2)

    gts, preds = synthetic(args.images, args.triplets, args.seed)
    n = sum(p.classes.numel() for p in preds)
    base = peak_rss_gib()
    seconds, result = run(gts, preds)
    print(f"synthetic: {args.images} images, {n} triplets, {sum(a.hoi.shape[0] for a in gts)} ground-truth pairs")
    print(f"  evaluate (process + evaluate): {seconds:.2f} s wall, {run.cpu:.2f} s CPU; peak RSS {peak_rss_gib():.2f} GiB "
          f"(before evaluating: {base:.2f} GiB)")
    print(f"  mAP default {100 * result.default.full:.2f}, known-object {100 * result.known_object.full:.2f}")

    if args.json:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "preds.json"
            start = time.perf_counter()
            write_predictions(preds, path)
            written = time.perf_counter() - start
            start = time.perf_counter()
            loaded = read_predictions(path)
            read = time.perf_counter() - start
            seconds2, result2 = run(gts, loaded)
            print(f"  JSON: write {written:.2f} s ({path.stat().st_size / 2**20:.0f} MiB), read {read:.2f} s, "
                  f"evaluate {seconds2:.2f} s; peak RSS {peak_rss_gib():.2f} GiB; "
                  f"mAP default {100 * result2.default.full:.2f}")

    if args.vcoco:
        vgts, vpreds = synthetic_vcoco(4946, 200, args.seed)
        start, cpu = time.perf_counter(), time.process_time()
        evaluator = VCOCOEvaluator(vgts)
        evaluator.process(vpreds)
        vres = evaluator.evaluate()
        print(f"V-COCO synthetic: {len(vgts)} images, {sum(p.classes.numel() for p in vpreds)} triplets: "
              f"{time.perf_counter() - start:.2f} s wall, {time.process_time() - cpu:.2f} s CPU; peak RSS "
              f"{peak_rss_gib():.2f} GiB; " + ", ".join(f"{k} {v:.2f}" for k, v in vres.summary().items()))

    if args.real:
        from clhoi.data.hicodet import read_hicodet

        start = time.perf_counter()
        real = read_hicodet(args.real)
        read = time.perf_counter() - start
        rng = np.random.default_rng(args.seed)
        gt_preds = [Predictions(a.file_name, a.boxes.double(), a.labels, a.hoi[:, :2], a.hoi[:, 2],
                                torch.as_tensor(rng.random(a.hoi.shape[0]))) for a in real]
        seconds3, result3 = run(real, gt_preds)
        print(f"real test annotations: {len(real)} images read in {read:.2f} s; ground truth as predictions "
              f"({sum(p.classes.numel() for p in gt_preds)} triplets) evaluated in {seconds3:.2f} s: "
              + ", ".join(f"{k} {v:.4f}" for k, v in result3.summary().items()))


if __name__ == "__main__":
    main()
