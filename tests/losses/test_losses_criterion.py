"""Criterion: weights, masks, empty images, gradients, the target builder."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from clhoi.engine.config import LossConfig
from clhoi.labelset import hoi_prompt, object_prompt, verb_prompt
from clhoi.losses import Criterion, DistillTargets
from clhoi.structures import LabelRecord, StudentOutput
from clhoi.targets import build_distill_targets

D = 8
ALL = {"context": 1.0, "i2t": 1.0, "t2i": 1.0, "soft_relation": 1.0}


def _output(pair_image: list[int], b: int, context: bool = True) -> StudentOutput:
    p = len(pair_image)
    return StudentOutput(
        interaction=torch.randn(p, D, requires_grad=True),
        pair_image=torch.tensor(pair_image, dtype=torch.long),
        human_idx=torch.zeros(p, dtype=torch.long),
        object_idx=torch.ones(p, dtype=torch.long),
        pair_scores=torch.rand(p, 2),
        object_labels=torch.ones(p, dtype=torch.long),
        context=torch.randn(b, 4, D, requires_grad=True) if context else None,
        logit_scale=torch.tensor(10.0),
    )


class _Encoder:
    """A deterministic text encoder: one random unit vector per distinct text."""

    def __init__(self) -> None:
        self.table: dict[str, torch.Tensor] = {}
        self.calls = 0

    def __call__(self, texts: list[str]) -> torch.Tensor:
        self.calls += 1
        for t in texts:
            self.table.setdefault(t, F.normalize(torch.randn(D), dim=0))
        return torch.stack([self.table[t] for t in texts])


def _records() -> list[LabelRecord | None]:
    return [
        LabelRecord("a.jpg", "a man rides a horse", [{"verb": "ride", "object": "horse"},
                                                     {"verb": "feed", "object": "horse"}], ["have", "do"]),
        LabelRecord("b.jpg", "a man stands", [], [], status="no_action"),
        None,
        LabelRecord("d.jpg", "a girl holds a cup", [{"verb": "hold", "object": "cup", "coco": "cup"}], ["say", "go"]),
    ]


def test_targets_builder_encodes_once_and_masks_empty_records() -> None:
    enc = _Encoder()
    union = torch.randn(5, D)
    t = build_distill_targets(_records(), enc, union=union)
    assert enc.calls == 1
    assert t.caption.shape == (4, 1, D) and t.caption_mask[:, 0].tolist() == [True, False, False, True]
    assert t.positive_mask.sum(1).tolist() == [2, 0, 0, 1]
    assert t.negative_mask.sum(1).tolist() == [2, 0, 0, 2]
    assert t.sr_mask.sum(1).tolist() == [2, 0, 0, 1]
    assert torch.allclose(t.positives[0, 1], enc.table[verb_prompt("feed")])
    assert torch.allclose(t.sr_objects[3, 0], enc.table[object_prompt("cup")])
    assert torch.equal(t.positives[1], torch.zeros(2, D))


def test_verb_object_text_space_puts_the_object_in_every_verb_text() -> None:
    enc = _Encoder()
    t = build_distill_targets(_records(), enc, union=torch.randn(5, D), hoi_template="a photo of a person {verb} {object}")
    assert t.positive_mask.sum(1).tolist() == [2, 0, 0, 1]
    assert torch.allclose(t.positives[0, 1], enc.table[hoi_prompt("feed", "horse")])
    assert torch.allclose(t.sr_verbs[3, 0], enc.table["a photo of a person holding a cup"])
    assert torch.allclose(t.sr_objects[3, 0], enc.table[object_prompt("cup")])  # Eq. 11's f_obj is unchanged
    # each negative verb with each of the image's objects: "a photo of a person saying a cup"
    assert t.negative_mask.sum(1).tolist() == [2, 0, 0, 2]
    assert torch.allclose(t.negatives[3, 0], enc.table[hoi_prompt("say", "cup")])
    assert not any(k.endswith(" an") or k.endswith(" a") for k in enc.table)


def test_criterion_weights_terms_and_total() -> None:
    torch.manual_seed(1)
    out = _output([0, 0, 3, 3, 3], 4)
    targets = build_distill_targets(_records(), _Encoder(), union=torch.randn(5, D))
    base = Criterion(ALL)(out, targets)
    weighted = Criterion({"context": 2.0, "i2t": 0.5, "t2i": 1.0, "soft_relation": 3.0})(out, targets)
    assert set(base) == {"context", "i2t", "t2i", "soft_relation", "total"}
    for name, w in (("context", 2.0), ("i2t", 0.5), ("soft_relation", 3.0)):
        assert torch.allclose(weighted[name], w * base[name])
    assert torch.allclose(weighted["total"], sum(v for k, v in weighted.items() if k != "total"))
    only_sr = Criterion({"soft_relation": 1.0})(out, targets)
    assert set(only_sr) == {"soft_relation", "total"}


def test_gradients_reach_interaction_and_context() -> None:
    out = _output([0, 0, 3, 3, 3], 4)
    targets = build_distill_targets(_records(), _Encoder(), union=torch.randn(5, D))
    Criterion(ALL)(out, targets)["total"].backward()
    assert out.interaction.grad is not None and out.interaction.grad.abs().sum() > 0
    assert out.context.grad is not None and out.context.grad.abs().sum() > 0
    assert torch.isfinite(out.interaction.grad).all() and torch.isfinite(out.context.grad).all()


@pytest.mark.parametrize("pair_image", [[], [1, 1, 2]])
def test_no_nan_when_no_image_has_both_pairs_and_positives(pair_image: list[int]) -> None:
    # images 1 and 2 have no positives; with [] there are no pairs at all
    out = _output(pair_image, 4)
    targets = build_distill_targets(_records(), _Encoder(), union=torch.randn(len(pair_image), D))
    losses = Criterion(ALL)(out, targets)
    for name in ("i2t", "t2i", "soft_relation"):
        assert losses[name].item() == 0.0
    assert torch.isfinite(losses["total"])
    losses["total"].backward()
    assert torch.isfinite(out.context.grad).all()
    if pair_image:
        assert torch.isfinite(out.interaction.grad).all()


def test_all_records_empty_gives_zero_and_graph() -> None:
    out = _output([0, 1], 2)
    for union in (torch.randn(2, D), None):
        targets = build_distill_targets([None, None], _Encoder(), union=union)
        assert targets.positives.shape == (2, 1, D) and not targets.positive_mask.any()
        weights = ALL if union is not None else {"context": 1.0, "i2t": 1.0, "t2i": 1.0}
        losses = Criterion(weights)(out, targets)
        assert losses["total"].item() == 0.0 and losses["total"].requires_grad


def test_padding_does_not_change_the_losses() -> None:
    out = _output([0, 0, 1], 2)
    targets = build_distill_targets([_records()[0], _records()[3]], _Encoder(), union=torch.randn(3, D))
    padded = DistillTargets(
        **{k: v for k, v in targets.__dict__.items()
           if k not in ("positives", "positive_mask", "negatives", "negative_mask")},
        positives=torch.cat([targets.positives, torch.randn(2, 3, D)], 1),
        positive_mask=torch.cat([targets.positive_mask, torch.zeros(2, 3, dtype=torch.bool)], 1),
        negatives=torch.cat([targets.negatives, torch.randn(2, 1, D)], 1),
        negative_mask=torch.cat([targets.negative_mask, torch.zeros(2, 1, dtype=torch.bool)], 1),
    )
    a, b = Criterion(ALL)(out, targets), Criterion(ALL)(out, padded)
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6)


def test_missing_inputs_name_the_weight_to_zero() -> None:
    out = _output([0, 1], 2, context=False)
    targets = build_distill_targets([_records()[0], _records()[3]], _Encoder())
    with pytest.raises(ValueError, match="loss.context=0"):
        Criterion(ALL)(out, targets)
    with pytest.raises(ValueError, match="loss.soft_relation=0"):
        Criterion({"i2t": 1.0, "soft_relation": 1.0})(out, targets)
    with pytest.raises(ValueError, match="loss.supervised=0"):
        Criterion({"supervised": 1.0})(out, targets)
    with pytest.raises(ValueError, match="valid"):
        Criterion({"contxt": 1.0})


def test_from_config_reads_every_field() -> None:
    cfg = LossConfig(context=0.0, supervised=2.0, temperature=0.5, sr_label_mode="cosine", focal_gamma=2.0)
    crit = Criterion.from_config(cfg)
    assert crit.weights["context"] == 0.0 and crit.weights["supervised"] == 2.0
    assert crit.temperature == 0.5 and crit.sr_label_mode == "cosine" and crit.focal_gamma == 2.0
    with pytest.raises(ValueError, match="sr_label_mode"):
        LossConfig(sr_label_mode="softmax")


def test_bf16_autocast_inputs_give_float32_losses() -> None:
    lin = torch.nn.Linear(D, D)
    targets = build_distill_targets(_records(), lambda t: _Encoder()(t).bfloat16(), union=torch.randn(5, D).bfloat16())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = _output([0, 0, 3, 3, 3], 4)
        out.interaction = lin(out.interaction.detach())
        out.context = lin(out.context.detach())
        losses = Criterion(ALL)(out, targets)
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    losses["total"].backward()
    assert lin.weight.grad is not None and torch.isfinite(lin.weight.grad).all()


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    pairs=st.lists(st.integers(0, 3), min_size=1, max_size=4),
    positives=st.lists(st.integers(0, 2), min_size=4, max_size=4),
    negatives=st.lists(st.integers(0, 2), min_size=4, max_size=4),
    captions=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_any_mix_of_empty_images_is_finite(pairs: list[int], positives: list[int], negatives: list[int],
                                           captions: list[bool]) -> None:
    b = len(pairs)
    out = _output([i for i, n in enumerate(pairs) for _ in range(n)], b)

    def ragged(counts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        mask = torch.arange(2)[None, :] < torch.tensor(counts)[:, None]
        return torch.randn(b, 2, D), mask

    pos, pmask = ragged(positives[:b])
    neg, nmask = ragged(negatives[:b])
    sr, smask = ragged(positives[:b])
    targets = DistillTargets(torch.randn(b, 1, D), torch.tensor(captions[:b])[:, None], pos, pmask, neg, nmask,
                             union=torch.randn(out.num_pairs, D), sr_verbs=sr, sr_objects=torch.randn(b, 2, D),
                             sr_mask=smask)
    losses = Criterion(ALL)(out, targets)
    assert all(torch.isfinite(v) for v in losses.values())
    losses["total"].backward()
    assert torch.isfinite(out.context.grad).all() and torch.isfinite(out.interaction.grad).all()
