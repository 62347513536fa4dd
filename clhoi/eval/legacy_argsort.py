"""NumPy 1.x ``argsort`` (default ``kind="quicksort"``), reproduced permutation for permutation.

Why: ``vsrl_eval.py`` (V-COCO) orders detections with ``scores.argsort()[::-1]`` on
float32 arrays. That sort is not stable, so among equal scores the order, and with it
the greedy matches and the AP, is whatever the sorting algorithm leaves. The official
numbers come from NumPy 1.x, whose argsort for float32 is one fixed algorithm on every
machine (NumPy 1.23 has no SIMD argsort): introsort, i.e.

* median-of-three quicksort partitions (Hoare-style scans that stop on elements equal
  to the pivot, which is parked at ``pr - 1``), the larger side pushed on a stack with
  depth ``d - 1``, the smaller side partitioned next without a depth check;
* insertion sort (stable) once a range has at most 16 elements;
* heapsort for a popped range whose depth went below zero (the limit is
  ``2 * floor(log2(n))``).

NumPy 2 sorts with SIMD libraries (x86-simd-sort, Highway) where the CPU has them, and
those leave ties in another order. So we do not call ``argsort``; we replay the
algorithm. The replay is vectorised over many independent arrays at once
(level by level over the ranges still to partition) and skips every range whose values
are all distinct: there the result does not depend on the algorithm. A range whose values
are all equal is finished at once: quicksort moves equal values by position only, so the
permutation it makes of them depends on the length alone (:func:`equal_order`).

Where NumPy sorts 16-bit values with that same generic introsort (NumPy 2.4 does: no SIMD for
them), the replay is not needed: ``argsort`` of the dense ranks of the values, as ``int16``,
makes the same comparisons and so the same permutation (:func:`native_is_numpy_1` checks it once
per process against the replay; :func:`segmented_argsort` uses it for segments of more than 16).

The behaviour was checked against NumPy 1.23.5 on random arrays full of ties
(``tests/eval/test_eval_vcoco_official.py`` holds recorded permutations).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SMALL = 15
"""NumPy's ``SMALL_QUICKSORT``: ranges with ``pr - pl <= 15`` are insertion-sorted."""


def _depth_limit(n: np.ndarray) -> np.ndarray:
    """``npy_get_msb(n) * 2``: twice the index of the highest set bit."""
    msb = np.zeros(n.shape, dtype=np.int64)
    m = n.astype(np.int64).copy()
    while (m > 1).any():
        big = m > 1
        msb[big] += 1
        m[big] >>= 1
    return 2 * msb


def _sift_down(a: list[int], vals: list, tmp: int, i: int, n: int) -> None:
    """Sink ``tmp`` from slot ``i`` of the 1-based heap ``a[1..n]`` (NumPy's sift loop)."""
    j = i << 1
    while j <= n:
        if j < n and vals[a[j]] < vals[a[j + 1]]:
            j += 1
        if vals[tmp] < vals[a[j]]:
            a[i] = a[j]
            i = j
            j += j
        else:
            break
    a[i] = tmp


def _heapsort(v: np.ndarray, a: np.ndarray) -> np.ndarray:
    """NumPy's ``aheapsort_`` on the index list ``a`` (returns the new list); rare, so plain Python."""
    vals = v.tolist()
    a = [0] + a.tolist()  # 1-based
    n = len(a) - 1
    for l in range(n >> 1, 0, -1):
        _sift_down(a, vals, a[l], l, n)
    while n > 1:
        tmp = a[n]
        a[n] = a[1]
        n -= 1
        _sift_down(a, vals, tmp, 1, n)
    return np.asarray(a[1:], dtype=np.int64)


def _sort_key(values: np.ndarray) -> np.ndarray:
    """int64 keys in the order of the float32 values (``-0.0 == 0.0``; no NaN)."""
    f = values.astype(np.float32) + np.float32(0.0)  # -0.0 -> 0.0
    bits = f.view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)


def _combined(key: np.ndarray, block: np.ndarray) -> np.ndarray:
    """One int64 per element ordering by ``(block, key)`` (blocks < 2**30, keys 32-bit)."""
    return (block << 33) + (key + (1 << 31))


def _tied_blocks(key: np.ndarray, block: np.ndarray, num_blocks: int, label: np.ndarray | None) -> np.ndarray:
    """``[num_blocks]`` bool: the block holds two elements with the same key (and, given ``label``, different
    labels: ties among equal labels cannot change anything the caller looks at)."""
    c = _combined(key, block)
    if label is None or num_blocks >= 1 << 22:  # (too many blocks to pack a label: any tie counts)
        c = np.sort(c)
        dup = c[1:][c[1:] == c[:-1]]
        return np.bincount(dup >> 33, minlength=num_blocks) > 0
    c = np.sort((c << 8) | label.astype(np.int64))  # label < 256; block < 2**22 here
    mixed = ((c[1:] >> 8) == (c[:-1] >> 8)) & (c[1:] != c[:-1])
    return np.bincount(c[1:][mixed] >> 41, minlength=num_blocks) > 0


