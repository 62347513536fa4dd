"""Label sets the student scores pairs against (Eq. 17): texts plus the object each class needs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from clhoi.vocab import COCO_CLASSES, coco_index, hicodet, vcoco_classes

ANY_OBJECT = -1


@dataclass(frozen=True)
class LabelSet:
    """Classes to score, as prompts for the CLIP text encoder.

    Attributes:
        name: ``hicodet``, ``vcoco`` or ``open``.
        names: readable class names (``"ride bicycle"``).
        prompts: the texts encoded (the prompt template filled in).
        objects: COCO-80 index of the object each class is defined for, or
            ``-1`` when any object fits.
    """

    name: str
    names: tuple[str, ...]
    prompts: tuple[str, ...]
    objects: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.names)

    def valid_mask(self, object_labels: Tensor) -> Tensor:
        """``[P, K]`` bool: class ``k`` fits pair ``p``'s object (HICO-DET: only the verbs valid for it)."""
        objects = torch.as_tensor(self.objects, dtype=torch.long, device=object_labels.device)
        return (objects.unsqueeze(0) == ANY_OBJECT) | (objects.unsqueeze(0) == object_labels.unsqueeze(1))


def _fill(template: str, verb: str, obj: str) -> str:
    return " ".join(template.format(verb=verb, object=obj).split())


def hicodet_label_set(template: str = "a photo of a person {verb} {object}") -> LabelSet:
    """HICO-DET's 600 HOIs in the official order; ``no_interaction`` reads "a person and a <object>"."""
    space = hicodet()
    names, prompts, objects = [], [], []
    for c, (v, o) in enumerate(space.hoi):
        verb, obj = space.verbs[v].replace("_", " "), space.objects[o].replace("_", " ")
        names.append(f"{verb} {obj}")
        prompts.append(f"a photo of a person and a {obj}" if verb == "no interaction" else _fill(template, verb, obj))
        objects.append(space.hoi_coco_object(c))
    return LabelSet("hicodet", tuple(names), tuple(prompts), tuple(objects))


def vcoco_label_set(template: str = "a photo of a person {verb}") -> LabelSet:
    """V-COCO's 29 ``(action, role)`` classes (``vcoco_classes()`` order); any object fits."""
    names, prompts = [], []
    for action, role in vcoco_classes():
        verb = action.replace("_", " ")
        names.append(f"{verb} ({role})" if role else verb)
        prompts.append(_fill(template, verb, ""))
    return LabelSet("vcoco", tuple(names), tuple(prompts), (ANY_OBJECT,) * len(names))


def open_label_set(phrases: list[str], verb_template: str = "a photo of a person {verb}",
                   hoi_template: str = "a photo of a person {verb} {object}") -> LabelSet:
    """Any verbs a user types, optionally with an object: ``"ride"`` or ``"ride:bicycle"``.

    A class with an object only scores pairs whose detected object is that COCO
    category (the name must be one of the 80); a bare verb scores every pair.

    Raises:
        ValueError: an empty list, or an object that is not a COCO category.
    """
    if not phrases:
        raise ValueError("open_label_set needs at least one verb, e.g. ['ride', 'hold:cup']")
    names, prompts, objects = [], [], []
    for phrase in phrases:
        verb, _, obj = (s.strip() for s in phrase.partition(":"))
        if not verb:
            raise ValueError(f"{phrase!r} has no verb; write 'verb' or 'verb:object'")
        if obj:
            try:
                objects.append(coco_index(obj))
            except KeyError as e:
                raise ValueError(str(e.args[0])) from None
            names.append(f"{verb} {COCO_CLASSES[objects[-1]]}")
            prompts.append(_fill(hoi_template, verb, COCO_CLASSES[objects[-1]]))
        else:
            objects.append(ANY_OBJECT)
            names.append(verb)
            prompts.append(_fill(verb_template, verb, ""))
    return LabelSet("open", tuple(names), tuple(prompts), tuple(objects))
