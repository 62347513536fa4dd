"""Label sets scored at inference, and the text prompts of verbs and HOI classes.

A :class:`LabelSet` is what Eq. 17 compares interaction features against: one
text per class (encoded by the CLIP text encoder into ``Y``), a display name,
and which detected object a class needs. Three are built in:

* ``LabelSet.hicodet()``: HICO-DET's 600 ``<verb, object>`` classes, each valid
  only for pairs whose detected object is the class's COCO object;
* ``LabelSet.vcoco()``: V-COCO's 29 ``(action, role)`` classes, valid for any
  object; agent-only actions (stand, walk, run, smile) predict no object;
* ``LabelSet.verbs([...])``: any verbs a user types (open vocabulary).

The same prompt functions build the texts of the training targets (positive
verbs, objects), so that training and inference compare ``I`` with texts of
one form. Imports only :mod:`clhoi.vocab`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from clhoi import vocab

VERB_TEMPLATE = "a photo of a person {verb}"
"""Prompt of a verb; ``{verb}`` is the gerund phrase (``"riding"``, ``"talking on"``)."""
HOI_TEMPLATE = "a photo of a person {verb} {object}"
"""Prompt of a ``<verb, object>`` class; ``{object}`` includes its article (``"a bicycle"``)."""
OBJECT_TEMPLATE = "a photo of {object}"
"""Prompt of an object name alone (the ``f_obj`` of Eq. 11); ``{object}`` has its article."""
NO_INTERACTION_TEMPLATE = "a photo of a person and {object}"
"""Prompt of HICO-DET's ``no_interaction`` classes."""
TEXT_SPACES = ("verb_object", "verb", "mixed")
"""Which texts training and testing compare interaction features with (``model.text_space``):
``verb_object`` "a photo of a person riding a bicycle" at training (positives, negatives, SR) and
testing; ``verb`` "a photo of a person riding" at both; ``mixed`` verbs at training, verb + object at testing."""


@lru_cache(maxsize=4096)
def gerund(verb: str) -> str:
    """``"ride"`` -> ``"riding"``, ``"talk_on"`` -> ``"talking on"``: inflect the first word only.

    A gerund stays one (``"riding"`` -> ``"riding"``); so does ``"no interaction"``.
    """
    words = verb.replace("_", " ").strip().lower().split()
    if not words:
        raise ValueError("empty verb")
    head = words[0]
    if head == "no":  # "no interaction"
        return " ".join(words)
    from lemminflect import getInflection, getLemma

    lemma = (getLemma(head, upos="VERB") or (head,))[0]  # "riding" -> "ride"; "swing" stays
    forms = getInflection(lemma, tag="VBG")
    if forms:
        head = forms[0]
    elif not head.endswith("ing"):
        head = (head[:-1] if head.endswith("e") and len(head) > 2 else head) + "ing"
    return " ".join([head, *words[1:]])


def with_article(name: str) -> str:
    """``"apple"`` -> ``"an apple"``, ``"sports_ball"`` -> ``"a sports ball"``; ``""`` stays ``""``."""
    text = name.replace("_", " ").strip().lower()
    if not text:
        return ""
    return f"{'an' if text[0] in 'aeiou' else 'a'} {text}"


def verb_prompt(verb: str, template: str = VERB_TEMPLATE) -> str:
    """The text of a verb: ``verb_prompt("ride")`` -> ``"a photo of a person riding"``."""
    return template.format(verb=gerund(verb))


def object_prompt(name: str, template: str = OBJECT_TEMPLATE) -> str:
    """The text of an object: ``object_prompt("horse")`` -> ``"a photo of a horse"``."""
    return template.format(object=with_article(name))


def hoi_prompt(verb: str, obj: str, template: str = HOI_TEMPLATE) -> str:
    """The text of a ``<verb, object>`` class (``no_interaction`` gets its own template).

    A verb without an object (``obj`` empty) gives the template without it:
    ``hoi_prompt("run", "")`` -> ``"a photo of a person running"``.
    """
    if verb.strip().lower() in ("no_interaction", "no interaction"):
        return " ".join(NO_INTERACTION_TEMPLATE.format(object=with_article(obj)).split())
    return " ".join(template.format(verb=gerund(verb), object=with_article(obj)).split())


_VCOCO_ROLE_PHRASE: dict[tuple[str, str | None], str] = {
    ("look", "obj"): " at something",
    ("point", "instr"): " at something",
    ("sit", "instr"): " on something",
    ("lay", "instr"): " on something",
    ("jump", "instr"): " on something",
    ("ride", "instr"): " something",
    **{(a, "instr"): "" for a in ("ski", "surf", "skateboard", "snowboard")},
}
"""Words after the verb where "with something" / "something" reads wrong."""


