"""The student's behaviours pinned: batch independence, masked padding, where each PE reads, which link a switch cuts.

* An image's pair features, scores and attention maps do not depend on the other images of its batch
  (larger ones pad it, smaller ones are padded), and padded boxes get exactly zero attention weight in
  the spatial cognition's self-attention (Eq. 1).
* Eq. 1 encodes each box's centre and size, Eq. 2 the centre of the pair's union box, Eq. 3 the centres of
  the patches, (x, y) in the [0, 1] frame: checked on the coordinates the encodings receive, moving and
  scaling boxes.
* Each ablation switch cuts its own link: the outputs of the links before it are unchanged, the link is
  not run, and the links after it still run.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

import clhoi.models.icn as icn_module
from clhoi.labelset import LabelSet
from clhoi.models.config import ModelConfig
from clhoi.models.student import CLHOI, build_student
from clhoi.models.testing import tiny_student_config
from clhoi.postprocess import PostProcess
from clhoi.structures import Detections

EMB = 16


def dets(labels: list[int], size: tuple[int, int], seed: int) -> Detections:
    g = torch.Generator().manual_seed(seed)
    n = len(labels)
    h, w = size
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
    wh = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.3, h * 0.3]) + 2
    return Detections(torch.cat([xy, xy + wh], 1), torch.rand(n, generator=g) * 0.5 + 0.5,
                      torch.tensor(labels, dtype=torch.long), torch.randn(n, EMB, generator=g), size)


def feats(b: int, seed: int) -> torch.Tensor:
    return torch.randn(b, 16, 32, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> ModelConfig:
    return tiny_student_config(tmp_path_factory.mktemp("tiny"), num_spatial_layers=2)


@pytest.fixture(scope="module")
def model(cfg: ModelConfig) -> CLHOI:
    torch.manual_seed(0)
    return build_student(cfg).eval()


class SpatialAttention:
    """Records the head-averaged weights of every self-attention layer of Eq. 1 (``[B, N, N]`` per layer)."""

    def __init__(self, model: CLHOI) -> None:
        self.weights: list[torch.Tensor] = []
        self.handles = []
        for layer in model.icn.spatial.layers:
            self.handles.append(layer.attn.register_forward_hook(self._hook, with_kwargs=True))

    def _hook(self, module, args, kwargs, output):
        _, w = module.forward(*args, **{**kwargs, "need_weights": True})
        self.weights.append(w.detach())

    def __enter__(self) -> "SpatialAttention":
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()


# ----------------------------------------------------------------------------- batch independence
BATCH = [([0, 1, 2], (48, 64), 1), ([0, 0, 3, 5, 7, 9], (60, 40), 2), ([0, 4], (30, 50), 3)]
"""A middle image, a larger one (6 boxes: pads the others) and a smaller one (2 boxes: padded)."""


def _run(model: CLHOI, items: list, f: torch.Tensor):
    ds = [dets(*item) for item in items]
    out = model(ds, image_features=f, return_attention=True)
    labels = LabelSet.verbs(["ride", "hold", "kick"])
    text = model.encode_label_set(labels)
    preds = PostProcess(score_lambda=0.5)(out, ds, [f"img{i}" for i in range(len(ds))], text, labels)
    return out, preds


@pytest.mark.parametrize("index", [0, 1, 2], ids=["middle", "largest", "smallest"])
def test_every_image_gives_the_same_pairs_scores_and_attention_alone_and_in_a_batch(model: CLHOI, index: int):
    f = feats(3, seed=5)
    batch, batch_preds = _run(model, BATCH, f)
    alone, alone_preds = _run(model, [BATCH[index]], f[index : index + 1])
    sel = batch.pair_image == index
    assert int(sel.sum()) == alone.num_pairs > 0
    torch.testing.assert_close(batch.interaction[sel], alone.interaction, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batch.pair_scores[sel], alone.pair_scores, rtol=0, atol=0)
    assert torch.equal(batch.object_labels[sel], alone.object_labels)
    for name in ("visual", "context"):
        torch.testing.assert_close(batch.attentions[name][sel], alone.attentions[name], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batch.attentions["vlt"][index], alone.attentions["vlt"][0], rtol=1e-5, atol=1e-5)
    b, a = batch_preds[index], alone_preds[0]
    assert torch.equal(b.pairs, a.pairs) and torch.equal(b.classes, a.classes)
    torch.testing.assert_close(b.scores, a.scores, rtol=1e-5, atol=1e-6)


def test_padded_boxes_get_zero_attention_weight(model: CLHOI):
    ds = [dets(*item) for item in BATCH]
    with SpatialAttention(model) as spy:
        model(ds, image_features=feats(3, seed=5))
    assert len(spy.weights) == 2  # num_spatial_layers
    counts = [len(d) for d in ds]
    for w in spy.weights:
        assert w.shape == (3, max(counts), max(counts))
        for i, n in enumerate(counts):
            assert torch.all(w[i, :n, n:] == 0), f"image {i}: a real box attends to padding"
            torch.testing.assert_close(w[i, :n, :n].sum(-1), torch.ones(n))  # all weight on real boxes
            assert torch.all(w[i, :n, :n] > 0)


# ----------------------------------------------------------------------------- positional encodings
class PERecorder:
    """Records the coordinates passed to ``sine_encoding`` inside the ICN, by equation."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[torch.Tensor] = []
        real = icn_module.sine_encoding

        def spy(coords, dim_per_coord, *args, **kwargs):
            self.calls.append(coords.detach().clone())
            return real(coords, dim_per_coord, *args, **kwargs)

        monkeypatch.setattr(icn_module, "sine_encoding", spy)

    def by_equation(self) -> dict[str, torch.Tensor]:
        eq1 = [c for c in self.calls if c.shape[-1] == 4]
        eq2 = [c for c in self.calls if c.shape[-1] == 2 and c.ndim == 3]
        eq3 = [c for c in self.calls if c.shape[-1] == 2 and c.ndim == 2]
        assert len(eq1) == len(eq2) == len(eq3) == 1, [tuple(c.shape) for c in self.calls]
        return {"eq1": eq1[0], "eq2": eq2[0], "eq3": eq3[0]}