@lru_cache(maxsize=None)
def native_is_numpy_1() -> bool:
    """This NumPy's ``argsort`` of ``int16`` arrays is NumPy 1.x's introsort: checked once, against the replay.

    NumPy 2 sorts 32- and 64-bit values with SIMD libraries where the CPU has them, but (as
    NumPy 1.x did for every type) 16-bit values with the generic introsort, whose every move
    depends only on how elements compare. So ``argsort`` of the dense ranks of some float32
    values, as ``int16``, is NumPy 1.x's ``argsort`` of those values. In case a NumPy sorts
    16-bit values some other way, this compares it with the replay (``native=False``) on
    arrays full of ties (a few ms); where they differ, the replay is used.
    """
    grid = (np.arange(700, dtype=np.int64) * 7919 % 997 % 9).astype(np.float32)  # ties of 9 values
    grid[::7] = np.arange(100, dtype=np.float32) / 7  # and some distinct values
    cases = [grid, grid[:17], grid[:40], grid[:300] % 2, np.zeros(200, np.float32)]
    values = np.concatenate(cases)
    ends = np.cumsum([c.size for c in cases])
    want = segmented_argsort(values, ends - [c.size for c in cases], ends, native=False)
    try:
        for c, s in zip(cases, (ends - [c.size for c in cases]).tolist()):
            ranks = np.unique(c, return_inverse=True)[1].reshape(-1).astype(np.int16)
            if not np.array_equal(np.argsort(ranks), want[s:s + c.size] - s):
                return False
    except Exception:  # noqa: BLE001 - anything unexpected: the replay
        return False
    return True


FEW_RANGES = 64
"""Up to this many ranges, :func:`_native_ranges` ranks the values range by range."""


def _native_ranges(key: np.ndarray, starts: np.ndarray, ends: np.ndarray, out: np.ndarray) -> bool:
    """``out[s:e] = s + argsort`` of every range ``[s, e)`` by NumPy's own ``argsort`` of the dense ranks of its
    keys as ``int16`` (see :func:`native_is_numpy_1`); ``False`` (``out`` unchanged) when a range has more
    distinct values than ``int16`` holds."""
    if not starts.size:
        return True
    if starts.size <= FEW_RANGES:  # ranks range by range (the global ranks below cost more for a few)
        sorted_ranges = []
        for s, e in zip(starts.tolist(), ends.tolist()):
            ranks = np.unique(key[s:e], return_inverse=True)[1].reshape(-1)
            if ranks.max(initial=0) > np.iinfo(np.int16).max:
                return False
            sorted_ranges.append((s, e, ranks.astype(np.int16)))
        for s, e, ranks in sorted_ranges:
            out[s:e] = s + np.argsort(ranks)
        return True
    n = ends - starts
    off = np.cumsum(n) - n
    seg = np.repeat(np.arange(n.size, dtype=np.int64), n)
    pos = np.arange(int(n.sum()), dtype=np.int64) + np.repeat(starts - off, n)
    inv = np.unique(_combined(key[pos], seg), return_inverse=True)[1].reshape(-1)  # ranks by (range, key)
    ranks = inv - np.repeat(np.minimum.reduceat(inv, off), n)  # dense ranks within each range
    if ranks.max(initial=0) > np.iinfo(np.int16).max:
        return False
    ranks = ranks.astype(np.int16)
    for s, o, m in zip(starts.tolist(), off.tolist(), n.tolist()):
        out[s:s + m] = s + np.argsort(ranks[o:o + m])
    return True


