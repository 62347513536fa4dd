"""Detector adapters (Hugging Face DETR and friends), UPT's filtering, and detections files.

The public names load lazily, so that ``clhoi.detect.config`` (imported by
``clhoi.config``) costs no torch import.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Detector": "clhoi.detect.detector",
    "coco_label_map": "clhoi.detect.detector",
    "decode_outputs": "clhoi.detect.detector",
    "filter_detections": "clhoi.detect.filter",
    "load_detections": "clhoi.detect.files",
    "save_detections": "clhoi.detect.files",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'clhoi.detect' has no attribute {name!r}")