@dataclass(frozen=True)
class LabelSet:
    """The classes one inference scores, with their texts.

    Attributes:
        name: ``"hicodet"``, ``"vcoco"`` or ``"verbs"``.
        texts: ``[C]`` text prompts, in class order; encode them with the
            student's ``encode_text`` to get the ``[C, D]`` embeddings ``Y``.
        names: ``[C]`` human-readable class names (``"ride bicycle"``).
        class_object: ``[C]`` COCO-80 index a class requires of the detected
            object, ``-1`` for any object.
        class_has_object: ``[C]`` ``False`` for agent-only classes: their
            predictions carry ``object_idx == -1``.
    """

    name: str
    texts: tuple[str, ...]
    names: tuple[str, ...]
    class_object: tuple[int, ...]
    class_has_object: tuple[bool, ...]

    def __post_init__(self) -> None:
        c = len(self.texts)
        if c == 0:
            raise ValueError(f"label set {self.name!r} has no classes")
        for field_name in ("names", "class_object", "class_has_object"):
            if len(getattr(self, field_name)) != c:
                raise ValueError(f"label set {self.name!r}: {field_name} must have {c} entries")

    @property
    def num_classes(self) -> int:
        return len(self.texts)

    def valid_mask(self, object_labels: Tensor) -> Tensor:
        """Which classes each pair may take.

        Args:
            object_labels: ``[P]`` int64 COCO-80 labels of the pairs' objects.

        Returns:
            ``[P, C]`` bool: ``class_object[c] in (-1, object_labels[p])``.
        """
        cls_obj = torch.as_tensor(self.class_object, dtype=torch.long, device=object_labels.device)
        return (cls_obj[None, :] == -1) | (cls_obj[None, :] == object_labels.long()[:, None])

    # ------------------------------------------------------------------ constructors
    @classmethod
    def hicodet(cls, template: str = HOI_TEMPLATE) -> "LabelSet":
        """HICO-DET's 600 classes in the official order, restricted by detected object."""
        space = vocab.hicodet()
        texts, names, objs = [], [], []
        for c, (v, o) in enumerate(space.hoi):
            texts.append(hoi_prompt(space.verbs[v], space.objects[o], template))
            names.append(space.hoi_name(c))
            objs.append(space.hoi_coco_object(c))
        return cls("hicodet", tuple(texts), tuple(names), tuple(objs), (True,) * len(texts))

    @classmethod
    def vcoco(cls, template: str = VERB_TEMPLATE) -> "LabelSet":
        """V-COCO's 29 ``(action, role)`` classes (:func:`clhoi.vocab.vcoco_classes`), any object.

        The role goes into the text: ``("hit", "obj")`` -> "... hitting something",
        ``("hit", "instr")`` -> "... hitting with something"; actions whose name
        holds their object (``talk_on_phone``) and agent-only actions get the verb alone.
        """
        texts, names, has_obj = [], [], []
        for action, role in vocab.vcoco_classes():
            suffix = _VCOCO_ROLE_PHRASE.get((action, role))
            if suffix is None:
                suffix = "" if role is None or "_" in action else {"obj": " something"}.get(role, " with something")
            texts.append(template.format(verb=gerund(action) + suffix))
            names.append(action.replace("_", " ") + ("" if role is None else f" ({role})"))
            has_obj.append(role is not None)
        n = len(texts)
        return cls("vcoco", tuple(texts), tuple(names), (-1,) * n, tuple(has_obj))

    @classmethod
    def verbs(cls, verbs: list[str] | tuple[str, ...], template: str = VERB_TEMPLATE) -> "LabelSet":
        """Any verbs (open vocabulary), valid for any object: ``LabelSet.verbs(["ride", "hold"])``."""
        clean = [v.strip() for v in verbs if v and v.strip()]
        if not clean:
            raise ValueError("LabelSet.verbs needs at least one non-empty verb, e.g. ['ride', 'hold']")
        texts = tuple(verb_prompt(v, template) for v in clean)
        names = tuple(v.replace("_", " ") for v in clean)
        return cls("verbs", texts, names, (-1,) * len(clean), (True,) * len(clean))

    @classmethod
    def by_name(cls, name: str, verbs: list[str] | None = None) -> "LabelSet":
        """``"hicodet"``, ``"vcoco"`` or ``"verbs"`` (then ``verbs`` is required)."""
        if name == "hicodet":
            return cls.hicodet()
        if name == "vcoco":
            return cls.vcoco()
        if name == "verbs":
            return cls.verbs(verbs or [])
        raise ValueError(f"unknown label set {name!r}; valid: hicodet, vcoco, verbs")
