"""The simulated teacher: a :class:`clhoi.teacher.client.VlmClient` that "looks" at the scene graph.

It captions an image from its ground-truth scene graph with the failure modes
of :mod:`clhoi.sandbox.captions` (naming the place of an image with a board, as
the capability probes' teacher does: "A man is riding a surfboard on a wave.")
and answers prompt 2 with the triplet list of
the interactions its caption names. Its answers go through the real pipeline
(:func:`clhoi.teacher.run.label`: parsing, normalisation, negatives, the
append-only store), exactly as a real teacher's do.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from clhoi.sandbox.captions import describe
from clhoi.sandbox.labels import HOI_KINDS, hicodet_verb_id
from clhoi.sandbox.probe_worlds import PLACES
from clhoi.vocab import COCO_CLASSES, COCO_ID_TO_INDEX, PERSON


@dataclass(frozen=True)
class TeacherNoise:
    """How the simulated teacher fails (see :func:`clhoi.sandbox.captions.describe`)."""

    miss_rate: float = 0.5
    synonym_rate: float = 0.25
    hallucination_rate: float = 0.1


def scene_facts(record: dict[str, Any]) -> tuple[int, list[tuple[str, str]], list[str]]:
    """``(num_people, [(verb, object)] per interaction, object categories)`` of a converted record."""
    labels = [COCO_ID_TO_INDEX[a["category_id"]] for a in record["annotations"]]
    objects = [COCO_CLASSES[c].replace(" ", "_") for c in labels if c != PERSON]
    by_id = {(hicodet_verb_id(k.verb), k.object): k for k in HOI_KINDS}
    inter = []
    for h in record["hoi_annotation"]:
        obj = COCO_CLASSES[labels[h["object_id"]]].replace(" ", "_")
        kind = by_id[(h["category_id"], obj)]
        inter.append((kind.verb, kind.object))
    return sum(c == PERSON for c in labels), inter, objects


class SandboxTeacher:
    """A deterministic simulated VLLM teacher for the sandbox world.

    Args:
        records: converted HICO-DET records of the images it may be asked about
            (their ``file_name`` is the image key).
        noise: miss, synonym and hallucination rates.
        seed: the teacher's seed; each image's answer depends on (seed, key) only.
    """

    needs_pixels = False

    def __init__(self, records: list[dict[str, Any]], noise: TeacherNoise = TeacherNoise(), seed: int = 0) -> None:
        self.name = f"sandbox-teacher(miss={noise.miss_rate},syn={noise.synonym_rate},hal={noise.hallucination_rate})"
        self.noise = noise
        self.seed = seed
        self._records = {r["file_name"]: r for r in records}
        self._triplets: dict[str, str] = {}

    def describe(self, key: str):
        """The :class:`~clhoi.sandbox.captions.Description` of image ``key``."""
        if key not in self._records:
            raise KeyError(f"the sandbox teacher knows no image {key!r}")
        record = self._records[key]
        n, inter, objects = scene_facts(record)
        rng = random.Random(f"teacher/{self.seed}/{key}")
        place = record.get("scene")  # a board image: the caption says where, as the probes' teacher does
        return describe(n, inter, objects, rng, self.noise.miss_rate, self.noise.synonym_rate,
                        self.noise.hallucination_rate, places=PLACES[place] if place else None)

    def caption(self, images: Sequence[Any], prompt: str) -> list[str | Exception]:
        out: list[str | Exception] = []
        for item in images:
            try:
                d = self.describe(item.key)
            except KeyError as e:
                out.append(e)
                continue
            self._triplets[d.caption] = d.triplets
            out.append(d.caption)
        return out

    def parse(self, captions: Sequence[str], prompt: str) -> list[str | Exception]:
        return [self._triplets.get(c.strip(), "There are no human-object interactions in the sentence.")
                for c in captions]


def label_split(records: list[dict[str, Any]], image_root: str | Path, out: str | Path, seed: int = 0,
                noise: TeacherNoise = TeacherNoise(), progress: bool = False,
                echo: Callable[[str], None] = lambda s: None):
    """Label ``records``' images with the simulated teacher through :func:`clhoi.teacher.run.label`.

    Returns:
        The label store's summary (``clhoi.teacher.summary.LabelSummary``).
    """
    from clhoi.teacher.config import TeacherConfig
    from clhoi.teacher.run import label

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    image_list = out.with_suffix(".images.txt")
    image_list.write_text("\n".join(r["file_name"] for r in records) + "\n", encoding="utf-8")
    teacher = SandboxTeacher(records, noise, seed)
    cfg = TeacherConfig(backend="stub", model=teacher.name, seed=seed, batch_size=64, fallback_rules=False)
    return label(cfg, image_root, out, image_list=image_list, progress=progress, clients=(teacher, teacher), echo=echo)
