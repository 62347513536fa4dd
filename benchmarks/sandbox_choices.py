"""The choices the paper leaves open, measured in the sandbox over seeds (issue 15).

Each variant is an annotation-free training with the demo's settings (``clhoi demo``:
600 / 200 images, batch 16, lr 1e-3; 12 epochs unless ``--epochs``) on the world, teacher labels and
detections of each seed, evaluated with the HICO-DET evaluator in the sandbox label
space. Results are appended to ``OUT/results.jsonl`` as they come (a rerun skips what is
there), then printed as mean ± sample sd over the seeds.

Usage::

    nice -n 10 python benchmarks/sandbox_choices.py --groups chain text sr temperature --seeds 0 1 2 --out /tmp/choices
    python benchmarks/sandbox_choices.py --out /tmp/choices --table          # only print the table

Groups: ``chain`` (Table 4 rows on the UPT baseline), ``mlp`` (the old MLP baseline, alone and under
the full chain), ``text``
(``model.text_space``), ``sr`` (``loss.sr_reduction``), ``temperature`` (``loss.temperature``
of Eq. 5), ``combined`` (the two winners together), ``scale`` (Eq. 18's ``logit_scale`` at evaluation, on the default model's checkpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT = "CL-HOI (defaults: UPT, text_space mixed, sr mean, T 0.07)"
OFF = dict(use_vlt=False, use_spatial=False, use_visual=False, use_context=False)
FULL: dict[str, Any] = {}
NO_FC = {"context": 0.0}
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # name: (model overrides, loss overrides); DEFAULT is the full model with the config defaults
    "CL-HOI (defaults: UPT, text_space mixed, sr mean, T 0.07)": (FULL, {}),
    "baseline: UPT head": (OFF, NO_FC),
    "baseline: MLP(e_h, e_o)": ({**OFF, "baseline": "mlp"}, NO_FC),
    "UPT + spatial": ({**OFF, "use_spatial": True}, NO_FC),
    "UPT + spatial + visual": ({**OFF, "use_spatial": True, "use_visual": True}, NO_FC),
    "CL-HOI on the MLP baseline": ({"baseline": "mlp"}, {}),
    "text_space=verb": ({"text_space": "verb"}, {}),
    "text_space=verb_object": ({"text_space": "verb_object"}, {}),
    "sr_reduction=sum": (FULL, {"sr_reduction": "sum"}),
    "temperature=0.1": (FULL, {"temperature": 0.1}),
    "temperature=1.0": (FULL, {"temperature": 1.0}),
}
# the settings every row above ran with unless it names its own (the defaults before issue 15 chose new ones)
THEN = ({"text_space": "mixed"}, {"sr_reduction": "mean", "temperature": 0.07})
VARIANTS = {name: ({**THEN[0], **m}, {**THEN[1], **lo}) for name, (m, lo) in VARIANTS.items()}
VARIANTS["text_space=verb + sr_reduction=sum"] = ({"text_space": "verb"}, {"sr_reduction": "sum"})
GROUPS = {
    "chain": ["baseline: UPT head", "UPT + spatial", "UPT + spatial + visual", DEFAULT],
    "mlp": ["baseline: MLP(e_h, e_o)", "CL-HOI on the MLP baseline"],
    "text": [DEFAULT, "text_space=verb", "text_space=verb_object"],
    "sr": [DEFAULT, "sr_reduction=sum"],
    "temperature": [DEFAULT, "temperature=0.1", "temperature=1.0"],
    "combined": ["text_space=verb + sr_reduction=sum"],
}
SCALES = (1.0, 10.0, 14.285714, 30.0)


def evaluate_with_scale(checkpoint: Path, scale: float | None) -> float:
    """Full mAP (percent) of a checkpoint on the sandbox test split, Eq. 18 with a given cosine multiplier."""
    from clhoi.engine.checkpoint import load_model
    from clhoi.engine.evaluate import eval_loader, evaluate
    from clhoi.engine.sources import eval_label_set, read_ground_truth
    from clhoi.eval.hicodet import evaluate_hicodet
    from clhoi.postprocess import PostProcess
    from clhoi.sandbox.experiment import to_sandbox_classes
    from clhoi.sandbox.labels import sandbox_label_space

    model, cfg = load_model(checkpoint, "cpu")
    gts = to_sandbox_classes(read_ground_truth("sandbox", cfg.data.test_annotations, "data.test_annotations"))
    loader = eval_loader(cfg, model, [a.file_name for a in gts], True, None)
    preds = evaluate(model, loader, PostProcess(score_lambda=cfg.model.score_lambda, logit_scale=scale),
                     eval_label_set(cfg), "cpu")
    return 100 * evaluate_hicodet(preds, gts, space=sandbox_label_space()).default.full


def run(out: Path, groups: list[str], seeds: list[int], cache_dir: Path, epochs: int) -> None:
    import torch

    from clhoi.engine.config import LossConfig
    from clhoi.engine.train import train
    from clhoi.sandbox.demo import DemoSettings, _build_features
    from clhoi.sandbox.experiment import evaluate_sandbox, experiment, prepare_inputs, sandbox_model_config
    from clhoi.sandbox.world import WorldSpec, build_world

    torch.set_num_threads(1)
    results = out / "results.jsonl"
    done = {(r["variant"], r["seed"]) for r in read(results)}
    names = list(dict.fromkeys(n for g in groups if g != "scale" for n in GROUPS[g]))
    s = DemoSettings()
    prepared = {}
    for seed in seeds:
        root = out / f"seed{seed}"
        world = build_world(WorldSpec(seed=seed, num_train=s.num_train, num_test=s.num_test), cache_dir)
        inputs = prepare_inputs(world, root / "inputs", seed=seed, echo=lambda _: None)
        features = root / "features"
        if not (features / "test" / "meta.json").is_file():
            _build_features(experiment(inputs, root / "_cache", "full", seed, epochs=1, feature_cache=features),
                            echo=lambda _: None)
        prepared[seed] = (root, inputs, features)
    for name in names + ([DEFAULT] if "scale" in groups else []):
        for seed in seeds:  # variant by variant, so that an interrupted run has whole rows
            if (name, seed) in done:
                continue
            root, inputs, features = prepared[seed]
            model_kw, loss_kw = VARIANTS[name]
            cfg = experiment(inputs, root / slug(name), "annotation_free", seed=seed, batch_size=s.batch_size, lr=s.lr,
                             epochs=epochs, feature_cache=features, model=sandbox_model_config(**model_kw),
                             loss=replace(LossConfig(), **loss_kw))
            t = time.perf_counter()
            ckpt = train(cfg, progress=False)
            scores = evaluate_sandbox(ckpt, use_cache=True)
            row = {"variant": name, "seed": seed, **scores.to_dict(), "seconds": round(time.perf_counter() - t, 1),
                   "checkpoint": str(ckpt)}
            append(results, row)
            done.add((name, seed))
            print(json.dumps(row), flush=True)
    if "scale" in groups:
        for seed in seeds:
            if any(r["variant"].startswith("scale=") and r["seed"] == seed for r in read(results)):
                continue
            ckpt = next(r["checkpoint"] for r in read(results) if r["variant"] == DEFAULT and r["seed"] == seed)
            for scale in SCALES:
                append(results, {"variant": f"scale={scale:g}", "seed": seed,
                                 "full": round(evaluate_with_scale(Path(ckpt), scale), 2)})


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def read(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def append(path: Path, row: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def table(out: Path) -> str:
    """Markdown rows: variant | Full | Rare | Non-rare | seeds, each mean ± sample sd."""
    by: dict[str, list[dict[str, Any]]] = {}
    for r in read(out / "results.jsonl"):
        by.setdefault(r["variant"], []).append(r)

    def cell(rows: list[dict[str, Any]], key: str) -> str:
        vals = [r[key] for r in rows if key in r]
        if not vals:
            return "-"
        sd = statistics.stdev(vals) if len(vals) > 1 else float("nan")
        return f"{statistics.mean(vals):.2f} ± {sd:.2f}"

    lines = ["| variant | Full | Rare | Non-rare | seeds |", "|---|---|---|---|---|"]
    for name, rows in by.items():
        seeds = ",".join(str(r["seed"]) for r in sorted(rows, key=lambda r: r["seed"]))
        lines.append(f"| {name} | {cell(rows, 'full')} | {cell(rows, 'rare')} | {cell(rows, 'non_rare')} | {seeds} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--groups", nargs="+", default=["chain"], choices=[*GROUPS, "scale"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache-dir", type=Path, default=None, help="world cache (default: OUT/worlds)")
    ap.add_argument("--epochs", type=int, default=12, help="training epochs of each variant (the demo's: 12)")
    ap.add_argument("--table", action="store_true", help="only print the table of what OUT holds")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if not a.table:
        run(a.out, a.groups, a.seeds, a.cache_dir or a.out / "worlds", a.epochs)
    print(table(a.out))


if __name__ == "__main__":
    main()
