"""Teacher section of the experiment config (no torch imports)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TeacherConfig:
    """Which VLLM labels the images, and how.

    Attributes:
        backend: teacher backend name (see ``clhoi.teacher``).
        model: model id or path loaded with ``from_pretrained``.
        seed: seed of the negative-verb draw.
    """

    backend: str = "instructblip"
    model: str = "Salesforce/instructblip-vicuna-7b"
    seed: int = 0
