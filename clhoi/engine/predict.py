"""``clhoi predict``: a trained student on the user's own photos.

Per image: detect (the config's detector, or a detections file), run the
student, score against the dataset's classes or the user's verbs (Eq. 18), and
write ``<stem>.json`` (the triplets) and ``<stem>.png`` (boxes, pair lines,
labels with scores); with ``attention`` also ``<stem>_attention.png``, the
visual-cognition attention of the best triplet (Fig. 8).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from clhoi.data.images import image_problem, skipped
from clhoi.data.labels import load_rgb
from clhoi.engine.checkpoint import load_model
from clhoi.engine.sources import InputError, eval_label_set
from clhoi.labelset import LabelSet
from clhoi.postprocess import PostProcess, triplet_records
from clhoi.structures import Detections, Predictions


@dataclass
class ImagePrediction:
    """What ``predict`` produced for one image.

    Attributes:
        image: the input path.
        predictions: the kept triplets (boxes in the image's pixels).
        triplets: the JSON-ready triplets (``human``, ``object`` boxes, ``interaction``, ``score``).
        json_path, png_path: the files written.
        attention_path: the attention overlay, when asked for.
    """

    image: Path
    predictions: Predictions
    triplets: list[dict[str, Any]]
    json_path: Path
    png_path: Path
    attention_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def triplets_json(pred: Predictions, label_set: LabelSet) -> list[dict[str, Any]]:
    """Readable triplets: boxes (xyxy pixels), object name, interaction name, score; best first."""
    return triplet_records(pred, label_set)


def predict(
    images: list[str | Path],
    checkpoint: str | Path,
    out_dir: str | Path = "predictions",
    verbs: list[str] | None = None,
    dataset: str | None = None,
    detections: str | Path | None = None,
    attention: bool = False,
    threshold: float | None = None,
    top_k: int | None = None,
    device: str | None = None,
    skip_bad_images: bool = False,
) -> list[ImagePrediction]:
    """Detect HOIs in images with a trained checkpoint.

    Args:
        images: image files.
        checkpoint: a checkpoint directory (``clhoi train`` output).
        out_dir: folder for the JSON and PNG files.
        verbs: score these verbs (open vocabulary) instead of the dataset's classes.
        dataset: the label set when ``verbs`` is None (default: the checkpoint's dataset).
        detections: a detections file with entries for the images (by file name);
            default: run the config's detector (``detector.model``).
        attention: also write the Fig. 8 style attention overlay of the best triplet.
        threshold: keep triplets scoring at least this (default ``eval.predict_threshold``).
        top_k: keep at most this many triplets per image (default ``eval.predict_top_k``).
        device: default CUDA when available.
        skip_bad_images: leave out (and list in ``clhoi.data.images.skipped``) image files that
            cannot be decoded, instead of stopping at the first.

    Returns:
        one :class:`ImagePrediction` per image, in input order. Two inputs with the same
        file name (``a/x.jpg``, ``b/x.jpg``) write ``x.json`` and ``x-2.json``: none is overwritten.
    """
    paths = [Path(p) for p in images]
    for p in paths:
        if not p.is_file():
            raise InputError(f"image {p} does not exist")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, cfg = load_model(checkpoint, device)
    label_set = eval_label_set(cfg, dataset, verbs)
    threshold = cfg.eval.predict_threshold if threshold is None else threshold
    top_k = cfg.eval.predict_top_k if top_k is None else top_k
    post = PostProcess(score_lambda=cfg.model.score_lambda, top_k=top_k, min_score=threshold)
    detect = _detections_source(cfg, detections, device)
    out = Path(out_dir)
    _check_inputs(paths, detections, detect, out, skip_bad_images)  # before anything is written
    text = model.encode_text(list(label_set.texts))
    out.mkdir(parents=True, exist_ok=True)
    from clhoi.viz import draw_attention, draw_predictions

    results = []
    stems = unique_stems(paths)
    for path, name in zip(paths, stems):
        problem = image_problem(path) if skip_bad_images else None
        if problem is not None:
            skipped.append((str(path), problem))
            continue
        image = load_rgb(path)
        det = detect(path, image).to(device)
        with torch.no_grad():
            output = model([det], pixel_values=model.preprocess([image]).to(device), return_attention=attention)
        pred = post(output, [det], [path.name], text, label_set)[0]
        triplets = triplets_json(pred, label_set)
        stem = out / name
        json_path, png_path = stem.with_suffix(".json"), stem.with_suffix(".png")
        json_path.write_text(json.dumps({"image": str(path), "label_set": label_set.name, "triplets": triplets},
                                        indent=2), encoding="utf-8")
        draw_predictions(image, pred, label_set.names, top_k=top_k, min_score=threshold).save(png_path)
        att_path = None
        if attention and len(pred.scores) and output.attentions and "visual" in output.attentions:
            h, o = (int(v) for v in pred.pairs[0].tolist())
            sel = output.human_idx == h
            if o >= 0:
                sel &= output.object_idx == o
            row = sel.nonzero()
            if row.numel():
                att = output.attentions["visual"][int(row[0, 0])]
                att_path = out / f"{name}_attention.png"
                boxes = pred.boxes[[h] + ([o] if o >= 0 else [])]
                best = triplets[0] if triplets else None
                caption = (f"visual attention of the best pair: {best['interaction']} {best['score']:.2f}"
                           if best else "visual attention of the best pair")
                draw_attention(image, att, model.grid, boxes=boxes, caption=caption).save(att_path)
        results.append(ImagePrediction(path, pred, triplets, json_path, png_path, att_path))
    return results


def load_for_inference(checkpoint: str | Path, device: str | None = None, detector: str | bool | None = True) -> Any:
    """A trained student ready for ``model.predict(image, verbs=[...])``, in memory.

    ``checkpoint`` is a ``clhoi train`` checkpoint directory, a ``save_pretrained``
    folder or a Hugging Face Hub id. A train checkpoint also sets
    ``model.label_set`` (its dataset's classes, the default of ``predict``).
    ``detector=True`` attaches the checkpoint's ``detector.model`` when it can
    be loaded (a local folder or a Hub id that is cached or reachable) and
    ``None`` otherwise; a string names another detector; ``False`` attaches
    none. Without a detector, ``predict`` needs ``detections=``.
    """
    from clhoi.detect.config import DetectorConfig
    from clhoi.detect.detector import Detector
    from clhoi.engine.checkpoint import CheckpointError, resolve_checkpoint

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        run = resolve_checkpoint(checkpoint)  # a train checkpoint: its experiment config says more
    except CheckpointError:
        run = None
    det_cfg = DetectorConfig()
    label_set = None
    if run is not None:
        model, cfg = load_model(run, device)
        det_cfg = cfg.detector
        label_set = eval_label_set(cfg)
    else:
        from clhoi.models.student import CLHOI

        try:
            model = CLHOI.from_pretrained(str(checkpoint), map_location=device).eval()
        except (OSError, ValueError, RuntimeError) as e:
            where = "a model folder" if Path(checkpoint).exists() else "a checkpoint folder or a reachable Hub id"
            raise CheckpointError(f"{checkpoint} is not {where} ({str(e).splitlines()[0][:300]})") from None
        if detector is True:
            detector = None  # a bare model folder names no detector
    model.label_set = label_set
    model.detector = None
    name = det_cfg.model if detector is True else detector
    if isinstance(name, str) and name:
        try:
            model.detector = Detector.from_pretrained(name, det_cfg, device)
        except (OSError, ValueError, ImportError):
            if detector is not True:
                raise  # a detector the caller asked for by name must load
    return model


def _check_inputs(paths: list[Path], detections: str | Path | None, detect: Any, out: Path,
                  skip_bad_images: bool) -> None:
    """Every input of ``predict`` is usable, so a bad one stops it before any file is written."""
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is a file; give a folder (--out)")
    if not skip_bad_images:
        for p in paths:
            problem = image_problem(p)
            if problem is not None:
                raise InputError(f"image {p} cannot be used ({problem}); fix or drop it (nothing was written)")
    has = getattr(detect, "has", None)
    if has is not None:
        missing = [p for p in paths if not has(p)]
        if missing:
            more = f" and {len(missing) - 1} more image(s)" if len(missing) > 1 else ""
            raise InputError(f"{detections} has no detections for {missing[0].name}{more}; run the detector on "
                             "them or drop --detections (nothing was written)")


def unique_stems(paths: list[Path]) -> list[str]:
    """Output names per input: the file stem, with ``-2``, ``-3``, ... for a stem seen before (case-blind)."""
    used: set[str] = set()
    out = []
    for p in paths:
        name, k = p.stem, 1
        while name.lower() in used:
            k += 1
            name = f"{p.stem}-{k}"
        used.add(name.lower())
        out.append(name)
    return out


def _detections_source(cfg: Any, detections: str | Path | None, device: str):
    """A function ``(path, image) -> Detections``: from a file, or the config's detector."""
    if detections is not None:
        from clhoi.detect.files import load_detections
        from clhoi.detect.filter import filter_detections

        p = Path(detections)
        if not p.is_file():
            raise InputError(f"detections file {p} does not exist")
        table = load_detections(p)
        d = cfg.detector

        def lookup(path: Path) -> Detections | None:
            # keys are paths relative to some image root: try the image's path and each of its tails
            tails = [str(Path(*path.parts[i:])) for i in range(len(path.parts))]
            return next((table[k] for k in tails if k in table), None)

        def from_file(path: Path, image: Any) -> Detections:
            det = lookup(path)
            if det is None:
                raise InputError(f"{p} has no detections for {path.name}; run the detector on it or drop --detections")
            det = filter_detections(det, d.score_threshold, d.nms_threshold, d.min_humans, d.max_humans,
                                    d.min_objects, d.max_objects)
            if det.image_size is None:
                det.image_size = (image.height, image.width)
            return det

        from_file.has = lambda path: lookup(path) is not None  # type: ignore[attr-defined]
        return from_file
    from clhoi.detect.detector import Detector

    name = cfg.detector.model
    if not Path(name).is_dir() and "/" not in name:
        raise InputError(f"this checkpoint's detector {name!r} cannot be run on new images (it is neither a local "
                         "folder nor a Hugging Face id); pass --detections FILE (see `clhoi detect`)")
    try:
        detector = Detector.from_pretrained(name, cfg.detector, device)
    except OSError as e:
        raise InputError(f"could not load the detector {name!r} ({str(e).splitlines()[0]}); with no internet, "
                         "download it once elsewhere and set detector.model to its local folder, or pass "
                         "--detections FILE") from None
    return lambda path, image: detector.detect([image])[0]
