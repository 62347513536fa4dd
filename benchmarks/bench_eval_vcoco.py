"""V-COCO end to end: ``clhoi evaluate --dataset vcoco`` against the official ``vsrl_eval.py``, same input, one run.

The input is a random V-COCO test set in the official file layout (``vcoco_test.json``,
COCO instances, split ids) and the official detection records (``detections.json`` for
us, the same records pickled for ``vsrl_eval.py``), made by
``tests/eval/vcoco_official_case.py``: by default 1,000 images and 5-15 agent detections
per image, each with a score for all 26 actions and a box and score for all 25 roles.

Timed, each as a fresh process:

1. ours: the whole command ``clhoi evaluate --dataset vcoco --annotations ...
   --coco-instances ... --predictions detections.json --out metrics.json`` (wall clock,
   Python start-up and imports included), best of ``--repeat``; plus an in-process
   breakdown (imports, annotations, predictions file, scoring);
2. official: ``VCOCOeval(...)`` + ``_do_eval(...)`` of s-gupta/v-coco ``vsrl_eval.py``
   under the side environment's Python (NumPy 1.23, pycocotools), run once.

It prints both times and the ratio, and checks that every per-class AP agrees (1e-6).
Setup of the official side: ``tests/fixtures/vcoco_official/record_official.py``.

Run: ``python benchmarks/bench_eval_vcoco.py --official-python /tmp/vcoco_off/bin/python
--vsrl-eval /tmp/vcoco_off/vsrl_eval.py`` (``--skip-official`` for ours only).
Targets (issue 11): at most 1 s for the whole command, at least 50x faster than vsrl_eval.py.
Results: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "eval"))

from vcoco_official_case import make_case, write_files  # noqa: E402

OFFICIAL_DRIVER = r"""
import importlib.util, json, sys, time, contextlib, io
import numpy as np
vsrl_eval, vcoco, instances, split, dets = sys.argv[1:6]
spec = importlib.util.spec_from_file_location("vsrl_eval", vsrl_eval)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
aps = []
original = module.voc_ap
def recording(rec, prec):
    ap = original(rec, prec)
    aps.append(float(np.float32(ap)))
    return ap
module.voc_ap = recording
start, cpu = time.perf_counter(), time.process_time()
with contextlib.redirect_stdout(io.StringIO()):
    ev = module.VCOCOeval(vcoco, instances, split)
    ev._do_eval(dets, ovr_thresh=0.5)
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "aps": aps}))
"""

BREAKDOWN = r"""
import gc, sys, time
gc.disable()  # as the console command runs (clhoi/__main__.py)
t0 = time.perf_counter()
from clhoi.__main__ import _keep_freed_memory
_keep_freed_memory()
from clhoi.eval.run import run_evaluation
t1 = time.perf_counter()
from clhoi.data.registry import get_dataset
from clhoi.eval.files import load_records
from clhoi.eval.vcoco import VCOCOEvaluator
spec = get_dataset("vcoco")
t2 = time.perf_counter()
gts = spec.read_annotations(sys.argv[1], sys.argv[2], tensors=False)
t3 = time.perf_counter()
records = load_records(sys.argv[3])
t4 = time.perf_counter()
ev = VCOCOEvaluator(spec.scored_ground_truth(gts))
ev.process_detections(records, sys.argv[3])
t5 = time.perf_counter()
r = ev.evaluate()
t6 = time.perf_counter()
mods = sorted(m for m in ("torch", "transformers") if m in sys.modules)
print(f"import clhoi.eval.run {t1 - t0:.3f} s; read annotations {t3 - t2:.3f} s; read predictions {t4 - t3:.3f} s; "
      f"parse records {t5 - t4:.3f} s; score {t6 - t5:.3f} s; heavy modules imported: {mods or 'none'}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--dets", type=int, nargs=2, default=(5, 16), help="agent detections per image: [lo, hi)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of our command (best is reported)")
    parser.add_argument("--official-python", default="/tmp/vcoco_off/bin/python")
    parser.add_argument("--vsrl-eval", default="/tmp/vcoco_off/vsrl_eval.py")
    parser.add_argument("--skip-official", action="store_true")
    args = parser.parse_args()

    case = make_case(args.seed, args.images, tuple(args.dets))
    clhoi = Path(sys.executable).with_name("clhoi")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_files(case, tmp)
        pkl = Path(tmp) / "detections.pkl"
        pkl.write_bytes(pickle.dumps(case["detections"]))
        size = Path(paths["detections"]).stat().st_size / 2**20
        print(f"input: {args.images} images, {len(case['detections'])} agent detection records "
              f"({size:.1f} MiB JSON), seed {args.seed}")
        out = Path(tmp) / "metrics.json"
        cmd = [str(clhoi), "evaluate", "--dataset", "vcoco", "--annotations", paths["vcoco"], "--coco-instances",
               paths["instances"], "--predictions", paths["detections"], "--out", str(out)]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        ours = []
        for _ in range(args.repeat):
            start, cpu = time.perf_counter(), os.times()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            end = os.times()
            ours.append((time.perf_counter() - start, end.children_user + end.children_system
                         - cpu.children_user - cpu.children_system))
            if proc.returncode != 0:
                sys.exit(f"clhoi evaluate failed: {proc.stderr}")
        wall, cpu = min(ours)
        print(f"ours: `clhoi evaluate --dataset vcoco` whole command {wall:.3f} s wall, {cpu:.3f} s CPU "
              f"(best of {args.repeat}; all: {', '.join(f'{w:.3f}' for w, _ in ours)} s)")
        b = subprocess.run([sys.executable, "-c", BREAKDOWN, paths["vcoco"], paths["instances"], paths["detections"]],
                           capture_output=True, text=True, env=env)
        print(f"  breakdown: {b.stdout.strip() or b.stderr.strip()[-300:]}")
        metrics = json.loads(out.read_text())
        print("  " + ", ".join(f"{k} {metrics[k]:.4f}" for k in ("agent_mAP", "role_mAP_scenario_1", "role_mAP_scenario_2")))
        if args.skip_official:
            return
        proc = subprocess.run([args.official_python, "-c", OFFICIAL_DRIVER, args.vsrl_eval, paths["vcoco"],
                               paths["instances"], paths["split"], str(pkl)], capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"vsrl_eval.py failed: {proc.stderr[-2000:]}")
        official = json.loads(proc.stdout.strip().splitlines()[-1])
    aps = official["aps"]
    ours_aps = [a["ap"] for a in metrics["agent"]] + [r["ap_scenario_1"] for r in metrics["role"]] \
        + [r["ap_scenario_2"] for r in metrics["role"]]
    diff = np.nanmax(np.abs(np.array(ours_aps, dtype=float) / 100 - np.array(aps)))
    print(f"official vsrl_eval.py (NumPy 1.23): {official['seconds']:.1f} s wall, {official['cpu']:.1f} s CPU "
          "(VCOCOeval + _do_eval, start-up not counted)")
    print(f"ratio official / ours: {official['seconds'] / wall:.0f}x wall, {official['cpu'] / cpu:.0f}x CPU; "
          f"per-class AP max |difference| {diff:.2e} over {len(aps)} APs")


if __name__ == "__main__":
    main()
