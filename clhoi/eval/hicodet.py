"""HICO-DET mAP (Full / Rare / Non-rare; Default and Known-Object), to the official rules.

The official evaluation is ywchao/ho-rcnn ``evaluation/eval_one.m`` +
``VOCevaldet_bboxpair.m``. Per HOI class, over all test images:

* detections are visited in descending score order (MATLAB's stable ``sort``:
  ties keep image order, then the order within the image);
* a detection picks the ground-truth pair of its class and image with the
  largest ``min(IoU_human, IoU_object)`` (the first on ties), boxes compared with
  the ``+1`` pixel convention; it is a true positive when that overlap is
  ``>= 0.5`` and the pair is not taken yet, otherwise a false positive;
* ``npos`` counts every ground-truth pair of the class; AP is 11-point
  interpolated (:func:`clhoi.eval.ap.ap_11_point`);
* mAP is the mean over all 600 classes (a class without ground truth scores 0);
  Rare / Non-rare are the means over the 138 / 462 classes of the split.

Known-Object keeps, for each class, only the images that contain the class's
object category. Officially (``eval_one.m``, ``anno_im(nid, :) == 1``) that is
decided by HICO's image-level labels (``anno.mat``), which also list invisible
HOIs and ``no_interaction``; give them as ``image_labels``. Without them the
images whose box annotations have an HOI of that object are used.
docs/evaluation.md lists every rule, with sources, and where the popular ports differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from clhoi import vocab
from clhoi.eval.ap import ap_11_point_segments
from clhoi.eval.files import PredictionArrays
from clhoi.eval.gather import PredictionCollector, _as_numpy
from clhoi.eval.matching import argsort_descending, expand_groups, first_hits, pair_overlap, segment_first_argmax_reaching

if TYPE_CHECKING:
    from clhoi.structures import ImageAnnotation, Predictions

KNOWN_OBJECT_RULES: dict[str, str] = {
    "image_labels": "image-level labels (anno.mat): every HOI of the object, invisible ones and no_interaction "
                    "included, as the official code",
    "boxes_and_invisible": "box annotations plus the HOIs marked invis (anno_bbox.mat)",
    "boxes": "box annotations only (images where every HOI of the object is invisible are left out; "
             "give --image-labels anno.mat for the official rule)",
}
"""How the Known-Object image set was decided (:attr:`HICODetResult.known_object_rule`)."""


@dataclass
class SettingResult:
    """Per-class AP of one evaluation setting and its means (all fractions in [0, 1]).

    Attributes:
        ap: ``[C]`` float64 AP of each HOI class.
        recall: ``[C]`` float64 recall after the last detection (ho-rcnn's ``REC``:
            0 without detections, NaN for a class without ground truth but with detections).
        full: mean AP over all ``C`` classes (the official mAP).
        rare: mean AP over the rare classes.
        non_rare: mean AP over the non-rare classes.
        full_with_gt: mean AP over the classes that have ground truth (what the
            DETR-style ports report; equals ``full`` on the HICO-DET test set).
    """

    ap: np.ndarray
    recall: np.ndarray
    full: float
    rare: float
    non_rare: float
    full_with_gt: float


@dataclass
class HICODetResult:
    """HICO-DET evaluation output.

    Attributes:
        default: the Default setting (all test images for every class).
        known_object: the Known-Object setting.
        num_gt: ``[C]`` int64 ground-truth pairs per class.
        rare: ``[C]`` bool, rare classes.
        class_names: ``C`` names (``"ride bicycle"``).
        num_images: images in the ground truth.
        num_triplets: scored triplets evaluated.
        known_object_rule: a key of :data:`KNOWN_OBJECT_RULES`.
        predicted_classes: ``[K]`` the distinct classes of the evaluated triplets.
    """

    default: SettingResult
    known_object: SettingResult
    num_gt: np.ndarray
    rare: np.ndarray
    class_names: tuple[str, ...]
    num_images: int
    num_triplets: int
    known_object_rule: str = "boxes"
    predicted_classes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def label_space_warning(self) -> str | None:
        """A message when triplets were scored but none of their classes has ground truth.

        That is almost always a label-space mix-up (e.g. class ids of another dataset
        or of the sandbox), not a model that scores 0.
        """
        if self.num_triplets == 0 or (self.num_gt[self.predicted_classes] > 0).any():
            return None
        shown = ", ".join(str(int(c)) for c in self.predicted_classes[:8])
        more = " ..." if self.predicted_classes.size > 8 else ""
        return (f"none of the {self.predicted_classes.size} predicted classes ({shown}{more}) has any ground truth "
                f"in these {self.num_images} images, so every AP is 0: the predictions are probably in another "
                "label space than the annotations (class ids of another dataset, the sandbox's 24 classes, "
                "or 1-based ids); check --dataset and the class_idx of 'hoi'")

    def summary(self) -> dict[str, float]:
        """The six headline numbers, in percent."""
        return {
            "default_full": 100 * self.default.full,
            "default_rare": 100 * self.default.rare,
            "default_non_rare": 100 * self.default.non_rare,
            "known_object_full": 100 * self.known_object.full,
            "known_object_rare": 100 * self.known_object.rare,
            "known_object_non_rare": 100 * self.known_object.non_rare,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: headline mAPs and per-class APs, in percent."""

        def setting(s: SettingResult) -> dict[str, float]:
            return {"mAP_full": 100 * s.full, "mAP_rare": 100 * s.rare, "mAP_non_rare": 100 * s.non_rare,
                    "mAP_full_classes_with_gt": 100 * s.full_with_gt, "mean_recall": 100 * float(np.mean(s.recall))}

        per_class = [
            {"class": c, "name": self.class_names[c], "rare": bool(self.rare[c]), "num_gt": int(self.num_gt[c]),
             "ap_default": 100 * float(self.default.ap[c]), "ap_known_object": 100 * float(self.known_object.ap[c])}
            for c in range(len(self.class_names))
        ]
        return {"dataset": "hicodet", "num_images": self.num_images, "num_triplets": self.num_triplets,
                "known_object_rule": self.known_object_rule, "label_space_warning": self.label_space_warning(),
                "default": setting(self.default), "known_object": setting(self.known_object), "per_class": per_class}


