"""Collect per-image :class:`~clhoi.structures.Predictions` into flat, validated arrays.

Evaluators accumulate predictions image by image (``process``) and evaluate them
all at once; this module holds that accumulation. Triplets are laid out in
ground-truth image order, then in each image's own triplet order: the order in
which the official MATLAB code concatenates detections, which decides ties.
Everything becomes float64 NumPy, like the official code's doubles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from clhoi.eval.files import PredictionArrays

if TYPE_CHECKING:
    from clhoi.structures import ImageAnnotation, Predictions


@dataclass
class TripletArrays:
    """All triplets of a prediction set, flattened (``T`` triplets).

    Attributes:
        image: ``[T]`` int64 position of the triplet's image in the ground-truth list.
        human: ``[T]`` int64 index of the human box in its image's ``boxes``.
        boxes: ``[B, 4]`` float64 xyxy pixels: every predicted box of every image.
        human_row: ``[T]`` int64 row of the human box in ``boxes``.
        object_row: ``[T]`` int64 row of the object box in ``boxes``; -1 where there is no object.
        has_object: ``[T]`` bool, ``object_idx != -1``.
        cls: ``[T]`` int64 class index in the evaluated label space.
        score: ``[T]`` float64.
    """

    image: np.ndarray
    human: np.ndarray
    boxes: np.ndarray
    human_row: np.ndarray
    object_row: np.ndarray
    has_object: np.ndarray
    cls: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return int(self.cls.size)

    @property
    def human_box(self) -> np.ndarray:
        """``[T, 4]`` float64 xyxy pixels of each triplet's human."""
        return self.boxes[self.human_row]

    @property
    def object_box(self) -> np.ndarray:
        """``[T, 4]`` float64 xyxy pixels of each triplet's object; zeros where there is no object."""
        out = np.zeros((self.cls.size, 4))
        out[self.has_object] = self.boxes[self.object_row[self.has_object]]
        return out


def _as_numpy(t, dtype) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t, dtype=dtype)


