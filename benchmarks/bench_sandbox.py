"""Sandbox speed: world generation, simulated labelling and detections, and the demo's stages.

Usage::

    python benchmarks/bench_sandbox.py                 # world + teacher + detector only (~30 s)
    python benchmarks/bench_sandbox.py --demo          # also the full demo (minutes), with its stage times

Prints one line per figure; record them in benchmarks/RESULTS.md under "## sandbox".
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--demo", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from clhoi.sandbox.detector import simulate_split
    from clhoi.sandbox.teacher import label_split
    from clhoi.sandbox.world import WorldSpec, build_world

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        world = build_world(WorldSpec(seed=a.seed, num_train=a.images, num_test=0), tmp)
        dt = time.perf_counter() - t
        print(f"world: {a.images} images drawn and written in {dt:.2f}s ({a.images / dt:.0f} images/s)")
        records = world.records("train")
        t = time.perf_counter()
        label_split(records, world.image_root, Path(tmp) / "labels.jsonl", seed=a.seed)
        dt = time.perf_counter() - t
        print(f"teacher: {a.images} images labelled through the real pipeline in {dt:.2f}s ({a.images / dt:.0f} images/s)")
        t = time.perf_counter()
        simulate_split(records, a.seed)
        dt = time.perf_counter() - t
        print(f"detector: {a.images} images in {dt:.2f}s ({a.images / dt:.0f} images/s)")
        if a.demo:
            from clhoi.sandbox.demo import DemoSettings, run_demo

            t = time.perf_counter()
            result = run_demo(DemoSettings(seed=a.seed), Path(tmp) / "demo", Path(tmp) / "cache", progress=False)
            print(f"demo wall time {time.perf_counter() - t:.1f}s; stages: {json.dumps(result.seconds)}")
            print(json.dumps(result.scores))


if __name__ == "__main__":
    main()
