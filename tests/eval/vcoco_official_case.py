"""Random dense V-COCO cases in the official file layout, for comparisons with ``vsrl_eval.py``.

One case is fully determined by ``(seed, num_images, dets_per_image)``; it is
regenerated bit for bit under any NumPy version because only the PCG64 stream of
``Generator.random`` (53-bit doubles) is used, and every value is derived from it
with IEEE operations (``+ - * /``, ``floor``, comparisons). ``make_case`` also returns
a digest of the content, so a test can check that it regenerated the very inputs the
official outputs were recorded on (``tests/fixtures/vcoco_official/record_official.py``).

The files are what ``VCOCOeval`` reads: a V-COCO annotation list (the 26
actions, ``role_object_id`` role-major), a COCO instances dict, the split's image
ids, and the detection records (``person_box``, ``<action>_agent``,
``<action>_<role>`` = ``[x1, y1, x2, y2, score]``, NaN for "not predicted").

Dense means: 15-30 agent detections per image, ties everywhere: scores on a
coarse grid (exact ties), scores 1e-9 apart (distinct doubles, equal float32),
copies of one ground-truth box (equal overlaps), boxes with fractional
coordinates and IoUs near 0.5, persons without V-COCO labels, missing role
objects and empty / NaN role boxes.

Imports only NumPy and :mod:`clhoi.vocab` (no torch), so that it runs in the
side environment of the official code as well.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from clhoi import vocab

PERSON_ID = 1  # COCO category id of person


def _round(x: np.ndarray, decimals: int) -> np.ndarray:
    """Round half up with IEEE operations only (the same under every NumPy version)."""
    f = float(10**decimals)
    return np.floor(x * f + 0.5) / f


def _pick(u: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Integer in ``[0, n)`` from a uniform double."""
    return np.minimum(np.floor(u * n).astype(np.int64), np.maximum(n - 1, 0))