def _boxes_pe(model: CLHOI, monkeypatch, boxes: list[list[float]], size=(48, 64)) -> dict[str, torch.Tensor]:
    d = Detections(torch.tensor(boxes), torch.ones(len(boxes)), torch.tensor([0] + [1] * (len(boxes) - 1)),
                   torch.ones(len(boxes), EMB), size)
    rec = PERecorder(monkeypatch)
    model([d], image_features=feats(1, seed=2))
    return rec.by_equation()


BOXES = [[8.0, 4.0, 24.0, 36.0], [32.0, 12.0, 48.0, 24.0], [40.0, 30.0, 60.0, 46.0]]  # 64 x 48 image


def test_eq1_encodes_box_centre_and_size_in_the_image_frame(model: CLHOI, monkeypatch):
    pe = _boxes_pe(model, monkeypatch, BOXES)["eq1"][0]
    # box 0: centre (16, 20) px, size 16 x 32 px -> (16/64, 20/48, 16/64, 32/48)
    torch.testing.assert_close(pe[0], torch.tensor([0.25, 20 / 48, 0.25, 32 / 48]))
    moved = [b[:] for b in BOXES]
    moved[1] = [b + d for b, d in zip(BOXES[1], (8.0, -6.0, 8.0, -6.0))]  # move box 1 by (+8, -6) px
    pe_moved = _boxes_pe(model, monkeypatch, moved)["eq1"][0]
    torch.testing.assert_close(pe_moved[1] - pe[1], torch.tensor([8 / 64, -6 / 48, 0.0, 0.0]))
    torch.testing.assert_close(pe_moved[[0, 2]], pe[[0, 2]])
    scaled = [b[:] for b in BOXES]
    scaled[2] = [45.0, 34.0, 55.0, 42.0]  # box 2 halved about its centre (50, 38)
    pe_scaled = _boxes_pe(model, monkeypatch, scaled)["eq1"][0]
    torch.testing.assert_close(pe_scaled[2], torch.tensor([50 / 64, 38 / 48, 10 / 64, 8 / 48]))
    torch.testing.assert_close(pe_scaled[2, :2], pe[2, :2])  # the centre did not move


def test_eq2_encodes_the_union_box_centre_of_each_pair(model: CLHOI, monkeypatch):
    pe = _boxes_pe(model, monkeypatch, BOXES)["eq2"][0]  # pairs (0, 1), (0, 2)
    # union of 0 and 1: [8, 4, 48, 36] -> centre (28, 20); of 0 and 2: [8, 4, 60, 46] -> (34, 25)
    torch.testing.assert_close(pe, torch.tensor([[28 / 64, 20 / 48], [34 / 64, 25 / 48]]))
    grown = [b[:] for b in BOXES]
    grown[1] = [32.0, 12.0, 56.0, 44.0]  # object 1 grows right and down: union [8, 4, 56, 44] -> (32, 24)
    pe_grown = _boxes_pe(model, monkeypatch, grown)["eq2"][0]
    torch.testing.assert_close(pe_grown[0], torch.tensor([32 / 64, 24 / 48]))
    torch.testing.assert_close(pe_grown[1], pe[1])


