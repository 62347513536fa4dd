"""The sandbox as a dataset like HICO-DET and V-COCO (:mod:`clhoi.data.registry`).

Its splits are written in the HICO-DET layout with HICO-DET class ids
(:mod:`clhoi.sandbox.world`); it is scored by the HICO-DET protocol in its own
28-class label space (:func:`clhoi.sandbox.labels.sandbox_label_space`), as
``clhoi demo`` scores it. clhoi's ``pyproject.toml`` registers :data:`SANDBOX`
under the ``clhoi.datasets`` entry point, so the engine and ``clhoi evaluate``
find it by name without importing this package.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from clhoi.data.registry import DatasetSpec
from clhoi.sandbox.labels import sandbox_label_space, sandbox_to_hicodet
from clhoi.structures import ImageAnnotation


def _read(path: str | Path, coco_instances: str | Path | None = None, tensors: bool = True) -> list[ImageAnnotation]:
    from clhoi.data.hicodet import read_hicodet

    return read_hicodet(path, tensors=tensors)


def to_sandbox_ids(annotations: list[ImageAnnotation]) -> list[ImageAnnotation]:
    """Ground truth with HICO-DET class ids -> sandbox class ids (tensors or NumPy arrays, as given).

    The same mapping as :func:`clhoi.sandbox.experiment.to_sandbox_classes`; a
    HICO-DET class outside the sandbox raises ``KeyError`` naming the image.
    """
    table = np.full(len(_hicodet_classes()), -1, dtype=np.int64)
    for sandbox_class, hico_class in enumerate(sandbox_to_hicodet()):
        table[hico_class] = sandbox_class
    out = []
    for a in annotations:
        hoi = a.hoi
        cls = np.asarray(hoi[:, 2].tolist(), dtype=np.int64)
        mapped = table[cls] if cls.size else cls
        if (mapped < 0).any():
            bad = int(cls[np.flatnonzero(mapped < 0)[0]])
            raise KeyError(f"{a.file_name}: HICO-DET class {bad} is not in the sandbox label space")
        if hasattr(hoi, "clone"):  # torch
            import torch

            new = hoi.clone()
            new[:, 2] = torch.as_tensor(mapped, dtype=hoi.dtype)
        else:
            new = np.array(hoi, copy=True)
            new[:, 2] = mapped
        out.append(replace(a, hoi=new))
    return out


def _hicodet_classes() -> tuple:
    from clhoi import vocab

    return vocab.hicodet().hoi


def _label_set(prompt_template: str, verb_template: str):
    from clhoi.sandbox.experiment import sandbox_label_set

    return sandbox_label_set(prompt_template)


SANDBOX = DatasetSpec(
    "sandbox", "hicodet", _read, sandbox_label_space, _label_set, to_scored_classes=to_sandbox_ids,
    description="the offline synthetic world (clhoi demo): HICO-DET layout, scored in its 28-class space",
)
"""The sandbox's :class:`~clhoi.data.registry.DatasetSpec` (entry point ``clhoi.datasets: sandbox``)."""
