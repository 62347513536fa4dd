"""HICO-DET predictions in the layouts other evaluation code reads, and back.

* ``qpic``: the per-image dicts the QPIC family's ``HICOEvaluator``
  (hitachi-rd-cv/qpic ``datasets/hico_eval.py``; GEN-VLKT and others copy it)
  builds its predictions from: ``labels`` (object class per box, COCO-80 index,
  person = 0), ``boxes`` (``[x1, y1, x2, y2]`` pixels), ``sub_ids`` / ``obj_ids``
  (one entry per human-object pair, indices into ``boxes``) and
  ``verb_scores`` (``[pairs, 117]``, HICO-DET's verb order). We add
  ``file_name``. Written as JSON; that evaluator wants tensors, so load with
  ``[{k: torch.tensor(v) for k, v in r.items() if k != "file_name"} for r in json.load(f)]``.
  A pair scores only the verbs of HOI classes with its object (the evaluator
  multiplies by its ``correct_mat`` anyway).
* ``matlab``: the official evaluation's detection layout (ywchao/ho-rcnn
  ``eval_one``; UPT's ``cache_hico`` writes the same): a folder of
  ``detections_01.mat`` ... ``detections_80.mat``, one per object in HICO-DET's
  object order, each holding ``all_boxes``, a cell array of shape ``[HOI classes
  of that object (ascending), test images]``; a cell is an ``[n, 9]`` array of
  ``[hx1 hy1 hx2 hy2 ox1 oy1 ox2 oy2 score]`` in the annotation's 1-based pixel
  coordinates (our boxes are 0-based: +1 on every coordinate), or an empty
  ``0 x 0`` array. The image columns follow ``image_order`` (the annotation
  file's test images; by default the sorted file names, which is the official
  order for HICO-DET's ``HICO_test2015_*`` names).

* ``upt-vcoco`` (V-COCO): the records UPT's ``cache_vcoco`` pickles for
  ``vsrl_eval.py``: one record per triplet, ``{"image_id", "person_box":
  [x1, y1, x2, y2], "<action>_agent": score, "<action>_<role>": [x1, y1, x2,
  y2, score]}``. UPT's ``CacheTemplate`` answers a missing key with score 0
  (agent) or ``[0, 0, 0.1, 0.1, 0]`` (role); we write those defaults out, so the
  pickle is plain dicts that ``vsrl_eval`` reads without UPT installed. A
  triplet without an object writes a NaN role box (no object). ``image_id`` is
  the number at the end of the COCO file name.

UPT's own evaluation of HICO-DET runs in its training process or through the
``matlab`` layout above.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clhoi import vocab
from clhoi.eval.files import parse_predictions, read_predictions
from clhoi.structures import Predictions

FORMATS = ("qpic", "matlab", "upt-vcoco")
"""Export formats of :func:`export_predictions`."""


def load_any_predictions(path: str | Path) -> list[Predictions]:
    """Predictions from a JSON list (``clhoi evaluate`` input) or JSON lines (``predictions.jsonl`` of ``clhoi eval``)."""
    path = Path(path)
    if path.suffix != ".jsonl":
        return read_predictions(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    records = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError as e:
                raise ValueError(f"{path}: line {lineno} is not valid JSON ({e})") from None
    return parse_predictions(records, path)


def _hoi_table(space: vocab.HOILabelSpace) -> tuple[dict[tuple[int, int], int], dict[int, int]]:
    """``{(verb, coco80 object): hoi class}`` and ``{coco80: hico object index}``."""
    coco_to_obj = {c: o for o, c in enumerate(space.object_to_coco)}
    table = {(v, space.object_to_coco[o]): c for c, (v, o) in enumerate(space.hoi)}
    return table, coco_to_obj


def _check_hicodet(p: Predictions, space: vocab.HOILabelSpace) -> None:
    if len(p.classes) and (int(p.classes.min()) < 0 or int(p.classes.max()) >= space.num_classes):
        raise ValueError(f"{p.file_name}: HOI class outside HICO-DET's {space.num_classes}; these formats are HICO-DET's")
    if len(p.pairs) and int(p.pairs[:, 1].min()) < 0:
        raise ValueError(f"{p.file_name}: a triplet without an object; HICO-DET triplets always have one")


# ----------------------------------------------------------------------------- QPIC
def to_qpic(predictions: Sequence[Predictions]) -> list[dict[str, Any]]:
    """Per-image QPIC ``HICOEvaluator`` input records (see the module doc)."""
    space = vocab.hicodet()
    out = []
    for p in predictions:
        _check_hicodet(p, space)
        pairs: dict[tuple[int, int], int] = {}
        rows: list[list[float]] = []
        for (h, o), c, s in zip(p.pairs.tolist(), p.classes.tolist(), p.scores.tolist()):
            verb, obj = space.hoi[c]
            if space.object_to_coco[obj] != int(p.labels[o]):
                raise ValueError(f"{p.file_name}: class {c} ({space.hoi_name(c)}) on a box labelled "
                                 f"{vocab.COCO_CLASSES[int(p.labels[o])]}; QPIC's layout keys verbs by the box's label")
            k = pairs.setdefault((h, o), len(pairs))
            if k == len(rows):
                rows.append([0.0] * len(space.verbs))
            rows[k][verb] = max(rows[k][verb], float(s))
        out.append({
            "file_name": p.file_name,
            "labels": [int(v) for v in p.labels.tolist()],
            "boxes": [[float(v) for v in b] for b in p.boxes.tolist()],
            "sub_ids": [h for h, _ in pairs],
            "obj_ids": [o for _, o in pairs],
            "verb_scores": rows,
        })
    return out


def from_qpic(records: Sequence[dict[str, Any]], where: str = "qpic predictions") -> list[Predictions]:
    """QPIC-style records -> Predictions: every (pair, verb) with a positive score whose class exists."""
    space = vocab.hicodet()
    table, _ = _hoi_table(space)
    out = []
    for i, r in enumerate(records):
        try:
            labels = torch.as_tensor(r["labels"], dtype=torch.long).reshape(-1)
            boxes = torch.as_tensor(r["boxes"], dtype=torch.float64).reshape(-1, 4)
            scores = np.asarray(r["verb_scores"], dtype=np.float64).reshape(len(r["sub_ids"]), -1)
            subs, objs = list(r["sub_ids"]), list(r["obj_ids"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"{where}: record {i}: malformed ({e})") from None
        pairs, classes, values = [], [], []
        for k, (h, o) in enumerate(zip(subs, objs)):
            for v in np.flatnonzero(scores[k] > 0).tolist():
                c = table.get((v, int(labels[o])))
                if c is not None:
                    pairs.append((int(h), int(o)))
                    classes.append(c)
                    values.append(scores[k, v])
        out.append(Predictions(str(r.get("file_name", i)), boxes, labels,
                               torch.tensor(pairs, dtype=torch.long).reshape(-1, 2),
                               torch.tensor(classes, dtype=torch.long), torch.tensor(values, dtype=torch.float64)))
    return out


# ----------------------------------------------------------------------------- MATLAB (ho-rcnn / UPT)
def to_matlab(predictions: Sequence[Predictions], image_order: Sequence[str] | None = None) -> dict[int, np.ndarray]:
    """``{hico object index: all_boxes}``, ``all_boxes`` an object array ``[HOI classes of the object, images]``."""
    space = vocab.hicodet()
    by_name = {p.file_name: p for p in predictions}
    order = list(image_order) if image_order is not None else sorted(by_name)
    unknown = [n for n in by_name if n not in set(order)]
    if unknown:
        raise ValueError(f"{len(unknown)} predicted image(s) are not in the image order, e.g. {unknown[0]!r}; "
                         "pass the test annotations the predictions are for")
    rows: dict[int, dict[int, list[list[float]]]] = {}
    col = {n: j for j, n in enumerate(order)}
    for p in predictions:
        _check_hicodet(p, space)
        boxes = p.boxes.double() + 1.0  # 0-based pixels -> the annotation's 1-based coordinates
        for (h, o), c, s in zip(p.pairs.tolist(), p.classes.tolist(), p.scores.tolist()):
            rows.setdefault(c, {}).setdefault(col[p.file_name], []).append(
                boxes[h].tolist() + boxes[o].tolist() + [float(s)])
    out = {}
    for obj in range(len(space.objects)):
        classes = [c for c, (_, o) in enumerate(space.hoi) if o == obj]
        cells = np.empty((len(classes), len(order)), dtype=object)
        for r, c in enumerate(classes):
            for j in range(len(order)):
                dets = rows.get(c, {}).get(j)
                cells[r, j] = np.asarray(dets, dtype=np.float64) if dets else np.zeros((0, 0))
        out[obj] = cells
    return out


def write_matlab(predictions: Sequence[Predictions], folder: str | Path,
                 image_order: Sequence[str] | None = None) -> list[Path]:
    """Write ``detections_01.mat`` ... ``detections_80.mat`` (``all_boxes``) into ``folder``."""
    from scipy.io import savemat

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for obj, cells in to_matlab(predictions, image_order).items():
        path = folder / f"detections_{obj + 1:02d}.mat"
        savemat(str(path), {"all_boxes": cells})
        paths.append(path)
    return paths


def read_matlab(folder: str | Path, image_order: Sequence[str]) -> list[Predictions]:
    """Read the MATLAB layout back (one Predictions per image of ``image_order`` with detections)."""
    from scipy.io import loadmat

    space = vocab.hicodet()
    folder = Path(folder)
    per_image: dict[int, list[tuple[int, np.ndarray]]] = {}
    for obj in range(len(space.objects)):
        path = folder / f"detections_{obj + 1:02d}.mat"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; the layout has one file per object (01..80)")
        cells = loadmat(str(path))["all_boxes"]
        classes = [c for c, (_, o) in enumerate(space.hoi) if o == obj]
        if cells.shape != (len(classes), len(image_order)):
            raise ValueError(f"{path}: all_boxes has shape {list(cells.shape)}, expected "
                             f"[{len(classes)}, {len(image_order)}] (classes of this object, images)")
        for r, c in enumerate(classes):
            for j in range(len(image_order)):
                cell = np.asarray(cells[r, j], dtype=np.float64)
                if cell.size:
                    per_image.setdefault(j, []).append((c, cell.reshape(-1, 9)))
    out = []
    for j in sorted(per_image):
        boxes: dict[tuple[float, ...], int] = {}
        labels: list[int] = []
        pairs, classes, scores = [], [], []
        for c, cell in per_image[j]:
            obj_coco = space.hoi_coco_object(c)
            for row in cell:
                ids = []
                for box, label in ((tuple(row[:4] - 1.0), vocab.PERSON), (tuple(row[4:8] - 1.0), obj_coco)):
                    key = box + (label,)
                    if key not in boxes:
                        boxes[key] = len(boxes)
                        labels.append(label)
                    ids.append(boxes[key])
                pairs.append(ids)
                classes.append(c)
                scores.append(row[8])
        out.append(Predictions(image_order[j], torch.tensor([k[:4] for k in boxes], dtype=torch.float64).reshape(-1, 4),
                               torch.tensor(labels, dtype=torch.long), torch.tensor(pairs, dtype=torch.long).reshape(-1, 2),
                               torch.tensor(classes, dtype=torch.long), torch.tensor(scores, dtype=torch.float64)))
    return out


# ----------------------------------------------------------------------------- V-COCO (UPT's cache_vcoco)
UPT_AGENT_DEFAULT = 0.0
UPT_ROLE_DEFAULT = (0.0, 0.0, 0.1, 0.1, 0.0)


def coco_image_id(file_name: str) -> int:
    """``COCO_train2014_000000123456.jpg`` -> 123456 (the number at the end of the name)."""
    m = re.search(r"(\d+)\.[A-Za-z]+$", file_name)
    if m is None:
        raise ValueError(f"{file_name}: no COCO image id at the end of the file name")
    return int(m.group(1))


def to_upt_vcoco(predictions: Sequence[Predictions]) -> list[dict[str, Any]]:
    """UPT's V-COCO cache records: one per triplet, every key present (see the module doc)."""
    classes = vocab.vcoco_classes()
    template: dict[str, Any] = {}
    for action in vocab.vcoco_actions():
        template[f"{action.name}_agent"] = UPT_AGENT_DEFAULT
        for role in action.object_roles:
            template[f"{action.name}_{role}"] = list(UPT_ROLE_DEFAULT)
    out = []
    for p in predictions:
        if len(p.classes) and (int(p.classes.min()) < 0 or int(p.classes.max()) >= len(classes)):
            raise ValueError(f"{p.file_name}: class outside V-COCO's {len(classes)} (action, role) classes")
        image_id = coco_image_id(p.file_name)
        boxes = p.boxes.double().tolist()
        for (h, o), c, s in zip(p.pairs.tolist(), p.classes.tolist(), p.scores.tolist()):
            action, role = classes[c]
            rec = {"image_id": image_id, "person_box": boxes[h], **{k: (list(v) if isinstance(v, list) else v)
                                                                   for k, v in template.items()}}
            rec[f"{action}_agent"] = float(s)
            if role is not None:
                rec[f"{action}_{role}"] = (boxes[o] if o >= 0 else [math.nan] * 4) + [float(s)]
            out.append(rec)
    return out


