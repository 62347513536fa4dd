"""Every loss setting reaches the loss, and the soft-relation labels at exact thresholds.

For each field of ``LossConfig``, ``Criterion.from_config`` with a non-default value gives exactly the terms
the equations give with that value (the equations themselves are checked against loops in
test_losses_equations.py), and different terms from the default: a setting that never reaches the loss fails.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math

import pytest
import torch
import torch.nn.functional as F

from clhoi.engine.config import LossConfig
from clhoi.losses import (
    Criterion,
    DistillTargets,
    context_loss,
    i2t_loss,
    soft_relation_labels,
    soft_relation_loss,
    t2i_loss,
)
from clhoi.matching import SupervisedTargets, supervised_loss
from clhoi.structures import StudentOutput

D = 8
PAIR_IMAGE = [0, 0, 0, 1, 1, 1, 1, 2, 2]
B = 3

ALTERNATIVES = {
    "context": 2.5, "i2t": 0.5, "t2i": 3.0, "soft_relation": 0.25, "supervised": 2.0,
    "temperature": 0.2, "sr_temperature": 0.5, "sr_threshold": 0.3, "sr_label_mode": "cosine",
    "sr_reduction": "mean", "focal_alpha": 0.25, "focal_gamma": 2.0, "prior_lambda": 0.5,
}
"""A non-default value of every LossConfig field (a new field needs one here, with what it changes)."""


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    p = len(PAIR_IMAGE)
    out = StudentOutput(
        interaction=torch.randn(p, D, generator=g), pair_image=torch.tensor(PAIR_IMAGE),
        human_idx=torch.zeros(p, dtype=torch.long), object_idx=torch.ones(p, dtype=torch.long),
        pair_scores=torch.rand(p, 2, generator=g) * 0.8 + 0.1, object_labels=torch.ones(p, dtype=torch.long),
        context=torch.randn(B, 4, D, generator=g), logit_scale=torch.tensor(5.0))
    targets = DistillTargets(
        caption=torch.randn(B, 1, D, generator=g), caption_mask=torch.tensor([[True], [True], [False]]),
        positives=torch.randn(B, 2, D, generator=g), positive_mask=torch.tensor([[True, True], [True, False], [True, True]]),
        negatives=torch.randn(B, 2, D, generator=g), negative_mask=torch.ones(B, 2, dtype=torch.bool),
        union=torch.randn(p, D, generator=g), sr_verbs=torch.randn(B, 2, D, generator=g),
        sr_objects=torch.randn(B, 2, D, generator=g), sr_mask=torch.tensor([[True, True], [True, False], [True, True]]))
    # union crops that match their triplets' texts: raw cosines well above 0.5 for some entries (cosine mode has labels)
    targets.union[0] = targets.sr_verbs[0, 0] + targets.sr_objects[0, 0]
    targets.union[4] = targets.sr_verbs[1, 0] + targets.sr_objects[1, 0]
    labels = (torch.rand(p, 5, generator=g) > 0.6).float()
    sup = SupervisedTargets(labels, torch.randn(5, D, generator=g), torch.rand(p, 5, generator=g) > 0.2)
    return out, targets, sup


def _expected(cfg: LossConfig, out: StudentOutput, t: DistillTargets, sup: SupervisedTargets) -> dict[str, float]:
    """The terms, straight from the equations with the config's values."""
    inter, img, tau = out.interaction, out.pair_image, cfg.temperature
    y, valid = soft_relation_labels(t.union, img, t.sr_verbs, t.sr_objects, t.sr_mask, cfg.sr_threshold,
                                    cfg.sr_label_mode)
    extra = {"reduction": cfg.sr_reduction} if hasattr(cfg, "sr_reduction") else {}
    terms = {
        "context": cfg.context * context_loss(out.context, t.caption, t.caption_mask, tau),
        "i2t": cfg.i2t * i2t_loss(inter, img, t.positives, t.positive_mask, t.negatives, t.negative_mask, tau),
        "t2i": cfg.t2i * t2i_loss(inter, img, t.positives, t.positive_mask, tau),
        "soft_relation": cfg.soft_relation * soft_relation_loss(inter, img, t.sr_verbs, y, valid, cfg.sr_temperature,
                                                                **extra),
        "supervised": cfg.supervised * supervised_loss(out, sup, cfg.focal_alpha, cfg.focal_gamma, cfg.prior_lambda),
    }
    return {k: float(v) for k, v in terms.items()}