def test_eq3_encodes_patch_centres_as_x_y_row_major(model: CLHOI, monkeypatch):
    pe = _boxes_pe(model, monkeypatch, BOXES)["eq3"]  # the tiny CLIP: a 4 x 4 grid of patches
    assert pe.shape == (16, 2)
    centres = torch.tensor([0.125, 0.375, 0.625, 0.875])
    torch.testing.assert_close(pe[:4], torch.stack([centres, torch.full((4,), 0.125)], -1))  # first row: x varies
    torch.testing.assert_close(pe[::4], torch.stack([torch.full((4,), 0.125), centres], -1))  # first column: y varies


def test_eq1_keys_carry_the_position(model: CLHOI):
    """Boxes that look alike (same embedding) are still told apart by where they are."""
    d = Detections(torch.tensor(BOXES), torch.ones(3), torch.tensor([0, 1, 1]), torch.ones(3, EMB), (48, 64))
    with SpatialAttention(model) as spy:
        model([d], image_features=feats(1, seed=2))
    w = spy.weights[0][0]
    assert (w.max(-1).values - w.min(-1).values).min() > 1e-4  # not uniform over the keys


# ----------------------------------------------------------------------------- ablation switches
LINKS = ("spatial", "visual", "context")


def _stage_outputs(model: CLHOI, ds, f) -> dict[str, torch.Tensor]:
    """The output of each ICN link that runs, plus the final interaction features."""
    outs: dict[str, torch.Tensor] = {}
    handles = []
    for name in LINKS:
        module = getattr(model.icn, name)
        if module is not None:
            handles.append(module.register_forward_hook(
                lambda m, a, o, name=name: outs.__setitem__(name, (o[0] if isinstance(o, tuple) else o).detach())))
    try:
        result = model(ds, image_features=f)
    finally:
        for h in handles:
            h.remove()
    outs["interaction"] = result.interaction.detach()
    return outs


SWITCHES = {
    # switch: (config change, the link it cuts or feeds differently, links that must not run at all)
    "use_context": (dict(use_context=False), "context", {"context"}),
    "use_visual": (dict(use_visual=False), "visual", {"visual"}),
    "use_spatial": (dict(use_spatial=False), "spatial", set()),
    "use_vlt": (dict(use_vlt=False, use_context=False), "visual", {"context"}),  # f_v from an adapter, no f_c
}


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_each_switch_cuts_its_link_and_leaves_the_others(cfg: ModelConfig, model: CLHOI, switch: str):
    change, cut_link, not_run = SWITCHES[switch]
    torch.manual_seed(0)
    ablated = build_student(dataclasses.replace(cfg, **change)).eval()
    shared = {k: v for k, v in model.state_dict().items()
              if k in ablated.state_dict() and v.shape == ablated.state_dict()[k].shape}
    ablated.load_state_dict(shared, strict=False)
    ds, f = [dets([0, 1, 2], (48, 64), 1)], feats(1, seed=3)
    full, cut = _stage_outputs(model, ds, f), _stage_outputs(ablated, ds, f)
    assert set(full) == {"interaction", *LINKS}
    assert set(cut) == {"interaction", *(n for n in LINKS if n not in not_run)}  # the others still run
    assert getattr(ablated.config, switch) is False
    for name in not_run:
        assert getattr(ablated.icn, name) is None
    for name in LINKS[: LINKS.index(cut_link)]:  # every link before the cut: bit for bit the same
        torch.testing.assert_close(cut[name], full[name], rtol=0, atol=0)
    if cut_link in cut:  # a link that still runs but is fed or built differently
        assert not torch.allclose(cut[cut_link], full[cut_link], atol=1e-4)
    assert not torch.allclose(cut["interaction"], full["interaction"], atol=1e-4)
    if switch == "use_context":  # the last link cut: the result is the visual link's output, projected
        torch.testing.assert_close(cut["interaction"], ablated.out_proj(full["visual"][0]))
    if switch == "use_visual":  # the context link reads the spatial link's output instead
        torch.testing.assert_close(cut["spatial"], full["spatial"], rtol=0, atol=0)
        ctx = ablated.icn.context(full["spatial"], model(ds, image_features=f).context)[0]
        torch.testing.assert_close(cut["context"], ctx)
    if switch == "use_vlt":
        assert ablated.vlt is None and ablated(ds, image_features=f).context is None