class HICODetEvaluator:
    """Accumulates HICO-DET predictions and computes the official mAPs.

    Use ``process`` once per batch of images, then ``evaluate``; ``reset`` starts over.
    Predictions are :class:`~clhoi.structures.Predictions` with class indices 0-599
    (official order) and an object box for every triplet; images without
    predictions simply have no detections. Boxes of predictions and ground truth
    must be in the same pixel frame (the ``+1`` IoU convention is applied to both).

    Args:
        annotations: ground truth of every test image (including images without
            HOIs: detections there are false positives), e.g. from
            :func:`clhoi.data.hicodet.read_hicodet`.
        space: the label space (default :func:`clhoi.vocab.hicodet`): class
            objects for Known-Object, the rare split, names.
        iou_threshold: minimum ``min(IoU_h, IoU_o)`` of a true positive.
        image_labels: ``file_name`` -> the HOI classes the image has (HICO's
            image-level labels: ``HICOImageLabels.positive_classes()``); every
            annotated image must be listed. The Known-Object image set of a class
            is then the images having any class of the same object, as the
            official code decides it. ``None``: the images whose box annotations
            have an HOI of that object.
        known_object_rule: which rule ``image_labels`` stand for (a key of
            :data:`KNOWN_OBJECT_RULES`; default ``image_labels`` when given, else ``boxes``).
    """

    def __init__(
        self,
        annotations: Sequence[ImageAnnotation],
        space: vocab.HOILabelSpace | None = None,
        iou_threshold: float = 0.5,
        image_labels: Mapping[str, Iterable[int]] | None = None,
        known_object_rule: str | None = None,
    ) -> None:
        self.space = space or vocab.hicodet()
        self.iou_threshold = iou_threshold
        self.num_images = len(annotations)
        c = self.space.num_classes
        self._collector = PredictionCollector(annotations, c, allow_no_object=False, dataset="HICO-DET")
        self._class_object = np.array([self.space.hoi_coco_object(k) for k in range(c)], dtype=np.int64)
        self._gt_image, self._gt_cls, self._gt_h, self._gt_o = _ground_truth(annotations, c)
        self._gt_h_cols, self._gt_o_cols = np.ascontiguousarray(self._gt_h.T), np.ascontiguousarray(self._gt_o.T)
        # Known-Object: which object categories each image contains
        self._has_object = np.zeros((len(annotations), len(vocab.COCO_CLASSES)), dtype=bool)
        if image_labels is None:
            self._has_object[self._gt_image, self._class_object[self._gt_cls]] = True
            self.known_object_rule = known_object_rule or "boxes"
        else:
            for i, a in enumerate(annotations):
                if a.file_name not in image_labels:
                    raise ValueError(f"{a.file_name}: not in the image-level labels; they must list every "
                                     "annotated image (use the labels of the same split)")
                classes = np.asarray(list(image_labels[a.file_name]), dtype=np.int64)
                if classes.size and (classes.min() < 0 or classes.max() >= c):
                    raise ValueError(f"{a.file_name}: image-level label class outside 0-{c - 1}")
                self._has_object[i, self._class_object[classes]] = True
            self.known_object_rule = known_object_rule or "image_labels"
        if self.known_object_rule not in KNOWN_OBJECT_RULES:
            raise ValueError(f"known_object_rule must be one of {', '.join(KNOWN_OBJECT_RULES)}")

    def reset(self) -> None:
        """Forget all processed predictions."""
        self._collector.reset()

    def process(self, predictions: Iterable[Predictions] | PredictionArrays) -> None:
        """Add the predictions of some images (each image at most once in total): ``Predictions``, or the
        :class:`~clhoi.eval.files.PredictionArrays` of a whole file."""
        self._collector.add(predictions)

    def evaluate(self) -> HICODetResult:
        """Match every processed triplet and compute the per-class APs and mAPs."""
        c = self.space.num_classes
        t = self._collector.arrays()
        # ground-truth pairs grouped by (image, class), file row order kept inside a group
        gt_key = self._gt_image * c + self._gt_cls
        gt_order = np.argsort(gt_key, kind="stable")
        q, k, counts = expand_groups(t.image * c + t.cls, gt_key[gt_order], key_bound=self.num_images * c)
        g = gt_order[k]
        # overlap = min(IoU_h, IoU_o); the object IoU is needed only where IoU_h reaches the threshold: elsewhere
        # the pair stays below it whatever IoU_o is, so it can neither be a hit nor tie with one
        boxes = np.ascontiguousarray(t.boxes.T)  # column-major, as pair_overlap takes them
        overlap = pair_overlap(boxes, t.human_row, t.object_row, q, self._gt_h_cols, self._gt_o_cols, g,
                               self.iou_threshold)
        # the pair each triplet picks (the first of largest overlap), where that reaches the threshold, else -1
        pos = segment_first_argmax_reaching(overlap, q, len(t), self.iou_threshold)
        hit = pos >= 0
        picked = g[pos] if g.size else pos  # global ground-truth row each hit picks (any value elsewhere)
        # visiting order: class, then descending score, ties in (image, triplet) order (MATLAB's stable sort):
        # the triplets are in (image, triplet) order, so two stable sorts give it (the same order as
        # np.lexsort((np.arange(T), -score, cls)), several times faster: the class sort is a radix sort)
        by_score = argsort_descending(t.score)  # = np.argsort(-t.score, kind="stable")
        order = by_score[np.argsort(t.cls[by_score].astype(np.int16 if c < 2**15 else np.int64), kind="stable")]
        tp = first_hits(order, hit, picked)
        num_gt = np.bincount(self._gt_cls, minlength=c)
        known = self._has_object[t.image, self._class_object[t.cls]]
        rare = np.zeros(c, dtype=bool)
        rare[list(self.space.rare)] = True
        return HICODetResult(
            default=self._setting(order, t.cls, tp, num_gt, rare),
            known_object=self._setting(order[known[order]], t.cls, tp, num_gt, rare),
            num_gt=num_gt,
            rare=rare,
            class_names=tuple(self.space.hoi_name(k) for k in range(c)),
            num_images=self.num_images,
            num_triplets=len(t),
            known_object_rule=self.known_object_rule,
            predicted_classes=np.flatnonzero(np.bincount(t.cls, minlength=c)),  # = np.unique(t.cls)
        )

    def _setting(self, order: np.ndarray, cls: np.ndarray, tp: np.ndarray, num_gt: np.ndarray, rare: np.ndarray) -> SettingResult:
        c = self.space.num_classes
        bounds = np.searchsorted(cls[order], np.arange(c + 1))
        # per class: precision_recall + ap_11_point of tp[order[bounds[k]:bounds[k + 1]]], all classes at once
        ap, recall = ap_11_point_segments(tp[order], bounds, num_gt)
        return SettingResult(
            ap=ap,
            recall=recall,
            full=float(np.mean(ap)),
            rare=float(np.mean(ap[rare])) if rare.any() else float("nan"),
            non_rare=float(np.mean(ap[~rare])) if (~rare).any() else float("nan"),
            full_with_gt=float(np.mean(ap[num_gt > 0])) if (num_gt > 0).any() else float("nan"),
        )


