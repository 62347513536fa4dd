"""UPT's interaction head (the Table 4 baseline): reference loops, padding, gradients, sizes, the config switch."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from clhoi.models.config import ModelConfig
from clhoi.models.geometry import pair_features
from clhoi.models.student import build_student
from clhoi.models.testing import tiny_student_config
from clhoi.models.upt import CooperativeLayer, MultiBranchFusion, UPTHead, pairwise_spatial_encodings
from clhoi.structures import Detections


def boxes(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 0.6
    return torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 0.3 + 0.05], 1)


def test_cooperative_layer_matches_upt_loop() -> None:
    """UPT's formulation, head by head and receiver by receiver, on one image without padding."""
    torch.manual_seed(0)
    layer = CooperativeLayer(dim=8, repr_dim=12, heads=3, dropout=0.0).eval()
    n, h, d = 4, 3, 4
    x, pairwise = torch.randn(1, n, 8), torch.randn(1, n, n, 12)
    out, w = layer(x, pairwise, torch.ones(1, n, dtype=torch.bool))
    u = F.relu(layer.unary(x[0])).view(n, h, d)
    p = F.relu(layer.pairwise(pairwise[0])).view(n, n, h, d)
    heads = []
    for k in range(h):
        feats = torch.cat([u[:, None, k].expand(n, n, d), u[None, :, k].expand(n, n, d), p[:, :, k]], -1)  # [i, j]
        weights = (feats @ layer.attn_weight[k] + layer.attn_bias[k]).softmax(dim=0)  # softmax over senders i
        messages = (u[:, None, k] * p[:, :, k]) @ layer.message_weight[k].T + layer.message_bias[k]  # [i, j, d]
        heads.append((weights[..., None] * messages).sum(0))  # [j, d]
        torch.testing.assert_close(w[0, :, :, k], weights)
    ref = layer.norm1(x[0] + layer.aggregate(F.relu(torch.cat(heads, -1))))
    ref = layer.norm2(ref + layer.ffn(ref))
    torch.testing.assert_close(out[0], ref, rtol=1e-5, atol=1e-5)


def test_multi_branch_fusion_equals_upt_branches() -> None:
    """UPT's MBF with cardinality c is one full-width product followed by the W3 blocks side by side."""
    torch.manual_seed(0)
    c, sub = 4, 3
    mbf = MultiBranchFusion(5, 6, c * sub)
    a, s = torch.randn(7, 5), torch.randn(7, 6)
    branches = []
    for k in range(c):
        rows = slice(k * sub, (k + 1) * sub)
        hidden = F.relu(F.linear(a, mbf.appearance.weight[rows], mbf.appearance.bias[rows])
                        * F.linear(s, mbf.spatial.weight[rows], mbf.spatial.bias[rows]))
        branches.append(F.linear(hidden, mbf.out.weight[:, rows]))
    torch.testing.assert_close(mbf(a, s), F.relu(sum(branches) + mbf.out.bias))


def test_spatial_encodings_are_upt_pair_features() -> None:
    b = boxes(3, 0)[None]
    enc = pairwise_spatial_encodings(b)
    assert enc.shape == (1, 3, 3, 36)
    torch.testing.assert_close(enc[0, 2, 1], pair_features(b[0, 2:3], b[0, 1:2])[0])