class PredictionCollector:
    """Accumulates predictions for the images of a ground-truth list.

    Args:
        annotations: the ground truth; predictions must name its images.
        num_classes: size of the label space (class indices are checked against it).
        allow_no_object: accept ``object_idx == -1`` (V-COCO roles without object).
        dataset: dataset name for error messages.
    """

    def __init__(self, annotations: Sequence[ImageAnnotation], num_classes: int, allow_no_object: bool, dataset: str):
        self.index = {a.file_name: i for i, a in enumerate(annotations)}
        if len(self.index) != len(annotations):
            raise ValueError(f"the {dataset} annotations list some file_name twice; each image must appear once")
        self.num_classes = num_classes
        self.allow_no_object = allow_no_object
        self.dataset = dataset
        self.reset()

    def reset(self) -> None:
        self._blocks: list[PredictionArrays] = []
        self._seen: set[str] = set()

    def add(self, predictions: Iterable[Predictions] | PredictionArrays) -> None:
        """Store predictions: :class:`~clhoi.structures.Predictions` (tensors or NumPy arrays), or a
        :class:`~clhoi.eval.files.PredictionArrays` (a whole file, read without torch).

        Raises ``ValueError`` for an unknown or repeated image (contents are checked in :meth:`arrays`).
        """
        block = predictions if isinstance(predictions, PredictionArrays) else _block(predictions)
        unknown = [n for n in block.file_names if n not in self.index]
        if unknown:
            raise ValueError(
                f"predictions for {unknown[0]!r}, which is not in the {self.dataset} annotations "
                f"({len(self.index)} images); evaluate against the annotation file the predictions were made for"
            )
        names = set(block.file_names)
        if len(names) != len(block.file_names) or not names.isdisjoint(self._seen):
            counts: dict[str, int] = {}
            for n in block.file_names:
                counts[n] = counts.get(n, 0) + 1
            twice = next(n for n in block.file_names if counts[n] > 1 or n in self._seen)
            raise ValueError(f"{twice}: predictions given twice for this image; merge them into one record")
        self._seen |= names
        self._blocks.append(block)

    def arrays(self) -> TripletArrays:
        """All stored triplets, in ground-truth image order then triplet order.

        Raises:
            ValueError: naming the image and field at fault (box index, class, score, box).
        """
        blocks = self._blocks
        if len(blocks) == 1:  # a whole file: its arrays as they are
            b = blocks[0]
            names, n_boxes, n_trip, boxes = b.file_names, b.num_boxes, b.num_triplets, b.boxes
            pairs, cls, score = b.pairs, b.classes, b.scores
        else:
            names = [n for b in blocks for n in b.file_names]
            n_boxes = np.concatenate([b.num_boxes for b in blocks] + [np.zeros(0, np.int64)])
            n_trip = np.concatenate([b.num_triplets for b in blocks] + [np.zeros(0, np.int64)])
            boxes = np.concatenate([b.boxes for b in blocks] + [np.zeros((0, 4))])
            pairs = np.concatenate([b.pairs for b in blocks] + [np.zeros((0, 2), np.int64)])
            cls = np.concatenate([b.classes for b in blocks] + [np.zeros(0, np.int64)])
            score = np.concatenate([b.scores for b in blocks] + [np.zeros(0)])
        n = np.repeat(n_boxes, n_trip)  # each triplet's record's box count (np.repeat(x, n_trip): x per triplet)
        low = -1 if self.allow_no_object else 0
        checks = [
            ((pairs[:, 0] < 0) | (pairs[:, 0] >= n) | (pairs[:, 1] < low) | (pairs[:, 1] >= n), "index"),
            ((cls < 0) | (cls >= self.num_classes), "class"),
            (~np.isfinite(score), "score"),
        ]
        for bad, what in checks:
            if bad.any():
                t = int(np.flatnonzero(bad)[0])
                r = int(np.searchsorted(np.cumsum(n_trip), t, side="right"))  # the record of triplet t
                j = t - int(n_trip[:r].sum())
                self._fail_triplet(names[r], int(n_boxes[r]), pairs[t], int(cls[t]), float(score[t]), j, what)
        bad_box = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
        if not np.isfinite(boxes).all():  # rows of four: `.all(1)` only when needed (it is slow)
            bad_box |= ~np.isfinite(boxes).all(1)
        if bad_box.any():
            k = int(np.flatnonzero(bad_box)[0])
            i = int(np.searchsorted(np.cumsum(n_boxes), k, side="right"))
            j = k - int(n_boxes[:i].sum())
            raise ValueError(f"{names[i]}: boxes[{j}] = {boxes[k].tolist()} is not a finite "
                             "[x1, y1, x2, y2] with x2 >= x1, y2 >= y1")
        offset = np.repeat(np.cumsum(n_boxes) - n_boxes, n_trip)  # first box of each triplet's record in `boxes`
        has_obj = pairs[:, 1] >= 0
        human_row = offset + pairs[:, 0]
        object_row = np.where(has_obj, offset + pairs[:, 1], -1)
        # ground-truth image order, each record's triplets kept in their own order (records are unique images)
        position = np.fromiter((self.index[n] for n in names), dtype=np.int64, count=len(names))
        image = np.repeat(position, n_trip)
        if (np.diff(position) > 0).all():  # records already in ground-truth order (the usual file): no copy
            return TripletArrays(image, pairs[:, 0].copy(), boxes, human_row, object_row, has_obj, cls, score)
        order = np.argsort(image, kind="stable")
        return TripletArrays(
            image=image[order],
            human=pairs[order, 0],
            boxes=boxes,
            human_row=human_row[order],
            object_row=object_row[order],
            has_object=has_obj[order],
            cls=cls[order],
            score=score[order],
        )

    def _fail_triplet(self, name: str, num_boxes: int, pair: np.ndarray, cls: int, score: float, j: int, what: str) -> None:
        if what == "index":
            hint = "" if self.allow_no_object else f" ({self.dataset} needs an object box for every triplet)"
            raise ValueError(f"{name}: hoi[{j}] = {pair.tolist()} indexes outside its {num_boxes} boxes{hint}")
        if what == "class":
            raise ValueError(f"{name}: hoi[{j}] class {cls} is outside the {self.dataset} classes 0-{self.num_classes - 1}")
        raise ValueError(f"{name}: hoi[{j}] score is {score}; scores must be finite")


def _block(predictions: Iterable[Predictions]) -> PredictionArrays:
    """Per-image predictions -> one :class:`PredictionArrays` (NumPy; tensors are copied to the CPU)."""
    preds = list(predictions)
    boxes = [_as_numpy(p.boxes, np.float64).reshape(-1, 4) for p in preds]
    labels = [_as_numpy(p.labels, np.int64).reshape(-1) for p in preds]
    pairs = [_as_numpy(p.pairs, np.int64).reshape(-1, 2) for p in preds]
    classes = [_as_numpy(p.classes, np.int64).reshape(-1) for p in preds]
    scores = [_as_numpy(p.scores, np.float64).reshape(-1) for p in preds]
    return PredictionArrays(
        [p.file_name for p in preds], np.array([b.shape[0] for b in boxes], dtype=np.int64),
        np.concatenate(boxes + [np.zeros((0, 4))]), np.concatenate(labels + [np.zeros(0, np.int64)]),
        np.array([c.shape[0] for c in classes], dtype=np.int64), np.concatenate(pairs + [np.zeros((0, 2), np.int64)]),
        np.concatenate(classes + [np.zeros(0, np.int64)]), np.concatenate(scores + [np.zeros(0)]), "predictions",
    )
