"""V-COCO agent AP and role AP (scenarios 1 and 2), to the official rules.

The official evaluation is s-gupta/v-coco ``vsrl_eval.py`` (``_do_agent_eval``,
``_do_role_eval``). It scores *agent detections*: a person box with one score per
action and, per (action, role), one role box and score. Per image, detections are
visited in descending score order; each picks the ground-truth person it overlaps
most (``+1`` pixel IoU, first on ties), among *all* persons of the image:

* picked person without V-COCO labels (``ImageAnnotation.ignore``): the detection
  is skipped (neither true nor false positive);
* otherwise it is a true positive when the person does the action, the person
  overlap is ``>= 0.5``, (role AP) the role box overlaps the person's role object
  ``>= 0.5``, and the person is not yet covered for this class in this image.
  A ground-truth role without object is matched, in scenario 1, only by an
  empty role box (all zeros or NaN), in scenario 2 by any box.

``npos`` counts the labelled persons doing the action (also those whose role
object is missing); AP is the VOC all-point AP (:func:`clhoi.eval.ap.ap_voc`).
Agent mAP is ``nansum(AP) / 26``; role mAP is the mean over the role classes
with a defined AP.

To the last digit of the official float32 values (docs/evaluation.md, V-COCO rules 4-6, 9-10):
images are visited in ascending COCO id; boxes and overlaps are float32 with NumPy 1.x's
promotion (:func:`overlap32`); both score sorts, per image and per class, are NumPy 1.x's
unstable ``argsort`` replayed (:mod:`clhoi.eval.legacy_argsort`), so ties come out in the
official order on any machine; precision, recall and the APs keep the official dtypes.

Detections come from our triplets (``process``) or from the official detection
records (``process_detections``); :mod:`clhoi.eval.vcoco_detections` says how
triplets become agents and role detections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from clhoi import vocab
from clhoi.eval.ap import ap_voc
from clhoi.eval.gather import PredictionCollector
from clhoi.eval.legacy_argsort import SMALL, _sort_key, segmented_argsort
from clhoi.eval.matching import expand_groups, first_hits, segment_first_argmax
from clhoi.eval.vcoco_detections import AgentDetections, concat, from_official, from_triplets
from clhoi.structures import ImageAnnotation, Predictions


@dataclass
class VCOCOResult:
    """V-COCO evaluation output (APs as fractions in [0, 1]; NaN where undefined).

    Attributes:
        agent_ap: ``[26]`` agent AP per action (NaN for an action without positives).
        role_ap_scenario_1: ``[29]`` role AP per class of :func:`clhoi.vocab.vcoco_classes`
            (NaN for the 4 classes without an object role and for classes without positives).
        role_ap_scenario_2: ``[29]`` the same in scenario 2.
        num_pos: ``[26]`` labelled persons doing each action (``npos``).
        agent_map: ``nansum(agent_ap) / 26``, the official "Average Agent AP".
        role_map_scenario_1: ``nanmean`` of the role APs, the official "Average Role AP".
        role_map_scenario_2: the same in scenario 2.
        num_images: images in the ground truth.
        num_triplets: scored triplets (or official detection records) evaluated.
    """

    agent_ap: np.ndarray
    role_ap_scenario_1: np.ndarray
    role_ap_scenario_2: np.ndarray
    num_pos: np.ndarray
    agent_map: float
    role_map_scenario_1: float
    role_map_scenario_2: float
    num_images: int
    num_triplets: int

    def summary(self) -> dict[str, float]:
        """The three headline numbers, in percent."""
        return {
            "role_ap_scenario_1": 100 * self.role_map_scenario_1,
            "role_ap_scenario_2": 100 * self.role_map_scenario_2,
            "agent_ap": 100 * self.agent_map,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: headline mAPs and per-class APs in percent (``None`` where undefined)."""

        def pct(x: float) -> float | None:
            return None if np.isnan(x) else 100 * float(x)

        actions = vocab.vcoco_actions()
        classes = vocab.vcoco_classes()
        return {
            "dataset": "vcoco", "num_images": self.num_images, "num_triplets": self.num_triplets,
            "role_mAP_scenario_1": pct(self.role_map_scenario_1),
            "role_mAP_scenario_2": pct(self.role_map_scenario_2),
            "agent_mAP": pct(self.agent_map),
            "agent": [{"action": a.name, "num_pos": int(n), "ap": pct(ap)}
                      for a, n, ap in zip(actions, self.num_pos, self.agent_ap)],
            "role": [{"class": k, "action": act, "role": role, "ap_scenario_1": pct(self.role_ap_scenario_1[k]),
                      "ap_scenario_2": pct(self.role_ap_scenario_2[k])}
                     for k, (act, role) in enumerate(classes) if role is not None],
        }


