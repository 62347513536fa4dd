"""``clhoi demo``: the whole method, annotation-free, in the offline sandbox, in minutes on a CPU.

Stages (each timed, each printing progress):

1. ``world``: generate the world (cached) as a HICO-DET dataset;
2. ``inputs``: simulated detections files, simulated teacher labels (real parser and store);
3. ``features``: the feature cache of both splits (frozen CLIP, union crops);
4. ``random_init`` / ``annotation_free`` / ``supervised``: train (the random-init
   model is the untrained student, Table 6) and evaluate each with the HICO-DET
   evaluator in the sandbox label space;
5. the table, ``results.json`` and a few prediction images.

``--ablation chain`` runs the rows of the paper's Table 4 and ``--ablation
losses`` the bars of Fig. 3 instead of the three models.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from clhoi.sandbox.teacher import TeacherNoise
from clhoi.sandbox.world import WorldSpec, build_world

ABLATIONS = ("chain", "losses")


@dataclass
class DemoSettings:
    """What ``clhoi demo`` runs.

    Attributes:
        seed: seed of the world, the teacher, the detector and training.
        num_train, num_test: images of the two splits.
        epochs: training epochs of each model.
        batch_size: images per step.
        lr: AdamW learning rate.
        max_steps: stop each training after this many steps (0 = no limit; smoke runs).
        num_images: prediction images to draw.
        threads: torch intra-op threads (1: the models are small, and a second
            thread on a busy 2-core machine is slower, not faster).
    """

    seed: int = 0
    num_train: int = 600
    num_test: int = 200
    epochs: int = 12
    batch_size: int = 16
    lr: float = 1e-3
    max_steps: int = 0
    num_images: int = 4
    threads: int = 1


@dataclass
class DemoResult:
    """What the demo measured.

    Attributes:
        scores: model name -> ``{"full", "rare", "non_rare"}`` mAP in percent.
        seconds: stage name -> wall time in seconds.
        output_dir: where everything was written.
        images: the prediction images drawn.
    """

    scores: dict[str, dict[str, float]]
    seconds: dict[str, float]
    output_dir: Path
    images: list[Path] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, settings: DemoSettings) -> dict[str, Any]:
        return {**self.scores, "seed": settings.seed, "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
                "settings": settings.__dict__, **self.extra}


def chain_rows() -> list[tuple[str, dict[str, bool], dict[str, float]]]:
    """Table 4: the chain of cognition grown link by link (the VLT joins with context cognition).

    Row 1 is the paper's baseline, UPT's interaction head (``model.baseline: upt``, the
    default) trained with the interaction distillation losses, without VLT and ICN; each
    later row adds one link on top of it.

    Returns:
        ``(label, model switches, loss overrides)`` per row; rows without the VLT
        have no context features ``f_c`` and so no context loss (Eq. 7).
    """
    off = dict(use_vlt=False, use_spatial=False, use_visual=False, use_context=False)
    no_fc = {"context": 0.0}
    return [
        ("baseline (UPT head)", off, no_fc),
        ("+ spatial", {**off, "use_spatial": True}, no_fc),
        ("+ spatial + visual", {**off, "use_spatial": True, "use_visual": True}, no_fc),
        ("+ spatial + visual + context (CL-HOI)", dict(use_vlt=True, use_spatial=True, use_visual=True,
                                                       use_context=True), {}),
    ]


def loss_rows() -> list[tuple[str, dict[str, float]]]:
    """Fig. 3: the distillation losses added one by one."""
    return [
        ("L_SR", dict(context=0, i2t=0, t2i=0, soft_relation=1)),
        ("L_SR + L_c", dict(context=1, i2t=0, t2i=0, soft_relation=1)),
        ("L_SR + L_c + L_I2T", dict(context=1, i2t=1, t2i=0, soft_relation=1)),
        ("L_SR + L_c + L_T2I", dict(context=1, i2t=0, t2i=1, soft_relation=1)),
        ("all (Eq. 10)", dict(context=1, i2t=1, t2i=1, soft_relation=1)),
    ]


BOX_EMBEDDINGS = ("pooled", "class")
"""The simulated detector's box embeddings: ``pooled`` (none given, the student pools CLIP tokens:
the demo) or ``class`` (object-centric, :func:`clhoi.sandbox.probes.class_embeddings`: a measured variant)."""


def run_demo(settings: DemoSettings = DemoSettings(), output_dir: str | Path = "runs/demo",
             cache_dir: str | Path | None = None, ablation: str | None = None,
             echo: Callable[[str], None] = print, progress: bool = True,
             model_overrides: dict[str, Any] | None = None, box_embeddings: str = "pooled",
             chain_supervision: str = "annotation_free", data_overrides: dict[str, Any] | None = None,
             teacher_noise: dict[str, float] | None = None) -> DemoResult:
    """Run the demo (or an ablation grid) and write ``results.json`` into ``output_dir``.

    ``model_overrides`` (``ModelConfig`` fields, e.g. ``{"visual_union_guidance": "mask"}``) and
    ``box_embeddings="class"`` measure variants of every row (``benchmarks/demo_options.py``);
    ``clhoi demo`` runs the defaults. ``chain_supervision="full"`` trains the chain's rows on the
    ground truth with the supervised loss alone (a diagnostic: what each row can learn when the
    labels say everything). ``data_overrides`` (``DataConfig`` fields, e.g. ``{"object_negatives": 2}``) apply to every trained model.
    ``teacher_noise`` (:class:`~clhoi.sandbox.teacher.TeacherNoise` fields, e.g. ``{"miss_rate": 0.0}``) changes
    how the simulated teacher fails.

    Raises:
        ValueError: an unknown ablation, or an ``output_dir`` that holds a previous run.
    """
    import torch

    from clhoi.engine.config import LossConfig
    from clhoi.sandbox.experiment import evaluate_sandbox, experiment, prepare_inputs, sandbox_model_config

    if ablation is not None and ablation not in ABLATIONS:
        raise ValueError(f"unknown ablation {ablation!r}; valid: {', '.join(ABLATIONS)}")
    if chain_supervision not in ("annotation_free", "full"):
        raise ValueError(f"unknown chain supervision {chain_supervision!r}; valid: annotation_free, full")
    if box_embeddings not in BOX_EMBEDDINGS:
        raise ValueError(f"unknown box embeddings {box_embeddings!r}; valid: {', '.join(BOX_EMBEDDINGS)}")
    extra = dict(model_overrides or {})
    dextra = dict(data_overrides or {})
    out = Path(output_dir)
    if (out / "results.json").exists() or any((out / m / "checkpoint").exists() for m in ("annotation_free", "random_init")):
        raise ValueError(f"{out} holds a previous demo run; remove it or pass another --output")
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(settings.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the sandbox models load in milliseconds; their bars are noise
    seconds: dict[str, float] = {}
    s = settings

    def stage(name: str) -> Callable[[], None]:
        t0 = time.perf_counter()
        echo(f"[{name}] ...")

        def done() -> None:
            seconds[name] = time.perf_counter() - t0
            echo(f"[{name}] done in {seconds[name]:.1f}s")
        return done

    done = stage("world")
    spec = WorldSpec(seed=s.seed, num_train=s.num_train, num_test=s.num_test)
    world = build_world(spec, cache_dir)
    echo(f"  world {world.root} ({s.num_train} train / {s.num_test} test images)")
    done()

    done = stage("inputs")
    noise = TeacherNoise(**(teacher_noise or {}))
    inputs = prepare_inputs(world, out / "inputs", seed=s.seed, teacher=noise, echo=echo)
    if box_embeddings == "class":
        inputs = _with_class_embeddings(inputs, sandbox_model_config(**extra).box_embed_dim, s.seed)
    summ = inputs.label_summary
    echo(f"  teacher labels: {summ.by_status.get('ok', 0)} ok / {summ.by_status.get('no_action', 0)} no_action "
         f"of {summ.total} images")
    done()

    done = stage("features")
    features = out / "features"
    base = experiment(inputs, out / "_cache", "full", s.seed, epochs=1, feature_cache=features,
                      model=sandbox_model_config(**extra))
    _build_features(base, echo)
    done()

    def train_eval(name: str, cfg: Any) -> dict[str, Any]:
        from clhoi.engine.train import train

        if dextra:
            cfg = replace(cfg, data=replace(cfg.data, **dextra))
        d = stage(name)
        ckpt = train(cfg, progress=progress)
        scores = evaluate_sandbox(ckpt, use_cache=True)
        d()
        echo(f"  {name}: Full {scores.full:.2f}  Rare {scores.rare:.2f}  Non-rare {scores.non_rare:.2f}")
        return {"scores": scores.to_dict(), "checkpoint": ckpt, "predictions": scores.predictions}

    common = dict(seed=s.seed, batch_size=s.batch_size, lr=s.lr, max_steps=s.max_steps, feature_cache=features)
    if extra:
        common["model"] = sandbox_model_config(**extra)
    results: dict[str, dict[str, Any]] = {}
    if ablation is None:
        results["random_init"] = train_eval("random_init", experiment(inputs, out / "random_init", epochs=0, **common))
        results["annotation_free"] = train_eval(
            "annotation_free", experiment(inputs, out / "annotation_free", "annotation_free", epochs=s.epochs,
                                         **common))
        results["supervised"] = train_eval(
            "supervised", experiment(inputs, out / "supervised", "full", epochs=s.epochs, **common))
    elif ablation == "chain":
        chain_common = {k: v for k, v in common.items() if k != "model"}
        for i, (label, switches, weights) in enumerate(chain_rows()):
            if i == 0 and extra.get("baseline") == "mlp":
                label = "baseline (MLP(e_h, e_o))"  # model_overrides replaced UPT's head
            # full supervision: experiment()'s loss of that setting (the supervised term alone)
            loss = None if chain_supervision == "full" else replace(LossConfig(), **weights)
            cfg = experiment(inputs, out / f"chain{i}", chain_supervision, epochs=s.epochs,
                             model=sandbox_model_config(**{**extra, **switches}), loss=loss, **chain_common)
            results[label] = train_eval(f"chain{i}: {label}", cfg)
    else:
        for i, (label, weights) in enumerate(loss_rows()):
            cfg = experiment(inputs, out / f"losses{i}", "annotation_free", epochs=s.epochs,
                             loss=replace(LossConfig(), **weights), **common)
            results[label] = train_eval(f"losses{i}: {label}", cfg)

    scores = {k: v["scores"] for k, v in results.items()}
    images: list[Path] = []
    if ablation is None and s.num_images > 0:
        images = draw_examples(world, results["annotation_free"]["predictions"], out / "predictions", s.num_images)
    result = DemoResult(scores, seconds, out, images,
                        extra={"model_overrides": extra, "box_embeddings": box_embeddings,
                               "chain_supervision": chain_supervision, "data_overrides": dextra,
                               "teacher_noise": dict(teacher_noise or {})}
                        if extra or dextra or teacher_noise or box_embeddings != "pooled"
                        or chain_supervision != "annotation_free" else {})
    seconds["total"] = sum(v for k, v in seconds.items())
    (out / "results.json").write_text(json.dumps(result.to_dict(s), indent=2), encoding="utf-8")
    echo(format_table(scores, "model" if ablation is None else ablation))
    return result


def _with_class_embeddings(inputs, dim: int, seed: int):
    """``inputs`` with detections files whose boxes carry object-centric class embeddings (the probes' detector)."""
    from clhoi.detect.files import load_detections, save_detections
    from clhoi.sandbox.probes import class_embeddings

    dets = {}
    for split, path in inputs.detections.items():
        new = path.with_name(f"{path.stem}_class{path.suffix}")
        if not new.is_file():
            save_detections(new, class_embeddings(load_detections(path), dim, seed))
        dets[split] = new
    return replace(inputs, detections=dets)


def _build_features(cfg, echo: Callable[[str], None]) -> None:
    from clhoi.engine.cache import build_cache

    for split in ("train", "test"):
        build_cache(cfg, split, union_crops=(split == "train"),
                    callback=lambda done, total, sp=split: echo(f"  {sp} features {done}/{total}"))


def format_table(scores: dict[str, dict[str, float]], first: str = "model") -> str:
    """The demo's table: one row per model, mAP Full / Rare / Non-rare in percent."""
    width = max([len(first)] + [len(k) for k in scores])
    lines = [f"{first:<{width}}  {'Full':>6}  {'Rare':>6}  {'Non-rare':>8}", "-" * (width + 26)]
    for k, v in scores.items():
        lines.append(f"{k:<{width}}  {v['full']:6.2f}  {v['rare']:6.2f}  {v['non_rare']:8.2f}")
    return "\n".join(lines)


def draw_examples(world, predictions: list, out_dir: Path, count: int) -> list[Path]:
    """Draw the top triplets of the first ``count`` test images with :func:`clhoi.viz.draw_predictions`."""
    from PIL import Image

    from clhoi.sandbox.experiment import sandbox_label_set
    from clhoi.viz import draw_predictions

    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(sandbox_label_set().names)
    paths = []
    for pred in predictions[:count]:
        with Image.open(world.image_root / pred.file_name) as im:
            img = draw_predictions(im.convert("RGB"), pred, names, top_k=3)
        path = out_dir / pred.file_name.replace("/", "_")
        img.save(path)
        paths.append(path)
    return paths
