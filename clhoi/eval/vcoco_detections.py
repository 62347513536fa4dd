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
import warnings
from itertools import chain
from operator import itemgetter
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
        box: ``[A, 4]`` float32 person box (the official code keeps detections in float32).
        scores: ``[A, 26]`` float32 action scores, NaN = not predicted.
        role_agent: ``[R]`` int64 agent of each role detection.
        role_cls: ``[R]`` int64 class (of the 29) of each role detection.
        role_box: ``[R, 4]`` float32 role box (zeros when empty).
        role_empty: ``[R]`` bool, the float32 role box is all zeros or all NaN (scenario 1's "no object").
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
    box = np.zeros((agent_key.size, 4), dtype=np.float32)
    box[agent_of] = t.human_box
    scores = np.full((agent_key.size, num_actions), np.nan, dtype=np.float32)
    score32 = t.score.astype(np.float32)
    np.fmax.at(scores, (agent_of, action_of[t.cls]), score32)  # max over the agent's triplets (fmax skips NaN)
    r = np.flatnonzero(has_role[t.cls])
    role_box = t.object_box[r].astype(np.float32)
    return AgentDetections(
        image=agent_key >> 32, box=box, scores=scores, role_agent=agent_of[r], role_cls=t.cls[r],
        role_box=role_box, role_empty=~t.has_object[r] | (role_box == 0).all(1),
        role_score=score32[r], role_index=r, num_inputs=len(t),
    )


def _float(value: Any, where: str) -> float:
    if value is None:
        return math.nan
    if not isinstance(value, (int, float)):  # booleans are 0 / 1, as NumPy reads them in the official code
        raise ValueError(f"{where}: expected a number or null, got {value!r}")
    return float(value)


def _column(records: Sequence[dict], key: str) -> list:
    return [r.get(key) for r in records]


def _floats(values: list, shape: tuple[int, ...]) -> np.ndarray | None:
    """``values`` (numbers / ``None``, nested lists) as float64 of ``shape``; ``None`` when anything else is in
    them (strings, ragged lists), which the record-by-record path then names. Booleans read as 0 / 1, as
    NumPy reads them in the official code."""
    fast = _flat_numbers(values, shape)
    if fast is not None:
        return fast
    try:
        out = np.array(values, dtype=np.float64)
    except (ValueError, TypeError):
        return None
    return out if out.shape == shape else None


def _flat_numbers(values: list, shape: tuple[int, ...]) -> np.ndarray | None:
    """``np.array(values, dtype=np.float64)`` for nested lists (or tuples) of exactly ``shape``, read from
    their elements in order (several times faster: ``np.fromiter`` converts each element as ``np.array``
    does, ``None`` to NaN included, in one pass and without a flat list); ``None`` when the nesting is not
    exactly ``shape`` or an element is not a number (a sequence, ...)."""
    level = values
    if len(level) != shape[0]:
        return None
    items: Any = level
    for k, n in enumerate(shape[1:]):
        if not level or not set(map(type, level)) <= {list, tuple}:  # NumPy reads [] as shape (0,) only
            return None
        if set(map(len, level)) != {n}:
            return None
        items = chain.from_iterable(level)
        if k < len(shape) - 2:
            level = list(items)
    try:
        with warnings.catch_warnings():  # NumPy 1.25-1.26 read an array of size 1 as a number here, with
            warnings.simplefilter("error", DeprecationWarning)  # this warning; np.array keeps it a level
            flat = np.fromiter(items, dtype=np.float64, count=math.prod(shape))
    except (ValueError, TypeError, OverflowError, DeprecationWarning):
        return None
    return flat.reshape(shape)


def _fast_official(records: Sequence[dict], images: dict[str, int], by_id: dict[int, int], where: str) -> AgentDetections | None:
    """:func:`from_official` by columns (NumPy); ``None`` when any record is off, so that the
    record-by-record path can name it."""
    if not records or set(map(type, records)) != {dict}:
        return None
    if all("file_name" in r for r in records):
        pos = [images.get(v) if isinstance(v, str) else None for v in _column(records, "file_name")]
    elif not any("file_name" in r for r in records):
        pos = [by_id.get(v) if type(v) is int else None for v in _column(records, "image_id")]
    else:
        return None
    if None in pos:
        return None
    box = _floats(_column(records, "person_box"), (len(records), 4))
    if box is None or not np.isfinite(box).all() or (box[:, 2] < box[:, 0]).any() or (box[:, 3] < box[:, 1]).any():
        return None
    actions = vocab.vcoco_actions()
    full = _all_keys(records, pos, box, where)
    if full is not None:
        return full
    cols = list(chain.from_iterable(_column(records, f"{a.name}_agent") for a in actions))
    scores = _floats(cols, (len(cols),))
    if scores is None:
        return None
    scores = scores.reshape(len(actions), -1).T.astype(np.float32)
    r_agent, r_cls, vals = [], [], []
    for c, (act, role) in enumerate(vocab.vcoco_classes()):
        if role is None:
            continue
        key = f"{act}_{role}"
        col = _column(records, key)
        if None in col:  # absent keys (not predicted); an explicit null goes to the record-by-record path
            has = [k for k, v in enumerate(col) if v is not None]
            if any(key in records[k] for k, v in enumerate(col) if v is None):
                return None
            vals.extend([col[k] for k in has])
            r_agent.append(np.asarray(has, dtype=np.int64))
        else:
            vals.extend(col)
            r_agent.append(np.arange(len(col), dtype=np.int64))
        r_cls.append(np.full(r_agent[-1].size, c, dtype=np.int64))
    r_val = [_floats(vals, (len(vals), 5))]
    if r_val[0] is None:
        return None
    agent, cls, val = np.concatenate(r_agent), np.concatenate(r_cls), np.concatenate(r_val)
    keep = ~np.isnan(val[:, 4])  # NaN / null score: not predicted
    agent, cls, val = agent[keep], cls[keep], val[keep]
    order = np.lexsort((cls, agent))  # record order, then class order (as the record-by-record path)
    agent, cls, val = agent[order], cls[order], val[order]
    return _assemble(np.asarray(pos, dtype=np.int64), box, scores, agent, cls, val[:, :4], val[:, 4], len(records), where)


def _all_keys(records: Sequence[dict], pos: list, box: np.ndarray, where: str = "detections") -> AgentDetections | None:
    """The records as the official code needs them, with every key (one C-level lookup per record);
    ``None`` when a key is missing or a value malformed."""
    actions = vocab.vcoco_actions()
    classes = vocab.vcoco_classes()
    role_cls = np.array([c for c, (_, role) in enumerate(classes) if role is not None], dtype=np.int64)
    agent_keys = itemgetter(*(f"{a.name}_agent" for a in actions))
    role_keys = itemgetter(*(f"{classes[c][0]}_{classes[c][1]}" for c in role_cls.tolist()))
    try:
        scores = _floats(list(map(agent_keys, records)), (len(records), len(actions)))
        roles = _floats(list(map(role_keys, records)), (len(records), role_cls.size, 5))
    except KeyError:
        return None
    if scores is None or roles is None:
        return None
    agent, k = np.nonzero(~np.isnan(roles[:, :, 4]))  # record order, then class order; NaN score: not predicted
    val = roles[agent, k]
    return _assemble(np.asarray(pos, dtype=np.int64), box, scores.astype(np.float32), agent, role_cls[k], val[:, :4],
                     val[:, 4], len(records), where)


def _assemble(image: np.ndarray, box: np.ndarray, scores: np.ndarray, r_agent: np.ndarray, r_cls: np.ndarray,
              r_box: np.ndarray, r_score: np.ndarray, num_inputs: int, where: str = "detections") -> AgentDetections:
    rb = np.asarray(r_box, dtype=np.float64).reshape(-1, 4).astype(np.float32)  # float32, as the official arrays
    empty = (rb == 0).all(1) | np.isnan(rb).all(1)
    bad = ~empty & ~np.isfinite(rb).all(1)
    if bad.any():
        i = int(np.argmax(bad))  # the first in record order (role rows are in record order)
        act, role = vocab.vcoco_classes()[int(r_cls[i])]
        raise ValueError(f"{where}: record {int(r_agent[i])}: '{act}_{role}' role box mixes numbers and NaN; "
                         "use all zeros or all NaN for 'no object'")
    return AgentDetections(
        image=image, box=np.asarray(box, dtype=np.float64).reshape(-1, 4).astype(np.float32),
        scores=np.asarray(scores, dtype=np.float32).reshape(-1, len(vocab.vcoco_actions())),
        role_agent=np.asarray(r_agent, dtype=np.int64), role_cls=np.asarray(r_cls, dtype=np.int64),
        role_box=np.where(empty[:, None], np.float32(0.0), rb), role_empty=empty,
        role_score=np.asarray(r_score, dtype=np.float32), role_index=np.asarray(r_agent, dtype=np.int64),
        num_inputs=num_inputs,
    )


def from_official(records: Sequence[dict], images: dict[str, int], where: str = "detections") -> AgentDetections:
    """Parse official detection records; raises ``ValueError`` naming record and key.

    Args:
        records: the detection dicts, in file order (each is one agent).
        images: ground-truth ``file_name`` -> image position; ``image_id`` is matched
            to the last number in a file name (``COCO_val2014_000000000139.jpg`` -> 139).
        where: prefix of error messages (the file name).
    """
    by_id = {int(m[-1]): i for name, i in images.items() if (m := re.findall(r"\d+", name))}
    fast = _fast_official(records, images, by_id, where)
    if fast is not None:
        return fast
    return _slow_official(records, images, by_id, where)


def _slow_official(records: Sequence[dict], images: dict[str, int], by_id: dict[int, int], where: str) -> AgentDetections:
    """Record by record, naming the first record and key at fault."""
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
    return _assemble(np.asarray(image, dtype=np.int64), np.asarray(box, dtype=np.float64).reshape(-1, 4),
                     np.asarray(scores, dtype=np.float64).reshape(-1, len(actions)), np.asarray(r_agent, dtype=np.int64),
                     np.asarray(r_cls, dtype=np.int64), np.asarray(r_box, dtype=np.float64).reshape(-1, 4),
                     np.asarray(r_score, dtype=np.float64), len(records), where)


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