def _label_space() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(action of each of the 29 classes [29], class has an object role [29], its role's slot 0/1 [29])``."""
    actions = vocab.vcoco_actions()
    names = [a.name for a in actions]
    classes = vocab.vcoco_classes()
    slot = [actions[names.index(a)].object_roles.index(r) if r is not None else 0 for a, r in classes]
    return (np.array([names.index(a) for a, _ in classes], dtype=np.int64),
            np.array([r is not None for _, r in classes], dtype=bool), np.array(slot, dtype=np.int64))


def official_image_rank(file_names: Sequence[str]) -> np.ndarray:
    """Each image's place in ``vsrl_eval.py``'s order: ascending COCO image id (the split file's order).

    The id is the last number of the file name (``COCO_val2014_000000000139.jpg`` -> 139). When
    the names do not all carry distinct numbers, the given order is kept.
    """
    ids = []
    for name in file_names:
        digits = re.findall(r"\d+", name)
        if not digits:
            return np.arange(len(file_names), dtype=np.int64)
        ids.append(int(digits[-1]))
    if len(set(ids)) != len(ids):
        return np.arange(len(file_names), dtype=np.int64)
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")] = np.arange(len(ids))
    return rank


class VCOCOEvaluator:
    """Accumulates V-COCO predictions and computes the official agent and role APs.

    Predictions are :class:`~clhoi.structures.Predictions` whose classes index
    :func:`clhoi.vocab.vcoco_classes` (29), ``object_idx == -1`` for "no object"
    (``process``), or the official detection records (``process_detections``).
    Call them per batch, then ``evaluate``; ``reset`` starts over.

    Args:
        annotations: ground truth of every test image, e.g. from
            :func:`clhoi.data.vcoco.read_vcoco`: all person boxes of the image
            (label 0), ``ignore`` marking persons without V-COCO labels, rows
            ``(agent, role object or -1, class)``. Boxes must be in the frame the
            official code uses (``x2 = x + w - 1``) to reproduce its IoUs exactly.
        iou_threshold: minimum IoU for person and role boxes.
    """

    def __init__(self, annotations: Sequence[ImageAnnotation], iou_threshold: float = 0.5) -> None:
        self.iou_threshold = iou_threshold
        self.num_images = len(annotations)
        self._action_of, self._has_role, self._role_slot = _label_space()
        self._image_rank = official_image_rank([a.file_name for a in annotations])
        self._collector = PredictionCollector(annotations, len(self._action_of), allow_no_object=True, dataset="V-COCO")
        self._gt = _PersonTable(annotations, self._action_of, self._has_role)
        self._official: list[AgentDetections] = []

    def reset(self) -> None:
        """Forget all processed predictions."""
        self._collector.reset()
        self._official: list[AgentDetections] = []

    def process(self, predictions: Iterable[Predictions]) -> None:
        """Add the predictions (triplets) of some images (each image at most once in total)."""
        self._collector.add(predictions)

    def process_detections(self, records: Sequence[dict], source: str = "detections") -> None:
        """Add detections in the official ``vsrl_eval`` record form (see :mod:`clhoi.eval.vcoco_detections`).

        Raises:
            ValueError: a malformed record, named with ``source`` and its index.
        """
        self._official.append(from_official(records, self._collector.index, source))

    def evaluate(self) -> VCOCOResult:
        """Match agents and roles and compute the APs."""
        d = from_triplets(self._collector.arrays(), self._action_of, self._has_role)
        for extra in self._official:
            # (np.unique, under intersect1d, imports numpy.ma in NumPy 2: 0.01 s; no triplets, nothing shared)
            both = np.intersect1d(d.image, extra.image) if d.image.size else d.image
            if both.size:
                name = next(n for n, i in self._collector.index.items() if i == both[0])
                raise ValueError(f"{name}: has both triplet predictions and official detection records; give one form")
            d = extra if d.image.size == 0 and d.num_inputs == 0 else concat(d, extra)  # concat(empty, x) == x
        return self._score(d)

    def _score(self, d: AgentDetections) -> VCOCOResult:
        gt = self._gt
        num_actions = len(vocab.vcoco_actions())
        rank = self._image_rank[d.image]  # the official image order (ascending COCO id)
        # each agent picks the person it overlaps most in its image (gt.none when the image has no person)
        q, k, counts = expand_groups(d.image, gt.image)
        best, pos = segment_first_argmax(overlap32(gt.box[k], d.box[q]).astype(np.float64), counts)
        person = np.full(d.image.size, gt.none, dtype=np.int64)
        person[pos >= 0] = k[pos[pos >= 0]]
        kept = ~gt.ignore[person]  # matches to unlabelled persons are skipped
        hits_person = best >= self.iou_threshold

        # agent AP: one detection per (agent, action) with a score
        d_agent, d_action = np.nonzero(~np.isnan(d.scores))
        p = person[d_agent]
        valid = hits_person[d_agent] & gt.actions[p, d_action]
        agent_ap = self._class_aps(d_action, rank[d_agent], d_agent, d.scores[d_agent, d_action], kept[d_agent],
                                   valid, p * num_actions + d_action, gt.num_pos, num_actions)

        # role AP: every role detection
        cls, ag = d.role_cls, d.role_agent
        p = person[ag]
        is_true = hits_person[ag] & gt.actions[p, self._action_of[cls]]
        gt_has = gt.role_mask[p, cls]
        with np.errstate(invalid="ignore", divide="ignore"):
            role_iou = overlap32(gt.role_box[p, cls], d.role_box).astype(np.float64)
        ov1 = np.where(gt_has, role_iou, d.role_empty.astype(np.float64))  # scenario 1: "no object" must be empty
        ov2 = np.where(gt_has, role_iou, 1.0)  # scenario 2: anything goes
        num_pos_cls = gt.num_pos[self._action_of]
        num_cls = len(self._action_of)
        args = (cls, rank[ag], d.role_index, d.role_score, kept[ag])
        key = p * num_cls + cls
        thr = self.iou_threshold
        role1, role2 = self._class_aps(*args, np.stack([is_true & (ov1 >= thr), is_true & (ov2 >= thr)]), key,
                                       num_pos_cls, num_cls)
        role1[~self._has_role] = np.nan
        role2[~self._has_role] = np.nan
        return VCOCOResult(
            agent_ap=agent_ap[0],
            role_ap_scenario_1=role1,
            role_ap_scenario_2=role2,
            num_pos=gt.num_pos,
            agent_map=float(np.nansum(agent_ap[0].astype(np.float32))) / num_actions,
            role_map_scenario_1=self._official_role_mean(role1),
            role_map_scenario_2=self._official_role_mean(role2),
            num_images=self.num_images,
            num_triplets=d.num_inputs,
        )

    def _official_role_mean(self, role_ap: np.ndarray) -> float:
        """``nanmean`` of the official ``[26, 2]`` float32 role-AP array (NaN where an action has no such role)."""
        if not np.isfinite(role_ap).any():
            return float("nan")
        table = np.full((len(vocab.vcoco_actions()), 2), np.nan, dtype=np.float32)
        table[self._action_of[self._has_role], self._role_slot[self._has_role]] = role_ap[self._has_role]
        return float(np.nanmean(table))

    @staticmethod
    def _class_aps(cls: np.ndarray, rank: np.ndarray, det_index: np.ndarray, score32: np.ndarray, keep: np.ndarray,
                   valid: np.ndarray, target: np.ndarray, num_pos: np.ndarray, num_classes: int) -> np.ndarray:
        """APs of detections grouped by ``cls``, matched greedily per image, as ``vsrl_eval.py`` computes them.

        Args:
            cls, rank, det_index: class, official image rank and position in the image's detection
                list of each detection.
            score32: float32 scores.
            keep: False where the detection's person is unlabelled (skipped after the per-image sort).
            valid: ``[D]`` or ``[V, D]`` bool: the detection clears every condition (one row per variant,
                e.g. the two role scenarios, which share the order).
            target: the (person, class) each detection picked.

        Returns:
            ``[V, num_classes]`` APs (``[1, num_classes]`` for 1-D ``valid``).

        Per image and class the official code visits its detection list in the order of
        ``argsort(float32 scores)[::-1]``, *before* it drops the matches to unlabelled persons;
        the kept scores of all images (ascending image id) are then sorted again the same way.
        Both sorts are NumPy 1.x's unstable quicksort: :func:`segmented_argsort` replays it,
        so ties come out in the official order on any machine and NumPy version.
        """
        valid = np.atleast_2d(valid)
        visit = _per_image_order(cls, rank, det_index, score32)
        visit = visit[keep[visit]]  # matches to unlabelled persons: neither true nor false positives
        tps = [first_hits(visit, ok, target) for ok in valid]
        # the official global sort, per class; only ties between detections whose true / false positive
        # status differs (in some variant) can change an AP, so only their order is replayed
        labels = sum(tp[visit].astype(np.int64) << v for v, tp in enumerate(tps))
        ranked = visit[_descending(score32[visit], cls[visit], labels)]
        bounds = np.searchsorted(cls[ranked], np.arange(num_classes + 1))
        out = np.full((valid.shape[0], num_classes), np.nan)
        for v, tp_all in enumerate(tps):
            tp = tp_all[ranked]
            for c in range(num_classes):
                if num_pos[c] == 0:
                    continue
                seg = tp[bounds[c] : bounds[c + 1]]
                if seg.size == 0:
                    out[v, c] = 0.0
                    continue
                a_tp = np.cumsum(seg, dtype=np.float32)
                a_fp = np.cumsum(~seg, dtype=np.float32)
                rec = a_tp / np.float32(num_pos[c])
                prec = a_tp / np.maximum(a_tp + a_fp, np.float32(np.finfo(np.float64).eps))  # float32 under NumPy 1.x
                out[v, c] = np.float32(ap_voc(rec, prec))  # vsrl_eval stores APs in a float32 array
        return out


def _per_image_order(cls: np.ndarray, rank: np.ndarray, det_index: np.ndarray, score32: np.ndarray,
                     packed: bool = True) -> np.ndarray:
    """The detections by class, then image rank, each (class, image) list in the order of NumPy 1.x's
    ``argsort()[::-1]`` of its float32 scores, the list itself in ``det_index`` order.

    With ``packed`` (and when it applies): NumPy 1.x sorts a list of at most 16 values by a stable
    insertion sort, so reversed, a list is in descending score, ties in descending ``det_index``. When
    every list is that short, one ``argsort`` of an int64 packing ``(class, rank, -score, -det_index)``
    gives that order (the packed values are distinct, so any sort does). Otherwise (a longer list,
    equal ``det_index`` in a list, more than 63 bits) the lists are sorted by :func:`_descending`.
    """
    if packed and cls.size:
        num_ranks = int(rank.max()) + 1
        group = cls * num_ranks + rank
        if np.bincount(group).max() <= SMALL + 1:
            key = _sort_key(score32) + (1 << 31)  # 32 bits, in score order
            det = det_index - int(det_index.min())
            bits = [int(cls.max()).bit_length(), num_ranks.bit_length(), 32, int(det.max()).bit_length()]
            if sum(bits) > 63:
                key = np.unique(key, return_inverse=True)[1].reshape(-1)  # dense ranks: the same order
                bits[2] = int(key.max(initial=0)).bit_length()
            if sum(bits) <= 63:
                b_key, b_det = bits[2], bits[3]
                code = (((group << b_key) | ((1 << b_key) - 1 - key)) << b_det) | ((1 << b_det) - 1 - det)
                visit = np.argsort(code)
                sorted_code = code[visit]
                if not (sorted_code[1:] == sorted_code[:-1]).any():
                    return visit
    order = np.lexsort((det_index, rank, cls))  # per (class, image): the official detection list
    group = cls[order] * (int(rank.max(initial=0)) + 1) + rank[order]
    return order[_descending(score32[order], group)]


def _descending(score32: np.ndarray, group: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Per run of equal ``group`` (consecutive): positions in the order of ``argsort()[::-1]`` under NumPy 1.x
    (with ``labels``: up to ties of equal labels, see :func:`segmented_argsort`)."""
    if score32.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    ends = np.r_[starts[1:], group.size]
    asc = segmented_argsort(score32, starts, ends, labels)
    seg = np.repeat(np.arange(starts.size), ends - starts)
    mirror = (starts + ends - 1)[seg] - np.arange(group.size)  # s + e - 1 - j: the segment reversed
    return asc[mirror]


def overlap32(gt: np.ndarray, det: np.ndarray) -> np.ndarray:
    """``get_overlap`` of ``vsrl_eval.py`` row by row, in its float32 arithmetic under NumPy 1.x.

    The boxes are float32 arrays there (ground truth and detections); the ground-truth
    side's widths, heights and area are float32 array operations, while the detection's
    area is computed on float32 *scalars* plus Python floats, which NumPy 1.x promotes to
    float64, then rounded to float32 when added to the array.

    Args:
        gt: ``[N, 4]`` ground-truth boxes (the official ``boxes`` argument).
        det: ``[N, 4]`` detected boxes (the official ``ref_box``).

    Returns:
        ``[N]`` float32 IoU with the ``+1`` pixel convention.
    """
    g = np.asarray(gt, dtype=np.float32)
    r = np.asarray(det, dtype=np.float32)
    one = np.float32(1.0)
    iw = np.maximum(np.minimum(g[:, 2], r[:, 2]) - np.maximum(g[:, 0], r[:, 0]) + one, np.float32(0.0))
    ih = np.maximum(np.minimum(g[:, 3], r[:, 3]) - np.maximum(g[:, 1], r[:, 1]) + one, np.float32(0.0))
    inters = iw * ih
    ref_area = ((r[:, 2] - r[:, 0]).astype(np.float64) + 1.0) * ((r[:, 3] - r[:, 1]).astype(np.float64) + 1.0)
    uni = ref_area.astype(np.float32) + (g[:, 2] - g[:, 0] + one) * (g[:, 3] - g[:, 1] + one) - inters
    return inters / uni


class _PersonTable:
    """Ground-truth persons of all images, flattened (``P`` persons, ``C`` = 29 classes).

    The per-person tables have one extra row, index ``none == P``: "no person"
    (a detection in an image without persons), which is never ignored, does no
    action and has no role object.

    Attributes:
        image: ``[P]`` int64 image position (non-decreasing).
        box: ``[P, 4]`` float32 (as the official ground truth).
        none: ``P``, the sentinel row.
        ignore: ``[P + 1]`` bool, person without V-COCO labels.
        actions: ``[P + 1, 26]`` bool, person does the action.
        role_mask: ``[P + 1, C]`` bool, person has a role object for the class.
        role_box: ``[P + 1, C, 4]`` float32 role-object box (zeros where none).
        num_pos: ``[26]`` int64 labelled persons per action.
    """

    def __init__(self, annotations: Sequence[ImageAnnotation], action_of: np.ndarray, has_role: np.ndarray) -> None:
        if not self._vectorised(annotations, action_of, has_role):
            self._per_image(annotations, action_of, has_role)
        self.num_pos = (self.actions & ~self.ignore[:, None]).sum(0).astype(np.int64)

    def _vectorised(self, annotations: Sequence[ImageAnnotation], action_of: np.ndarray, has_role: np.ndarray) -> bool:
        """All images at once, the same tables as :meth:`_per_image`; ``False`` (nothing set) when a ground-truth
        row is invalid, so that the per-image pass raises for the first one."""
        num_actions, num_cls = len(vocab.vcoco_actions()), len(action_of)
        labels = [_numpy(a.labels).astype(np.int64).reshape(-1) for a in annotations]
        n_boxes = np.array([x.size for x in labels], dtype=np.int64)
        rows = [_numpy(a.hoi).astype(np.int64).reshape(-1, 3) for a in annotations]
        n_rows = np.array([r.shape[0] for r in rows], dtype=np.int64)
        labels_all = np.concatenate(labels + [np.zeros(0, np.int64)])
        boxes_all = np.concatenate([_numpy(a.boxes).astype(np.float32).reshape(-1, 4) for a in annotations]
                                   + [np.zeros((0, 4), np.float32)])  # the official ground truth is float32
        ign_all = np.concatenate([np.zeros(labels[i].size, bool) if a.ignore is None else
                                  _numpy(a.ignore).astype(bool).reshape(-1) for i, a in enumerate(annotations)]
                                 + [np.zeros(0, bool)])
        if ign_all.size != labels_all.size or boxes_all.shape[0] != labels_all.size:
            return False
        hoi = np.concatenate(rows + [np.zeros((0, 3), np.int64)])
        row_image = np.repeat(np.arange(len(annotations)), n_rows)
        size, start = n_boxes[row_image], (np.cumsum(n_boxes) - n_boxes)[row_image]
        s, o, c = hoi[:, 0], hoi[:, 1], hoi[:, 2]
        if ((s < 0) | (s >= size) | (o < -1) | (o >= size) | (c < 0) | (c >= num_cls)).any():
            return False
        persons = np.flatnonzero(labels_all == vocab.PERSON)
        slot_all = np.full(labels_all.size, -1, dtype=np.int64)
        slot_all[persons] = np.arange(persons.size)
        agent = slot_all[start + s]
        if (agent < 0).any() or ign_all[start + s].any():
            return False
        num_p = persons.size
        self.image = np.repeat(np.arange(len(annotations), dtype=np.int64), n_boxes)[persons]
        self.box = boxes_all[persons]
        self.none = int(num_p)
        self.ignore = np.concatenate([ign_all[persons], np.zeros(1, bool)])  # the sentinel row
        self.actions = np.zeros((num_p + 1, num_actions), bool)
        self.actions[agent, action_of[c]] = True
        self.role_mask = np.zeros((num_p + 1, num_cls), bool)
        self.role_box = np.zeros((num_p + 1, num_cls, 4), dtype=np.float32)
        with_role = np.flatnonzero(has_role[c] & (o >= 0))
        _, first = np.unique(agent[with_role] * num_cls + c[with_role], return_index=True)
        r = with_role[first]  # one role object per (agent, class): the first row, in file order
        self.role_mask[agent[r], c[r]] = True
        self.role_box[agent[r], c[r]] = boxes_all[start[r] + o[r]]
        return True

    def _per_image(self, annotations: Sequence[ImageAnnotation], action_of: np.ndarray, has_role: np.ndarray) -> None:
        num_actions, num_cls = len(vocab.vcoco_actions()), len(action_of)
        images, boxes, ignores, actions, role_mask, role_box = [], [], [], [], [], []
        for i, a in enumerate(annotations):
            labels = _numpy(a.labels).astype(np.int64).reshape(-1)
            all_boxes = _numpy(a.boxes).astype(np.float32).reshape(-1, 4)  # the official ground truth is float32
            persons = np.flatnonzero(labels == vocab.PERSON)
            slot = np.full(labels.size, -1)
            slot[persons] = np.arange(persons.size)
            ign = np.zeros(labels.size, bool) if a.ignore is None else _numpy(a.ignore).astype(bool).reshape(-1)
            act = np.zeros((persons.size, num_actions), bool)
            mask = np.zeros((persons.size, num_cls), bool)
            rbox = np.zeros((persons.size, num_cls, 4), dtype=np.float32)
            for s, o, c in _numpy(a.hoi).astype(np.int64).reshape(-1, 3).tolist():
                where = f"{a.file_name}: ground-truth row ({s}, {o}, {c})"
                if not (0 <= s < labels.size and -1 <= o < labels.size and 0 <= c < num_cls):
                    raise ValueError(f"{where} indexes outside its {labels.size} boxes or the {num_cls} V-COCO classes")
                if slot[s] < 0 or ign[s]:
                    raise ValueError(f"{where}: the agent must be a labelled person (label 0, not ignored)")
                act[slot[s], action_of[c]] = True
                if has_role[c] and o >= 0 and not mask[slot[s], c]:  # one role object per (agent, class)
                    mask[slot[s], c] = True
                    rbox[slot[s], c] = all_boxes[o]
            images.append(np.full(persons.size, i, dtype=np.int64))
            boxes.append(all_boxes[persons])
            ignores.append(ign[persons])
            actions.append(act)
            role_mask.append(mask)
            role_box.append(rbox)
        images.append(np.zeros(0, np.int64))
        boxes.append(np.zeros((0, 4), dtype=np.float32))
        ignores.append(np.zeros(1, bool))  # the sentinel row
        actions.append(np.zeros((1, num_actions), bool))
        role_mask.append(np.zeros((1, num_cls), bool))
        role_box.append(np.zeros((1, num_cls, 4), dtype=np.float32))
        self.image = np.concatenate(images)
        self.box = np.concatenate(boxes)
        self.none = int(self.image.size)
        self.ignore = np.concatenate(ignores)
        self.actions = np.concatenate(actions)
        self.role_mask = np.concatenate(role_mask)
        self.role_box = np.concatenate(role_box)


def _numpy(x: Any) -> np.ndarray:
    """A tensor or array as NumPy (the torch-free readers give arrays)."""
    return x.cpu().numpy() if hasattr(x, "cpu") else np.asarray(x)


def evaluate_vcoco(
    predictions: Iterable[Predictions], annotations: Sequence[ImageAnnotation], iou_threshold: float = 0.5
) -> VCOCOResult:
    """Evaluate V-COCO predictions in one call (see :class:`VCOCOEvaluator`)."""
    evaluator = VCOCOEvaluator(annotations, iou_threshold)
    evaluator.process(predictions)
    return evaluator.evaluate()
