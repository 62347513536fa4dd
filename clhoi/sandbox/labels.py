"""The sandbox's label space: 15 verbs, 13 objects, 28 HOI classes, 5 of them rare.

Every sandbox verb is a HICO-DET verb, every object a COCO category and every
HOI class a HICO-DET class, so the world's annotation files are genuine
HICO-DET files (verb ids and COCO ids of the official lists) that the HICO-DET
reader reads unchanged. The sandbox then scores and evaluates in its own
28-class space: :func:`sandbox_label_space` is the ``HOILabelSpace`` the
evaluators and the post-processor take, and :func:`hicodet_to_sandbox` maps the
reader's 600-class indices onto it.

"Rare" is by design: those classes are drawn with a small weight (< 0.2), so that
the default world has fewer than 10 training instances of each (the HICO-DET rule);
every other class has at least 10 (``tests/sandbox/test_sandbox_world.py`` checks both
on the default world).

Three cue types decide the verbs (world version 4):

* geometry (pose and placement): most classes, as before;
* appearance: ``read`` / ``hold`` book and ``talk_on`` / ``hold`` cell phone share one
  pose per object (``read``: the book held up before the chest; ``hold``: the phone in
  the hand in front of the body, as in the appearance probe) and differ only by the
  object's ``state`` (an open or a closed book; a lit call screen or a dark one);
* context: ``ride`` / ``stand_on`` surfboard and snowboard share one pose (standing on
  the board) and one geometry, and differ only by the ``place`` the image shows
  outside the pair (water / sand, snow / grass; as in the context probe).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from clhoi.vocab import HOILabelSpace, coco_index, hicodet


@dataclass(frozen=True)
class HOIKind:
    """One sandbox HOI class and how the world draws it.

    Attributes:
        verb: HICO-DET verb name (``"sit_on"``).
        object: COCO category name with underscores (``"sports_ball"``).
        pose: the person's pose that shows it (see ``clhoi.sandbox.draw``).
        weight: relative sampling frequency of this interaction.
        state: the look of the object that shows it (appearance cue: ``open`` / ``closed``
            book, ``lit`` / ``dark`` phone), or ``""``.
        place: the scene the whole image shows (context cue: ``water``, ``sand``,
            ``snow``, ``grass``; a key of ``clhoi.sandbox.probe_worlds.PLACES``), or ``""``.
    """

    verb: str
    object: str
    pose: str
    weight: float
    state: str = ""
    place: str = ""

    @property
    def rare(self) -> bool:
        return self.weight < 0.2


# Order is the sandbox class order. Weights < 0.2 are the rare classes.
HOI_KINDS: tuple[HOIKind, ...] = (
    HOIKind("ride", "bicycle", "ride", 1.0),
    HOIKind("push", "bicycle", "push", 0.7),
    HOIKind("ride", "horse", "ride", 1.0),
    HOIKind("walk", "horse", "lead", 0.7),
    HOIKind("sit_on", "chair", "sit", 1.0),
    HOIKind("carry", "chair", "carry_high", 0.08),
    HOIKind("kick", "sports_ball", "kick", 1.0),
    HOIKind("throw", "sports_ball", "throw", 0.8),
    HOIKind("hold", "sports_ball", "hold", 0.7),
    HOIKind("fly", "kite", "fly", 1.0),
    HOIKind("hold", "kite", "hold_low", 0.08),
    HOIKind("read", "book", "read", 1.0, state="open"),
    HOIKind("hold", "book", "read", 0.7, state="closed"),
    HOIKind("talk_on", "cell_phone", "hold", 1.0, state="lit"),
    HOIKind("hold", "cell_phone", "hold", 0.7, state="dark"),
    HOIKind("drink_with", "cup", "drink", 1.0),
    HOIKind("hold", "cup", "hold", 0.7),
    HOIKind("stand_under", "umbrella", "umbrella", 1.0),
    HOIKind("hold", "umbrella", "hold_low", 0.6),
    HOIKind("ride", "skateboard", "skate", 0.9),
    HOIKind("carry", "skateboard", "hold_low", 0.08),
    HOIKind("throw", "frisbee", "throw", 0.8),
    HOIKind("catch", "frisbee", "catch", 0.08),
    HOIKind("hold", "frisbee", "hold", 0.08),
    HOIKind("ride", "surfboard", "skate", 0.6, place="water"),
    HOIKind("stand_on", "surfboard", "skate", 0.5, place="sand"),
    HOIKind("ride", "snowboard", "skate", 0.6, place="snow"),
    HOIKind("stand_on", "snowboard", "skate", 0.5, place="grass"),
)

BOARDS: frozenset[str] = frozenset(k.object for k in HOI_KINDS if k.place)
"""Objects whose verb the scene decides; an image shows at most one such place."""

SANDBOX_VERBS: tuple[str, ...] = tuple(dict.fromkeys(k.verb for k in HOI_KINDS))
SANDBOX_OBJECTS: tuple[str, ...] = tuple(dict.fromkeys(k.object for k in HOI_KINDS))


@lru_cache(maxsize=None)
def sandbox_label_space() -> HOILabelSpace:
    """The sandbox's HOI label space (28 classes; ``rare`` = drawn with a small weight)."""
    return HOILabelSpace(
        name="sandbox",
        verbs=SANDBOX_VERBS,
        objects=SANDBOX_OBJECTS,
        object_to_coco=tuple(coco_index(o) for o in SANDBOX_OBJECTS),
        hoi=tuple((SANDBOX_VERBS.index(k.verb), SANDBOX_OBJECTS.index(k.object)) for k in HOI_KINDS),
        rare=frozenset(i for i, k in enumerate(HOI_KINDS) if k.rare),
    )


@lru_cache(maxsize=None)
def sandbox_to_hicodet() -> tuple[int, ...]:
    """For each sandbox class, its HICO-DET class index (0-599, official order)."""
    space = hicodet()
    lookup = {(space.verbs[v], space.objects[o]): i for i, (v, o) in enumerate(space.hoi)}
    out = []
    for k in HOI_KINDS:
        if (k.verb, k.object) not in lookup:
            raise KeyError(f"sandbox class ({k.verb}, {k.object}) is not a HICO-DET class")
        out.append(lookup[(k.verb, k.object)])
    return tuple(out)


def hicodet_to_sandbox(hico_class: int) -> int:
    """The sandbox class of a HICO-DET class index; ``KeyError`` if it has none."""
    table = {h: s for s, h in enumerate(sandbox_to_hicodet())}
    if hico_class not in table:
        raise KeyError(f"HICO-DET class {hico_class} is not in the sandbox label space")
    return table[hico_class]


def hicodet_verb_id(verb: str) -> int:
    """1-based HICO-DET verb id (the ``category_id`` of converted ``hoi_annotation`` rows)."""
    return hicodet().verbs.index(verb) + 1