def test_spatial_off_ignores_box_geometry_in_the_spatial_link(cfg: ModelConfig):
    mlp = {"baseline": "mlp"} if "baseline" in {x.name for x in dataclasses.fields(cfg)} else {}  # not UPT's geometry
    torch.manual_seed(0)
    baseline = build_student(dataclasses.replace(cfg, use_spatial=False, **mlp)).eval()
    a = Detections(torch.tensor(BOXES), torch.ones(3), torch.tensor([0, 1, 1]), torch.randn(3, EMB), (48, 64))
    b = dataclasses.replace(a, boxes=torch.tensor(BOXES) * 0.5)  # every box moved and scaled, same embeddings
    sa, sb = _stage_outputs(baseline, [a], feats(1, 1)), _stage_outputs(baseline, [b], feats(1, 1))
    torch.testing.assert_close(sa["spatial"], sb["spatial"], rtol=0, atol=0)
    full = build_student(dataclasses.replace(cfg, **mlp)).eval()
    fa, fb = _stage_outputs(full, [a], feats(1, 1)), _stage_outputs(full, [b], feats(1, 1))
    assert not torch.allclose(fa["spatial"], fb["spatial"], atol=1e-4)


# ----------------------------------------------------------------------------- settings that reach the output
def test_logit_scale_is_the_configured_initial_multiplier(cfg: ModelConfig):
    torch.manual_seed(0)
    m = build_student(dataclasses.replace(cfg, logit_scale_init=14.0)).eval()
    out = m([dets([0, 1], (48, 64), 1)], image_features=feats(1, 1))
    assert float(out.logit_scale.detach()) == pytest.approx(14.0, rel=1e-6)


def test_box_embedding_pooled_ignores_the_detector_embeddings(cfg: ModelConfig):
    torch.manual_seed(0)
    pooled = build_student(dataclasses.replace(cfg, box_embedding="pooled")).eval()
    a = dets([0, 1, 2], (48, 64), 1)
    b = dataclasses.replace(a, embeddings=torch.randn(3, EMB))
    f = feats(1, 4)
    torch.testing.assert_close(pooled([a], image_features=f).interaction, pooled([b], image_features=f).interaction,
                               rtol=0, atol=0)
    torch.manual_seed(0)
    auto = build_student(dataclasses.replace(cfg, box_embedding="auto")).eval()
    assert not torch.allclose(auto([a], image_features=f).interaction, auto([b], image_features=f).interaction)


def test_cognition_block_is_post_norm_attention_then_ffn(model: CLHOI):
    """``x1 = LN1(x + Attn(q, k, v))``, ``out = LN2(x1 + FFN(x1))`` (DETR's post-norm layer), dropout off."""
    block = model.icn.context.block
    g = torch.Generator().manual_seed(3)
    x, kv = torch.randn(2, 5, 32, generator=g), torch.randn(2, 4, 32, generator=g)
    got, _ = block(x, x, kv, kv)
    attn, _ = block.attn(x, kv, kv, need_weights=False)
    x1 = block.norm1(x + attn)
    torch.testing.assert_close(got, block.norm2(x1 + block.ffn(x1)))


def test_pair_features_read_the_object_box_embedding(cfg: ModelConfig):
    """Two objects in the same box that look different (embeddings) give different pair features.

    Checked without UPT's pair features (``baseline: mlp`` where the config has it), which read the object too.
    """
    mlp = {"baseline": "mlp"} if "baseline" in {x.name for x in dataclasses.fields(cfg)} else {}
    torch.manual_seed(0)
    model = build_student(dataclasses.replace(cfg, **mlp)).eval()
    box = [32.0, 12.0, 48.0, 24.0]
    emb = torch.randn(3, EMB, generator=torch.Generator().manual_seed(9))
    d = Detections(torch.tensor([BOXES[0], box, box]), torch.ones(3), torch.tensor([0, 1, 1]), emb, (48, 64))
    out = model([d], image_features=feats(1, 2))
    assert out.object_idx.tolist() == [1, 2]
    assert not torch.allclose(out.interaction[0], out.interaction[1], atol=1e-4)


def test_pair_geometry_scales_offsets_by_the_human_box():
    from clhoi.models.geometry import pair_features

    h = torch.tensor([[0.0, 0.0, 0.2, 0.4]])  # a 0.2 x 0.4 human, centre (0.1, 0.2)
    o = torch.tensor([[0.3, 0.5, 0.5, 0.7]])  # centre (0.4, 0.6): offset (+0.3, +0.4)
    raw = pair_features(h, o)[0, :18]
    torch.testing.assert_close(raw[14:18], torch.tensor([0.3 / 0.2, 0.0, 0.4 / 0.4, 0.0]))
