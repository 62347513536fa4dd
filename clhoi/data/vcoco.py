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

Both give :class:`~clhoi.structures.ImageAnnotation` with the COCO boxes of the
image (file order), rows ``(agent_idx, role_box_idx or -1, class 0-28)`` in
action order then file order, exactly as the converted files are written.

Boxes are in the frame of the official evaluation (``vsrl_eval.py``): inclusive
pixel indices ``[x, y, x + max(0, w - 1), y + max(0, h - 1)]``; the converted
files' ``x + w`` corners are mapped the same way. From the official files the
reader also does what ``vsrl_eval.py`` does to the ground truth: boxes are
clipped to the image, and boxes with zero area or under one pixel (or an
``ignore`` flag) are left out, with a warning and counts in
:class:`VCOCODataset`; ``ignore`` marks persons without V-COCO labels, whose
detections the evaluation skips. The converted JSON has lost image sizes, areas
and that mark: it matches the official ground truth except for those rare boxes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clhoi import vocab
from clhoi.data.coco import CocoInstances, read_coco_instances
from clhoi.data.errors import AnnotationError, load_json_file, check_int, check_list, check_xyxy, record_name, require
from clhoi.structures import ImageAnnotation


@dataclass
class VCOCODataset:
    """A V-COCO split, read.

    Attributes:
        images: one :class:`ImageAnnotation` per image; labels COCO-80, boxes
            xyxy inclusive pixel indices (``x2 = x + w - 1``), ``hoi`` rows index
            :func:`clhoi.vocab.vcoco_classes`.
        layout: ``official`` or ``converted``.
        path: the V-COCO file read.
        coco_instances: the COCO instances file used (official layout).
        dropped_boxes: COCO annotation ids the official evaluation leaves out
            (zero area, under one pixel, ``ignore`` flag).
        dropped_rows: positive rows whose agent box was left out.
    """

    images: list[ImageAnnotation]
    layout: str
    path: str
    coco_instances: str | None = None
    dropped_boxes: list[int] = field(default_factory=list)
    dropped_rows: int = 0

    def __len__(self) -> int:
        return len(self.images)

    def class_counts(self) -> list[int]:
        """Number of rows of each of the 29 classes."""
        counts = np.zeros(len(vocab.vcoco_classes()), dtype=np.int64)
        for a in self.images:
            counts += np.bincount(np.asarray(a.hoi[:, 2], dtype=np.int64), minlength=counts.size)
        return counts.tolist()


def read_vcoco(path: str | Path, coco_instances: str | Path | CocoInstances | None = None,
               tensors: bool = True) -> list[ImageAnnotation]:
    """Read V-COCO ground truth, official or converted (detected from the content).

    Args:
        path: ``vcoco_test.json`` (official) or ``test_vcoco.json`` (converted).
        coco_instances: the COCO instances file with the boxes (path or
            :class:`CocoInstances`); required for the official layout.
        tensors: ``True`` (default) gives torch tensors; ``False`` NumPy arrays of the
            same shapes and dtypes, without importing torch (``clhoi evaluate``).

    Returns:
        One :class:`ImageAnnotation` per image, in order of first appearance.

    Raises:
        AnnotationError: naming the file, record and field at fault.
    """
    return load_vcoco(path, coco_instances, tensors).images


def load_vcoco(path: str | Path, coco_instances: str | Path | CocoInstances | None = None,
               tensors: bool = True) -> VCOCODataset:
    """Like :func:`read_vcoco`, keeping the file-level metadata (:class:`VCOCODataset`)."""
    dataset = _load(str(path), coco_instances)
    if tensors:
        import torch

        dataset.images = [
            ImageAnnotation(a.file_name, a.size, torch.from_numpy(a.boxes), torch.from_numpy(a.labels),
                            torch.from_numpy(a.hoi), None if a.ignore is None else torch.from_numpy(a.ignore))
            for a in dataset.images
        ]
    return dataset


def _load(path: str, coco_instances: str | Path | CocoInstances | None) -> VCOCODataset:
    data = load_json_file(path, "V-COCO annotation file")
    if isinstance(data, list) and data and isinstance(data[0], dict) and "action_name" in data[0]:
        if coco_instances is None:
            raise ValueError(
                f"{path} is an official V-COCO file: its boxes live in the COCO instances file; pass "
                "coco_instances='.../instances_vcoco_all_2014.json'"
            )
        coco = coco_instances if isinstance(coco_instances, CocoInstances) else read_coco_instances(coco_instances)
        return _read_official(data, path, coco)
    if isinstance(data, list):
        return VCOCODataset(_read_converted(data, path), "converted", path)
    raise AnnotationError(
        path, "<file>", "<top level>",
        "not a V-COCO layout: expected a list of actions (vcoco_test.json) or of image records (test_vcoco.json)",
    )


