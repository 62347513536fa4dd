"""Box overlap and greedy matching, vectorised over all detections at once.

Both official evaluators match greedily: detections are visited in descending
score order; each one picks the ground truth it overlaps most (the *first* one on
ties), whether or not that ground truth is already taken; it is a true positive
only if the overlap clears the threshold and the ground truth was not taken
before. Because the picked ground truth does not depend on what was matched
earlier, the whole loop reduces to: "a detection is a true positive iff it is
valid and the first valid detection, in visiting order, that picked its ground
truth". :func:`first_hits` computes exactly that without a Python loop.
"""

from __future__ import annotations

import numpy as np


def box_iou_inclusive(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of ``a[i]`` and ``b[i]`` with the official ``+1`` pixel convention.

    Width is ``x2 - x1 + 1`` (coordinates are inclusive pixel indices), as in ho-rcnn
    ``VOCevaldet_bboxpair.m`` and v-coco ``get_overlap``; the overlap is 0 unless both
    intersection sides are positive. The operations follow the MATLAB order so the
    doubles agree bit for bit.

    Args:
        a: ``[N, 4]`` float64 xyxy.
        b: ``[N, 4]`` float64 xyxy.

    Returns:
        ``[N]`` float64 in [0, 1].
    """
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + 1
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + 1
    inter = iw * ih
    ua = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1) + (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1) - inter
    ok = (iw > 0) & (ih > 0)
    out = np.zeros(a.shape[0], dtype=np.float64)
    out[ok] = inter[ok] / ua[ok]
    return out


IOU_CHUNK = 1 << 14
"""Pairs per block in :func:`pair_overlap`: the temporaries of a block stay in the
CPU cache, and memory for a million pairs is not allocated (and faulted in) several times over."""


def _iou_block(a_cols: np.ndarray, ia: np.ndarray, b_cols: np.ndarray, ib: np.ndarray, out: np.ndarray) -> None:
    """``out[:] = box_iou_inclusive(a[ia], b[ib])`` (``out`` holds zeros): :func:`box_iou_inclusive`'s operations
    on gathered columns, in place where that keeps the order of each operation."""
    ax1, ay1, ax2, ay2 = (a_cols[k][ia] for k in range(4))
    bx1, by1, bx2, by2 = (b_cols[k][ib] for k in range(4))
    iw = np.minimum(ax2, bx2)
    iw -= np.maximum(ax1, bx1)
    iw += 1  # (min - max) + 1
    ih = np.minimum(ay2, by2)
    ih -= np.maximum(ay1, by1)
    ih += 1
    inter = iw * ih
    ax2 -= ax1
    ax2 += 1
    ay2 -= ay1
    ay2 += 1
    ax2 *= ay2  # (x2 - x1 + 1) * (y2 - y1 + 1)
    bx2 -= bx1
    bx2 += 1
    by2 -= by1
    by2 += 1
    bx2 *= by2
    ax2 += bx2
    ax2 -= inter  # ua = (area_a + area_b) - inter
    ok = iw > 0
    ok &= ih > 0
    np.divide(inter, ax2, out=out, where=ok)


def pair_overlap(a_cols: np.ndarray, a_human: np.ndarray, a_object: np.ndarray, ia: np.ndarray,
                 b_human_cols: np.ndarray, b_object_cols: np.ndarray, ib: np.ndarray, threshold: float,
                 chunk: int = IOU_CHUNK) -> np.ndarray:
    """``min(IoU_human, IoU_object)`` of human-object pairs where ``IoU_human >= threshold``, else ``IoU_human``.

    Pair ``i`` compares the boxes ``a[a_human[ia[i]]]`` and ``a[a_object[ia[i]]]`` (``a_cols = a.T``,
    contiguous) with ``b_human[ib[i]]`` and ``b_object[ib[i]]`` (``b_human_cols = b_human.T``, ...) by
    :func:`box_iou_inclusive`'s operations on gathered columns. Below the threshold the pair cannot be a
    hit whatever ``IoU_object`` is, so that is computed only for the others. The same doubles as::

        iou_h = box_iou_inclusive(a[a_human[ia]], b_human[ib])
        np.where(iou_h >= threshold, np.minimum(iou_h, box_iou_inclusive(a[a_object[ia]], b_object[ib])), iou_h)

    ``chunk`` pairs at a time (no array of all pairs but the result).
    """
    out = np.zeros(ib.size, dtype=np.float64)
    for s in range(0, ib.size, chunk):
        o, i, j = out[s:s + chunk], ia[s:s + chunk], ib[s:s + chunk]
        _iou_block(a_cols, a_human[i], b_human_cols, j, o)
        need = np.flatnonzero(o >= threshold)
        if need.size:
            obj = np.zeros(need.size, dtype=np.float64)
            _iou_block(a_cols, a_object[i[need]], b_object_cols, j[need], obj)
            o[need] = np.minimum(o[need], obj)
    return out


def expand_groups(query_keys: np.ndarray, target_keys: np.ndarray,
                  key_bound: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (query, target) index pairs with equal keys: a vectorised join.

    Args:
        query_keys: ``[Q]`` int64.
        target_keys: ``[T]`` int64, sorted ascending.
        key_bound: optional: every key is in ``[0, key_bound)``. When that range is at most
            :data:`TABLE_KEYS_PER_QUERY` times ``Q``, each query's group is looked up in a table
            indexed by key instead of searched for (the same groups, faster for many queries).

    Returns:
        ``(q_idx, t_idx, counts)``: ``[K]`` query indices (ascending), ``[K]`` target
        indices (ascending within a query, i.e. in target order), and ``[Q]`` the
        number of targets each query met.
    """
    # the distinct target keys: where each one's run starts in target_keys, and its length
    first = np.flatnonzero(np.r_[True, target_keys[1:] != target_keys[:-1]]) if target_keys.size else target_keys[:0]
    size = np.diff(np.r_[first, target_keys.size])
    if key_bound is not None and 0 < key_bound <= TABLE_KEYS_PER_QUERY * query_keys.size and first.size < 2**31 - 1:
        slot = np.zeros(key_bound, dtype=np.int32)  # 1 + the distinct key's number; 0: no target has the key
        slot[target_keys[first]] = np.arange(1, first.size + 1, dtype=np.int32)
        at = slot[query_keys]
        lo, counts = np.r_[0, first][at], np.r_[0, size][at]
    else:
        # one search among the distinct target keys (the same lo / hi as searching both sides in target_keys)
        distinct = target_keys[first]
        at = np.minimum(np.searchsorted(distinct, query_keys, side="left"), max(distinct.size - 1, 0))
        found = distinct[at] == query_keys if distinct.size else np.zeros(query_keys.size, dtype=bool)
        lo = np.where(found, first[at], 0) if distinct.size else np.zeros(query_keys.size, dtype=np.int64)
        counts = np.where(found, size[at], 0) if distinct.size else np.zeros(query_keys.size, dtype=np.int64)
    q_idx = np.repeat(np.arange(query_keys.size), counts)
    starts = np.cumsum(counts) - counts
    t_idx = np.arange(q_idx.size) - np.repeat(starts - lo, counts)
    return q_idx, t_idx, counts


TABLE_KEYS_PER_QUERY = 8
""":func:`expand_groups` looks keys up in a table (4 bytes a key) when their range is at most this many per query."""


def segment_first_argmax(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per segment of ``values`` (lengths ``counts``): the max and the position of its first occurrence.

    Args:
        values: ``[K]`` float64, segments laid end to end.
        counts: ``[Q]`` segment lengths (may be 0).

    Returns:
        ``(best, pos)``: ``[Q]`` the max (``-inf`` for empty segments) and ``[Q]`` the
        index into ``values`` of its first occurrence (``-1`` for empty segments).
    """
    best = np.full(counts.size, -np.inf)
    pos = np.full(counts.size, -1, dtype=np.int64)
    nonempty = counts > 0
    if not nonempty.any():
        return best, pos
    starts = (np.cumsum(counts) - counts)[nonempty]
    best[nonempty] = np.maximum.reduceat(values, starts)
    is_max = values == np.repeat(best, counts)
    marked = np.where(is_max, np.arange(values.size), values.size)
    pos[nonempty] = np.minimum.reduceat(marked, starts)
    return best, pos


def segment_first_argmax_reaching(values: np.ndarray, segment: np.ndarray, num_segments: int,
                                  threshold: float) -> np.ndarray:
    """Per segment: the position of the first occurrence of its max, where that max reaches ``threshold``.

    Args:
        values: ``[K]`` float64 without NaN, segments laid end to end.
        segment: ``[K]`` int64, the segment of each value, non-decreasing (``expand_groups``'s ``q_idx``).
        num_segments: ``Q``.
        threshold: the max must be ``>= threshold``.

    Returns:
        ``[Q]`` int64: where ``best >= threshold``, ``pos`` of ``segment_first_argmax(values, counts)``
        (``best, pos``), else -1. Only the values reaching the threshold are looked at (a segment's max
        does exactly when some value does; every occurrence of such a max does).
    """
    pos = np.full(num_segments, -1, dtype=np.int64)
    cand = np.flatnonzero(values >= threshold)
    if cand.size == 0:
        return pos
    seg, v = segment[cand], values[cand]
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    best = np.maximum.reduceat(v, starts)
    at_max = np.flatnonzero(v == np.repeat(best, np.diff(np.r_[starts, v.size])))
    first = at_max[np.r_[True, seg[at_max[1:]] != seg[at_max[:-1]]]]  # the first max of each segment
    pos[seg[first]] = cand[first]
    return pos


def first_hits(order: np.ndarray, valid: np.ndarray, target: np.ndarray) -> np.ndarray:
    """True positives of a greedy match, given each detection's picked ground truth.

    Args:
        order: visiting order: indices of the detections that take part (all, or a subset).
        valid: ``[D]`` bool, detection clears every overlap / label condition.
        target: ``[D]`` int64, globally unique id of the ground truth each detection
            picked (any value where ``valid`` is False).

    Returns:
        ``[D]`` bool, indexed like the detections: valid and the first valid
        detection in ``order`` to pick its ground truth.
    """
    tp = np.zeros(valid.size, dtype=bool)
    visit = order[valid[order]]  # valid detections, in visiting order
    if visit.size:
        picked = target[visit]
        low, span = int(picked.min()), int(picked.max()) - int(picked.min()) + 1
        if span <= 4 * visit.size + 1024:  # the first visit of each target: a scatter-min, no sort
            first = np.full(span, visit.size, dtype=np.int64)
            np.minimum.at(first, picked - low, np.arange(visit.size))
            tp[visit[first[first < visit.size]]] = True
        else:
            _, first = np.unique(picked, return_index=True)  # first occurrence of each target
            tp[visit[first]] = True
    return tp


def argsort_descending(values: np.ndarray) -> np.ndarray:
    """``np.argsort(-values, kind="stable")``: descending order, equal values in index order; faster.

    The values are sorted with NumPy's default (unstable, vectorised) sort, then every run of
    equal values is put back in index order. ``values`` must hold no NaN (-0.0 and 0.0 are equal,
    as in the stable sort).
    """
    neg = -np.asarray(values)
    order = np.argsort(neg)
    s = neg[order]
    tie = s[1:] == s[:-1]
    if tie.any():
        in_run = np.zeros(s.size, dtype=bool)
        in_run[1:] |= tie
        in_run[:-1] |= tie
        pos = np.flatnonzero(in_run)
        new_run = np.ones(pos.size, dtype=bool)
        new_run[1:] = ~tie[pos[1:] - 1]
        run = np.cumsum(new_run) - 1
        key = run * s.size + order[pos]  # run, then index: sorting the keys orders each run by index
        key.sort()
        order[pos] = key % s.size
    return order
