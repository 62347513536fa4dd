"""``clhoi probe NAME``: does each link of the chain carry the cue it exists for?

For one probe world (:mod:`clhoi.sandbox.probe_worlds`) and each of 3 seeds (a seed
draws the world, the teacher's answers, the detections and the initialisation), the
student is trained annotation-free (the four losses of Eq. 10 on the simulated
teacher's labels) in five configurations and scored on the test split:

* Full mAP (HICO-DET evaluator, Default setting, the probe's four classes);
* **confusable accuracy**: for each ground-truth pair of the test split, the detected
  pair that matches it (human and object IoU >= 0.5 with the ground truth, same
  object class; the best of several by the smaller IoU) is looked up, and the
  prediction is the class of the pair's confusable group (the two classes of its
  object) with the higher score; accuracy = correct / matched pairs. Chance is 0.5.

The table (mean +- sample standard deviation over the seeds) is printed and written to
``results.json`` with the per-seed values and the acceptance checks.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable

from clhoi.models.config import ModelConfig
from clhoi.sandbox.captions import OBJECT_WORDS, VERB_WORDS, describe
from clhoi.sandbox.probe_worlds import (
    CONTEXT_MARGIN,
    PLACES,
    PROBE_CLASSES,
    PROBES,
    ProbeWorldSpec,
    build_probe_world,
    confusable_groups,
    probe_label_space,
)
from clhoi.sandbox.teacher import SandboxTeacher, TeacherNoise

PROBE_VERB_WORDS: dict[str, list[tuple[str, str]]] = {**VERB_WORDS, "stand_on": [("stand on", "standing on")]}
PROBE_OBJECT_WORDS: dict[str, list[str]] = {**OBJECT_WORDS, "surfboard": ["surfboard", "board"],
                                            "snowboard": ["snowboard", "board"]}

CLHOI_NO_LC = "CL-HOI without L_c"
BASELINE_ROW = "baseline (no cognition, MLP)"

NEEDS = {
    "geometry": ("+ spatial", BASELINE_ROW),
    "appearance": ("+ spatial + visual", "+ spatial"),
    "context": ("+ spatial + visual + context (CL-HOI)", "+ spatial + visual"),
}
"""For each probe: (the row with the link the cue needs, the row just without it)."""


class ProbeTeacher(SandboxTeacher):
    """The simulated teacher on a probe world: same failure rates, captions that say where the scene is."""

    def describe(self, key: str):
        if key not in self._records:
            raise KeyError(f"the sandbox teacher knows no image {key!r}")
        rec = self._records[key]
        probe = rec["probe"]
        classes = PROBE_CLASSES[probe["name"]]
        inter = [(classes[k].verb, classes[k].object) for k in probe["classes"]]
        objects = [classes[k].object for k in probe["classes"]]
        n_people = len(probe["classes"])
        import random

        rng = random.Random(f"teacher/{self.seed}/{key}")
        return describe(n_people, inter, objects, rng, self.noise.miss_rate, self.noise.synonym_rate,
                        self.noise.hallucination_rate, kinds=[(c.verb, c.object) for c in classes],
                        verb_words=PROBE_VERB_WORDS, object_words=PROBE_OBJECT_WORDS, places=PLACES[probe["scene"]])


@dataclass
class ProbeWorld:
    """A probe world on disk, shaped like :class:`clhoi.sandbox.world.World` for the experiment helpers."""

    root: Path
    spec: ProbeWorldSpec

    @property
    def image_root(self) -> Path:
        return self.root / "images"

    def annotations(self, split: str) -> Path:
        return self.root / "annotations" / f"{split}_probe.json"

    def records(self, split: str) -> list[dict[str, Any]]:
        recs = json.loads(self.annotations(split).read_text(encoding="utf-8"))
        for r in recs:
            r["probe"]["name"] = self.spec.probe
        return recs


@dataclass
class ProbeSettings:
    """What ``clhoi probe`` runs (defaults: the documented probe, under 4 minutes on 2 cores)."""

    seeds: tuple[int, ...] = (0, 1, 2)
    num_train: int = 240
    num_test: int = 120
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    max_steps: int = 0
    threads: int = 1
    rows: tuple[str, ...] = ()
    clip: str = ""
    clip_feature_layer: int = -1
    visual_feature_layer: int | None = 0
    context_margin: float = CONTEXT_MARGIN
    box_embeddings: str = "class"
    visual_guidance: str = "mask"


BOX_EMBEDDINGS = ("class", "pooled")
"""The probes' simulated detector's box embeddings: ``class`` (object-centric: a fixed random
vector per COCO class + small noise, :func:`class_embeddings`) or ``pooled`` (none given; the
student RoIAlign-pools CLIP tokens, which see the whole image: the first pass's setting)."""

CLASS_EMBEDDING_NOISE = 0.1

DETECTOR_OBJECTS = ("bicycle", "horse", "chair", "sports_ball", "kite", "book", "cell_phone", "cup", "umbrella",
                    "skateboard", "frisbee")
"""What the probes' simulated detector confuses objects with and draws false positives from: the demo
world's objects when the probes were frozen (world version 3), kept so that the probes' detections do
not change when the demo world's label space does."""


def class_embeddings(dets: dict, dim: int, seed: int, noise: float = CLASS_EMBEDDING_NOISE) -> dict:
    """Give each detection an object-centric embedding that carries its detector class and nothing else.

    The vector of a class is fixed (drawn from the class index alone, unit-norm scaled to
    ``sqrt(dim)``); each detection adds Gaussian noise of sd ``noise`` drawn from ``seed`` and its
    file name. No pixel reaches it, so a probe's cue (inside or outside the union box) cannot.
    """
    import torch

    out = {}
    for name, d in dets.items():
        if not len(d):
            out[name] = d
            continue
        base = torch.stack([torch.randn(dim, generator=torch.Generator().manual_seed(10_000 + int(k)))
                            for k in d.labels.tolist()])
        g = torch.Generator().manual_seed(hash_seed(f"{seed}/{name}"))
        out[name] = replace(d, embeddings=base + noise * torch.randn(base.shape, generator=g))
    return out


def hash_seed(text: str) -> int:
    """A stable 63-bit seed from a string (Python's ``hash`` is salted per process)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def probe_rows() -> list[tuple[str, dict[str, bool], dict[str, float]]]:
    """Table 4's chain (:func:`clhoi.sandbox.demo.chain_rows`) plus CL-HOI with the context loss off."""
    from clhoi.sandbox.demo import chain_rows

    rows = chain_rows()
    full = rows[-1]
    rows = rows + [(CLHOI_NO_LC, dict(full[1]), {**full[2], "context": 0.0})]
    rows[0] = (BASELINE_ROW, rows[0][1], rows[0][2])
    if "baseline" in {f.name for f in fields(ModelConfig)}:
        # the minimal MLP(e_h, e_o) baseline (not UPT's head, whose pair features hold the pair
        # geometry): the "no cognition" row must carry no geometry, and each later row adds one link
        rows = [(label, {**switches, "baseline": "mlp"}, weights) for label, switches, weights in rows]
    return rows


def _ground_truth(records: list[dict[str, Any]]):
    import torch

    from clhoi.structures import ImageAnnotation
    from clhoi.vocab import COCO_ID_TO_INDEX

    out = []
    for r in records:
        boxes = torch.tensor([[v - 1.0 for v in a["bbox"]] for a in r["annotations"]], dtype=torch.float32)
        labels = torch.tensor([COCO_ID_TO_INDEX[a["category_id"]] for a in r["annotations"]], dtype=torch.long)
        hoi = torch.tensor([[h["subject_id"], h["object_id"], k] for h, k in zip(r["hoi_annotation"], r["probe"]["classes"])],
                           dtype=torch.long).view(-1, 3)
        out.append(ImageAnnotation(r["file_name"], (r["width"], r["height"]), boxes, labels, hoi))
    return out


def confusable_accuracy(predictions: list, annotations: list, groups: list[tuple[int, ...]]) -> tuple[float, int, int]:
    """Top-1 accuracy among each ground-truth pair's confusable classes, on matched detected pairs.

    Returns:
        ``(accuracy, matched pairs, ground-truth pairs)``; accuracy is NaN with no match.
    """
    from torchvision.ops import box_iou

    group_of = {c: g for g in groups for c in g}
    by_name = {p.file_name: p for p in predictions}
    correct = matched = total = 0
    for gt in annotations:
        pred = by_name.get(gt.file_name)
        for h, o, c in gt.hoi.tolist():
            total += 1
            if pred is None or not len(pred.pairs):
                continue
            iou = box_iou(gt.boxes[[h, o]], pred.boxes)  # [2, N]
            ph, po = pred.pairs[:, 0], pred.pairs[:, 1]
            ok = (pred.labels[po] == gt.labels[o]) & (po >= 0)
            q = torch_min(iou[0, ph], iou[1, po.clamp(min=0)])
            q = q.masked_fill(~ok, 0.0)
            if float(q.max()) < 0.5:
                continue
            best = q.max()
            sel = q >= best - 1e-9
            pair = (int(ph[sel][0]), int(po[sel][0]))
            rows = (ph == pair[0]) & (po == pair[1])
            scores = {int(k): float(s) for k, s in zip(pred.classes[rows], pred.scores[rows])}
            group = group_of[c]
            guess = max(group, key=lambda k: scores.get(k, -1.0))
            matched += 1
            correct += int(guess == c)
    return (correct / matched if matched else float("nan")), matched, total


def torch_min(a, b):
    import torch

    return torch.minimum(a, b)


def _stats(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], 0.0
    return statistics.mean(values), statistics.stdev(values)


def run_probe(name: str, settings: ProbeSettings = ProbeSettings(), output_dir: str | Path | None = None,
              cache_dir: str | Path | None = None, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run probe ``name`` and write ``results.json`` into ``output_dir``; returns what it writes."""
    import torch
    from transformers.utils import logging as hf_logging

    from clhoi.engine.config import LossConfig
    from clhoi.sandbox.experiment import experiment, sandbox_model_config
    from clhoi.sandbox.world import default_cache_dir

    if name not in PROBES:
        raise ValueError(f"unknown probe {name!r}; valid: {', '.join(PROBES)}")
    if settings.box_embeddings not in BOX_EMBEDDINGS:
        raise ValueError(f"unknown box embeddings {settings.box_embeddings!r}; valid: {', '.join(BOX_EMBEDDINGS)}")
    out = Path(output_dir or f"runs/probe-{name}")
    if (out / "results.json").exists():
        raise ValueError(f"{out} holds a previous probe run; remove it or pass another --output")
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    torch.set_num_threads(settings.threads)
    hf_logging.disable_progress_bar()
    rows = [r for r in probe_rows() if not settings.rows or r[0] in settings.rows]
    space = probe_label_space(name)
    groups = confusable_groups(name)
    from clhoi.sandbox.tiny_clip import probe_clip_path

    clip: dict[str, Any] = {"clip": settings.clip or str(probe_clip_path())}
    if settings.clip_feature_layer != -1:
        clip["clip_feature_layer"] = settings.clip_feature_layer
    if settings.visual_feature_layer is not None:
        clip["visual_feature_layer"] = settings.visual_feature_layer
    clip["visual_union_guidance"] = settings.visual_guidance
    embed_dim = sandbox_model_config(**clip).box_embed_dim if settings.box_embeddings == "class" else 0
    t_start = time.perf_counter()
    per_seed: dict[str, list[dict[str, float]]] = {r[0]: [] for r in rows}
    for seed in settings.seeds:
        t0 = time.perf_counter()
        spec = ProbeWorldSpec(name, seed, settings.num_train, settings.num_test, settings.context_margin)
        world = ProbeWorld(build_probe_world(spec, cache), spec)
        inputs = _prepare(world, out / f"seed{seed}" / "inputs", seed, echo, embed_dim)
        gts = _ground_truth(world.records("test"))
        features = out / f"seed{seed}" / "features"
        base = experiment(inputs, out / f"seed{seed}" / "_cache", "annotation_free", seed, epochs=1,
                          feature_cache=features, model=sandbox_model_config(**clip))
        base = replace(base, data=replace(base.data, dataset="hicodet"))
        _build_features(base)
        echo(f"[seed {seed}] world, labels and features in {time.perf_counter() - t0:.1f}s "
             f"({inputs.label_summary.by_status.get('ok', 0)} of {settings.num_train} training images labelled)")
        for i, (label, switches, weights) in enumerate(rows):
            t1 = time.perf_counter()
            cfg = experiment(inputs, out / f"seed{seed}" / f"row{i}", "annotation_free", seed, epochs=settings.epochs,
                             batch_size=settings.batch_size, lr=settings.lr, max_steps=settings.max_steps,
                             model=sandbox_model_config(**switches, **clip), loss=replace(LossConfig(), **weights),
                             feature_cache=features, name=f"probe-{name}")
            cfg = replace(cfg, data=replace(cfg.data, dataset="hicodet"))
            full, acc, matched, acc_hoi = _train_eval(cfg, gts, space, groups)
            per_seed[label].append({"full": full, "accuracy": acc, "matched": matched,
                                    "accuracy_hoi_prompts": acc_hoi})
            echo(f"  [seed {seed}] {label}: Full {full:.2f}  confusable accuracy {100 * acc:.1f}% "
                 f"(verb + object prompts {100 * acc_hoi:.1f}%) ({time.perf_counter() - t1:.1f}s)")
    table = {}
    for label, runs in per_seed.items():
        fm, fs = _stats([r["full"] for r in runs])
        am, as_ = _stats([100 * r["accuracy"] for r in runs])
        vm, vs = _stats([100 * r["accuracy_hoi_prompts"] for r in runs])
        table[label] = {"full": [round(fm, 2), round(fs, 2)], "accuracy": [round(am, 1), round(as_, 1)],
                        "accuracy_hoi_prompts": [round(vm, 1), round(vs, 1)]}
    result = {
        "probe": name, "seeds": list(settings.seeds), "chance_accuracy": 100.0 / len(groups[0]),
        "table": table, "per_seed": per_seed, "acceptance": acceptance(name, table),
        "settings": {**{k: list(v) if isinstance(v, tuple) else v for k, v in settings.__dict__.items()},
                     "clip": clip["clip"]},
        "seconds": round(time.perf_counter() - t_start, 1), "classes": [c.__dict__ for c in PROBE_CLASSES[name]],
    }
    (out / "results.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    echo(format_probe_table(result))
    return result


def acceptance(name: str, table: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """The probe's checks: the needed link beats the row without it by > 3 x the larger sd
    (confusable accuracy), and the rows without the link stay near chance (within 10 points)."""
    with_row, without_row = NEEDS[name]
    checks: dict[str, Any] = {}

    def gap(a: str, b: str) -> dict[str, Any] | None:
        if a not in table or b not in table:
            return None
        (ma, sa), (mb, sb) = table[a]["accuracy"], table[b]["accuracy"]
        return {"rows": [a, b], "gap": round(ma - mb, 1), "three_sd": round(3 * max(sa, sb), 1),
                "passed": ma - mb > 3 * max(sa, sb)}

    checks["link_helps"] = gap(with_row, without_row)
    order = [r[0] for r in probe_rows()]
    k = order.index(with_row)
    without = [r for r in order[:k] if r in table]
    if name == "context":
        without.append(CLHOI_NO_LC)
        checks["context_loss_teaches_fc"] = gap(with_row, CLHOI_NO_LC)
    checks["without_link_near_chance"] = {r: table[r]["accuracy"][0] for r in without if r in table}
    near = checks["without_link_near_chance"]
    checks["near_chance_passed"] = all(v <= 60.0 for v in near.values()) if near else None
    return checks


def format_probe_table(result: dict[str, Any]) -> str:
    """The probe's table: mean +- sd over the seeds of Full mAP and confusable accuracy."""
    table = result["table"]
    width = max(len(k) for k in table)
    lines = [f"probe {result['probe']} ({len(result['seeds'])} seeds; confusable accuracy chance "
             f"{result['chance_accuracy']:.0f}%)",
             f"{'row':<{width}}  {'Full mAP':>14}  {'confusable acc %':>16}  {'(verb + object)':>15}",
             "-" * (width + 51)]
    for k, v in table.items():
        vp = v.get("accuracy_hoi_prompts", [float("nan")] * 2)
        lines.append(f"{k:<{width}}  {v['full'][0]:6.2f} ± {v['full'][1]:5.2f}  {v['accuracy'][0]:8.1f} ± "
                     f"{v['accuracy'][1]:4.1f}  {vp[0]:6.1f} ± {vp[1]:4.1f}")
    for key, check in result["acceptance"].items():
        if isinstance(check, dict) and "gap" in check:
            lines.append(f"{key}: {check['rows'][0]} - {check['rows'][1]} = {check['gap']:+.1f} points "
                         f"(3 sd = {check['three_sd']:.1f}): {'PASS' if check['passed'] else 'FAIL'}")
    if result["acceptance"].get("near_chance_passed") is not None:
        lines.append(f"rows without the link near chance (<= 60%): "
                     f"{'PASS' if result['acceptance']['near_chance_passed'] else 'FAIL'}")
    return "\n".join(lines)


def _prepare(world: ProbeWorld, out: Path, seed: int, echo: Callable[[str], None], embed_dim: int = 0):
    from clhoi.detect.files import save_detections
    from clhoi.sandbox.detector import simulate_split
    from clhoi.sandbox.experiment import SandboxInputs
    from clhoi.teacher.config import TeacherConfig
    from clhoi.teacher.run import label

    out.mkdir(parents=True, exist_ok=True)
    dets = {}
    for split in ("train", "test"):
        path = out / f"detections_{split}.safetensors"
        if not path.is_file():
            sim = simulate_split(world.records(split), seed, objects=DETECTOR_OBJECTS)
            save_detections(path, class_embeddings(sim, embed_dim, seed) if embed_dim else sim)
        dets[split] = path
    labels = out / "labels.jsonl"
    records = world.records("train")
    image_list = out / "labels.images.txt"
    image_list.write_text("\n".join(r["file_name"] for r in records) + "\n", encoding="utf-8")
    teacher = ProbeTeacher(records, TeacherNoise(), seed)
    cfg = TeacherConfig(backend="stub", model=teacher.name, seed=seed, batch_size=64, fallback_rules=False)
    summary = label(cfg, world.image_root, labels, image_list=image_list, progress=False, clients=(teacher, teacher),
                    echo=lambda s: None)
    return SandboxInputs(world, labels, dets, summary)  # type: ignore[arg-type]


def _build_features(cfg) -> None:
    from clhoi.engine.cache import build_cache

    for split in ("train", "test"):
        build_cache(cfg, split, union_crops=(split == "train"))


def _train_eval(cfg, gts, space, groups) -> tuple[float, float, int, float]:
    """Train one row, then score the test split with the model's own class texts (Eq. 17 in the
    configured ``model.text_space``, as ``clhoi eval`` does) and, as a diagnostic, with the
    verb + object prompts (``model.prompt_template``) whatever the text space."""
    from clhoi.engine.checkpoint import load_model
    from clhoi.engine.evaluate import eval_loader, evaluate
    from clhoi.engine.train import train
    from clhoi.eval.hicodet import evaluate_hicodet
    from clhoi.labelset import LabelSet, hoi_prompt
    from clhoi.postprocess import PostProcess

    ckpt = train(cfg, progress=False)
    model, cfg = load_model(ckpt, "cpu")

    def label_set(template: str) -> LabelSet:
        texts = tuple(hoi_prompt(space.verbs[v], space.objects[o], template) for v, o in space.hoi)
        return LabelSet(space.name, texts, tuple(space.hoi_name(c) for c in range(space.num_classes)),
                        tuple(space.hoi_coco_object(c) for c in range(space.num_classes)), (True,) * len(texts))

    loader = eval_loader(cfg, model, [a.file_name for a in gts], True, None)
    post = PostProcess(score_lambda=cfg.model.score_lambda)
    preds = evaluate(model, loader, post, label_set(cfg.model.class_template), "cpu")
    result = evaluate_hicodet(preds, gts, space=space)
    acc, matched, _ = confusable_accuracy(preds, gts, groups)
    # the same pairs scored against "a photo of a person riding a surfboard": what the CLIP text
    # tower makes of the object words on top of what the interaction features know
    hoi_preds = evaluate(model, loader, post, label_set(cfg.model.prompt_template), "cpu")
    acc_hoi, _, _ = confusable_accuracy(hoi_preds, gts, groups)
    return 100 * result.default.full, acc, matched, acc_hoi