def from_upt_vcoco(records: Sequence[dict[str, Any]], names: dict[int, str]) -> list[Predictions]:
    """UPT V-COCO records -> Predictions (one human box per record; a score of 0, UPT's "missing", is dropped)."""
    classes = vocab.vcoco_classes()
    per_image: dict[int, list[tuple[list[float], list[float] | None, int, float]]] = {}
    for i, r in enumerate(records):
        try:
            image, person = int(r["image_id"]), [float(v) for v in r["person_box"]]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"V-COCO records: record {i}: malformed ({e})") from None
        rows = per_image.setdefault(image, [])
        for c, (action, role) in enumerate(classes):
            if role is None:
                score = float(r.get(f"{action}_agent", 0.0))
                if score > 0:
                    rows.append((person, None, c, score))
                continue
            value = r.get(f"{action}_{role}")
            if value is not None and float(value[4]) > 0:
                box = [float(v) for v in value[:4]]
                rows.append((person, None if all(math.isnan(v) for v in box) else box, c, float(value[4])))
    out = []
    for image, rows in per_image.items():
        if image not in names:
            raise ValueError(f"V-COCO records: image_id {image} is not in the name map")
        boxes: dict[tuple[float, ...], int] = {}
        pairs, cls, scores = [], [], []
        for person, obj, c, s in rows:
            ids = []
            for box in (person, obj):
                if box is None:
                    ids.append(-1)
                    continue
                ids.append(boxes.setdefault(tuple(box), len(boxes)))
            pairs.append(ids)
            cls.append(c)
            scores.append(s)
        out.append(Predictions(names[image], torch.tensor(list(boxes), dtype=torch.float64).reshape(-1, 4),
                               torch.zeros(len(boxes), dtype=torch.long), torch.tensor(pairs, dtype=torch.long).reshape(-1, 2),
                               torch.tensor(cls, dtype=torch.long), torch.tensor(scores, dtype=torch.float64)))
    return out


def export_predictions(predictions: Sequence[Predictions], fmt: str, out: str | Path,
                       image_order: Sequence[str] | None = None) -> list[Path]:
    """Write ``predictions`` as ``fmt`` (:data:`FORMATS`) to ``out``: a .json file (qpic), a folder (matlab),
    a ``cache.pkl`` or .json file (upt-vcoco)."""
    out = Path(out)
    if fmt == "qpic":
        out.parent.mkdir(parents=True, exist_ok=True)
        records = to_qpic(predictions)
        with open(out, "w", encoding="utf-8") as f:
            json.dump(records, f)
        return [out]
    if fmt == "matlab":
        return write_matlab(predictions, out, image_order)
    if fmt == "upt-vcoco":
        records = to_upt_vcoco(predictions)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".json":
            with open(out, "w", encoding="utf-8") as f:
                json.dump(records, f)
        else:  # UPT's cache.pkl: protocol 2, as UPT writes it (Python 2's vsrl_eval reads it)
            import pickle

            with open(out, "wb") as f:
                pickle.dump(records, f, 2)
        return [out]
    raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
