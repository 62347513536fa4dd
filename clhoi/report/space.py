"""What the teacher report needs of a dataset's label space, and verb normalisation.

A teacher speaks free text; a dataset names its verbs ``talk_on``,
``talk_on_phone``. The report compares them after :func:`normalize_verb`
(lower case, ``_``/``-`` to spaces, punctuation dropped) and an optional
synonym table. HICO-DET uses none (its verbs are verbs a teacher says);
V-COCO has a short documented one, because its action names are not plain
verbs (``talk_on_phone``, ``lay``); see ``docs/teacher_report.md``.

Imports only clhoi.vocab (and the sandbox's label space, for ``sandbox``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from clhoi.vocab import COCO_CLASSES, HOILabelSpace, hicodet, vcoco_classes

NO_INTERACTION = "no interaction"

VCOCO_SYNONYMS: dict[str, str] = {
    "talk on": "talk on phone",
    "talk": "talk on phone",
    "work on": "work on computer",
    "lie": "lay",
    "lie on": "lay",
    "sit on": "sit",
    "look at": "look",
}
"""Teacher verb -> V-COCO action (normalised). V-COCO's names fold the object
into the action (``talk_on_phone``) or use ``lay`` where a lemmatiser gives ``lie``."""


def normalize_verb(verb: str) -> str:
    """``"Talk_on"`` -> ``"talk on"``: lower case, ``_``/``-`` as spaces, punctuation dropped."""
    text = verb.lower().replace("_", " ").replace("-", " ")
    text = re.sub(r"[^a-z0-9 ]+", "", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class ReportSpace:
    """A dataset's label space as the teacher report sees it.

    Attributes:
        name: dataset name.
        class_verbs: HOI class index -> normalised verb of that class.
        synonyms: normalised teacher verb -> normalised dataset verb.
        objectless_verbs: verbs with a class that has no object (V-COCO's
            ``stand``, ``walk``, ``run``, ``smile``); ground truth of such a class
            is found by a teacher pair with that verb and any object.
        ignored_verbs: ground-truth verbs the report leaves out (HICO-DET's
            ``no interaction``: a teacher is not asked to say it).
    """

    name: str
    class_verbs: tuple[str, ...]
    synonyms: Mapping[str, str] = field(default_factory=dict)
    objectless_verbs: frozenset[str] = frozenset()
    ignored_verbs: frozenset[str] = frozenset({NO_INTERACTION})

    @cached_property
    def verbs(self) -> frozenset[str]:
        """The normalised verbs of the label space."""
        return frozenset(self.class_verbs)

    def map_verb(self, verb: str) -> str:
        """A teacher verb in the dataset's words (normalised, synonyms applied)."""
        v = normalize_verb(verb)
        return self.synonyms.get(v, v)


def space_from_hoi(space: HOILabelSpace, synonyms: Mapping[str, str] | None = None) -> ReportSpace:
    """A :class:`ReportSpace` from any :class:`HOILabelSpace` (HICO-DET, the sandbox)."""
    verbs = tuple(normalize_verb(space.verbs[v]) for v, _ in space.hoi)
    return ReportSpace(space.name, verbs, dict(synonyms or {}))


def vcoco_space() -> ReportSpace:
    """V-COCO's 29-class space (:func:`clhoi.vocab.vcoco_classes`) with :data:`VCOCO_SYNONYMS`."""
    classes = vcoco_classes()
    verbs = tuple(normalize_verb(a) for a, _ in classes)
    objectless = frozenset(normalize_verb(a) for a, r in classes if r is None)
    return ReportSpace("vcoco", verbs, dict(VCOCO_SYNONYMS), objectless)


def report_space(dataset: str, hoi_space: HOILabelSpace | None = None) -> ReportSpace:
    """The report space of ``dataset`` (``hicodet``, ``vcoco``, ``sandbox``).

    Args:
        dataset: dataset name.
        hoi_space: the label space to use instead of the dataset's own.
    """
    if hoi_space is not None:
        return space_from_hoi(hoi_space)
    if dataset == "hicodet":
        return space_from_hoi(hicodet())
    if dataset == "vcoco":
        return vcoco_space()
    if dataset == "sandbox":
        from clhoi.sandbox.labels import sandbox_label_space

        return space_from_hoi(sandbox_label_space())
    raise ValueError(f"unknown dataset {dataset!r}; valid: hicodet, vcoco, sandbox")


def coco_object(coco: str | None, name: str = "") -> int | None:
    """COCO-80 index of a teacher object: its ``coco`` field, else its name if that is a COCO category."""
    for cand in (coco, name):
        if cand:
            key = " ".join(cand.replace("_", " ").lower().split())
            if key in _COCO_INDEX:
                return _COCO_INDEX[key]
    return None


_COCO_INDEX: dict[str, int] = {n: i for i, n in enumerate(COCO_CLASSES)}


def object_name(coco_idx: int | None) -> str:
    """COCO name of an index, ``"(none)"`` for ``None`` (an object-free class)."""
    return "(none)" if coco_idx is None else COCO_CLASSES[coco_idx]


def class_verbs_of(space: ReportSpace, classes: Sequence[int]) -> list[str]:
    """Verbs of HOI classes, raising a clear error for out-of-range classes."""
    n = len(space.class_verbs)
    bad = [c for c in classes if not 0 <= c < n]
    if bad:
        raise ValueError(f"ground-truth HOI class {bad[0]} is outside the {space.name} space of {n} classes")
    return [space.class_verbs[c] for c in classes]