def _xywh(u: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    """``[N, 4]`` COCO boxes from ``u [N, 5]``: integer or (``u[:, 4] >= 0.5``) 2-decimal coordinates."""
    w, h = 20 + u[:, 0] * 130, 20 + u[:, 1] * 130
    box = np.stack([u[:, 2] * (width - w - 1), u[:, 3] * (height - h - 1), w, h], 1)
    return np.where(u[:, 4:5] < 0.5, _round(box, 2), np.floor(box))


def _inclusive(xywh: np.ndarray) -> np.ndarray:
    x, y, w, h = xywh.T
    return np.stack([x, y, x + np.maximum(0.0, w - 1.0), y + np.maximum(0.0, h - 1.0)], 1)


def _jitter(u: np.ndarray, xyxy: np.ndarray, scale: float) -> np.ndarray:
    """``xyxy [N, 4]`` moved by up to ``scale / 2`` of its size per side, 3 decimals, kept valid."""
    size = np.concatenate([xyxy[:, 2:] - xyxy[:, :2]] * 2, 1)
    box = xyxy + (u[:, :4] - 0.5) * scale * size
    box[:, 2:] = np.maximum(box[:, 2:], box[:, :2])
    return _round(box, 3)


def _scores(u: np.ndarray) -> np.ndarray:
    """Scores from ``u [..., 3]``: a 0.1 grid (exact ties), 0.5 + k * 1e-9 (distinct doubles, one float32), or any."""
    return np.where(u[..., 0] < 0.4, _round(u[..., 1], 1),
                    np.where(u[..., 0] < 0.7, 0.5 + 1e-9 * _pick(u[..., 2], np.array(5)), u[..., 1]))


def make_case(seed: int, num_images: int = 150, dets_per_image: tuple[int, int] = (15, 31)) -> dict[str, Any]:
    """A random dense case: ``{"vcoco": [...], "instances": {...}, "image_ids": [...], "detections": [...]}``."""
    gen = np.random.Generator(np.random.PCG64(seed))
    actions = vocab.vcoco_actions()
    num_actions = len(actions)
    object_ids = np.array([cid for cid in vocab.COCO_IDS if cid != PERSON_ID])

    u = gen.random((num_images, 6))
    ids = 100 + 3 * np.arange(num_images)
    width, height = 300 + _pick(u[:, 0], np.array(341)), 300 + _pick(u[:, 1], np.array(181))
    n_person, n_object = 1 + _pick(u[:, 2], np.array(6)), _pick(u[:, 3], np.array(5))
    lo, hi = dets_per_image
    n_det = lo + _pick(u[:, 4], np.array(hi - lo))
    order = np.argsort(u[:, 5], kind="stable")  # annotation file order: not the id order

    # boxes: per image its persons, then its objects
    n_box = n_person + n_object
    img_of_box = np.repeat(np.arange(num_images), n_box)
    k_in_img = np.arange(img_of_box.size) - np.repeat(np.cumsum(n_box) - n_box, n_box)
    is_person = k_in_img < n_person[img_of_box]
    ub = gen.random((img_of_box.size, 7))
    xywh = _xywh(ub[:, :5], width[img_of_box], height[img_of_box])
    category = np.where(is_person, PERSON_ID, object_ids[_pick(ub[:, 5], np.array(object_ids.size))])
    labelled = is_person & ((ub[:, 6] < 0.85) | (k_in_img == 0))  # every image has a labelled person
    ann_id = 1 + np.arange(img_of_box.size)
    xyxy = _inclusive(xywh)
    images = [{"id": int(ids[i]), "file_name": f"COCO_val2014_{int(ids[i]):012d}.jpg", "width": int(width[i]),
               "height": int(height[i])} for i in range(num_images)]
    anns = [{"id": int(a), "image_id": int(ids[i]), "category_id": int(c), "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
            for a, i, c, b in zip(ann_id, img_of_box, category, xywh.tolist())]
    categories = [{"id": cid, "name": name} for cid, name in zip(vocab.COCO_IDS, vocab.COCO_CLASSES)]
    instances = {"images": images, "annotations": anns, "categories": categories}

    # V-COCO labels: every labelled person (image file order) gets 0/1 per action and role objects or 0
    rank = np.empty(num_images, dtype=np.int64)
    rank[order] = np.arange(num_images)
    agents = np.flatnonzero(labelled)
    agents = agents[np.argsort(rank[img_of_box[agents]], kind="stable")]
    ul = gen.random((agents.size, num_actions, 3))
    label = ul[:, :, 0] < 0.25
    for a in np.flatnonzero(~label.any(0)):  # the official code needs positives for every action
        label[_pick(ul[0, a, 1], np.array(agents.size)), a] = True
    first_object = np.cumsum(n_box) - n_box + n_person  # box index of each image's first object
    vcoco = []
    for a, act in enumerate(actions):
        cols = [ann_id[agents].tolist()]
        for r in range(len(act.roles) - 1):
            img = img_of_box[agents]
            has = label[:, a] & (n_object[img] > 0) & (ul[:, a, 1 + r] < 0.7)
            pick = first_object[img] + _pick(ul[:, a, 2 - r], n_object[img])
            cols.append(np.where(has, ann_id[np.minimum(pick, ann_id.size - 1)], 0).tolist())
        vcoco.append({"action_name": act.name, "role_name": list(act.roles),
                      "image_id": ids[img_of_box[agents]].tolist(), "ann_id": ann_id[agents].tolist(),
                      "label": label[:, a].astype(int).tolist(), "role_object_id": [v for col in cols for v in col]})

    # detections: jittered / copied ground-truth persons and random boxes, images in file order
    img_of_det = np.repeat(order, n_det[order])
    d = img_of_det.size
    ud = gen.random((d, 12))
    first_box = (np.cumsum(n_box) - n_box)[img_of_det]
    gt_person = xyxy[first_box + _pick(ud[:, 0], n_person[img_of_det])]
    random_box = _inclusive(_round(_xywh(ud[:, 5:10], width[img_of_det], height[img_of_det]), 2))
    person_box = np.where((ud[:, 10] < 0.7)[:, None], _jitter(ud[:, 1:5], gt_person, 0.3),
                          np.where((ud[:, 10] < 0.8)[:, None], gt_person, random_box))
    ua = gen.random((d, num_actions, 4))
    agent_score = np.where(ua[:, :, 0] < 0.3, np.nan, _scores(ua[:, :, 1:]))
    role_keys = [(a, f"{act.name}_{role}") for a, act in enumerate(actions) for role in act.roles[1:]]
    ur = gen.random((d, len(role_keys), 16))
    has_obj = n_object[img_of_det][:, None] > 0
    obj = xyxy[np.minimum(first_object[img_of_det][:, None] + _pick(ur[:, :, 1], n_object[img_of_det][:, None]),
                          xyxy.shape[0] - 1)]
    jit = _jitter(ur[:, :, 2:6].reshape(-1, 4), obj.reshape(-1, 4), 0.3).reshape(obj.shape)
    rand = _inclusive(_round(_xywh(ur[:, :, 6:11].reshape(-1, 5), np.repeat(width[img_of_det], len(role_keys)),
                                   np.repeat(height[img_of_det], len(role_keys))), 2)).reshape(obj.shape)
    c = ur[:, :, 0:1]
    role_box = np.where(has_obj[:, :, None] & (c < 0.5), jit, np.where(has_obj[:, :, None] & (c < 0.6), obj,
                        np.where(c < 0.8, 0.0, np.where(c < 0.85, np.nan, rand))))
    role_score = np.where(ur[:, :, 11] < 0.2, np.nan, _scores(ur[:, :, 12:15]))
    role_val = np.concatenate([role_box, role_score[:, :, None]], 2).tolist()
    agent_score, person_box = agent_score.tolist(), person_box.tolist()
    names = [f"{act.name}_agent" for act in actions]
    detections = []
    for n in range(d):
        det: dict[str, Any] = {"image_id": int(ids[img_of_det[n]]), "person_box": person_box[n]}
        det.update(zip(names, agent_score[n]))
        det.update((key, v) for (_, key), v in zip(role_keys, role_val[n]))
        detections.append(det)
    digest = hashlib.sha256(json.dumps([vcoco, instances]).encode())
    for a in (img_of_det, np.asarray(person_box), np.asarray(agent_score), role_box, role_score):
        digest.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return {"vcoco": vcoco, "instances": instances, "image_ids": sorted(ids.tolist()), "detections": detections,
            "digest": digest.hexdigest()}


def tie_arrays(seed: int) -> list[np.ndarray]:
    """float32 arrays full of ties, of sizes around NumPy's insertion-sort cut-off and larger
    (for the argsort replay; PCG64 doubles only)."""
    gen = np.random.Generator(np.random.PCG64(seed))
    out = []
    for size, grid in [(5, 3), (16, 2), (17, 2), (40, 4), (300, 10), (2000, 7), (2000, 0)]:
        u = gen.random(size)
        out.append((np.floor(u * grid) / grid if grid else u).astype(np.float32))
    return out


def write_files(case: dict[str, Any], directory) -> dict[str, str]:
    """Write the case's official files (the detections as JSON, NaN as null); returns their paths by name."""
    from pathlib import Path

    try:
        import orjson  # fast, and writes NaN as null

        detections = orjson.dumps(case["detections"])
    except ImportError:  # the official side environment
        detections = json.dumps(case["detections"]).replace("NaN", "null").encode()  # no key holds "NaN"
    d = Path(directory)
    out = {"vcoco": d / "vcoco_test.json", "instances": d / "instances_vcoco_all_2014.json", "split": d / "vcoco_test.ids",
           "detections": d / "detections.json"}
    out["vcoco"].write_text(json.dumps(case["vcoco"]))
    out["instances"].write_text(json.dumps(case["instances"]))
    out["split"].write_text("".join(f"{i}\n" for i in case["image_ids"]))
    out["detections"].write_bytes(detections)
    return {k: str(v) for k, v in out.items()}
