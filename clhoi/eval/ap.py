"""Average precision, integrated the way each benchmark's official code integrates it.

* HICO-DET (ywchao/ho-rcnn ``VOCevaldet_bboxpair.m``): 11-point interpolated AP,
  ``ap = sum_t max(prec[rec >= t]) / 11`` for ``t = 0:0.1:1``. The thresholds are
  MATLAB's colon operator values, which are *not* ``np.arange(0, 1.1, 0.1)``:
  MATLAB fills the second half from the right end (``1 - k * 0.1``), so its 0.6 and
  0.7 are the doubles nearest 0.6 and 0.7, while ``np.arange`` gives
  0.6000000000000001 and 0.7000000000000001. A class whose recall reaches exactly
  0.6 or 0.7 (e.g. 3 of 5 ground truths) scores differently in the two.
* V-COCO (s-gupta/v-coco ``vsrl_eval.py`` ``voc_ap``): the VOC2010+ all-point AP,
  the area under the precision envelope at every recall change.

Both take recall and precision in *descending score order*, as the official code
builds them (``cumsum(tp) / npos`` and ``cumsum(tp) / (cumsum(tp) + cumsum(fp))``).
"""

from __future__ import annotations

import numpy as np


def matlab_colon(start: float, step: float, stop: float) -> np.ndarray:
    """The values of MATLAB's ``start:step:stop`` for a positive step, bit for bit.

    MATLAB computes the first half as ``start + k * step`` and the second half as
    ``stop - (n - k) * step`` (the midpoint of an even count as ``(start + stop) / 2``),
    so both ends are exact.

    Returns:
        ``[n + 1]`` float64.
    """
    n = int(np.floor((stop - start) / step + 1e-10))
    out = np.empty(n + 1, dtype=np.float64)
    for k in range(n + 1):
        if 2 * k < n:
            out[k] = start + k * step
        elif 2 * k > n:
            out[k] = stop - (n - k) * step
        else:
            out[k] = (start + stop) / 2
    return out


ELEVEN_POINTS: np.ndarray = matlab_colon(0.0, 0.1, 1.0)
"""The 11 recall thresholds of ho-rcnn's ``for t = 0:0.1:1`` as MATLAB computes them."""


