"""The offline synthetic world: scenes, a simulated teacher and detector, a small CLIP, ``clhoi demo``.

Importing this package is light (PIL, no torch). The parts:

* :mod:`~clhoi.sandbox.labels`: the sandbox label space (``sandbox_label_space()``);
* :mod:`~clhoi.sandbox.scene`, :mod:`~clhoi.sandbox.world`: scene graphs and the HICO-DET-format world;
* :mod:`~clhoi.sandbox.captions`, :mod:`~clhoi.sandbox.teacher`: the simulated teacher (a ``VlmClient``);
* :mod:`~clhoi.sandbox.detector`: the simulated detector;
* :mod:`~clhoi.sandbox.tiny_clip`, :mod:`~clhoi.sandbox.clip_training`: the small CLIP and its training;
* :mod:`~clhoi.sandbox.experiment`, :mod:`~clhoi.sandbox.demo`: configs, evaluation, the demo.
"""

from clhoi.sandbox.labels import sandbox_label_space
from clhoi.sandbox.world import World, WorldSpec, build_world

__all__ = ["World", "WorldSpec", "build_world", "sandbox_label_space"]
