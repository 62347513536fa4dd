"""Predictions files and metrics files.

A predictions file is JSON: a list with one record per image,
``{"file_name", "boxes": [[x1, y1, x2, y2], ...], "labels": [COCO-80 index, ...],
"hoi": [[human_idx, object_idx, class_idx, score], ...]}`` (the
:class:`~clhoi.structures.Predictions` JSON form). Boxes and scores are kept in
float64 here, as the official code reads them, so that rounding to float32 cannot
create score ties or move an IoU across the threshold.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clhoi.structures import Predictions


def read_predictions(path: str | Path) -> list[Predictions]:
    """Read a predictions JSON file.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not JSON, not a list, or a record is malformed; the
            message names the file, the record (index and file name) and the field.
    """
    return parse_predictions(read_json_list(path), path)


def read_json_list(path: str | Path) -> list:
    """A JSON file that must hold a list (of per-image or per-detection records)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of per-image records, got {type(data).__name__}")
    return data


def parse_predictions(data: list, path: str | Path = "predictions") -> list[Predictions]:
    """Per-image records (already loaded JSON) -> Predictions, float64 boxes and scores."""
    return [_parse(rec, f"{path}: record {i}") for i, rec in enumerate(data)]


def _parse(rec: Any, where: str) -> Predictions:
    """One record -> Predictions with float64 boxes and scores (``Predictions.from_dict`` rounds to float32)."""
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: expected an object with file_name, boxes, labels, hoi; got {type(rec).__name__}")
    name = rec.get("file_name")
    if not isinstance(name, str):
        raise ValueError(f"{where}: no string 'file_name'")
    where = f"{where} ({name})"
    arrays = {}
    for key, dtype, width in (("boxes", np.float64, 4), ("labels", np.int64, 0), ("hoi", np.float64, 4)):
        if key not in rec:
            raise ValueError(f"{where}: lacks field '{key}'")
        try:
            a = np.asarray(rec[key], dtype=dtype)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: field '{key}' is not numeric ({e})") from None
        if a.size == 0:
            a = a.reshape((0, width) if width else (0,))
        if (width and (a.ndim != 2 or a.shape[1] != width)) or (not width and a.ndim != 1):
            shape = f"[N, {width}]" if width else "[N]"
            raise ValueError(f"{where}: field '{key}' must be {shape}, got shape {list(a.shape)}")
        arrays[key] = a
    boxes, labels, hoi = arrays["boxes"], arrays["labels"], arrays["hoi"]
    if labels.shape[0] != boxes.shape[0]:
        raise ValueError(f"{where}: {boxes.shape[0]} boxes but {labels.shape[0]} labels")
    idx = hoi[:, :2]
    if not (np.isfinite(idx).all() and (idx == np.round(idx)).all()):
        raise ValueError(f"{where}: field 'hoi' box indices must be integers")
    n = boxes.shape[0]
    bad = (idx[:, 0] < 0) | (idx[:, 1] < -1) | (idx >= n).any(1)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}: hoi[{j}] = {hoi[j].tolist()} indexes outside its {n} boxes")
    return Predictions(name, torch.from_numpy(boxes), torch.from_numpy(labels), torch.from_numpy(idx.astype(np.int64)),
                       torch.from_numpy(hoi[:, 2].astype(np.int64)), torch.from_numpy(hoi[:, 3].copy()))


def write_predictions(predictions: list[Predictions], path: str | Path) -> None:
    """Write predictions in the JSON form :func:`read_predictions` reads."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump([p.to_dict() for p in predictions], f)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def write_metrics(metrics: dict[str, Any], path: str | Path) -> None:
    """Write a metrics dict as JSON (NaN becomes ``null``); creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_finite(metrics), f, indent=2)
        f.write("\n")
