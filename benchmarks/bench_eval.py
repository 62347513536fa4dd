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
5. Optionally (``--e2e``) the whole ``clhoi evaluate`` command, end to end, in a fresh
   process, on the real test annotations shipped with clhoi: predictions for the 9,546
   test images with HOIs, 100 triplets each (955k; jittered ground-truth boxes and
   background boxes), written by ``write_predictions``. With ``--genvlkt DIR`` (a
   checkout of YueLiao/gen-vlkt, not part of clhoi) the same predictions file is also
   scored by its ``datasets/hico_eval_triplet.py`` port, in a fresh process as well
   (reading the JSON, converting it to the port's input, ``evaluate()``), and the ratio
   is printed. Each command runs ``--repeat`` times, alternating.

Run: ``python benchmarks/bench_eval.py [--json] [--vcoco] [--real] [--e2e [--genvlkt DIR]]``.
Targets: issue 2, under 10 s and under 4 GiB on 2 cores for the evaluator; issue 11, the whole
``clhoi evaluate`` at most 3 s and at least 10x faster than GEN-VLKT's port. Results: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
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
    parser.add_argument("--real", action="store_true",
                        help="also evaluate the real test annotations (shipped with clhoi), ground truth as predictions")
    parser.add_argument("--e2e", action="store_true", help="time the whole `clhoi evaluate` command (fresh process)")
    parser.add_argument("--genvlkt", type=Path, help="a gen-vlkt checkout: time its hico_eval_triplet.py port too")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only-e2e", action="store_true", help="skip the in-process synthetic benchmark")
    parser.add_argument("--port-run", nargs=2, metavar=("DIR", "PREDICTIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.port_run:
        return port_run(Path(args.port_run[0]), Path(args.port_run[1]))
    torch.set_num_threads(2)
    if args.e2e:
        end_to_end(args.genvlkt, args.repeat, args.seed)
    if args.only_e2e:
        return

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
        from clhoi.data.hicodet import read_hicodet, shipped_test_annotations

        start = time.perf_counter()
        real = read_hicodet(shipped_test_annotations())
        read = time.perf_counter() - start
        rng = np.random.default_rng(args.seed)
        gt_preds = [Predictions(a.file_name, a.boxes.double(), a.labels, a.hoi[:, :2], a.hoi[:, 2],
                                torch.as_tensor(rng.random(a.hoi.shape[0]))) for a in real]
        seconds3, result3 = run(real, gt_preds)
        print(f"real test annotations: {len(real)} images read in {read:.2f} s; ground truth as predictions "
              f"({sum(p.classes.numel() for p in gt_preds)} triplets) evaluated in {seconds3:.2f} s: "
              + ", ".join(f"{k} {v:.4f}" for k, v in result3.summary().items()))


def real_predictions(gts: list[ImageAnnotation], per_image: int, seed: int) -> list[Predictions]:
    """``per_image`` triplets for each test image with HOIs: jittered ground-truth pairs and background pairs."""
    rng = np.random.default_rng(seed)
    space = vocab.hicodet()
    out = []
    for a in gts:
        hoi = np.asarray(a.hoi)
        if hoi.shape[0] == 0:
            continue
        boxes = np.asarray(a.boxes, dtype=np.float64)
        bg = rng.uniform(0, 400, (6, 2))
        pb = np.concatenate([boxes + rng.normal(0, 6, boxes.shape), np.concatenate([bg, bg + rng.uniform(20, 200, (6, 2))], 1)])
        pb[:, 2:] = np.maximum(pb[:, 2:], pb[:, :2])
        labels = np.concatenate([np.asarray(a.labels), rng.integers(0, 80, 6)])
        pick = rng.integers(0, hoi.shape[0], per_image)
        real = rng.random(per_image) < 0.4
        h = np.where(real, hoi[pick, 0], rng.integers(0, pb.shape[0], per_image))
        o = np.where(real, hoi[pick, 1], rng.integers(0, pb.shape[0], per_image))
        c = np.where(real | (rng.random(per_image) < 0.3), hoi[pick, 2], rng.integers(0, space.num_classes, per_image))
        out.append(Predictions(a.file_name, pb, labels, np.stack([h, o], 1), c, rng.random(per_image)))
    return out


def end_to_end(genvlkt: Path | None, repeat: int, seed: int) -> None:
    """Time `clhoi evaluate` (and optionally GEN-VLKT's port) in fresh processes on one predictions file."""
    from clhoi.data.hicodet import read_hicodet, shipped_test_annotations

    gts = read_hicodet(shipped_test_annotations(), tensors=False)
    preds = real_predictions(gts, 100, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "preds.json"
        write_predictions(preds, path)
        # on disk before the first timed run: while the kernel still writes a just-written 42 MB file back,
        # the first process to read it pays for that (measured: 1.30 s instead of 0.83-0.87 s, 0.43 s system time)
        with open(path, "rb") as f:
            os.fsync(f.fileno())
        n = sum(len(p.classes) for p in preds)
        print(f"end to end: {len(preds)} images, {n} triplets, {path.stat().st_size / 1e6:.1f} MB "
              f"(write_predictions, fsync); load average {os.getloadavg()[0]:.2f}")
        env = dict(os.environ, OMP_NUM_THREADS="1")
        # the installed console command, as a user runs it (python -m clhoi.cli would load typer first)
        clhoi = Path(sys.executable).with_name("clhoi")
        entry = [str(clhoi)] if clhoi.exists() else [sys.executable, "-m", "clhoi"]
        ours = [*entry, "evaluate", "--dataset", "hicodet", "--predictions", str(path),
                "--out", str(Path(tmp) / "metrics.json")]
        print(f"  command: {' '.join(ours[:len(entry) + 1])} ...; CLHOI_EVALUATE_PROCESSES="
              f"{os.environ.get('CLHOI_EVALUATE_PROCESSES', '(unset)')}")
        port = [sys.executable, __file__, "--port-run", str(genvlkt), str(path)] if genvlkt else None
        times: dict[str, list[float]] = {"clhoi evaluate": [], "GEN-VLKT port": []}
        cpu: dict[str, list[float]] = {}  # user + system CPU seconds of the child process
        for _ in range(repeat):
            for name, cmd in (("clhoi evaluate", ours), ("GEN-VLKT port", port)):
                if cmd is None:
                    continue
                start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
                done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                times[name].append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.setdefault(name, []).append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                if done.returncode != 0:
                    raise SystemExit(f"{name} failed:\n{done.stdout}\n{done.stderr}")
                if name == "GEN-VLKT port":
                    port_out = done.stdout.strip().splitlines()[-1]
        metrics = json.loads((Path(tmp) / "metrics.json").read_text())
        print(f"  clhoi evaluate: {', '.join(f'{t:.2f}' for t in times['clhoi evaluate'])} s wall "
              f"(min {min(times['clhoi evaluate']):.2f}); CPU {', '.join(f'{t:.2f}' for t in cpu['clhoi evaluate'])} s; "
              f"Default Full mAP {metrics['default']['mAP_full']:.4f}, "
              f"Known-Object {metrics['known_object']['mAP_full']:.4f}; load average {os.getloadavg()[0]:.2f}")
        if port:
            print(f"  GEN-VLKT hico_eval_triplet.py: {', '.join(f'{t:.2f}' for t in times['GEN-VLKT port'])} s wall "
                  f"(min {min(times['GEN-VLKT port']):.2f}); CPU {', '.join(f'{t:.2f}' for t in cpu['GEN-VLKT port'])} s; "
                  f"{port_out}")
            ratios = [p / o for p, o in zip(times["GEN-VLKT port"], times["clhoi evaluate"])]
            print(f"  ratio port / clhoi per round: {', '.join(f'{r:.1f}' for r in ratios)} (wall); "
                  f"min/min {min(times['GEN-VLKT port']) / min(times['clhoi evaluate']):.1f}x wall, "
                  f"{min(cpu['GEN-VLKT port']) / min(cpu['clhoi evaluate']):.1f}x CPU")


def port_run(port_dir: Path, predictions: Path) -> None:
    """GEN-VLKT's ``HICOEvaluator.evaluate`` on a clhoi predictions file (its own code, imported from ``port_dir``).

    Its constructor takes model outputs, so the evaluator is built without it and given
    what the constructor would have made: per image ``predictions`` (boxes) and
    ``hoi_prediction`` (subject, object, class 0-599, score), and the ground truth
    in its layout. Only plain Python and NumPy run here, as in the port.
    """
    import types
    from collections import defaultdict

    sys.modules.setdefault("cv2", types.ModuleType("cv2"))  # imported by the port, unused by evaluate()
    sys.path.insert(0, str(port_dir))
    from datasets.hico_eval_triplet import HICOEvaluator
    from datasets.hico_text_label import hico_text_label

    from clhoi.data.hicodet import read_hicodet, shipped_test_annotations

    space = vocab.hicodet()
    labels = list(hico_text_label.keys())
    assert labels == [(v, space.object_to_coco[o]) for v, o in space.hoi], "the port's class order differs"
    with open(predictions, encoding="utf-8") as f:
        records = {r["file_name"]: r for r in json.load(f)}
    ev = HICOEvaluator.__new__(HICOEvaluator)
    ev.overlap_iou, ev.max_hois, ev.zero_shot_type = 0.5, 100, "default"
    ev.fp, ev.tp, ev.score, ev.sum_gts = defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(lambda: 0)
    ev.gt_triplets, ev.hico_triplet_labels = [], labels
    ev.rare_triplets = [(0, space.object_to_coco[space.hoi[c][1]], space.hoi[c][0]) for c in space.rare]
    ev.non_rare_triplets = [(0, space.object_to_coco[o], v) for c, (v, o) in enumerate(space.hoi) if c not in space.rare]
    ev.preds, ev.gts = [], []
    for a in read_hicodet(shipped_test_annotations(), tensors=False):
        r = records.get(a.file_name, {"boxes": [], "hoi": []})
        hois = [{"subject_id": int(h), "object_id": int(o), "category_id": int(c), "score": s} for h, o, c, s in r["hoi"]]
        ev.preds.append({"filename": a.file_name, "predictions": [{"bbox": b} for b in r["boxes"]], "hoi_prediction": hois})
        gt_hois = [{"subject_id": int(h), "object_id": int(o), "category_id": int(c)} for h, o, c in a.hoi.tolist()]
        ev.gts.append({"filename": a.file_name, "annotations": [{"bbox": b, "category_id": int(lab)} for b, lab in
                                                               zip(a.boxes.tolist(), a.labels.tolist())],
                       "hoi_annotation": gt_hois})
        for hoi in gt_hois:
            if hoi["category_id"] not in ev.gt_triplets:
                ev.gt_triplets.append(hoi["category_id"])
            ev.sum_gts[hoi["category_id"]] += 1
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        result = ev.evaluate()
    print(f"port mAP (its own rules: np.arange thresholds, classes with ground truth only) {100 * result['mAP']:.4f}")


if __name__ == "__main__":
    main()
