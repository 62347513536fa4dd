"""Which cue does each demo model learn? Confusable accuracy and mAP per cue type (issue 10.2).

For every checkpoint of a ``clhoi demo`` run directory (``--ablation chain`` / ``losses`` or the main demo),
the test split is scored as ``clhoi demo`` scores it (:func:`clhoi.sandbox.experiment.evaluate_sandbox`), and
per cue type of the world (version 4):

* ``geometry``: the classes whose verbs pose and placement decide, grouped by object (bicycle: ride / push, ...);
* ``appearance``: read / hold book, talk_on / hold cell phone (the object's state decides);
* ``context``: ride / stand_on surfboard and snowboard (the place outside the pair decides);

it reports the mean AP of the cue's classes and the **confusable accuracy** of the capability probes
(:func:`clhoi.sandbox.probes.confusable_accuracy`): for each ground-truth pair of those classes, the matched
detected pair's higher-scored class among the classes of its object; and its **balanced** form, the mean over
the classes of each class's accuracy, where a constant guess scores 50% for appearance and context (the plain
accuracy rewards always guessing the more frequent verb).

Two more read-outs of every checkpoint and run:

* **pairing AP**: the average precision of ranking every detected pair of the test split by its best class score,
  a pair being positive when it matches an annotated interacting pair (human and object IoU >= 0.5, same object
  class; each annotated pair matched once, best-scored first): does the model know *who* interacts, whatever the
  verb;
* **teacher counts** (per run): for each confusable class, its training pairs, how many of them the teacher's
  label record of the image names with the class's own verb (its first word; synonyms not counted), and with the
  other verb of the object.

Usage::

    python benchmarks/demo_cues.py /tmp/e10/default/chain-seed0 /tmp/e10/default/chain-seed1 ... [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def cue_groups() -> dict[str, list[tuple[int, ...]]]:
    """Class indices of the confusable groups of each cue type (classes of one object, at least two)."""
    from clhoi.sandbox.labels import HOI_KINDS

    by_object: dict[str, list[int]] = {}
    for i, k in enumerate(HOI_KINDS):
        by_object.setdefault(k.object, []).append(i)
    out: dict[str, list[tuple[int, ...]]] = {"geometry": [], "appearance": [], "context": []}
    for obj, group in by_object.items():
        kinds = [HOI_KINDS[i] for i in group]
        if len(group) < 2:
            continue
        cue = "context" if kinds[0].place else "appearance" if kinds[0].state else "geometry"
        out[cue].append(tuple(group))
    return out


def score(checkpoint: Path) -> dict[str, dict[str, float]]:
    import torch

    from clhoi.engine.checkpoint import load_checkpoint_config
    from clhoi.engine.sources import read_ground_truth
    from clhoi.sandbox.experiment import evaluate_sandbox, to_sandbox_classes
    from clhoi.sandbox.probes import confusable_accuracy

    res = evaluate_sandbox(checkpoint, use_cache=True)
    cfg = load_checkpoint_config(checkpoint)
    gts = to_sandbox_classes(read_ground_truth("sandbox", cfg.data.test_annotations, "data.test_annotations"))
    ap = res.details.default.ap
    out: dict[str, dict[str, float]] = {"all": {"full": res.full, "pairing_ap": pairing_ap(res.predictions, gts)}}
    for cue, groups in cue_groups().items():
        classes = sorted(c for g in groups for c in g)
        keep = [replace(a, hoi=a.hoi[torch.isin(a.hoi[:, 2], torch.tensor(classes))]) for a in gts]
        acc, matched, total = confusable_accuracy(res.predictions, keep, groups)
        per_class = []
        for c in classes:  # balanced: a constant guess scores 1 / (classes of the object), whatever the frequencies
            only = [replace(a, hoi=a.hoi[a.hoi[:, 2] == c]) for a in gts]
            acc_c, matched_c, _ = confusable_accuracy(res.predictions, only, groups)
            if matched_c:
                per_class.append(acc_c)
        out[cue] = {"map": 100 * float(ap[classes].mean()), "accuracy": 100 * acc,
                    "balanced": 100 * sum(per_class) / len(per_class), "matched": matched, "pairs": total}
    return out


def pairing_ap(predictions: list, annotations: list) -> float:
    """AP (%) of ranking detected pairs by their best class score against the annotated interacting pairs."""
    from torchvision.ops import box_iou

    by_name = {p.file_name: p for p in predictions}
    ranked: list[tuple[float, bool]] = []
    positives = 0
    for gt in annotations:
        pairs = sorted({(h, o) for h, o, _ in gt.hoi.tolist()})
        positives += len(pairs)
        pred = by_name.get(gt.file_name)
        if pred is None or not len(pred.pairs):
            continue
        best: dict[tuple[int, int], float] = {}
        for (h, o), sc in zip(pred.pairs.tolist(), pred.scores.tolist()):
            best[(h, o)] = max(best.get((h, o), float("-inf")), sc)
        iou = box_iou(gt.boxes, pred.boxes)
        free = set(pairs)
        for (h, o), sc in sorted(best.items(), key=lambda kv: -kv[1]):
            hit = next(((gh, go) for gh, go in pairs if (gh, go) in free and o >= 0 and iou[gh, h] >= 0.5
                        and iou[go, o] >= 0.5 and int(pred.labels[o]) == int(gt.labels[go])), None)
            if hit is not None:
                free.discard(hit)
            ranked.append((sc, hit is not None))
    ranked.sort(key=lambda t: -t[0])
    tp = 0
    total = 0.0
    for i, (_, ok) in enumerate(ranked, 1):
        if ok:
            tp += 1
            total += tp / i
    return 100 * total / positives if positives else float("nan")


def teacher_counts(run: Path) -> dict[str, dict[str, int]]:
    """Per confusable class ("verb object"): training pairs, and how many the teacher names with its verb / the other."""
    from clhoi.engine.checkpoint import load_checkpoint_config
    from clhoi.sandbox.labels import HOI_KINDS
    from clhoi.sandbox.teacher import scene_facts

    ckpt = next(p / "checkpoint" for p in sorted(run.iterdir()) if (p / "checkpoint" / "model.safetensors").is_file())
    cfg = load_checkpoint_config(ckpt)
    labels = {}
    for line in (run / "inputs" / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        labels[rec["image"].split("/", 1)[-1]] = rec
    groups: dict[str, list[str]] = {}
    for g in cue_groups()["appearance"] + cue_groups()["context"]:
        groups[HOI_KINDS[g[0]].object] = [HOI_KINDS[k].verb for k in g]
    out: dict[str, dict[str, int]] = {}
    train = Path(cfg.data.test_annotations).with_name("trainval_sandbox.json")  # annotation-free runs name none
    for r in json.loads(train.read_text(encoding="utf-8")):
        rec = labels.get(r["file_name"].split("/", 1)[-1])
        said = {(p["verb"].split()[0], (p.get("coco") or p.get("object") or "").replace(" ", "_"))
                for p in (rec or {}).get("pairs", [])}
        _, inter, _ = scene_facts(r)
        for verb, obj in inter:
            if obj not in groups:
                continue
            other = next(v for v in groups[obj] if v != verb)
            c = out.setdefault(f"{verb} {obj}", {"pairs": 0, "named": 0, "other_named": 0})
            c["pairs"] += 1
            c["named"] += (verb.split("_")[0], obj) in said
            c["other_named"] += (other.split("_")[0], obj) in said
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="clhoi demo output directories")
    ap.add_argument("--json", type=Path, default=None, help="write every value here")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    results = {}
    for run in a.runs:
        rows = json.loads((run / "results.json").read_text())
        for sub in sorted(p for p in run.iterdir() if (p / "checkpoint" / "model.safetensors").is_file()):
            r = score(sub / "checkpoint")
            results[f"{run}/{sub.name}"] = r
            print(f"{run.name}/{sub.name}: Full {r['all']['full']:.2f} pairing AP {r['all']['pairing_ap']:.1f} | "
                  + " | ".join(
                f"{cue} mAP {r[cue]['map']:.2f} acc {r[cue]['accuracy']:.1f}% bal {r[cue]['balanced']:.1f}% "
                f"({r[cue]['matched']}/{r[cue]['pairs']})"
                for cue in ("geometry", "appearance", "context")), flush=True)
        del rows
        counts = teacher_counts(run)
        results[f"{run}/teacher"] = counts
        print(f"{run.name} teacher (pairs / named / other verb named): "
              + ", ".join(f"{k} {v['pairs']}/{v['named']}/{v['other_named']}" for k, v in counts.items()), flush=True)
    if a.json:
        a.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(summary(results))


def summary(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """Mean ± sample sd over the runs of each model (checkpoint folder name): cue mAP and balanced accuracy."""
    import statistics

    by_model: dict[str, list[dict[str, dict[str, float]]]] = {}
    for key, r in results.items():
        if key.endswith("/teacher"):
            continue
        by_model.setdefault(key.rsplit("/", 1)[1], []).append(r)

    def ms(vals: list[float]) -> str:
        return f"{statistics.mean(vals):.1f} ± {statistics.stdev(vals) if len(vals) > 1 else 0.0:.1f}"

    lines = ["| model | runs | pairing AP | geometry mAP | geometry bal. acc % | appearance mAP | appearance bal. acc % | "
             "context mAP | context bal. acc % |", "|---|---|---|---|---|---|---|---|---|"]
    for model, rs in by_model.items():
        cells = [ms([r["all"]["pairing_ap"] for r in rs])]
        for cue in ("geometry", "appearance", "context"):
            cells += [ms([r[cue]["map"] for r in rs]), ms([r[cue]["balanced"] for r in rs])]
        lines.append(f"| {model} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
