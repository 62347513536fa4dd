"""Label spaces as data: COCO-80, HICO-DET (117 verbs / 80 objects / 600 HOIs),
V-COCO actions and roles, and the negative-verb dictionary of appendix A.2.

The facts live in the JSON files beside this module (each names its source);
this module only loads them into typed, immutable objects. Imports nothing of
clhoi.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_HERE = Path(__file__).parent


def _load(name: str) -> dict:
    with open(_HERE / name, encoding="utf-8") as f:
        return json.load(f)


# ----------------------------------------------------------------------------- COCO
_coco = _load("coco.json")
COCO_CLASSES: tuple[str, ...] = tuple(_coco["names"])
"""The 80 COCO category names; position = COCO-80 index (0 = person)."""
COCO_IDS: tuple[int, ...] = tuple(_coco["ids"])
"""COCO-80 index -> category id in the 91-id space of the COCO json files."""
COCO_ID_TO_INDEX: dict[int, int] = {cid: i for i, cid in enumerate(COCO_IDS)}
PERSON = 0


def coco_index(name: str) -> int:
    """COCO-80 index of a category name (``"sports ball"`` or ``"sports_ball"``)."""
    key = name.replace("_", " ").strip().lower()
    try:
        return COCO_CLASSES.index(key)
    except ValueError:
        raise KeyError(f"{name!r} is not a COCO category; valid: {', '.join(COCO_CLASSES)}") from None


# ----------------------------------------------------------------------------- HICO-DET
@dataclass(frozen=True)
class HOILabelSpace:
    """A dataset's interaction label space.

    Attributes:
        name: dataset name.
        verbs: verb names (HICO-DET: 117, official order).
        objects: object names in the dataset's own order.
        object_to_coco: dataset object index -> COCO-80 index.
        hoi: for each HOI class, ``(verb_idx, object_idx)`` in dataset indices.
        rare: HOI class ids with fewer than 10 training instances.
    """

    name: str
    verbs: tuple[str, ...]
    objects: tuple[str, ...]
    object_to_coco: tuple[int, ...]
    hoi: tuple[tuple[int, int], ...]
    rare: frozenset[int]

    @property
    def num_classes(self) -> int:
        return len(self.hoi)

    @property
    def non_rare(self) -> frozenset[int]:
        return frozenset(range(self.num_classes)) - self.rare

    def hoi_name(self, idx: int) -> str:
        v, o = self.hoi[idx]
        return f"{self.verbs[v].replace('_', ' ')} {self.objects[o].replace('_', ' ')}"

    def hoi_coco_object(self, idx: int) -> int:
        """COCO-80 index of the object of HOI class ``idx``."""
        return self.object_to_coco[self.hoi[idx][1]]

    def classes_for_coco_object(self, coco_idx: int) -> tuple[int, ...]:
        """HOI classes whose object is COCO-80 category ``coco_idx`` (valid verbs of that object)."""
        return self._by_object().get(coco_idx, ())

    def verbs_for_coco_object(self, coco_idx: int) -> tuple[str, ...]:
        return tuple(self.verbs[self.hoi[c][0]] for c in self.classes_for_coco_object(coco_idx))

    def _by_object(self) -> dict[int, tuple[int, ...]]:
        cache = self.__dict__.get("_by_obj_cache")
        if cache is None:
            table: dict[int, list[int]] = {}
            for c in range(self.num_classes):
                table.setdefault(self.hoi_coco_object(c), []).append(c)
            cache = {k: tuple(v) for k, v in table.items()}
            object.__setattr__(self, "_by_obj_cache", cache)
        return cache


@lru_cache(maxsize=None)
def hicodet() -> HOILabelSpace:
    """HICO-DET's official label space (600 HOIs; 138 rare / 462 non-rare)."""
    d = _load("hicodet.json")
    return HOILabelSpace(
        name="hicodet",
        verbs=tuple(d["verbs"]),
        objects=tuple(d["objects"]),
        object_to_coco=tuple(d["object_to_coco80"]),
        hoi=tuple((v, o) for v, o in d["hoi"]),
        rare=frozenset(d["rare"]),
    )


# ----------------------------------------------------------------------------- V-COCO
@dataclass(frozen=True)
class VCOCOAction:
    """One V-COCO action and its roles (``"agent"`` first, then ``"obj"`` / ``"instr"``)."""

    name: str
    roles: tuple[str, ...]

    @property
    def object_roles(self) -> tuple[str, ...]:
        """Roles other than the agent; empty for stand, walk, run, smile."""
        return tuple(r for r in self.roles if r != "agent")


@lru_cache(maxsize=None)
def vcoco_actions() -> tuple[VCOCOAction, ...]:
    """The 26 V-COCO actions in the order of the official files."""
    return tuple(VCOCOAction(a["name"], tuple(a["roles"])) for a in _load("vcoco.json")["actions"])


@lru_cache(maxsize=None)
def vcoco_classes() -> tuple[tuple[str, str | None], ...]:
    """The 29 V-COCO interaction classes ``(action, role)`` predictions are scored in.

    One class per (action, object role): ``("hit", "instr")``, ``("hit", "obj")``, ...;
    actions without an object role (stand, walk, run, smile) are one class with
    role ``None``. File order of actions, then role order. This is the 29-class
    space of the common HOI codebases.
    """
    out: list[tuple[str, str | None]] = []
    for a in vcoco_actions():
        out.extend((a.name, r) for r in a.object_roles) if a.object_roles else out.append((a.name, None))
    return tuple(out)


# ----------------------------------------------------------------------------- negatives
@lru_cache(maxsize=None)
def negative_verbs() -> tuple[str, ...]:
    """The verb dictionary of appendix A.2 (Fig. 6) negative verbs are drawn from."""
    return tuple(_load("negative_verbs.json")["verbs"])