BASE = dict(context=1.0, i2t=1.0, t2i=1.0, soft_relation=1.0, supervised=1.0)


def _got(cfg: LossConfig, out, t, sup) -> dict[str, float]:
    terms = Criterion.from_config(cfg)(out, t, sup)
    return {k: float(v) for k, v in terms.items()}


def test_every_field_has_a_case():
    missing = [f.name for f in dataclasses.fields(LossConfig) if f.name not in ALTERNATIVES]
    assert not missing, f"add a non-default value for loss.{missing} to ALTERNATIVES and check what it changes"


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(LossConfig)])
def test_each_loss_setting_reaches_the_loss(field: str):
    out, t, sup = _batch()
    base = LossConfig(**BASE)
    changed = dataclasses.replace(base, **{field: ALTERNATIVES[field]})
    got, expected, before = _got(changed, out, t, sup), _expected(changed, out, t, sup), _expected(base, out, t, sup)
    assert set(got) == set(BASE) | {"total"}
    for term in BASE:
        assert got[term] == pytest.approx(expected[term], rel=1e-5, abs=1e-7), term
    assert got["total"] == pytest.approx(sum(expected.values()), rel=1e-5)
    moved = [k for k in BASE if not math.isclose(expected[k], before[k], rel_tol=1e-4, abs_tol=1e-7)]
    assert moved, f"loss.{field}={ALTERNATIVES[field]!r} changes no term on this batch"
    assert _got(base, out, t, sup)["total"] == pytest.approx(sum(before.values()), rel=1e-5)


def test_a_zero_weight_removes_its_term():
    out, t, sup = _batch()
    for term in BASE:
        got = _got(LossConfig(**{**BASE, term: 0.0}), out, t, sup)
        assert term not in got and set(got) == set(BASE) - {term} | {"total"}


# ----------------------------------------------------------------------------- SR labels at exact thresholds
def _unit(*v: float) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.float32)


E1, E2 = _unit(1, 0, 0, 0), _unit(0, 1, 0, 0)


def _one_image_labels(unions: list[torch.Tensor], threshold: float, mode: str) -> list[float]:
    u = torch.stack(unions)
    y, valid = soft_relation_labels(u, torch.zeros(len(unions), dtype=torch.long), E1[None, None], E1[None, None],
                                    torch.ones(1, 1, dtype=torch.bool), threshold, mode)
    assert valid.all()
    return y[:, 0].tolist()


def test_cosine_equal_to_the_threshold_is_a_positive():
    # cosines exactly 1 and 0 (axis vectors)
    assert _one_image_labels([E1, E2], 1.0, "cosine") == [1.0, 0.0]
    assert _one_image_labels([E1, E2], 0.0, "cosine") == [1.0, 1.0]


def test_minmax_best_pair_reaches_one_and_worst_zero_exactly():
    unions = [E1, E2, F.normalize(E1 + E2, dim=0)]  # cosines 1, 0, 0.707 -> rescaled 1, 0, 0.707
    assert _one_image_labels(unions, 1.0, "minmax") == [1.0, 0.0, 0.0]  # only the best pair equals 1
    assert _one_image_labels(unions, 0.0, "minmax") == [1.0, 1.0, 1.0]  # the worst pair equals 0
    assert _one_image_labels(unions, 0.7, "minmax") == [1.0, 0.0, 1.0]
    assert _one_image_labels(unions, 0.71, "minmax") == [1.0, 0.0, 0.0]


