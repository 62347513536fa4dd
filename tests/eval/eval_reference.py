"""Loop-by-loop re-statements of the official evaluation code, for comparison tests.

Written from the official rules (ho-rcnn ``VOCevaldet_bboxpair.m`` / ``eval_one.m``;
v-coco ``vsrl_eval.py``), one detection at a time, with none of the
vectorisation tricks of clhoi.eval: if both agree on random inputs, the
vectorised code implements the rules.
"""

from __future__ import annotations

import numpy as np

from clhoi import vocab
from clhoi.structures import ImageAnnotation, Predictions

# ho-rcnn `for t = 0:0.1:1` as MATLAB evaluates it: k*0.1 up to the middle, 1 - (10-k)*0.1 after it
MATLAB_T = [0.0, 0.1, 0.2, 3 * 0.1, 4 * 0.1, 0.5, 1 - 4 * 0.1, 1 - 3 * 0.1, 1 - 2 * 0.1, 1 - 0.1, 1.0]


def overlap(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw > 0 and ih > 0:
        ua = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - iw * ih
        return iw * ih / ua
    return 0.0


def ap_11(tp: list[int], fp: list[int], npos: int) -> float:
    tp_c, fp_c = np.cumsum(tp, dtype=float), np.cumsum(fp, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rec = tp_c / npos
    prec = tp_c / (fp_c + tp_c)
    ap = 0.0
    for t in MATLAB_T:
        sel = prec[rec >= t]
        ap = ap + (sel.max() if sel.size else 0) / 11
    return ap


def hicodet_aps(preds: list[Predictions], gts: list[ImageAnnotation], known_object: bool = False) -> np.ndarray:
    """Per-class AP of HICO-DET, the MATLAB way (one class, one detection at a time)."""
    space = vocab.hicodet()
    by_name = {p.file_name: p for p in preds}
    classes_in = [set(a.hoi[:, 2].tolist()) for a in gts]
    aps = np.zeros(space.num_classes)
    for c in range(space.num_classes):
        obj = space.hoi_coco_object(c)
        gt = []
        for a in gts:
            rows = [r for r in a.hoi.tolist() if r[2] == c]
            gt.append([(a.boxes[r[0]].double().tolist(), a.boxes[r[1]].double().tolist()) for r in rows])
        npos = sum(len(g) for g in gt)
        det = []  # (image, human box, object box, score) in image order, then file order
        for i, a in enumerate(gts):
            if known_object and not any(space.hoi_coco_object(k) == obj for k in classes_in[i]):
                continue
            p = by_name.get(a.file_name)
            if p is None:
                continue
            for (h, o), k, s in zip(p.pairs.tolist(), p.classes.tolist(), p.scores.double().tolist()):
                if k == c:
                    det.append((i, p.boxes[h].double().tolist(), p.boxes[o].double().tolist(), s))
        det = sorted(det, key=lambda d: -d[3])  # Python's sort is stable, like MATLAB's
        taken = [[False] * len(g) for g in gt]
        tp, fp = [], []
        for i, bh, bo, _ in det:
            ov_max, j_max = -np.inf, -1
            for j, (gh, go) in enumerate(gt[i]):
                m = min(overlap(bh, gh), overlap(bo, go))
                if m > ov_max:
                    ov_max, j_max = m, j
            if ov_max >= 0.5 and not taken[i][j_max]:
                taken[i][j_max] = True
                tp.append(1), fp.append(0)
            else:
                tp.append(0), fp.append(1)
        aps[c] = ap_11(tp, fp, npos) if det else 0.0
    return aps


def overlap32(gt, det) -> np.float32:
    """v-coco ``get_overlap`` for one pair, in its float32 arithmetic under NumPy 1.x: the detection's
    area is float32 scalars plus Python floats (float64 there), the rest float32."""
    g, r, one = [np.float32(v) for v in gt], [np.float32(v) for v in det], np.float32(1)
    iw = max(min(g[2], r[2]) - max(g[0], r[0]) + one, np.float32(0))
    ih = max(min(g[3], r[3]) - max(g[1], r[1]) + one, np.float32(0))
    inters = iw * ih
    ref_area = (float(r[2] - r[0]) + 1.0) * (float(r[3] - r[1]) + 1.0)
    return inters / (np.float32(ref_area) + (g[2] - g[0] + one) * (g[3] - g[1] + one) - inters)


def argsort1(x: np.ndarray) -> np.ndarray:
    """``x.argsort()`` as NumPy 1.x computes it (the official environment; NumPy 2 breaks ties differently)."""
    from clhoi.eval.legacy_argsort import segmented_argsort

    return segmented_argsort(x, [0], [x.size])


def voc_ap(rec: np.ndarray, prec: np.ndarray) -> float:
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _vcoco_gt(a: ImageAnnotation):
    classes = vocab.vcoco_classes()
    names = [x.name for x in vocab.vcoco_actions()]
    persons = [k for k in range(len(a.labels)) if int(a.labels[k]) == 0]
    ignore = [bool(a.ignore[k]) if a.ignore is not None else False for k in persons]
    actions = np.zeros((len(persons), len(names)), dtype=int)
    for j, ig in enumerate(ignore):
        if ig:
            actions[j] = -1
    roles = {}  # (person slot, class) -> box
    for s, o, c in a.hoi.tolist():
        j = persons.index(s)
        actions[j, names.index(classes[c][0])] = 1
        if o >= 0 and (j, c) not in roles:
            roles[(j, c)] = a.boxes[o].double().tolist()
    return [a.boxes[k].double().tolist() for k in persons], np.array(ignore, dtype=bool), actions, roles


def vcoco_agent_aps(agent_dets: list[dict], gts: list[ImageAnnotation]) -> np.ndarray:
    """``_do_agent_eval``: agent_dets = [{"image", "box", "scores": [26] (NaN = none)}]."""
    n_act = len(vocab.vcoco_actions())
    tp, fp, sc = [[] for _ in range(n_act)], [[] for _ in range(n_act)], [[] for _ in range(n_act)]
    npos = np.zeros(n_act)
    for i, a in enumerate(gts):
        boxes, ignore, actions, _ = _vcoco_gt(a)
        npos += (actions == 1).sum(0)
        dets = [d for d in agent_dets if d["image"] == i]
        for aid in range(n_act):
            covered = [False] * len(boxes)
            scores = np.array([d["scores"][aid] for d in dets], dtype=np.float32)
            valid = np.where(~np.isnan(scores))[0]
            for j in valid[argsort1(scores[valid])[::-1]]:
                ovs = [overlap32(g, dets[j]["box"]) for g in boxes]
                jmax = int(np.argmax(ovs)) if ovs else -1
                if jmax >= 0 and ignore[jmax]:
                    continue
                sc[aid].append(scores[j])
                if jmax >= 0 and actions[jmax, aid] == 1 and ovs[jmax] >= 0.5 and not covered[jmax]:
                    covered[jmax] = True
                    tp[aid].append(1), fp[aid].append(0)
                else:
                    tp[aid].append(0), fp[aid].append(1)
    return _aps(tp, fp, sc, npos)


def vcoco_role_aps(role_dets: list[dict], gts: list[ImageAnnotation], scenario: int) -> np.ndarray:
    """``_do_role_eval``: role_dets = [{"image", "box", "cls", "role_box" ([4], zeros = empty), "score"}]."""
    classes = vocab.vcoco_classes()
    names = [x.name for x in vocab.vcoco_actions()]
    tp, fp, sc = [[] for _ in classes], [[] for _ in classes], [[] for _ in classes]
    npos_action = np.zeros(len(names))
    for i, a in enumerate(gts):
        boxes, ignore, actions, roles = _vcoco_gt(a)
        npos_action += (actions == 1).sum(0)
        for c, (act, role) in enumerate(classes):
            if role is None:
                continue
            aid = names.index(act)
            dets = [d for d in role_dets if d["image"] == i and d["cls"] == c]
            covered = [False] * len(boxes)
            scores = np.array([d["score"] for d in dets], dtype=np.float32)
            for j in argsort1(scores)[::-1]:
                d = dets[j]
                ovs = [overlap32(g, d["box"]) for g in boxes]
                jmax = int(np.argmax(ovs)) if ovs else -1
                if jmax >= 0 and ignore[jmax]:
                    continue
                gt_role = roles.get((jmax, c))
                if gt_role is None:
                    empty = all(v == 0 for v in d["role_box"])
                    ov_role = (1.0 if empty else 0.0) if scenario == 1 else 1.0
                else:
                    ov_role = overlap32(gt_role, d["role_box"])
                sc[c].append(scores[j])
                ok = jmax >= 0 and actions[jmax, aid] == 1 and ovs[jmax] >= 0.5 and ov_role >= 0.5
                if ok and not covered[jmax]:
                    covered[jmax] = True
                    tp[c].append(1), fp[c].append(0)
                else:
                    tp[c].append(0), fp[c].append(1)
    npos = np.array([npos_action[names.index(act)] for act, _ in classes])
    aps = _aps(tp, fp, sc, npos)
    aps[[role is None for _, role in classes]] = np.nan
    return aps


def _aps(tp, fp, sc, npos) -> np.ndarray:
    out = np.full(len(tp), np.nan)
    for k in range(len(tp)):
        if npos[k] == 0:
            continue
        if not sc[k]:
            out[k] = 0.0
            continue
        a_sc = np.array(sc[k], dtype=np.float32)
        idx = argsort1(a_sc)[::-1]
        a_tp = np.cumsum(np.array(tp[k], dtype=np.float32)[idx])
        a_fp = np.cumsum(np.array(fp[k], dtype=np.float32)[idx])
        rec = a_tp / float(npos[k])
        prec = a_tp / np.maximum(a_tp + a_fp, np.float32(np.finfo(np.float64).eps))  # float32 under NumPy 1.x
        out[k] = voc_ap(rec, prec)
    return out
