"""V-COCO detections in the shape ``vsrl_eval.py`` scores: agents with per-action scores, and role boxes.

Two sources give them:

* our triplets (:class:`~clhoi.structures.Predictions`, classes of
  :func:`clhoi.vocab.vcoco_classes`): each distinct human box of an image is one
  agent whose action score is the max over its triplets of that action; each
  triplet of a class with a role is one role detection, its role box the object
  box, or empty when ``object_idx == -1``;
* the official detection records (what ``vsrl_eval`` unpickles), as JSON dicts:
  ``{"image_id" or "file_name", "person_box": [x1, y1, x2, y2],
  "<action>_agent": score, "<action>_<role>": [x1, y1, x2, y2, score]}``; a
  missing key or a NaN / ``null`` score means "not predicted" (the official code
  skips NaN scores), a role box of all zeros or all NaN is an empty role.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from clhoi import vocab
from clhoi.eval.gather import TripletArrays


@dataclass
class AgentDetections:
    """Agent and role detections of all images (``A`` agents, ``R`` role detections).

    Attributes:
        image: ``[A]`` int64 ground-truth image position of each agent.
        box: ``[A, 4]`` float64 person box.
        scores: ``[A, 26]`` float32 action scores, NaN = not predicted.
        role_agent: ``[R]`` int64 agent of each role detection.
        role_cls: ``[R]`` int64 class (of the 29) of each role detection.
        role_box: ``[R, 4]`` float64 role box (zeros when empty).
        role_empty: ``[R]`` bool, the role box is empty (scenario 1's "no object").
        role_score: ``[R]`` float32.
        role_index: ``[R]`` int64 position in the image's detection list (ties: later first).
        num_inputs: triplets or records these came from.
    """

    image: np.ndarray
    box: np.ndarray
    scores: np.ndarray
    role_agent: np.ndarray
    role_cls: np.ndarray
    role_box: np.ndarray
    role_empty: np.ndarray
    role_score: np.ndarray
    role_index: np.ndarray
    num_inputs: int


def from_triplets(t: TripletArrays, action_of: np.ndarray, has_role: np.ndarray) -> AgentDetections:
    """Agents = distinct (image, human box index), sorted; roles = the triplets of role classes."""
    num_actions = len(vocab.vcoco_actions())
    agent_key, agent_of = np.unique(t.image * (1 << 32) + t.human, return_inverse=True)
    box = np.zeros((agent_key.size, 4))
    box[agent_of] = t.human_box
    scores = np.full((agent_key.size, num_actions), np.nan, dtype=np.float32)
    score32 = t.score.astype(np.float32)
    np.fmax.at(scores, (agent_of, action_of[t.cls]), score32)  # max over the agent's triplets (fmax skips NaN)
    r = np.flatnonzero(has_role[t.cls])
    return AgentDetections(
        image=agent_key >> 32, box=box, scores=scores, role_agent=agent_of[r], role_cls=t.cls[r],
        role_box=t.object_box[r], role_empty=~t.has_object[r] | (t.object_box[r] == 0).all(1),
        role_score=score32[r], role_index=r, num_inputs=len(t),
    )


def _float(value: Any, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: expected a number or null, got {value!r}")
    return float(value)


def from_official(records: Sequence[dict], images: dict[str, int], where: str = "detections") -> AgentDetections:
    """Parse official detection records; raises ``ValueError`` naming record and key.

    Args:
        records: the detection dicts, in file order (each is one agent).
        images: ground-truth ``file_name`` -> image position; ``image_id`` is matched
            to the last number in a file name (``COCO_val2014_000000000139.jpg`` -> 139).
        where: prefix of error messages (the file name).
    """
    by_id = {int(m[-1]): i for name, i in images.items() if (m := re.findall(r"\d+", name))}
    actions = vocab.vcoco_actions()
    classes = vocab.vcoco_classes()
    image, box, scores, r_agent, r_cls, r_box, r_score = [], [], [], [], [], [], []
    for n, rec in enumerate(records):
        at = f"{where}: record {n}"
        if not isinstance(rec, dict):
            raise ValueError(f"{at}: expected an object with person_box and <action>_agent keys")
        if "file_name" in rec:
            pos = images.get(rec["file_name"])
        elif "image_id" in rec:
            pos = by_id.get(rec["image_id"]) if isinstance(rec["image_id"], int) else None
        else:
            raise ValueError(f"{at}: needs 'image_id' (COCO id) or 'file_name'")
        if pos is None:
            raise ValueError(f"{at}: image {rec.get('file_name', rec.get('image_id'))!r} is not in the V-COCO annotations")
        pb = rec.get("person_box")
        if not isinstance(pb, (list, tuple)) or len(pb) != 4:
            raise ValueError(f"{at}: 'person_box' must be [x1, y1, x2, y2]")
        pb = [_float(v, f"{at}: person_box") for v in pb]
        if not all(math.isfinite(v) for v in pb) or pb[2] < pb[0] or pb[3] < pb[1]:
            raise ValueError(f"{at}: 'person_box' {pb} is not a finite box with x2 >= x1, y2 >= y1")
        row = [_float(rec.get(f"{a.name}_agent"), f"{at}: '{a.name}_agent'") for a in actions]
        for c, (act, role) in enumerate(classes):
            if role is None or f"{act}_{role}" not in rec:
                continue
            key = f"{act}_{role}"
            v = rec[key]
            if not isinstance(v, (list, tuple)) or len(v) != 5:
                raise ValueError(f"{at}: '{key}' must be [x1, y1, x2, y2, score]")
            v = [_float(x, f"{at}: '{key}'") for x in v]
            if math.isnan(v[4]):
                continue  # not predicted
            r_agent.append(len(image))
            r_cls.append(c)
            r_box.append(v[:4])
            r_score.append(v[4])
        image.append(pos)
        box.append(pb)
        scores.append(row)
    rb = np.asarray(r_box, dtype=np.float64).reshape(-1, 4)
    empty = (rb == 0).all(1) | np.isnan(rb).all(1)
    if (np.isnan(rb[~empty]).any()) or (~np.isfinite(rb[~empty])).any():
        raise ValueError(f"{where}: a role box mixes numbers and NaN; use all zeros or all NaN for 'no object'")
    return AgentDetections(
        image=np.asarray(image, dtype=np.int64), box=np.asarray(box, dtype=np.float64).reshape(-1, 4),
        scores=np.asarray(scores, dtype=np.float32).reshape(-1, len(actions)),
        role_agent=np.asarray(r_agent, dtype=np.int64), role_cls=np.asarray(r_cls, dtype=np.int64),
        role_box=np.where(empty[:, None], 0.0, rb), role_empty=empty,
        role_score=np.asarray(r_score, dtype=np.float32), role_index=np.asarray(r_agent, dtype=np.int64),
        num_inputs=len(records),
    )


def concat(a: AgentDetections, b: AgentDetections) -> AgentDetections:
    """Both sets of detections; ``b``'s agents are renumbered after ``a``'s."""
    shift = a.image.size
    return AgentDetections(
        image=np.concatenate([a.image, b.image]), box=np.concatenate([a.box, b.box]),
        scores=np.concatenate([a.scores, b.scores]),
        role_agent=np.concatenate([a.role_agent, b.role_agent + shift]), role_cls=np.concatenate([a.role_cls, b.role_cls]),
        role_box=np.concatenate([a.role_box, b.role_box]), role_empty=np.concatenate([a.role_empty, b.role_empty]),
        role_score=np.concatenate([a.role_score, b.role_score]),
        role_index=np.concatenate([a.role_index, b.role_index + (a.role_index.max() + 1 if a.role_index.size else 0)]),
        num_inputs=a.num_inputs + b.num_inputs,
    )
