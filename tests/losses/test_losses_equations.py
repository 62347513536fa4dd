"""Each loss against a plain Python loop of the paper's formula, on random inputs (to 1e-5)."""

import math

import pytest
import torch
import torch.nn.functional as F

from clhoi.losses import (
    context_loss,
    i2t_loss,
    pad_pairs,
    soft_relation_labels,
    soft_similarity,
    soft_similarity_matrix,
    t2i_loss,
    soft_relation_loss,
)

TAU = 0.2


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.dot(a, b) / (a.norm() * b.norm()))


def s_loop(f1: list[torch.Tensor], f2: list[torch.Tensor], scale: float = 1.0) -> float:
    """Eq. 5 literally: sim[m, n] = scale * cos(f1[m], f2[n])."""
    total = 0.0
    for a in f1:
        sims = [scale * _cos(a, b) for b in f2]
        z = sum(math.exp(s) for s in sims)
        total += sum(math.exp(s) / z * s for s in sims)
    return total / len(f1)


def _rows(x: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    return [x[i] for i in range(x.shape[0]) if mask[i]]


def _ragged(b: int, n_max: int, d: int, counts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(b, n_max, d, dtype=torch.float64)
    mask = torch.zeros(b, n_max, dtype=torch.bool)
    for i, c in enumerate(counts):
        mask[i, :c] = True
    return x, mask


def test_soft_similarity_matches_loop_with_masks() -> None:
    f1, m1 = _ragged(3, 4, 6, [4, 2, 0])
    f2, m2 = _ragged(3, 5, 6, [1, 5, 3])
    s, valid = soft_similarity(F.normalize(f1, dim=-1) / TAU, F.normalize(f2, dim=-1), m1, m2)
    assert valid.tolist() == [True, True, False]
    for i in range(2):
        assert abs(float(s[i]) - s_loop(_rows(f1[i], m1[i]), _rows(f2[i], m2[i]), 1 / TAU)) < 1e-5
    assert float(s[2]) == 0.0


def test_soft_similarity_matrix_equals_broadcast_form() -> None:
    f1, m1 = _ragged(3, 4, 6, [4, 0, 2])
    f2, m2 = _ragged(5, 2, 6, [1, 2, 0, 2, 1])
    s, valid = soft_similarity_matrix(f1, f2, m1, m2)
    s_ref, valid_ref = soft_similarity(f1[:, None], f2[None], m1[:, None], m2[None])
    assert s.shape == (3, 5) and torch.equal(valid, valid_ref)
    assert torch.allclose(s, s_ref, atol=1e-12)


def test_context_loss_matches_loop() -> None:
    b, q, t, d = 4, 3, 5, 8
    ctx = torch.randn(b, q, d, dtype=torch.float64)
    cap, cmask = _ragged(b, t, d, [5, 1, 0, 3])  # image 2 has no caption
    got = context_loss(ctx, cap, cmask, TAU)
    valid = [j for j in range(b) if cmask[j].any()]
    losses = []
    for i in valid:
        s = {j: s_loop(list(ctx[i]), _rows(cap[j], cmask[j]), 1 / TAU) for j in valid}
        losses.append(-math.log(math.exp(s[i]) / sum(math.exp(v) for v in s.values())))
    assert abs(float(got) - sum(losses) / len(losses)) < 1e-5


def _pairs(counts: list[int], d: int) -> tuple[torch.Tensor, torch.Tensor]:
    pair_image = torch.tensor([i for i, c in enumerate(counts) for _ in range(c)], dtype=torch.long)
    perm = torch.randperm(pair_image.numel())  # pairs of an image need not be contiguous
    return torch.randn(pair_image.numel(), d, dtype=torch.float64), pair_image[perm]


def test_i2t_loss_matches_loop() -> None:
    b, d = 4, 8
    inter, pair_image = _pairs([3, 0, 2, 4], d)  # image 1 has no pairs
    pos, pmask = _ragged(b, 3, d, [2, 3, 3, 0])  # image 3 has no positives
    neg, nmask = _ragged(b, 2, d, [2, 2, 1, 2])
    got = i2t_loss(inter, pair_image, pos, pmask, neg, nmask, TAU)
    losses = []
    for i in range(b):
        feats = [F.normalize(inter[p], dim=0) for p in range(inter.shape[0]) if pair_image[p] == i]
        if not feats or not pmask[i].any():
            continue
        img = sum(feats) / len(feats)  # I_img: mean of the image's pair features
        sp = s_loop([img], _rows(pos[i], pmask[i]), 1 / TAU)
        sn = s_loop([img], _rows(neg[i], nmask[i]), 1 / TAU)
        losses.append(-math.log(math.exp(sp) / (math.exp(sp) + math.exp(sn))))
    assert len(losses) == 2
    assert abs(float(got) - sum(losses) / len(losses)) < 1e-5


def test_t2i_loss_matches_loop() -> None:
    b, d = 4, 8
    inter, pair_image = _pairs([3, 0, 2, 4], d)
    pos, pmask = _ragged(b, 3, d, [2, 3, 1, 0])
    got = t2i_loss(inter, pair_image, pos, pmask, TAU)
    pairs_of = {j: [inter[p] for p in range(inter.shape[0]) if pair_image[p] == j] for j in range(b)}
    cols = [j for j in range(b) if pairs_of[j]]
    losses = []
    for i in cols:
        if not pmask[i].any():
            continue
        s = {j: s_loop(_rows(pos[i], pmask[i]), pairs_of[j], 1 / TAU) for j in cols}
        losses.append(-math.log(math.exp(s[i]) / sum(math.exp(v) for v in s.values())))
    assert len(losses) == 2
    assert abs(float(got) - sum(losses) / len(losses)) < 1e-5


def test_soft_relation_labels_and_loss_match_loop() -> None:
    b, r, d = 3, 3, 6
    inter, pair_image = _pairs([3, 2, 1], d)
    union = torch.randn(inter.shape[0], d, dtype=torch.float64)
    verbs, mask = _ragged(b, r, d, [2, 3, 1])
    objects = torch.randn(b, r, d, dtype=torch.float64)
    for mode in ("cosine", "minmax"):
        thr = 0.1 if mode == "cosine" else 0.5
        y, valid = soft_relation_labels(union, pair_image, verbs, objects, mask, thr, mode)
        for k in range(inter.shape[0]):
            i = int(pair_image[k])
            mates = [q for q in range(inter.shape[0]) if pair_image[q] == i]
            for p in range(r):
                assert bool(valid[k, p]) == bool(mask[i, p])
                if not mask[i, p]:
                    assert float(y[k, p]) == 0.0
                    continue
                s1, s2 = _cos(union[k], verbs[i, p]), _cos(union[k], objects[i, p])  # Eq. 11
                if mode == "minmax":
                    c1 = [_cos(union[q], verbs[i, p]) for q in mates]
                    c2 = [_cos(union[q], objects[i, p]) for q in mates]
                    s1 = 1.0 if max(c1) - min(c1) < 1e-6 else (s1 - min(c1)) / (max(c1) - min(c1))
                    s2 = 1.0 if max(c2) - min(c2) < 1e-6 else (s2 - min(c2)) / (max(c2) - min(c2))
                assert float(y[k, p]) == float(s1 >= thr and s2 >= thr)  # Eqs. 12-14
        got = soft_relation_loss(inter, pair_image, verbs, y, valid, TAU)
        terms: dict[int, list[float]] = {}
        for k in range(inter.shape[0]):
            i = int(pair_image[k])
            for p in range(r):
                if mask[i, p]:
                    yhat = 1 / (1 + math.exp(-_cos(inter[k], verbs[i, p]) / TAU))  # Eq. 15 through a sigmoid
                    yy = float(y[k, p])
                    terms.setdefault(i, []).append(-(yy * math.log(yhat) + (1 - yy) * math.log(1 - yhat)))  # Eq. 16
        flat = [t for ts in terms.values() for t in ts]
        assert abs(float(got) - sum(flat) / len(flat)) < 1e-5
        summed = soft_relation_loss(inter, pair_image, verbs, y, valid, TAU, reduction="sum")
        assert abs(float(summed) - sum(sum(ts) for ts in terms.values()) / len(terms)) < 1e-5  # Eq. 16 per image
    with pytest.raises(ValueError, match="mean, sum"):
        soft_relation_loss(inter, pair_image, verbs, y, valid, TAU, reduction="max")


def test_minmax_labels_give_the_best_pair_of_each_triplet() -> None:
    d = 4
    union = torch.eye(d)[:3].double()  # three pairs of one image
    verbs = torch.eye(d)[None, :2].double()  # triplet 0 looks like pair 0, triplet 1 like pair 1
    y, _ = soft_relation_labels(union, torch.zeros(3, dtype=torch.long), verbs, verbs.clone(),
                                torch.ones(1, 2, dtype=torch.bool), 0.5, "minmax")
    assert y.tolist() == [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]


def test_pad_pairs_keeps_order_within_images() -> None:
    pair_image = torch.tensor([2, 0, 2, 2, 0])
    values = torch.arange(5.0)[:, None]
    out, mask = pad_pairs(values, pair_image, 4)
    assert out.shape == (4, 3, 1)
    assert out[0, :2, 0].tolist() == [1.0, 4.0] and out[2, :, 0].tolist() == [0.0, 2.0, 3.0]
    assert mask.sum(1).tolist() == [2, 0, 3, 0]
