"""UPT's detection filtering against a plain-Python reference."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from clhoi.detect import filter_detections
from clhoi.structures import Detections


def iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def reference(boxes, scores, labels, thr, nms, lo_h, hi_h, lo_o, hi_o) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    kept: list[int] = []
    for i in order:  # greedy per-class NMS
        if all(labels[j] != labels[i] or iou(boxes[i], boxes[j]) <= nms for j in kept):
            kept.append(i)
    out = []
    for is_h, lo, hi in ((True, lo_h, hi_h), (False, lo_o, hi_o)):
        cand = [i for i in kept if (labels[i] == 0) == is_h]  # already by descending score
        passing = [i for i in cand if scores[i] >= thr]
        out += cand[:lo] if len(passing) < lo else passing[:hi]
    return out


def make(boxes, scores, labels) -> Detections:
    return Detections(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(scores),
                      torch.tensor(labels, dtype=torch.long), torch.arange(len(scores), dtype=torch.float32)[:, None],
                      (100, 100))


box = st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(5, 40), st.integers(5, 40)).map(
    lambda t: [float(t[0]), float(t[1]), float(t[0] + t[2]), float(t[1] + t[3])]
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(box, st.integers(1, 1000), st.sampled_from([0, 0, 1, 2])), max_size=25, unique_by=lambda t: t[1]),
    st.integers(0, 4), st.integers(0, 4),
)
def test_matches_reference(items, lo, extra) -> None:
    boxes = [b for b, _, _ in items]
    scores = [s / 1000 for _, s, _ in items]
    labels = [c for _, _, c in items]
    det = make(boxes, scores, labels)
    out = filter_detections(det, 0.4, 0.5, lo, lo + extra, lo, lo + extra)
    expect = reference(boxes, scores, labels, 0.4, 0.5, lo, lo + extra, lo, lo + extra)
    assert out.embeddings[:, 0].long().tolist() == expect  # embeddings carry the original index


def test_limits_by_hand() -> None:
    # 5 humans far apart, 1 object; only 1 human and no object pass 0.5
    boxes = [[i * 20.0, 0, i * 20 + 10, 10] for i in range(5)] + [[0.0, 50, 10, 60]]
    det = make(boxes, [0.9, 0.3, 0.2, 0.1, 0.05, 0.4], [0, 0, 0, 0, 0, 7])
    out = filter_detections(det, 0.5, 0.5, min_humans=3, max_humans=4, min_objects=1, max_objects=2)
    assert out.labels.tolist() == [0, 0, 0, 7]  # topped up to 3 humans, 1 object below threshold
    assert out.scores.tolist() == pytest.approx([0.9, 0.3, 0.2, 0.4])
    out = filter_detections(det, 0.0, 0.5, min_humans=0, max_humans=2, min_objects=0, max_objects=0)
    assert out.scores.tolist() == pytest.approx([0.9, 0.3])
    assert out.image_size == (100, 100)


def test_nms_is_per_class() -> None:
    same = [[0.0, 0, 10, 10], [1.0, 1, 10, 10]]
    out = filter_detections(make(same, [0.9, 0.8], [3, 3]), 0.0, 0.5, 0, 5, 0, 5)
    assert len(out) == 1
    out = filter_detections(make(same, [0.9, 0.8], [3, 4]), 0.0, 0.5, 0, 5, 0, 5)
    assert len(out) == 2


def test_empty_and_bad_limits() -> None:
    assert len(filter_detections(Detections.empty(4, (5, 5)))) == 0
    with pytest.raises(ValueError, match="min_humans"):
        filter_detections(make([[0.0, 0, 1, 1]], [0.5], [0]), min_humans=5, max_humans=2)
