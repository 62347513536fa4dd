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
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from clhoi.structures import Predictions


def read_predictions(path: str | Path) -> list[Predictions]:
    """Read a predictions JSON file.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not JSON, not a list, or a record is malformed; the
            message names the file, the record (index and file name) and the field.
    """
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
    out = []
    for i, rec in enumerate(data):
        where = f"{path}: record {i}"
        if not isinstance(rec, dict):
            raise ValueError(f"{where}: expected an object with file_name, boxes, labels, hoi; got {type(rec).__name__}")
        try:
            p = Predictions.from_dict(rec)
            # keep the file's doubles: Predictions.from_dict rounds boxes and scores to float32
            boxes = torch.as_tensor(rec["boxes"], dtype=torch.float64).reshape(-1, 4)
            hoi = torch.as_tensor(rec["hoi"], dtype=torch.float64).reshape(-1, 4)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        out.append(replace(p, boxes=boxes, scores=hoi[:, 3]))
    return out


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