def _class_index() -> dict[tuple[str, str | None], int]:
    return {c: i for i, c in enumerate(vocab.vcoco_classes())}


# --------------------------------------------------------------------------- official
def _read_official(data: list, path: str, coco: CocoInstances, by_arrays: bool = True) -> VCOCODataset:
    """The official layout: by arrays when every action's columns are plain and every row is valid
    (:func:`_official_by_arrays`), else record by record (which names the first fault); the same result."""
    out = _official_by_arrays(data, path, coco) if by_arrays else None
    if out is None:
        out = _official_by_records(data, path, coco)
    if out.dropped_boxes:
        warnings.warn(
            f"{path}: left out {len(out.dropped_boxes)} COCO box(es) with zero area or under one pixel, as the official "
            f"evaluation does (annotation ids {out.dropped_boxes[:5]}...), and {out.dropped_rows} positive row(s) "
            "of those agents", stacklevel=4,
        )
    return out


def _official_by_records(data: list, path: str, coco: CocoInstances) -> VCOCODataset:
    actions = {a.name: a for a in vocab.vcoco_actions()}
    classes = _class_index()
    seen_actions: list[str] = []
    order: dict[int, None] = {}  # image ids, first appearance
    agents: set[int] = set()
    rows: dict[int, list[tuple[int, int, int]]] = {}  # image id -> (agent ann id, object ann id or 0, class)
    for a, act in enumerate(data):
        name, action, roles, cols, role_ids, n = _check_action(a, act, path, actions, seen_actions)
        if _plain_columns(cols, role_ids, n, coco):  # the common case, checked by columns
            order.update(dict.fromkeys(cols["image_id"]))
            agents.update(cols["ann_id"])
            for i in [i for i, v in enumerate(cols["label"]) if v == 1]:
                iid, aid = cols["image_id"][i], cols["ann_id"][i]
                out = rows.setdefault(iid, [])
                if len(roles) == 1:
                    out.append((aid, 0, classes[(action, None)]))
                for r in range(1, len(roles)):
                    out.append((aid, role_ids[r * n + i], classes[(action, roles[r])]))
            continue
        for i in range(n):  # element by element, to name the first fault
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
    out = VCOCODataset(images, "official", path, coco.path)
    for iid in order:
        info, anns = coco.images[iid], coco.instances[iid]
        size = (info.width, info.height) if info.width > 0 and info.height > 0 else None
        everything = {ann.id for ann in anns}
        kept, boxes = [], []
        for ann in anns:  # vsrl_eval.py _add_gt_annotations
            box = ann.xyxy(inclusive=True, size=size)
            if ann.ignore or ann.area <= 0 or not (box[2] > box[0] and box[3] > box[1]):
                out.dropped_boxes.append(ann.id)
                continue
            kept.append(ann)
            boxes.append(box)
        index = {ann.id: k for k, ann in enumerate(kept)}
        name = f"image {iid} ({info.file_name})"
        hoi = []
        for aid, oid, cls in rows.get(iid, []):
            act, role = vocab.vcoco_classes()[cls]
            if aid not in everything:
                raise AnnotationError(path, name, f"{act}.ann_id", f"annotation {aid} is not a box of this image in {coco.path}")
            if oid != 0 and oid not in everything:
                raise AnnotationError(path, name, f"{act}.role_object_id ({role})",
                                      f"annotation {oid!r} is not a box of this image in {coco.path}")
            if aid not in index:
                out.dropped_rows += 1
                continue
            if kept[index[aid]].label != vocab.PERSON:
                raise AnnotationError(path, name, f"{act}.ann_id", f"agent annotation {aid} is not a person")
            if oid != 0 and oid not in index:
                raise AnnotationError(path, name, f"{act}.role_object_id ({role})",
                                      f"annotation {oid} has zero area or is under one pixel; the official "
                                      "evaluation drops such boxes and cannot score a role on it")
            hoi.append((index[aid], index[oid] if oid != 0 else -1, cls))
        images.append(ImageAnnotation(
            file_name=info.file_name,
            size=(info.width, info.height),
            boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            labels=np.asarray([a.label for a in kept], dtype=np.int64),
            hoi=np.asarray(hoi, dtype=np.int64).reshape(-1, 3),
            ignore=np.asarray([a.label == vocab.PERSON and a.id not in agents for a in kept], dtype=bool),
        ))
    return out


def _check_action(a: int, act: Any, path: str, actions: dict, seen_actions: list) -> tuple:
    """The checks of one action's record, in order (both readers); returns ``(name, action, roles, cols,
    role_ids, n)``."""
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
    return name, action, roles, cols, role_ids, n


