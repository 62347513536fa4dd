"""``clhoi demo --ablation chain|losses`` over seeds, with model options the capability probes support (issue 10.2).

Runs :func:`clhoi.sandbox.demo.run_demo` (the demo's world, teacher, detector and settings) for each seed
and variant into ``OUT/VARIANT/ABLATION-seedS`` (a finished run is reused), then prints the table of each
(variant, ablation): Full / Rare / Non-rare mAP as mean ± sample sd over the seeds, and the per-seed Full.

Variants (each changes every row of the ablation):

* ``default``: ``clhoi demo``'s own settings (the same as ``clhoi demo --ablation A --seed S``);
* ``mask``: ``model.visual_union_guidance: mask`` (Eq. 3's keys outside the union box masked);
* ``layer0``: ``model.visual_feature_layer: 0`` (the visual link reads CLIP's early, local tokens);
* ``mask_layer0``: both;
* ``mask_layer0_class``: both, and the simulated detector gives object-centric box embeddings
  (:func:`clhoi.sandbox.probes.class_embeddings`) instead of pooled CLIP tokens;
* ``residual``: ``model.link_residual: true`` (the spatial link adds to the UPT head's pair features,
  Eq. 2's query adds to ``I_s``);
* ``epochs24``, ``residual_epochs24``: the demo's 12 training epochs doubled (its learning-rate steps
  scale with them), without and with ``link_residual``.
* ``supervised``, ``supervised_class``, ``supervised_residual``: the chain's rows trained on the ground truth
  with the supervised loss alone (pooled / object-centric box embeddings / ``link_residual``): what each row can
  learn when the labels say everything.
* ``object_negatives``: ``data.object_negatives: 2`` (two hard negative verbs per image for L_I2T, drawn from
  the verbs the teacher pairs with the image's objects elsewhere).
* ``mlp_probe``, ``supervised_mlp_probe``: the capability probes' settings in the demo world: the minimal
  baseline ``model.baseline: mlp`` (``MLP(e_h, e_o)``, no geometry, no global token) under every row,
  object-centric box embeddings, the visual link masked to ``b_u`` and reading CLIP layer 0; annotation-free
  and with full supervision. ``mlp_probe_negatives``: annotation-free with ``data.object_negatives: 2`` as well;
  ``mlp_probe_clean_teacher``: annotation-free from a teacher that never misses, never uses a synonym and never
  hallucinates (it still speaks of the whole image, never of who does what); ``mlp_probe_residual``: with
  ``model.link_residual: true`` (Eq. 2's query adds to ``I_s``).
* ``upt_blind``, ``supervised_upt_blind``: UPT's head as the baseline, without its global token
  (``model.upt_global_token: false``), with object-centric box embeddings and the visual link masked to ``b_u``
  on CLIP layer 0: a UPT baseline that sees geometry and detector classes but neither the object's look nor the
  scene.

Usage::

    nice -n 10 python benchmarks/demo_options.py --variants default --ablations chain losses --seeds 0 1 2 --out /tmp/e10
    python benchmarks/demo_options.py --out /tmp/e10 --table      # only print what is there
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROBE_LINKS = {"visual_union_guidance": "mask", "visual_feature_layer": 0}
"""The probes' visual link: Eq. 3's keys masked to ``b_u``, CLIP layer-0 tokens."""
MLP_PROBE = {"baseline": "mlp", **PROBE_LINKS}
UPT_BLIND = {"upt_global_token": False, **PROBE_LINKS}
FULL = {"chain_supervision": "full"}

VARIANTS: dict[str, tuple[Any, ...]] = {  # model overrides, box embeddings[, DemoSettings overrides[, run_demo kwargs]]
    "default": ({}, "pooled"),
    "mask": ({"visual_union_guidance": "mask"}, "pooled"),
    "layer0": ({"visual_feature_layer": 0}, "pooled"),
    "mask_layer0": (PROBE_LINKS, "pooled"),
    "mask_layer0_class": (PROBE_LINKS, "class"),
    "residual": ({"link_residual": True}, "pooled"),
    "epochs24": ({}, "pooled", {"epochs": 24}),
    "residual_epochs24": ({"link_residual": True}, "pooled", {"epochs": 24}),
    "supervised": ({}, "pooled", {}, FULL),
    "supervised_class": ({}, "class", {}, FULL),
    "supervised_residual": ({"link_residual": True}, "pooled", {}, FULL),
    "object_negatives": ({}, "pooled", {}, {"data_overrides": {"object_negatives": 2}}),
    "mlp_probe": (MLP_PROBE, "class"),
    "supervised_mlp_probe": (MLP_PROBE, "class", {}, FULL),
    "mlp_probe_negatives": (MLP_PROBE, "class", {}, {"data_overrides": {"object_negatives": 2}}),
    "mlp_probe_clean_teacher": (MLP_PROBE, "class", {}, {"teacher_noise": {"miss_rate": 0.0, "synonym_rate": 0.0,
                                                                          "hallucination_rate": 0.0}}),
    "mlp_probe_residual": ({**MLP_PROBE, "link_residual": True}, "class"),
    "upt_blind": (UPT_BLIND, "class"),
    "supervised_upt_blind": (UPT_BLIND, "class", {}, FULL),
}


def run(variant: str, ablation: str, seed: int, out: Path, cache: Path) -> dict[str, Any]:
    from clhoi.sandbox.demo import DemoSettings, run_demo

    d = out / variant / f"{ablation}-seed{seed}"
    if (d / "results.json").is_file():
        return json.loads((d / "results.json").read_text())
    if d.exists():
        import shutil

        shutil.rmtree(d)  # an interrupted run
    overrides, boxes, *rest = VARIANTS[variant]
    settings, kwargs = (list(rest) + [{}, {}])[:2]
    run_demo(DemoSettings(seed=seed, **settings), d, cache, ablation=None if ablation == "main" else ablation,
             progress=False, model_overrides=overrides, box_embeddings=boxes, echo=lambda s: None, **kwargs)
    return json.loads((d / "results.json").read_text())


def table(out: Path) -> str:
    lines = []
    for vdir in sorted(p for p in out.iterdir() if p.is_dir() and p.name in VARIANTS):
        runs: dict[str, dict[int, dict[str, Any]]] = {}
        for r in sorted(vdir.glob("*-seed*/results.json")):
            ablation, seed = r.parent.name.rsplit("-seed", 1)
            runs.setdefault(ablation, {})[int(seed)] = json.loads(r.read_text())
        for ablation, by_seed in runs.items():
            seeds = sorted(by_seed)
            rows = [k for k, v in by_seed[seeds[0]].items() if isinstance(v, dict) and "full" in v]
            lines.append(f"\n{vdir.name} / {ablation} (seeds {', '.join(map(str, seeds))}; mean ± sd)")
            lines.append("| row | Full | Rare | Non-rare | per seed (Full) |")
            lines.append("|---|---|---|---|---|")
            for row in rows:
                cells = []
                for m in ("full", "rare", "non_rare"):
                    vals = [by_seed[s][row][m] for s in seeds]
                    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
                    cells.append(f"{statistics.mean(vals):.2f} ± {sd:.2f}")
                per = " / ".join(f"{by_seed[s][row]['full']:.2f}" for s in seeds)
                lines.append(f"| {row} | {' | '.join(cells)} | {per} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["default"], choices=list(VARIANTS))
    ap.add_argument("--ablations", nargs="+", default=["chain", "losses"], choices=["main", "chain", "losses"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache-dir", type=Path, default=None, help="world cache (default: OUT/worlds)")
    ap.add_argument("--table", action="store_true", help="only print the table of what OUT holds")
    a = ap.parse_args()
    if not a.table:
        import time

        for variant in a.variants:
            for ablation in a.ablations:
                for seed in a.seeds:
                    t0 = time.perf_counter()
                    run(variant, ablation, seed, a.out, a.cache_dir or a.out / "worlds")
                    print(f"{variant} {ablation} seed {seed}: {time.perf_counter() - t0:.0f}s", flush=True)
    print(table(a.out))


if __name__ == "__main__":
    main()
