"""Detections files: write once, read many, so training need not run the detector.

Formats, chosen by suffix:

* ``.safetensors`` (default): tensors ``{i}.boxes``, ``{i}.scores``,
  ``{i}.labels`` and optionally ``{i}.embeddings`` for the ``i``-th image;
  the metadata entry ``clhoi.detections`` holds JSON
  ``{"file_names": [...], "image_sizes": [[h, w] or null, ...]}``.
* ``.npz``: the same arrays, with the JSON in the array ``__meta__``.
* ``.json`` (read only, for files from any other detector): either
  ``{file_name: record}`` or ``[{"file_name": ..., **record}]`` where a
  record has ``boxes`` (xyxy pixels), ``scores``, ``labels`` (COCO-80
  indices or COCO names) and optionally ``image_size`` ``[h, w]`` and
  ``embeddings``. Detections without embeddings get them pooled from image
  features by the student (``model.box_embedding: auto``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from clhoi.structures import Detections
from clhoi.vocab import coco_index

META_KEY = "clhoi.detections"
FIELDS = ("boxes", "scores", "labels", "embeddings")
SUFFIXES = (".safetensors", ".npz", ".json")


def _meta(dets: dict[str, Detections]) -> str:
    sizes = [list(d.image_size) if d.image_size is not None else None for d in dets.values()]
    return json.dumps({"file_names": list(dets), "image_sizes": sizes})


def _arrays(dets: dict[str, Detections]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for i, d in enumerate(dets.values()):
        out[f"{i}.boxes"] = d.boxes.detach().float().cpu().contiguous()
        out[f"{i}.scores"] = d.scores.detach().float().cpu().contiguous()
        out[f"{i}.labels"] = d.labels.detach().long().cpu().contiguous()
        if d.embeddings is not None:
            out[f"{i}.embeddings"] = d.embeddings.detach().float().cpu().contiguous()
    return out


def save_detections(path: str | Path, detections: dict[str, Detections]) -> None:
    """Write ``{file_name: Detections}`` to ``path`` (``.safetensors`` or ``.npz``)."""
    path = Path(path)
    if path.suffix not in (".safetensors", ".npz"):
        raise ValueError(f"{path}: detections files are written as .safetensors or .npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = _arrays(detections)
    if path.suffix == ".safetensors":
        save_file(arrays, str(path), metadata={META_KEY: _meta(detections)})
    else:
        np.savez(path, __meta__=np.array(_meta(detections)), **{k: v.numpy() for k, v in arrays.items()})


def load_detections(path: str | Path) -> dict[str, Detections]:
    """Read a detections file (``.safetensors``, ``.npz`` or ``.json``) into ``{file_name: Detections}``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unknown suffix or a malformed file, naming what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"detections file {path} does not exist")
    if path.suffix == ".safetensors":
        with safe_open(str(path), framework="pt") as f:
            meta = (f.metadata() or {}).get(META_KEY)
            if meta is None:
                raise ValueError(f"{path}: not a clhoi detections file (no {META_KEY!r} metadata)")
            arrays = {k: f.get_tensor(k) for k in f.keys()}
        return _assemble(path, json.loads(meta), arrays)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "__meta__" not in z:
                raise ValueError(f"{path}: not a clhoi detections file (no __meta__ array)")
            meta = json.loads(str(z["__meta__"]))
            arrays = {k: torch.from_numpy(z[k]) for k in z.files if k != "__meta__"}
        return _assemble(path, meta, arrays)
    if path.suffix == ".json":
        return _from_json(path)
    raise ValueError(f"{path}: unknown detections format; use one of {', '.join(SUFFIXES)}")


def _assemble(path: Path, meta: dict[str, Any], arrays: dict[str, torch.Tensor]) -> dict[str, Detections]:
    out: dict[str, Detections] = {}
    for i, (name, size) in enumerate(zip(meta["file_names"], meta["image_sizes"])):
        try:
            out[name] = Detections(
                arrays[f"{i}.boxes"].float(), arrays[f"{i}.scores"].float(), arrays[f"{i}.labels"].long(),
                arrays.get(f"{i}.embeddings"), tuple(size) if size is not None else None,
            )
        except KeyError as e:
            raise ValueError(f"{path}: entry {i} ({name}) lacks tensor {e}") from None
    return out


def _labels(raw: list[Any], where: str) -> torch.Tensor:
    try:
        return torch.tensor([v if isinstance(v, int) else coco_index(str(v)) for v in raw], dtype=torch.long)
    except KeyError as e:
        raise ValueError(f"{where}: {e.args[0]}") from None


def _from_json(path: Path) -> dict[str, Detections]:
    data = json.loads(path.read_text(encoding="utf-8"))
    records = data.items() if isinstance(data, dict) else ((r.get("file_name"), r) for r in data)
    out: dict[str, Detections] = {}
    for name, rec in records:
        where = f"{path} [{name}]"
        if not isinstance(name, str) or not isinstance(rec, dict):
            raise ValueError(f"{where}: expected records with a string file_name")
        missing = [k for k in ("boxes", "scores", "labels") if k not in rec]
        if missing:
            raise ValueError(f"{where}: missing field(s) {missing}; need boxes (xyxy pixels), scores, labels")
        emb = rec.get("embeddings")
        size = rec.get("image_size")
        try:
            out[name] = Detections(
                torch.tensor(rec["boxes"], dtype=torch.float32).reshape(-1, 4),
                torch.tensor(rec["scores"], dtype=torch.float32).reshape(-1),
                _labels(list(rec["labels"]), where),
                None if emb is None else torch.tensor(emb, dtype=torch.float32),
                tuple(size) if size is not None else None,
            )
        except (TypeError, RuntimeError) as e:
            raise ValueError(f"{where}: malformed detections ({e})") from None
    return out