def _python_max(a: Any, b: Any) -> Any:
    """``max(a, b)`` of Python floats, element-wise: ``b`` where ``b > a``, else ``a`` (NaN, -0.0 alike)."""
    return np.where(b > a, b, a)


def _python_min(a: Any, b: Any) -> Any:
    """``min(a, b)`` of Python floats, element-wise: ``b`` where ``b < a``, else ``a``."""
    return np.where(b < a, b, a)


def _official_by_arrays(data: list, path: str, coco: CocoInstances) -> VCOCODataset | None:
    """:func:`_official_by_records` by NumPy arrays over all actions, images and boxes at once; ``None`` (after
    the same checks, raising the same errors, as far as it got) when an action's columns are not plain
    (:func:`_plain_columns`) or a row would be an error: then the record-by-record reader names it."""
    from itertools import chain
    from operator import attrgetter

    actions = {a.name: a for a in vocab.vcoco_actions()}
    classes = _class_index()
    seen_actions: list[str] = []
    image_cols, agent_cols = [], []
    row_image, row_agent, row_object, row_cls = [], [], [], []
    try:
        coco_ids = np.sort(np.fromiter(coco.images.keys(), dtype=np.int64, count=len(coco.images)))
    except (TypeError, ValueError, OverflowError):
        return None
    for a, act in enumerate(data):
        _, action, roles, cols, role_ids, n = _check_action(a, act, path, actions, seen_actions)
        # plain columns (what _plain_columns accepts), checked by arrays
        types = [set(map(type, c)) for c in (cols["image_id"], cols["ann_id"], cols["label"], role_ids)]
        if n and types != [{int}] * 4:
            return None
        try:
            iid, aid, lab, role = (np.asarray(cols["image_id"], dtype=np.int64).reshape(-1),
                                   np.asarray(cols["ann_id"], dtype=np.int64).reshape(-1),
                                   np.asarray(cols["label"], dtype=np.int64).reshape(-1),
                                   np.asarray(role_ids, dtype=np.int64).reshape(len(roles), n))
        except OverflowError:
            return None
        if n and ((aid < 1).any() or (aid > 1 << 62).any() or ((lab != 0) & (lab != 1)).any()
                  or (role[0] != aid).any() or (role[1:] < 0).any() or (role[1:] > 1 << 62).any()
                  or not np.isin(iid, coco_ids).all()):
            return None
        image_cols.append(iid)
        agent_cols.append(aid)
        pos = np.flatnonzero(lab == 1)
        if len(roles) == 1:  # rows (agent, 0, class) in agent order
            objects = np.zeros((pos.size, 1), dtype=np.int64)
            cls = [classes[(action, None)]]
        else:  # rows (agent, object of role r, class of role r), agent by agent, roles in order
            objects = role[1:, pos].T
            cls = [classes[(action, r)] for r in roles[1:]]
        per = len(cls)
        row_image.append(np.repeat(iid[pos], per))
        row_agent.append(np.repeat(aid[pos], per))
        row_object.append(objects.reshape(-1))
        row_cls.append(np.tile(np.asarray(cls, dtype=np.int64), pos.size))
    missing = sorted(set(actions) - set(seen_actions))
    if missing:
        raise AnnotationError(path, "<file>", "action_name", f"actions {missing} are missing; an official split lists all 26")

    # images in order of first appearance; the rows of each image in the order the records give them
    all_images = np.concatenate(image_cols)
    ids, first = np.unique(all_images, return_index=True)
    order = ids[np.argsort(first, kind="stable")]
    agents = np.concatenate(agent_cols)  # (np.unique without indices imports numpy.ma in NumPy 2: 0.01 s)
    rank = np.argsort(order, kind="stable")  # rank[j]: the place in `order` of image ids[j]
    row_image, row_agent = np.concatenate(row_image), np.concatenate(row_agent)
    row_object, row_cls = np.concatenate(row_object), np.concatenate(row_cls)
    row_rank = rank[np.searchsorted(ids, row_image)]
    by_image = np.argsort(row_rank, kind="stable")
    row_rank, row_agent = row_rank[by_image], row_agent[by_image]
    row_object, row_cls = row_object[by_image], row_cls[by_image]

    # every COCO box of those images, image by image in file order
    order_list = order.tolist()
    infos = [coco.images[iid] for iid in order_list]
    per_image = [coco.instances[iid] for iid in order_list]
    n_ann = np.fromiter(map(len, per_image), dtype=np.int64, count=len(per_image))
    anns = list(chain.from_iterable(per_image))
    if not anns:
        return None
    ann_id = np.fromiter(map(attrgetter("id"), anns), dtype=np.int64, count=len(anns))
    sorted_ids = np.sort(ann_id)
    if (sorted_ids[1:] == sorted_ids[:-1]).any():  # an id in two images: the record-by-record reader decides
        return None
    bbox = np.array(list(map(attrgetter("bbox"), anns)), dtype=np.float64).reshape(-1, 4)
    label = np.fromiter(map(attrgetter("label"), anns), dtype=np.int64, count=len(anns))
    area = np.fromiter(map(attrgetter("area"), anns), dtype=np.float64, count=len(anns))
    flagged = np.fromiter(map(attrgetter("ignore"), anns), dtype=bool, count=len(anns))
    ann_image = np.repeat(np.arange(order.size), n_ann)
    # CocoInstance.xyxy(inclusive=True, size): x + max(0, w - 1), clipped to the image when it has a size
    x, y, w, h = bbox.T
    box = np.stack([x, y, x + _python_max(0.0, w - 1.0), y + _python_max(0.0, h - 1.0)], 1)
    width = np.array([i.width for i in infos], dtype=np.int64)[ann_image]
    height = np.array([i.height for i in infos], dtype=np.int64)[ann_image]
    sized = (width > 0) & (height > 0)
    lim = np.stack([width - 1.0, height - 1.0, width - 1.0, height - 1.0], 1)
    box = np.where(sized[:, None], _python_min(lim, _python_max(0.0, box)), box)
    dropped = flagged | (area <= 0) | ~((box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1]))
    kept = ~dropped
    n_kept = np.bincount(ann_image[kept], minlength=order.size)
    kept_index = np.full(ann_id.size, -1, dtype=np.int64)  # a box's index among its image's kept boxes
    kept_index[kept] = np.arange(int(kept.sum())) - np.repeat(np.cumsum(n_kept) - n_kept, n_kept)

    # rows: agent and object must be boxes of the row's image; a left-out agent drops the row
    by_id = np.argsort(ann_id, kind="stable")

    def find(wanted: np.ndarray) -> np.ndarray:
        at = np.minimum(np.searchsorted(sorted_ids, wanted), sorted_ids.size - 1)
        return np.where(sorted_ids[at] == wanted, by_id[at], -1)

    agent_box, object_box = find(row_agent), find(row_object)
    has_object = row_object != 0
    if ((agent_box < 0) | (ann_image[agent_box] != row_rank)).any():
        return None
    if (has_object & ((object_box < 0) | (ann_image[object_box] != row_rank))).any():
        return None
    row_kept = kept[agent_box]
    if (row_kept & (label[agent_box] != vocab.PERSON)).any() or (row_kept & has_object & ~kept[object_box]).any():
        return None
    hoi = np.stack([kept_index[agent_box], np.where(has_object, kept_index[object_box], -1), row_cls], 1)[row_kept]
    n_hoi = np.bincount(row_rank[row_kept], minlength=order.size)

    out = VCOCODataset([], "official", path, coco.path, ann_id[dropped].tolist(), int((~row_kept).sum()))
    boxes32 = box[kept].astype(np.float32)
    labels = label[kept]
    ignore = (labels == vocab.PERSON) & ~np.isin(ann_id[kept], agents)
    box_end, hoi_end = np.cumsum(n_kept).tolist(), np.cumsum(n_hoi).tolist()
    b0 = h0 = 0
    for info, b1, h1 in zip(infos, box_end, hoi_end):
        out.images.append(ImageAnnotation(file_name=info.file_name, size=(info.width, info.height),
                                          boxes=boxes32[b0:b1], labels=labels[b0:b1], hoi=hoi[h0:h1],
                                          ignore=ignore[b0:b1]))
        b0, h0 = b1, h1
    return out