def _ground_truth(annotations: Sequence[ImageAnnotation], num_classes: int) -> tuple[np.ndarray, ...]:
    """Flatten HOI rows into ``(image [G], class [G], human box [G, 4], object box [G, 4])``, float64 boxes."""
    hoi_rows, box_rows = _flat_rows([a.hoi for a in annotations], 3), _flat_rows([a.boxes for a in annotations], 4)
    if hoi_rows is not None and box_rows is not None:  # NumPy annotations (the torch-free readers)
        (n_rows, hoi), (n_boxes, all_boxes) = hoi_rows, box_rows
        hoi, all_boxes = hoi.astype(np.int64, copy=False), all_boxes.astype(np.float64, copy=False)
    else:
        hois = [_as_numpy(a.hoi, np.int64).reshape(-1, 3) for a in annotations]
        boxes = [_as_numpy(a.boxes, np.float64).reshape(-1, 4) for a in annotations]
        n_rows = np.array([h.shape[0] for h in hois], dtype=np.int64)
        n_boxes = np.array([b.shape[0] for b in boxes], dtype=np.int64)
        hoi = np.concatenate(hois + [np.zeros((0, 3), np.int64)])
        all_boxes = np.concatenate(boxes + [np.zeros((0, 4))])
    image = np.repeat(np.arange(len(annotations), dtype=np.int64), n_rows)
    n = n_boxes[image]
    bad = (hoi[:, :2] < 0).any(1) | (hoi[:, :2] >= n[:, None]).any(1)
    if bad.any():
        a = annotations[int(image[np.flatnonzero(bad)[0]])]
        raise ValueError(f"{a.file_name}: a HICO-DET ground-truth row indexes outside its {int(n_boxes[image[np.flatnonzero(bad)[0]]])} "
                         "boxes (every HICO-DET pair has a human and an object box)")
    bad = (hoi[:, 2] < 0) | (hoi[:, 2] >= num_classes)
    if bad.any():
        a = annotations[int(image[np.flatnonzero(bad)[0]])]
        raise ValueError(f"{a.file_name}: ground-truth class outside 0-{num_classes - 1}")
    offset = (np.cumsum(n_boxes) - n_boxes)[image]
    return image, hoi[:, 2].copy(), all_boxes[offset + hoi[:, 0]], all_boxes[offset + hoi[:, 1]]


def _flat_rows(parts: list, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(rows per part, all rows)`` when the parts are NumPy arrays ``[n, width]`` of one dtype, else ``None``.

    Then casting all rows at once gives what casting each part does (``_as_numpy(part, dtype)``): the
    cast is element by element, and a concatenation of arrays of one dtype keeps every value.
    """
    if not parts or type(parts[0]) is not np.ndarray:
        return None
    dt = parts[0].dtype
    if not all(type(x) is np.ndarray and x.dtype is dt and x.ndim == 2 and x.shape[1] == width for x in parts):
        return None
    return np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)), np.concatenate(parts)


def evaluate_hicodet(
    predictions: Iterable[Predictions],
    annotations: Sequence[ImageAnnotation],
    space: vocab.HOILabelSpace | None = None,
    iou_threshold: float = 0.5,
    image_labels: Mapping[str, Iterable[int]] | None = None,
) -> HICODetResult:
    """Evaluate HICO-DET predictions in one call (see :class:`HICODetEvaluator`)."""
    evaluator = HICODetEvaluator(annotations, space, iou_threshold, image_labels)
    evaluator.process(predictions)
    return evaluator.evaluate()
