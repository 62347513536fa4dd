"""V-COCO ground truth from the official files or the converted JSON.

* ``official``: s-gupta/v-coco's ``vcoco_{train,val,trainval,test}.json``, a
  list of the 26 actions, each ``{action_name, role_name, image_id[N],
  ann_id[N], label[N], role_object_id[R*N]}`` (``role_object_id`` is stored
  role-major: entry ``r * N + i`` is role ``r`` of agent ``i``; 0 = no object),
  plus the COCO instances file that holds the boxes
  (``instances_vcoco_all_2014.json``).
* ``converted``: the JSON list of the DETR-style HOI codebases (QPIC / CDN
  ``trainval_vcoco.json`` / ``test_vcoco.json``): ``file_name``,
  ``annotations`` ``[{bbox: [x1, y1, x2, y2], category_id}]`` (COCO 91-ids)
  and ``hoi_annotation`` ``[{subject_id, object_id, category_id}]`` with
  ``category_id`` 0-28 into the class list that equals
  :func:`clhoi.vocab.vcoco_classes` (``hold_obj``, ``stand``, ``sit_instr``...),
  ``object_id == -1`` where there is no object.

Both give :class:`~clhoi.structures.ImageAnnotation` with every COCO box of the
image (file order), rows ``(agent_idx, role_box_idx or -1, class 0-28)`` in
action order then file order, exactly as the converted files are written. The
official files also give ``ignore``: persons without V-COCO labels, whose
detections the official evaluation skips; the converted JSON has lost that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from clhoi import vocab
from clhoi.data.coco import CocoInstances, read_coco_instances
from clhoi.data.errors import AnnotationError, check_int, check_list, check_xyxy, record_name, require
from clhoi.structures import ImageAnnotation


@dataclass
class VCOCODataset:
    """A V-COCO split, read.

    Attributes:
        images: one :class:`ImageAnnotation` per image; labels COCO-80, boxes
            xyxy pixels (``x2 = x + w``), ``hoi`` rows index
            :func:`clhoi.vocab.vcoco_classes`.
        layout: ``official`` or ``converted``.
        path: the V-COCO file read.
        coco_instances: the COCO instances file used (official layout).
    """

    images: list[ImageAnnotation]
    layout: str
    path: str
    coco_instances: str | None = None

    def __len__(self) -> int:
        return len(self.images)

    def class_counts(self) -> list[int]:
        """Number of rows of each of the 29 classes."""
        counts = torch.zeros(len(vocab.vcoco_classes()), dtype=torch.long)
        for a in self.images:
            counts += torch.bincount(a.hoi[:, 2], minlength=counts.numel())
        return counts.tolist()


def read_vcoco(path: str | Path, coco_instances: str | Path | CocoInstances | None = None) -> list[ImageAnnotation]:
    """Read V-COCO ground truth, official or converted (detected from the content).

    Args:
        path: ``vcoco_test.json`` (official) or ``test_vcoco.json`` (converted).
        coco_instances: the COCO instances file with the boxes (path or
            :class:`CocoInstances`); required for the official layout.

    Returns:
        One :class:`ImageAnnotation` per image, in order of first appearance.

    Raises:
        AnnotationError: naming the file, record and field at fault.
    """
    return load_vcoco(path, coco_instances).images


def load_vcoco(path: str | Path, coco_instances: str | Path | CocoInstances | None = None) -> VCOCODataset:
    """Like :func:`read_vcoco`, keeping the file-level metadata (:class:`VCOCODataset`)."""
    path = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"V-COCO annotation file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise AnnotationError(path, "<file>", "<json>", f"not valid JSON ({e})") from None
    if isinstance(data, list) and data and isinstance(data[0], dict) and "action_name" in data[0]:
        if coco_instances is None:
            raise ValueError(
                f"{path} is an official V-COCO file: its boxes live in the COCO instances file; pass "
                "coco_instances='.../instances_vcoco_all_2014.json'"
            )
        coco = coco_instances if isinstance(coco_instances, CocoInstances) else read_coco_instances(coco_instances)
        return VCOCODataset(_read_official(data, path, coco), "official", path, coco.path)
    if isinstance(data, list):
        return VCOCODataset(_read_converted(data, path), "converted", path)
    raise AnnotationError(
        path, "<file>", "<top level>",
        "not a V-COCO layout: expected a list of actions (vcoco_test.json) or of image records (test_vcoco.json)",
    )


def _class_index() -> dict[tuple[str, str | None], int]:
    return {c: i for i, c in enumerate(vocab.vcoco_classes())}


# --------------------------------------------------------------------------- official
def _read_official(data: list, path: str, coco: CocoInstances) -> list[ImageAnnotation]:
    actions = {a.name: a for a in vocab.vcoco_actions()}
    classes = _class_index()
    seen_actions: list[str] = []
    order: dict[int, None] = {}  # image ids, first appearance
    agents: set[int] = set()
    rows: dict[int, list[tuple[int, int, int]]] = {}  # image id -> (agent ann id, object ann id or 0, class)
    for a, act in enumerate(data):
        name = record_name(a, act.get("action_name") if isinstance(act, dict) else None)
        action = require(act, "action_name", path, name)
        if action not in actions:
            raise AnnotationError(path, name, "action_name", f"{action!r} is not a V-COCO action; valid: {sorted(actions)}")
        if action in seen_actions:
            raise AnnotationError(path, name, "action_name", f"{action!r} appears twice")
        seen_actions.append(action)
        roles = require(act, "role_name", path, name)
        if list(roles) != list(actions[action].roles):
            raise AnnotationError(path, name, "role_name", f"{roles!r}; V-COCO's {action!r} has {list(actions[action].roles)}")
        cols = {k: check_list(require(act, k, path, name), path, name, k) for k in ("image_id", "ann_id", "label")}
        n = len(cols["ann_id"])
        if len(cols["image_id"]) != n or len(cols["label"]) != n:
            raise AnnotationError(path, name, "label", f"image_id, ann_id and label differ in length: "
                                  f"{len(cols['image_id'])}, {n}, {len(cols['label'])}")
        role_ids = check_list(require(act, "role_object_id", path, name), path, name, "role_object_id")
        if len(role_ids) != n * len(roles):
            raise AnnotationError(path, name, "role_object_id",
                                  f"has {len(role_ids)} entries; {n} agents x {len(roles)} roles need {n * len(roles)}")
        for i in range(n):
            iid = cols["image_id"][i]
            aid = check_int(cols["ann_id"][i], path, name, f"ann_id[{i}]", 1, 1 << 62)
            if iid not in coco.images:
                raise AnnotationError(path, name, f"image_id[{i}]",
                                      f"image {iid!r} is not in {coco.path}; is that the V-COCO instances file?")
            order.setdefault(iid, None)
            agents.add(aid)
            if role_ids[i] != aid:
                raise AnnotationError(path, name, f"role_object_id[{i}]",
                                      f"the agent column must repeat ann_id[{i}] = {aid}, got {role_ids[i]!r}")
            if not check_int(cols["label"][i], path, name, f"label[{i}]", 0, 1):
                continue
            out = rows.setdefault(iid, [])
            if len(roles) == 1:
                out.append((aid, 0, classes[(action, None)]))
            for r in range(1, len(roles)):
                oid = check_int(role_ids[r * n + i], path, name, f"role_object_id[{r * n + i}]", 0, 1 << 62)
                out.append((aid, oid, classes[(action, roles[r])]))
    missing = sorted(set(actions) - set(seen_actions))
    if missing:
        raise AnnotationError(path, "<file>", "action_name", f"actions {missing} are missing; an official split lists all 26")

    images = []
    for iid in order:
        info, anns = coco.images[iid], coco.instances[iid]
        index = {ann.id: k for k, ann in enumerate(anns)}
        name = f"image {iid} ({info.file_name})"
        hoi = []
        for aid, oid, cls in rows.get(iid, []):
            act, role = vocab.vcoco_classes()[cls]
            if aid not in index:
                raise AnnotationError(path, name, f"{act}.ann_id", f"annotation {aid} is not a box of this image in {coco.path}")
            if anns[index[aid]].label != vocab.PERSON:
                raise AnnotationError(path, name, f"{act}.ann_id", f"agent annotation {aid} is not a person")
            if oid != 0 and oid not in index:
                raise AnnotationError(path, name, f"{act}.role_object_id ({role})",
                                      f"annotation {oid!r} is not a box of this image in {coco.path}")
            hoi.append((index[aid], index[oid] if oid != 0 else -1, cls))
        images.append(ImageAnnotation(
            file_name=info.file_name,
            size=(info.width, info.height),
            boxes=torch.tensor([a.box for a in anns], dtype=torch.float32).reshape(-1, 4),
            labels=torch.tensor([a.label for a in anns], dtype=torch.long),
            hoi=torch.tensor(hoi, dtype=torch.long).reshape(-1, 3),
            ignore=torch.tensor([a.label == vocab.PERSON and a.id not in agents for a in anns], dtype=torch.bool),
        ))
    return images


# --------------------------------------------------------------------------- converted
def _read_converted(data: list[Any], path: str) -> list[ImageAnnotation]:
    classes = vocab.vcoco_classes()
    images = []
    for i, rec in enumerate(data):
        name = record_name(i, rec.get("file_name") if isinstance(rec, dict) else None)
        file_name = require(rec, "file_name", path, name)
        if not isinstance(file_name, str) or not file_name:
            raise AnnotationError(path, name, "file_name", f"expected a non-empty string, got {file_name!r}")
        boxes, labels = [], []
        for j, ann in enumerate(check_list(require(rec, "annotations", path, name), path, name, "annotations")):
            where = f"annotations[{j}]."
            boxes.append(check_xyxy(require(ann, "bbox", path, name, where), path, name, where + "bbox"))
            cid = require(ann, "category_id", path, name, where)
            if isinstance(cid, bool) or cid not in vocab.COCO_ID_TO_INDEX:
                raise AnnotationError(path, name, where + "category_id", f"{cid!r} is not a COCO category id (1-90)")
            labels.append(vocab.COCO_ID_TO_INDEX[cid])
        hoi = []
        for j, h in enumerate(check_list(require(rec, "hoi_annotation", path, name), path, name, "hoi_annotation")):
            where = f"hoi_annotation[{j}]."
            s = check_int(require(h, "subject_id", path, name, where), path, name, where + "subject_id", 0, len(boxes) - 1)
            o = check_int(require(h, "object_id", path, name, where), path, name, where + "object_id", -1, len(boxes) - 1)
            c = check_int(require(h, "category_id", path, name, where), path, name, where + "category_id", 0, len(classes) - 1)
            if labels[s] != vocab.PERSON:
                raise AnnotationError(path, name, where + "subject_id",
                                      f"box {s} is a {vocab.COCO_CLASSES[labels[s]]!r}; V-COCO agents are persons")
            if classes[c][1] is None and o != -1:
                raise AnnotationError(path, name, where + "object_id",
                                      f"class {c} ({classes[c][0]}) has no object role; expected -1, got {o}")
            hoi.append((s, o, c))
        images.append(ImageAnnotation(
            file_name=file_name,
            size=tuple(check_int(rec.get(k, 0), path, name, k, 0, 1 << 20) for k in ("width", "height")),  # type: ignore[arg-type]
            boxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            labels=torch.tensor(labels, dtype=torch.long),
            hoi=torch.tensor(hoi, dtype=torch.long).reshape(-1, 3),
        ))
    return images