def _plain_columns(cols: dict[str, list], role_ids: list, n: int, coco: CocoInstances) -> bool:
    """The action's columns are all well formed (what the element-by-element checks would accept)."""
    ann, label = cols["ann_id"], cols["label"]
    if n == 0:
        return True
    if not (set(map(type, ann)) == set(map(type, label)) == set(map(type, role_ids)) == {int}
            and set(map(type, cols["image_id"])) == {int}):
        return False
    roles = role_ids[n:]
    return (min(ann) >= 1 and max(ann) <= 1 << 62 and set(label) <= {0, 1} and role_ids[:n] == ann
            and (not roles or (min(roles) >= 0 and max(roles) <= 1 << 62)) and set(cols["image_id"]) <= coco.images.keys())


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
            x1, y1, x2, y2 = check_xyxy(require(ann, "bbox", path, name, where), path, name, where + "bbox")
            # x + w (converted) -> x + max(0, w - 1) (the official evaluation's inclusive frame)
            boxes.append((x1, y1, x1 + max(0.0, x2 - x1 - 1.0), y1 + max(0.0, y2 - y1 - 1.0)))
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
            boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            labels=np.asarray(labels, dtype=np.int64),
            hoi=np.asarray(hoi, dtype=np.int64).reshape(-1, 3),
        ))
    return images