def test_sr_labels_at_a_non_default_threshold_need_verb_and_object():
    # one image, three pairs; verb and object texts differ: a pair is positive only when both clear the threshold
    verb, obj = E1, E2
    unions = torch.stack([E1 + E2, E1 + 0.2 * E2, 0.2 * E1 + E2, 0.4 * E1 + 0.4 * E2 + _unit(0, 0, 1, 0)])
    pair_image = torch.zeros(4, dtype=torch.long)
    mask = torch.ones(1, 1, dtype=torch.bool)
    cos = F.normalize(unions, dim=-1)
    v, o = cos[:, 0], cos[:, 1]  # raw cosines with the verb and the object
    for threshold in (0.3, 0.5, 0.6):
        y, _ = soft_relation_labels(unions, pair_image, verb[None, None], obj[None, None], mask, threshold, "cosine")
        assert y[:, 0].tolist() == ((v >= threshold) & (o >= threshold)).float().tolist()
    y3, _ = soft_relation_labels(unions, pair_image, verb[None, None], obj[None, None], mask, 0.3, "cosine")
    y5, _ = soft_relation_labels(unions, pair_image, verb[None, None], obj[None, None], mask, 0.5, "cosine")
    assert y3[:, 0].tolist() == [1.0, 0.0, 0.0, 1.0] and y5[:, 0].tolist() == [1.0, 0.0, 0.0, 0.0]
    ym, _ = soft_relation_labels(unions, pair_image, verb[None, None], obj[None, None], mask, 0.5, "minmax")
    assert ym[:, 0].tolist() == [1.0, 0.0, 0.0, 0.0]  # minmax: pair 0 is the only one good for both


def test_sr_labels_are_per_image_in_minmax():
    # E2 is the worst pair of image 0 and of image 1; image 2's only pair is its best (a constant column is 1)
    u = torch.stack([E1, E2, E2, F.normalize(E1 + 3 * E2, dim=0), E2])
    y, _ = soft_relation_labels(u, torch.tensor([0, 0, 1, 1, 2]), E1[None, None].expand(3, 1, 4),
                                E1[None, None].expand(3, 1, 4), torch.ones(3, 1, dtype=torch.bool), 0.5, "minmax")
    assert y[:, 0].tolist() == [1.0, 0.0, 0.0, 1.0, 1.0]


# ----------------------------------------------------------------------------- targets from label records
def test_only_ok_records_give_targets():
    from clhoi.structures import LabelRecord
    from clhoi.targets import build_distill_targets

    def encode(texts: list[str]) -> torch.Tensor:
        seeds = [int(hashlib.sha256(t.encode()).hexdigest()[:8], 16) for t in texts]
        return torch.stack([F.normalize(torch.randn(D, generator=torch.Generator().manual_seed(s)), dim=0) for s in seeds])

    pairs = [{"verb": "ride", "object": "horse"}]
    ok = LabelRecord("a.jpg", "a man rides a horse", pairs, ["eat", "cut"])
    failed = LabelRecord("b.jpg", "a man rides a horse", pairs, ["eat", "cut"], status="error")
    t = build_distill_targets([ok, failed], encode, union=torch.randn(2, D))
    assert t.caption_mask.tolist() == [[True], [False]]
    assert t.positive_mask.tolist() == [[True], [False]] and t.negative_mask.tolist() == [[True, True], [False, False]]
    assert t.sr_mask.tolist() == [[True], [False]]
    # negatives are the record's negative verbs, not its positives
    assert not torch.allclose(t.negatives[0, 0], t.positives[0, 0])


# ----------------------------------------------------------------------------- supervised matching boundary
@pytest.mark.parametrize("human, obj, expected", [
    ([0.0, 0.0, 20.0, 10.0], [30.0, 0.0, 40.0, 10.0], 1.0),  # person IoU 100 / 200 = 0.5 exactly: matched
    ([0.0, 0.0, 21.0, 10.0], [30.0, 0.0, 40.0, 10.0], 0.0),  # 100 / 210: not matched
    ([0.0, 0.0, 10.0, 10.0], [30.0, 0.0, 50.0, 10.0], 1.0),  # object IoU exactly 0.5
    ([0.0, 0.0, 10.0, 10.0], [30.0, 0.0, 51.0, 10.0], 0.0),
])
def test_supervised_match_at_iou_exactly_half(human, obj, expected):
    from clhoi.matching import match_pairs
    from clhoi.structures import Detections, ImageAnnotation

    det = Detections(torch.tensor([human, obj]), torch.ones(2), torch.tensor([0, 1]))
    gt = ImageAnnotation("a.jpg", (100, 100), torch.tensor([[0.0, 0.0, 10.0, 10.0], [30.0, 0.0, 40.0, 10.0]]),
                         torch.tensor([0, 1]), torch.tensor([[0, 1, 2]]))
    out = StudentOutput(torch.zeros(1, D), torch.tensor([0]), torch.tensor([0]), torch.tensor([1]), torch.ones(1, 2),
                        torch.tensor([1]))
    labels = match_pairs(out, [det], [gt], 3)
    assert labels.tolist() == [[0.0, 0.0, expected]]
