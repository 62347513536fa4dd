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
        self._parts: dict[int, tuple[np.ndarray, ...]] = {}

    def add(self, predictions: Iterable[Predictions]) -> None:
        """Validate and store predictions; raises ``ValueError`` naming the image and field at fault."""
        for p in predictions:
            pos = self.index.get(p.file_name)
            if pos is None:
                raise ValueError(
                    f"predictions for {p.file_name!r}, which is not in the {self.dataset} annotations "
                    f"({len(self.index)} images); evaluate against the annotation file the predictions were made for"
                )
            if pos in self._parts:
                raise ValueError(f"{p.file_name}: predictions given twice for this image; merge them into one record")
            self._parts[pos] = self._convert(p)

    def _convert(self, p: Predictions) -> tuple[np.ndarray, ...]:
        name = p.file_name
        boxes = _as_numpy(p.boxes, np.float64).reshape(-1, 4)
        pairs = _as_numpy(p.pairs, np.int64).reshape(-1, 2)
        cls = _as_numpy(p.classes, np.int64).reshape(-1)
        score = _as_numpy(p.scores, np.float64).reshape(-1)
        n = boxes.shape[0]
        if pairs.size:
            h, o = pairs[:, 0], pairs[:, 1]
            low = -1 if self.allow_no_object else 0
            if h.min() < 0 or h.max() >= n or o.min() < low or o.max() >= n:
                bad = int(np.flatnonzero((h < 0) | (h >= n) | (o < low) | (o >= n))[0])
                hint = "" if self.allow_no_object else f" ({self.dataset} needs an object box for every triplet)"
                raise ValueError(f"{name}: hoi[{bad}] = {pairs[bad].tolist()} indexes outside its {n} boxes{hint}")
        if cls.size and (cls.min() < 0 or cls.max() >= self.num_classes):
            bad = int(np.flatnonzero((cls < 0) | (cls >= self.num_classes))[0])
            raise ValueError(f"{name}: hoi[{bad}] class {cls[bad]} is outside the {self.dataset} classes 0-{self.num_classes - 1}")
        if not np.isfinite(score).all():
            bad = int(np.flatnonzero(~np.isfinite(score))[0])
            raise ValueError(f"{name}: hoi[{bad}] score is {score[bad]}; scores must be finite")
        used = np.unique(pairs[pairs >= 0])
        ub = boxes[used]
        bad_box = ~np.isfinite(ub).all(1) | (ub[:, 2] < ub[:, 0]) | (ub[:, 3] < ub[:, 1])
        if bad_box.any():
            k = int(used[np.flatnonzero(bad_box)[0]])
            raise ValueError(f"{name}: boxes[{k}] = {boxes[k].tolist()} is not a finite [x1, y1, x2, y2] with x2 >= x1, y2 >= y1")
        has_obj = pairs[:, 1] >= 0
        obj_box = np.zeros((pairs.shape[0], 4))
        obj_box[has_obj] = boxes[pairs[has_obj, 1]]
        return pairs[:, 0], boxes[pairs[:, 0]], obj_box, has_obj, cls, score

    def arrays(self) -> TripletArrays:
        """All stored triplets, in ground-truth image order then triplet order."""
        keys = sorted(self._parts)
        parts = [self._parts[k] for k in keys]
        counts = [len(p[0]) for p in parts]
        image = np.repeat(np.asarray(keys, dtype=np.int64), counts)

        def cat(i: int, shape: tuple[int, ...], dtype) -> np.ndarray:
            return np.concatenate([p[i] for p in parts]) if parts else np.zeros(shape, dtype=dtype)

        return TripletArrays(
            image=image,
            human=cat(0, (0,), np.int64),
            human_box=cat(1, (0, 4), np.float64),
            object_box=cat(2, (0, 4), np.float64),
            has_object=cat(3, (0,), bool),
            cls=cat(4, (0,), np.int64),
            score=cat(5, (0,), np.float64),
        )
