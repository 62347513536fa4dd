"""Collect per-image :class:`~clhoi.structures.Predictions` into flat, validated arrays.

Evaluators accumulate predictions image by image (``process``) and evaluate them
all at once; this module holds that accumulation. Triplets are laid out in
ground-truth image order, then in each image's own triplet order: the order in
which the official MATLAB code concatenates detections, which decides ties.
Everything becomes float64 NumPy, like the official code's doubles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from clhoi.structures import ImageAnnotation, Predictions


@dataclass
class TripletArrays:
    """All triplets of a prediction set, flattened (``T`` triplets).

    Attributes:
        image: ``[T]`` int64 position of the triplet's image in the ground-truth list.
        human: ``[T]`` int64 index of the human box in its image's ``boxes``.
        human_box: ``[T, 4]`` float64 xyxy pixels.
        object_box: ``[T, 4]`` float64 xyxy pixels; zeros where there is no object.
        has_object: ``[T]`` bool, ``object_idx != -1``.
        cls: ``[T]`` int64 class index in the evaluated label space.
        score: ``[T]`` float64.
    """

    image: np.ndarray
    human: np.ndarray
    human_box: np.ndarray
    object_box: np.ndarray
    has_object: np.ndarray
    cls: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return int(self.cls.size)


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
        self._parts: dict[int, tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def add(self, predictions: Iterable[Predictions]) -> None:
        """Store predictions; raises ``ValueError`` for an unknown or repeated image (contents are checked in :meth:`arrays`)."""
        for p in predictions:
            pos = self.index.get(p.file_name)
            if pos is None:
                raise ValueError(
                    f"predictions for {p.file_name!r}, which is not in the {self.dataset} annotations "
                    f"({len(self.index)} images); evaluate against the annotation file the predictions were made for"
                )
            if pos in self._parts:
                raise ValueError(f"{p.file_name}: predictions given twice for this image; merge them into one record")
            self._parts[pos] = (
                p.file_name,
                _as_numpy(p.boxes, np.float64).reshape(-1, 4),
                _as_numpy(p.pairs, np.int64).reshape(-1, 2),
                _as_numpy(p.classes, np.int64).reshape(-1),
                _as_numpy(p.scores, np.float64).reshape(-1),
            )

    def arrays(self) -> TripletArrays:
        """All stored triplets, in ground-truth image order then triplet order.

        Raises:
            ValueError: naming the image and field at fault (box index, class, score, box).
        """
        keys = sorted(self._parts)
        parts = [self._parts[k] for k in keys]
        n_boxes = np.array([p[1].shape[0] for p in parts], dtype=np.int64)
        n_trip = np.array([p[2].shape[0] for p in parts], dtype=np.int64)
        boxes = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, 4))
        pairs = np.concatenate([p[2] for p in parts]) if parts else np.zeros((0, 2), np.int64)
        cls = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0, np.int64)
        score = np.concatenate([p[4] for p in parts]) if parts else np.zeros(0)
        part = np.repeat(np.arange(len(parts)), n_trip)  # which stored image each triplet belongs to
        n = n_boxes[part]
        low = -1 if self.allow_no_object else 0
        checks = [
            ((pairs[:, 0] < 0) | (pairs[:, 0] >= n) | (pairs[:, 1] < low) | (pairs[:, 1] >= n), "index"),
            ((cls < 0) | (cls >= self.num_classes), "class"),
            (~np.isfinite(score), "score"),
        ]
        for bad, what in checks:
            if bad.any():
                self._fail_triplet(parts, n_trip, int(np.flatnonzero(bad)[0]), what)
        bad_box = ~np.isfinite(boxes).all(1) | (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
        if bad_box.any():
            k = int(np.flatnonzero(bad_box)[0])
            i = int(np.searchsorted(np.cumsum(n_boxes), k, side="right"))
            j = k - int(n_boxes[:i].sum())
            raise ValueError(f"{parts[i][0]}: boxes[{j}] = {boxes[k].tolist()} is not a finite "
                             "[x1, y1, x2, y2] with x2 >= x1, y2 >= y1")
        offset = (np.cumsum(n_boxes) - n_boxes)[part]  # first box of each triplet's image in `boxes`
        has_obj = pairs[:, 1] >= 0
        obj_box = np.zeros((pairs.shape[0], 4))
        obj_box[has_obj] = boxes[(offset + pairs[:, 1])[has_obj]]
        return TripletArrays(
            image=np.repeat(np.asarray(keys, dtype=np.int64), n_trip),
            human=pairs[:, 0].copy(),
            human_box=boxes[offset + pairs[:, 0]],
            object_box=obj_box,
            has_object=has_obj,
            cls=cls,
            score=score,
        )

    def _fail_triplet(self, parts: list, n_trip: np.ndarray, t: int, what: str) -> None:
        i = int(np.searchsorted(np.cumsum(n_trip), t, side="right"))
        j = t - int(n_trip[:i].sum())
        name, boxes, pairs, cls, score = parts[i]
        if what == "index":
            hint = "" if self.allow_no_object else f" ({self.dataset} needs an object box for every triplet)"
            raise ValueError(f"{name}: hoi[{j}] = {pairs[j].tolist()} indexes outside its {boxes.shape[0]} boxes{hint}")
        if what == "class":
            raise ValueError(f"{name}: hoi[{j}] class {cls[j]} is outside the {self.dataset} classes 0-{self.num_classes - 1}")
        raise ValueError(f"{name}: hoi[{j}] score is {score[j]}; scores must be finite")