def head_inputs(counts: list[int], pairs: list[int], dim: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    bsz, n, m = len(counts), max(counts), max(pairs)
    e = torch.randn(bsz, n, dim, generator=g)
    box = torch.stack([torch.cat([boxes(c, seed + i), torch.zeros(n - c, 4)]) for i, c in enumerate(counts)])
    box_mask = torch.arange(n)[None] < torch.tensor(counts)[:, None]
    pair_mask = torch.arange(m)[None] < torch.tensor(pairs)[:, None]
    ph = torch.zeros(bsz, m, dtype=torch.long)
    po = (torch.arange(m)[None] % torch.tensor(counts).clamp(min=2)[:, None].sub(1)).add(1) * pair_mask
    return e, box, box_mask, ph, po, pair_mask, torch.randn(bsz, 5, 24, generator=g)


def test_head_shapes_and_padding_independence() -> None:
    torch.manual_seed(0)
    head = UPTHead(16, 24, heads=4, dropout=0.0).eval()
    e, box, bm, ph, po, pm, img = head_inputs([3, 6], [2, 5])
    out, w = head(e, box, bm, ph, po, pm, img, need_weights=True)
    assert out.shape == (2, 5, 16) and w.shape == (2, 5, 5) and torch.isfinite(out).all()
    assert torch.allclose(w[0, :2, 2:], torch.zeros(2, 3))  # padded pairs get no attention
    # image 0 alone (no padding) gives the same features for its real pairs
    alone, _ = head(e[:1, :3], box[:1, :3], bm[:1, :3], ph[:1, :2], po[:1, :2], pm[:1, :2], img[:1])
    torch.testing.assert_close(out[0, :2], alone[0], rtol=1e-5, atol=1e-5)
    # an image without boxes or pairs stays finite
    empty, _ = head(e[:1], box[:1], torch.zeros(1, 6, dtype=torch.bool), ph[:1], po[:1], torch.zeros(1, 5, dtype=torch.bool),
                    img[:1])
    assert torch.isfinite(empty).all()


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    head = UPTHead(16, 24, heads=4, dropout=0.0)
    e, box, bm, ph, po, pm, img = head_inputs([3, 6], [2, 5])
    e.requires_grad_(True)
    out, _ = head(e, box, bm, ph, po, pm, img)
    out[pm].square().sum().backward()
    assert e.grad is not None and e.grad.abs().sum() > 0
    dead = [name for name, p in head.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not dead


def test_real_size_parameter_count() -> None:
    """With UPT's widths (H 256, R 512, C5 2048 channels) the head has UPT's parameters, less the 15 extra
    ``fc_3`` biases of each 16-branch MBF (the same function, see MultiBranchFusion), plus our output map."""
    with torch.device("meta"):
        head = UPTHead(256, 2048, heads=8, num_cooperative_layers=2)
    spatial_head = (36 * 128 + 128) + (128 * 256 + 256) + (256 * 512 + 512)
    cooperative = (256 * 512 + 512) + (512 * 512 + 512) + 8 * (3 * 64 + 1) + 8 * (64 * 64 + 64) + (512 * 256 + 256) \
        + 512 + (256 * 1024 + 1024) + (1024 * 256 + 256) + 512
    mbf = 16 * (512 * 32 + 32) + 16 * (512 * 32 + 32) + 16 * (32 * 512 + 512)
    mbf_g = 16 * (2048 * 32 + 32) + 16 * (512 * 32 + 32) + 16 * (32 * 512 + 512)
    competitive = 4 * (1024 * 1024 + 1024) + 2048 + (1024 * 2048 + 2048) + (2048 * 1024 + 1024) + 2048
    upt = spatial_head + 2 * cooperative + mbf + mbf_g + competitive
    ours = sum(p.numel() for p in head.parameters())
    assert ours == upt - 2 * 15 * 512 + (1024 * 256 + 256)
    assert 13e6 < ours < 14e6


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> ModelConfig:
    return tiny_student_config(tmp_path_factory.mktemp("tiny_upt"))


def test_baseline_switch_changes_only_the_baseline(cfg: ModelConfig) -> None:
    assert ModelConfig().baseline == "upt"
    with pytest.raises(ValueError, match="model.baseline"):
        ModelConfig(baseline="gcn")
    for spatial in (False, True):
        keys = {}
        for baseline in ("upt", "mlp"):
            c = dataclasses.replace(cfg, baseline=baseline, use_spatial=spatial, use_visual=False, use_context=False,
                                    use_vlt=False)
            keys[baseline] = {k: v.shape for k, v in build_student(c).state_dict().items()}
        only_upt = {k for k in keys["upt"] if k not in keys["mlp"]}
        only_mlp = {k for k in keys["mlp"] if k not in keys["upt"]}
        assert only_upt and all(k.startswith("icn.baseline.") for k in only_upt)
        changed = {k for k in keys["upt"] if k in keys["mlp"] and keys["upt"][k] != keys["mlp"][k]}
        # without spatial cognition the MLP(e_h, e_o) goes; with it, its fusion also reads the UPT pair feature
        assert only_mlp == (set() if spatial else {k for k in keys["mlp"] if k.startswith("icn.spatial.fuse.")})
        assert changed == ({"icn.spatial.fuse.0.weight"} if spatial else set())


def test_student_with_upt_baseline_trains_end_to_end(cfg: ModelConfig) -> None:
    torch.manual_seed(0)
    model = build_student(dataclasses.replace(cfg, baseline="upt", use_vlt=False, use_context=False))
    g = torch.Generator().manual_seed(3)
    dets = [Detections(torch.tensor([[2.0, 2, 30, 40], [20, 10, 50, 30], [5, 5, 20, 20]]), torch.rand(3, generator=g),
                       torch.tensor([0, 3, 0]), torch.randn(3, 16, generator=g), (48, 64))]
    out = model(dets, image_features=torch.randn(1, 16, 32, generator=g), return_attention=True)
    assert out.interaction.shape[0] == 4 and out.attentions["competitive"].shape == (4, 4)
    out.interaction.sum().backward()
    assert all(p.grad is not None for n, p in model.icn.baseline.named_parameters())


def test_global_token_switch_decides_whether_the_image_reaches_the_pairs() -> None:
    """``global_token=False``: pair features no longer depend on the image tokens; the boxes still decide them."""
    e, box, bm, ph, po, pm, img = head_inputs([3, 6], [2, 5])
    other = img.flip(0) * 3 + 1
    for global_token in (True, False):
        torch.manual_seed(0)
        head = UPTHead(16, 24, heads=4, dropout=0.0, global_token=global_token).eval()
        out, _ = head(e, box, bm, ph, po, pm, img)
        swapped, _ = head(e, box, bm, ph, po, pm, other)
        assert torch.isfinite(out).all() and out.shape == (2, 5, 16)
        same = torch.allclose(out[pm], swapped[pm])
        assert same is (not global_token)
        moved, _ = head(e, box.flip(1), bm, ph, po, pm, img)
        assert not torch.allclose(out[pm], moved[pm])
    assert (head.fuse_global is None and head.competitive.norm1.normalized_shape == (32,)
            and head.out.in_features == 32)  # R = 2H, not 2R


def test_global_token_config_reaches_the_head(cfg: ModelConfig) -> None:
    assert ModelConfig().upt_global_token is True
    with_g = build_student(dataclasses.replace(cfg, baseline="upt"))
    without = build_student(dataclasses.replace(cfg, baseline="upt", upt_global_token=False))
    assert with_g.icn.baseline.fuse_global is not None and without.icn.baseline.fuse_global is None
    extra = set(with_g.state_dict()) - set(without.state_dict())
    assert extra and all(k.startswith("icn.baseline.fuse_global.") for k in extra)