def segmented_argsort(values: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                      labels: np.ndarray | None = None, *, equal_ranges: bool = True,
                      native: bool = True) -> np.ndarray:
    """NumPy 1.x ``values[s:e].argsort()`` for every segment ``[s, e)``, all at once.

    Args:
        values: ``[N]`` float32 (no NaN), the segments laid out in it (they need not cover it).
        starts: ``[S]`` segment starts.
        ends: ``[S]`` segment ends (exclusive); segments must not overlap.
        labels: optional ``[N]`` small ints (< 256). Given, only the order of equal values with
            *different* labels is reproduced: among equal values with equal labels any order may
            come out (for a caller that only reads the labels in sorted order, e.g. true / false
            positives, that is the same result, and ranges without such ties are not replayed).
        equal_ranges: finish a range of equal values at once with :func:`equal_order`; ``False``
            partitions it level by level (the reference the shortcut is tested against).
        native: sort the segments of more than 16 values with NumPy's own ``argsort`` of their ranks
            as ``int16`` where that is NumPy 1.x's algorithm (:func:`native_is_numpy_1`; the whole
            permutation, also among equal labels); ``False``: replay every segment.

    Returns:
        ``[N]`` int64 ``p`` with ``p[s:e] = s + values[s:e].argsort()`` as NumPy 1.23 computes
        it, and ``p[i] = i`` outside the segments.
    """
    values = np.asarray(values, dtype=np.float32)
    n_all = values.size
    key = _sort_key(values)
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    if native and native_is_numpy_1():
        big = ends - starts > SMALL + 1
        if big.any():
            out = (np.arange(n_all, dtype=np.int64) if big.all()  # the rest: insertion sorts, never replayed
                   else segmented_argsort(values, starts[~big], ends[~big], native=False))
            if _native_ranges(key, starts[big], ends[big], out):
                return out
    idx = np.arange(n_all, dtype=np.int64)  # idx[pos]: the element at position pos
    # block[pos]: the range a position belongs to when the replay stops (its start); final sort is by
    # (block, key, current position): insertion sort / any sort of distinct keys, ranges kept in place
    block = np.arange(n_all, dtype=np.int64)
    size = ends - starts
    keep = size > 1
    pl, pr = starts[keep], ends[keep] - 1
    depth = _depth_limit(size[keep])
    checked = np.ones(pl.size, dtype=bool)
    level = 0
    while pl.size:
        # at most 16 elements: insertion sort (stable, so the current order of ties) unless a heapsort is due
        small = (pr - pl <= SMALL) & ~(checked & (depth < 0))
        if small.any():
            _set_block(block, pl[small], pr[small] - pl[small] + 1)
            pl, pr, depth, checked = pl[~small], pr[~small], depth[~small], checked[~small]
            if not pl.size:
                break
        n = pr - pl + 1
        off = np.cumsum(n) - n  # each range's start in the laid-out positions
        pos = np.arange(off[-1] + n[-1]) + np.repeat(pl - off, n)
        k = key[idx[pos]]
        # which ranges still need the replay: those with ties inside (checked every third level: where
        # nearly everything ties, the check costs more than replaying a few ranges that need not be)
        if level % 3 == 0:
            task = np.repeat(np.arange(pl.size), n)
            tied = _tied_blocks(k, task, pl.size, None if labels is None else labels[idx[pos]])
        else:
            tied = np.ones(pl.size, dtype=bool)
        level += 1
        heap = tied & checked & (depth < 0)
        for t in np.flatnonzero(heap).tolist():
            a, b = int(pl[t]), int(pr[t]) + 1
            idx[a:b] = _heapsort(key, idx[a:b])
        go = tied & ~heap
        if equal_ranges:
            same = go & (np.maximum.reduceat(k, off) == np.minimum.reduceat(k, off))
            for t in np.flatnonzero(same).tolist():
                a, m = int(pl[t]), int(n[t])
                order, height = equal_order(m)
                if depth[t] >= height:  # no heapsort can be due below it
                    idx[a:a + m] = idx[a:a + m][order]
                else:
                    same[t] = False
            go &= ~same
        final = ~go & ~heap  # (a heapsorted range keeps every element in place: blocks of one)
        if final.any():
            _set_block(block, pl[final], n[final])
        if not go.any():
            break
        if not go.all():
            sel = np.repeat(go, n)
            pos, k = pos[sel], k[sel]
        pl, pr, depth, checked = _partition(key, idx, pl[go], pr[go], depth[go], pos, k)
        keep = pr > pl
        pl, pr, depth, checked = pl[keep], pr[keep], depth[keep], checked[keep]
    order = np.argsort(_combined(key[idx], block), kind="stable")  # ties keep their current positions
    return idx[order]


def _set_block(block: np.ndarray, pl: np.ndarray, n: np.ndarray) -> None:
    """Mark the ranges ``[pl, pl + n)`` finished: each position's block is its range's start."""
    off = np.cumsum(n) - n
    block[np.arange(off[-1] + n[-1]) + np.repeat(pl - off, n)] = np.repeat(pl, n)


