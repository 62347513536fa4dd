"""The simulated object detector: ground-truth boxes made imperfect.

Boxes are jittered, scores look like a real detector's (high for clear
instances, lower for small ones), some instances are missed, a few labels are
confused, some instances get a second, lower-scored duplicate, and false
positives appear. No embeddings are given: the student pools them from image
features, as it does for any detections file without them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from clhoi.sandbox.labels import SANDBOX_OBJECTS
from clhoi.structures import Detections
from clhoi.vocab import COCO_ID_TO_INDEX, PERSON, coco_index


@dataclass(frozen=True)
class DetectorNoise:
    """How imperfect the simulated detector is.

    Attributes:
        miss_person, miss_object: probability of missing a person / an object.
        jitter: box-corner noise, as a fraction of the box's width and height.
        confusion: probability of an object getting another sandbox category.
        duplicate: probability of a second, shifted, lower-scored box.
        false_positives: expected false positives per image.
    """

    miss_person: float = 0.03
    miss_object: float = 0.08
    jitter: float = 0.05
    confusion: float = 0.03
    duplicate: float = 0.05
    false_positives: float = 0.5


def _jitter(rng: random.Random, box: list[float], amount: float, size: tuple[int, int]) -> list[float]:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    out = [x1 + rng.gauss(0, amount) * w, y1 + rng.gauss(0, amount) * h,
           x2 + rng.gauss(0, amount) * w, y2 + rng.gauss(0, amount) * h]
    W, H = size
    x1, x2 = sorted((min(max(out[0], 0), W), min(max(out[2], 0), W)))
    y1, y2 = sorted((min(max(out[1], 0), H), min(max(out[3], 0), H)))
    return [x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)]


def simulate_detections(record: dict, rng: random.Random, noise: DetectorNoise = DetectorNoise(),
                        objects: tuple[str, ...] = SANDBOX_OBJECTS) -> Detections:
    """Detections for one converted HICO-DET record (``annotations`` with COCO 91-ids, 1-based boxes).

    ``objects``: the categories a confused label or a false positive is drawn from (the order
    matters: the draws are indices into it).

    Returns:
        ``Detections`` with boxes ``[N, 4]`` xyxy pixels, scores ``[N]``, COCO-80
        labels ``[N]``, no embeddings, ``image_size`` ``(H, W)``; sorted by score.
    """
    size = (int(record.get("width", 256)), int(record.get("height", 192)))
    boxes, scores, labels = [], [], []
    for ann in record["annotations"]:
        label = COCO_ID_TO_INDEX[ann["category_id"]]
        box = [v - 1.0 for v in ann["bbox"]]  # the file's 1-based frame -> drawn pixels (as the reader does)
        x1, y1, x2, y2 = box
        area = max(1.0, (x2 - x1) * (y2 - y1))
        small = area < 150
        if rng.random() < (noise.miss_person if label == PERSON else noise.miss_object * (2 if small else 1)):
            continue
        if label != PERSON and rng.random() < noise.confusion:
            label = coco_index(rng.choice(objects))
        score = min(0.995, rng.betavariate(8, 1.5) * (0.85 if small else 1.0))
        boxes.append(_jitter(rng, box, noise.jitter, size))
        scores.append(score)
        labels.append(label)
        if rng.random() < noise.duplicate:
            boxes.append(_jitter(rng, box, noise.jitter * 3, size))
            scores.append(score * rng.uniform(0.3, 0.7))
            labels.append(label)
    n_fp = sum(rng.random() < noise.false_positives / 3 for _ in range(3))
    for _ in range(n_fp):
        w, h = rng.uniform(8, 60), rng.uniform(8, 80)
        x, y = rng.uniform(0, size[0] - w), rng.uniform(0, size[1] - h)
        boxes.append([x, y, x + w, y + h])
        scores.append(rng.uniform(0.15, 0.55))
        labels.append(PERSON if rng.random() < 0.3 else coco_index(rng.choice(objects)))
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    if not order:
        return Detections.empty(image_size=(size[1], size[0]))
    return Detections(
        boxes=torch.tensor([boxes[i] for i in order], dtype=torch.float32),
        scores=torch.tensor([scores[i] for i in order], dtype=torch.float32),
        labels=torch.tensor([labels[i] for i in order], dtype=torch.long),
        embeddings=None,
        image_size=(size[1], size[0]),
    )


def simulate_split(records: list[dict], seed: int, noise: DetectorNoise = DetectorNoise(),
                   objects: tuple[str, ...] = SANDBOX_OBJECTS) -> dict[str, Detections]:
    """Detections of every record, keyed by ``file_name``; reproducible from ``seed`` (and ``objects``)."""
    return {r["file_name"]: simulate_detections(r, random.Random(f"{seed}/{r['file_name']}"), noise, objects)
            for r in records}
