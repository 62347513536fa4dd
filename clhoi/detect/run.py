"""Run a detector over image files and write one detections file (``clhoi detect``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from clhoi.data.images import image_problem, skipped
from clhoi.detect.config import DetectorConfig
from clhoi.detect.detector import Detector
from clhoi.detect.files import save_detections
from clhoi.structures import Detections

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def list_images(paths: list[Path]) -> list[Path]:
    """Image files among ``paths``; folders are searched recursively, sorted."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p} does not exist")
    if not out:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {', '.join(map(str, paths))}")
    return out


def detect_files(paths: list[Path], out: Path, config: DetectorConfig | None = None, image_root: Path | None = None,
                 filtered: bool = True, batch_size: int = 8, device: str | None = None,
                 callback: Callable[[int, int], None] | None = None, skip_bad_images: bool = False) -> Path:
    """Detect objects in image files and save ``{key: Detections}`` to ``out``.

    Args:
        paths: image files or folders.
        out: ``.safetensors`` or ``.npz`` file to write.
        config: detector name and filtering (defaults: DETR-R50, UPT's filter).
        image_root: keys are paths relative to it (as datasets name images);
            without it, keys are file names.
        filtered: apply UPT's filter (else keep every query with a COCO label).
        batch_size: images per detector call.
        device: ``cpu`` or ``cuda`` (default: cuda when available).
        callback: ``callback(done, total)`` after each batch.
        skip_bad_images: leave out (and list in ``clhoi.data.images.skipped``) files that cannot be
            decoded; without it the first such file is an error naming it.

    Returns:
        ``out``.
    """
    if out.suffix not in (".safetensors", ".npz"):
        raise ValueError(f"--out must end in .safetensors or .npz, got {out.name}")
    files = list_images(paths)
    bad = [(str(f), why) for f in files if (why := image_problem(f)) is not None]
    if bad and not skip_bad_images:
        raise ValueError(f"cannot read image {bad[0][0]}: {bad[0][1]}; replace it, or rerun with --skip-bad-images"
                         + (f" ({len(bad)} unreadable images in all)" if len(bad) > 1 else ""))
    if bad:
        if len(bad) == len(files):
            raise ValueError(f"none of the {len(files)} images can be read, e.g. {bad[0][0]} ({bad[0][1]})")
        skipped.extend(bad)
        drop = {f for f, _ in bad}
        files = [f for f in files if str(f) not in drop]
    keys = []
    for f in files:
        if image_root is None:
            keys.append(f.name)
        else:
            try:
                keys.append(f.resolve().relative_to(image_root.resolve()).as_posix())
            except ValueError:
                raise ValueError(f"{f} is not under --image-root {image_root}") from None
    if len(set(keys)) != len(keys):
        raise ValueError("two images share a file name; pass --image-root so keys are relative paths")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    cfg = config or DetectorConfig()
    detector = Detector.from_pretrained(cfg.model, cfg, device)
    results: dict[str, Detections] = {}
    for i in range(0, len(files), batch_size):
        images = [Image.open(f).convert("RGB") for f in files[i : i + batch_size]]
        for key, det in zip(keys[i : i + batch_size], detector.detect(images, filtered=filtered)):
            results[key] = det
        if callback is not None:
            callback(len(results), len(files))
    save_detections(out, results)
    return out