@lru_cache(maxsize=None)
def equal_order(n: int) -> tuple[np.ndarray, int]:
    """NumPy 1.x ``argsort`` of ``n`` equal values, and the partition levels below the range.

    With equal values every comparison is false, so each step moves elements by position
    only: no median-of-three swap, the pivot ``pm`` parked at ``pr - 1``, both scans stop at
    every element (pairs ``(1, n - 3), (2, n - 4), ...`` swapped until they meet at
    ``(n - 1) // 2``), the pivot put there, and the two sides sorted the same way.

    Returns:
        ``(order, height)``: ``order`` ``[n]`` int64 is the argsort; ``height`` the levels of
        partitions below the range (0 for 16 elements or fewer, insertion-sorted as they are),
        i.e. the depth the range needs left for no heapsort to start below it.
    """
    order = np.arange(n, dtype=np.int64)
    if n <= SMALL + 1:
        return order, 0
    last = n - 2  # pr - 1
    pm = (n - 1) >> 1
    order[[pm, last]] = order[[last, pm]]
    swaps = (n - 3) >> 1
    left = order[1:1 + swaps].copy()
    order[1:1 + swaps] = order[last - swaps:last][::-1]
    order[last - swaps:last] = left[::-1]
    pi = swaps + 1  # where the scans meet
    order[[pi, last]] = order[[last, pi]]
    lo, lo_height = equal_order(pi)
    hi, hi_height = equal_order(n - 1 - pi)
    order[:pi] = order[:pi][lo]
    order[pi + 1:] = order[pi + 1:][hi]
    return order, 1 + max(lo_height, hi_height)


def _partition(key: np.ndarray, idx: np.ndarray, pl: np.ndarray, pr: np.ndarray, depth: np.ndarray,
               pos: np.ndarray, k: np.ndarray):
    """One quicksort partition of every range ``[pl, pr]`` (in place on ``idx``); returns the child ranges.

    ``pos`` lists the ranges' positions, range after range, and ``k`` their keys before this call
    (updated here).
    """
    n = pr - pl + 1
    off = np.cumsum(n) - n
    pm = pl + ((pr - pl) >> 1)
    for a, b in ((pm, pl), (pr, pm), (pm, pl)):  # median of three: swap when key[b's] > key[a's]
        sw = key[idx[a]] < key[idx[b]]
        ia, ib = idx[a[sw]], idx[b[sw]]
        idx[a[sw]], idx[b[sw]] = ib, ia
    ia, ib = idx[pm], idx[pr - 1]
    idx[pm], idx[pr - 1] = ib, ia
    for p in (pl, pm, pr - 1, pr):  # the keys the swaps above moved
        k[off + (p - pl)] = key[idx[p]]
    vp = np.repeat(key[idx[pr - 1]], n)
    # left scan stops at positions in [pl+1, pr-1] with key >= vp (ascending);
    # right scan stops at positions in [pl, pr-2] with key <= vp (descending)
    lmask = k >= vp
    lmask[off] = False
    lmask[off + n - 1] = False
    rmask = k <= vp
    rmask[off + n - 1] = False
    rmask[off + n - 2] = False
    cnt_l = np.add.reduceat(lmask, off, dtype=np.int64)
    cnt_r = np.add.reduceat(rmask, off, dtype=np.int64)
    lpos = pos[lmask]
    rpos = pos[rmask][::-1]  # descending positions, ranges in reverse
    start_l = np.cumsum(cnt_l) - cnt_l
    start_r = np.cumsum(cnt_r[::-1])[::-1] - cnt_r  # rpos is laid out with the last range first
    m = np.minimum(cnt_l, cnt_r)
    pt = np.repeat(np.arange(pl.size), m)
    kk = np.arange(pt.size) - np.repeat(np.cumsum(m) - m, m)
    lk, rk = lpos[start_l[pt] + kk], rpos[start_r[pt] + kk]
    ok = lk < rk  # a prefix of each range's pairs: those are swapped
    big_k = np.bincount(pt[ok], minlength=pl.size)
    ls, rs = lk[ok], rk[ok]
    a, b = idx[ls], idx[rs]
    idx[ls], idx[rs] = b, a
    # where the left scan stops after the last swap: min(L_K, R_{K-1}) (L_0 when nothing was swapped)
    l_next = lpos[start_l + big_k]
    r_last = np.where(big_k > 0, rpos[start_r + np.maximum(big_k - 1, 0)], pr)
    pi = np.minimum(l_next, r_last)
    a, b = idx[pi], idx[pr - 1]
    idx[pi], idx[pr - 1] = b, a
    d = depth - 1
    left_small = (pi - pl) < (pr - pi)
    # children: both get depth d; the larger one is pushed (checked when popped), the smaller continues unchecked
    c_pl = np.concatenate([pl, pi + 1])
    c_pr = np.concatenate([pi - 1, pr])
    c_depth = np.concatenate([d, d])
    c_checked = np.concatenate([~left_small, left_small])
    return c_pl, c_pr, c_depth, c_checked