def precision_recall(tp: np.ndarray, num_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision after each detection, as ``VOCevaldet_bboxpair.m`` computes them.

    Args:
        tp: ``[D]`` bool, true positives in descending score order (the rest are false positives).
        num_gt: number of ground-truth instances of the class (``npos``).

    Returns:
        ``(rec, prec)``, each ``[D]`` float64. ``rec`` is NaN everywhere when ``num_gt == 0``
        (MATLAB's ``0 / 0``).
    """
    tp_cum = np.cumsum(tp, dtype=np.float64)
    fp_cum = np.cumsum(~tp, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rec = tp_cum / float(num_gt)
    prec = tp_cum / (fp_cum + tp_cum)
    return rec, prec


def ap_11_point(rec: np.ndarray, prec: np.ndarray) -> float:
    """HICO-DET's 11-point interpolated AP (ho-rcnn ``VOCevaldet_bboxpair.m``).

    ``p(t) = max(prec[rec >= t])`` (0 when no detection reaches ``t``, and when ``rec``
    is NaN, i.e. the class has no ground truth), summed as ``ap = ap + p / 11`` in
    threshold order like the MATLAB loop.

    Args:
        rec: ``[D]`` float64 recall in descending score order (non-decreasing).
        prec: ``[D]`` float64 precision, same order.
    """
    if rec.size == 0 or np.isnan(rec[-1]):
        return 0.0
    # max over the suffix where rec >= t: a reversed running max of prec
    suffix_max = np.maximum.accumulate(prec[::-1])[::-1]
    first = np.searchsorted(rec, ELEVEN_POINTS, side="left")  # first index with rec >= t
    ap = 0.0
    for i in first.tolist():
        p = float(suffix_max[i]) if i < rec.size else 0.0
        ap = ap + p / 11
    return ap


def ap_voc(rec: np.ndarray, prec: np.ndarray) -> float:
    """V-COCO's all-point AP (``vsrl_eval.py`` ``voc_ap``, the VOC2010+ definition).

    Sentinels ``(0, 0)`` and ``(1, 0)`` are added, precision is made monotone
    (the envelope), and ``sum(delta recall * precision)`` is taken where recall changes.

    Args:
        rec: ``[D]`` recall in descending score order.
        prec: ``[D]`` precision, same order.
    """
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def ap_11_point_segments(hits: np.ndarray, bounds: np.ndarray, num_gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`precision_recall` and :func:`ap_11_point` for many classes at once, bit for bit.

    Args:
        hits: ``[D]`` bool, true positives of all classes laid end to end, each class's in
            descending score order.
        bounds: ``[C + 1]`` class ``k`` owns ``hits[bounds[k]:bounds[k + 1]]``.
        num_gt: ``[C]`` ground-truth instances per class.

    Returns:
        ``(ap, recall)``, each ``[C]`` float64: the 11-point AP and the recall after the last
        detection (0 for a class without detections, NaN for one without ground truth).

    Every number is made by the same floating-point operations as the per-class code:
    ``tp`` / ``fp`` counts are exact integers in float64 either way, recall is ``tp / npos``
    and precision ``tp / (fp + tp)``. Instead of searching each class's recall for the
    first value ``>= t``, it finds the smallest count ``m`` with ``m / npos >= t`` (division
    is monotonic, so ``rec >= t`` exactly where ``tp >= m``): the first detection reaching
    ``t`` is the class's ``m``-th true positive. The precision maxima over the suffixes are
    maxima over the pieces between consecutive thresholds, then a running maximum.
    """
    c = bounds.size - 1
    ap = np.zeros(c)
    recall = np.zeros(c)
    d = hits.size
    if d == 0 or c == 0:
        return ap, recall
    start, end = bounds[:-1], bounds[1:]
    size = end - start
    tp0 = np.zeros(d + 1)  # tp0[i]: true positives among hits[:i], exact integer counts
    np.cumsum(hits, dtype=np.float64, out=tp0[1:])
    before = tp0[start]  # true positives of the classes before k
    tp_k = tp0[1:] - np.repeat(before, size)  # cumulative true positives inside the class: exact
    count = np.arange(1, d + 1) - np.repeat(start, size)  # detections so far inside the class
    # prec = tp_k / ((count - tp_k) + tp_k), with a -inf sentinel at index d (for the maxima below)
    prec = np.empty(d + 1)
    prec[d] = -np.inf
    den = count.astype(np.float64)
    den -= tp_k
    den += tp_k
    np.divide(tp_k, den, out=prec[:d])
    npos = num_gt.astype(np.float64)
    total = tp0[end] - before  # true positives per class
    has = size > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        recall[has] = total[has] / npos[has]
    scored = has & (num_gt > 0)  # without ground truth: AP 0 (the recall is NaN)
    # m[k, t]: the smallest integer m in [0, npos] with m / npos >= t (npos + 1 when none)
    n = np.maximum(num_gt, 1).astype(np.int64)[:, None]
    nf = n.astype(np.float64)
    t = ELEVEN_POINTS[None, :]
    m = np.clip(np.floor(t * nf).astype(np.int64) - 1, 0, None)
    while True:  # a few steps at most: floor(t * npos) is within one of the answer
        low = (m <= n) & (m / nf < t)
        if not low.any():
            break
        m = m + low
    while True:
        high = (m > 0) & ((m - 1) / nf >= t)
        if not high.any():
            break
        m = m - high
    # the first detection of the class whose recall reaches t: the m-th true positive (the start if m == 0)
    tp_pos = np.flatnonzero(hits)
    total_i = total.astype(np.int64)[:, None]
    before_i = before.astype(np.int64)[:, None]
    reach = m <= total_i
    pick = np.clip(before_i + m - 1, 0, max(tp_pos.size - 1, 0))
    first = np.where(m == 0, start[:, None], np.where(reach, tp_pos[pick] if tp_pos.size else 0, end[:, None]))
    first = np.where(scored[:, None], first, start[:, None])  # keep the pieces contiguous for every class
    # pieces [first[k, t], first[k, t + 1]) (the last one ends at the class's end): their precision maxima
    nxt = np.concatenate([first[:, 1:], end[:, None]], axis=1)
    flat, flat_next = first.ravel(), nxt.ravel()
    empty = flat >= flat_next
    # a -inf sentinel at index d: a piece may end at d, and empty pieces may start there (they are masked)
    piece = np.maximum.reduceat(prec, flat)
    piece[empty] = -np.inf
    suffix = np.maximum.accumulate(piece.reshape(c, 11)[:, ::-1], axis=1)[:, ::-1]
    p = np.where(suffix == -np.inf, 0.0, suffix)
    acc = np.zeros(c)
    for i in range(11):  # ap = ap + p / 11, threshold by threshold, as the MATLAB loop adds
        acc = acc + p[:, i] / 11
    ap[scored] = acc[scored]
    return ap, recall
