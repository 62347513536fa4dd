"""clhoi: CL-HOI, human-object interaction detection distilled from vision large language models.

Importing the package is light (no torch); the stages live in their subpackages.

    >>> import clhoi
    >>> model = clhoi.load_model("runs/clhoi/checkpoint")          # or a Hugging Face Hub id
    >>> model.predict(image, verbs=["ride", "hold"])              # triplets, best first
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load_model(checkpoint: str, device: str | None = None, detector: str | bool | None = True) -> Any:
    """Load a trained CL-HOI student for in-memory inference (``model.predict``).

    See :func:`clhoi.engine.predict.load_for_inference`.
    """
    from clhoi.engine.predict import load_for_inference

    return load_for_inference(checkpoint, device, detector)
