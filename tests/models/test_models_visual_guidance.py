"""Eq. 3 guided by the union box ``b_u`` (``model.visual_union_guidance``): mask and bias."""

import pytest
import torch

from clhoi.models.config import ModelConfig
from clhoi.models.icn import InteractionCognitionNetwork, VisualCognition, union_key_outside

GRID = (4, 4)  # patch centres at 0.125, 0.375, 0.625, 0.875 on each axis
DIM, VDIM, HEADS = 16, 8, 2


def _module(guidance: str, seed: int = 0) -> VisualCognition:
    torch.manual_seed(seed)
    return VisualCognition(DIM, VDIM, HEADS, 0.0, guidance).eval()


def _inputs(union: torch.Tensor, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    b, m = union.shape[:2]
    i_s = torch.randn(b, m, DIM, generator=g)
    f_v = torch.randn(b, GRID[0] * GRID[1], VDIM, generator=g)
    centre = (union[..., :2] + union[..., 2:]) / 2
    return i_s, centre, f_v


def test_union_key_outside_marks_patch_centres_outside_the_box_and_keeps_one_key():
    union = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.9, 0.9, 0.95, 0.95]]])  # second: holds no patch centre
    out = union_key_outside(union, GRID)  # [1, 2, 16]
    inside0 = (~out[0, 0]).nonzero().flatten().tolist()
    assert inside0 == [0, 1, 4, 5]  # the 2 x 2 top-left patches
    assert (~out[0, 1]).nonzero().flatten().tolist() == [15]  # fallback: the patch nearest its centre


def test_mask_puts_zero_attention_outside_the_union_box():
    union = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.5, 0.25, 1.0, 1.0]]])
    i_s, centre, f_v = _inputs(union)
    _, w = _module("mask")(i_s, centre, f_v, GRID, need_weights=True, union=union)
    outside = union_key_outside(union, GRID)
    assert torch.all(w[outside] == 0)
    assert torch.allclose(w.sum(-1), torch.ones(1, 2))
    assert torch.all(w[~outside] > 0)


def test_bias_lowers_attention_outside_the_union_box_but_keeps_it():
    union = torch.tensor([[[0.0, 0.0, 0.5, 0.5]]])
    i_s, centre, f_v = _inputs(union)
    plain, biased = _module("none"), _module("bias")
    missing, unexpected = biased.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["outside_weight"] and not unexpected
    _, w0 = plain(i_s, centre, f_v, GRID, need_weights=True)
    _, w1 = biased(i_s, centre, f_v, GRID, need_weights=True, union=union)
    outside = union_key_outside(union, GRID)
    assert 0 < float(w1[outside].sum().detach()) < float(w0[outside].sum().detach())
    assert biased.outside_weight.requires_grad


def test_guidance_needs_union_and_rejects_unknown_modes():
    union = torch.tensor([[[0.0, 0.0, 0.5, 0.5]]])
    i_s, centre, f_v = _inputs(union)
    with pytest.raises(ValueError, match="needs the union boxes"):
        _module("mask")(i_s, centre, f_v, GRID)
    with pytest.raises(ValueError, match="unknown visual union guidance"):
        VisualCognition(DIM, VDIM, HEADS, 0.0, "crop")
    with pytest.raises(ValueError, match="visual_union_guidance"):
        ModelConfig(visual_union_guidance="crop")


@pytest.mark.parametrize("guidance", ["mask", "bias"])
def test_padded_pairs_and_other_images_do_not_change_a_pair(guidance):
    net = _module(guidance)
    union = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.25, 0.0, 1.0, 0.75]]])
    i_s, centre, f_v = _inputs(union)
    ref, _ = net(i_s, centre, f_v, GRID, union=union)
    # a padded slot (zero box) appended to the pairs
    pad_union = torch.cat([union, torch.zeros(1, 1, 4)], 1)
    pad_i_s = torch.cat([i_s, torch.randn(1, 1, DIM)], 1)
    out, _ = net(pad_i_s, (pad_union[..., :2] + pad_union[..., 2:]) / 2, f_v, GRID, union=pad_union)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[:, :2], ref, atol=1e-6)
    # a second image in the batch, with other pairs and features
    union2 = torch.tensor([[[0.5, 0.5, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]])
    i_s2, centre2, f_v2 = _inputs(union2, seed=7)
    both, _ = net(torch.cat([i_s, i_s2]), torch.cat([centre, centre2]), torch.cat([f_v, f_v2]), GRID,
                  union=torch.cat([union, union2]))
    assert torch.allclose(both[0], ref[0], atol=1e-6)


def test_icn_passes_each_pairs_union_box_to_the_visual_link():
    torch.manual_seed(0)
    icn = InteractionCognitionNetwork(DIM, VDIM, VDIM, HEADS, 1, 0.0, use_context=False,
                                      visual_guidance="mask").eval()
    boxes = torch.tensor([[[0.0, 0.0, 0.25, 0.5], [0.25, 0.0, 0.5, 0.5], [0.6, 0.6, 1.0, 1.0]]])
    out = icn(torch.randn(1, 3, DIM), boxes, torch.ones(1, 3, dtype=torch.bool), torch.tensor([[0, 0]]),
              torch.tensor([[1, 2]]), torch.randn(1, 16, VDIM), GRID, None, return_attention=True)
    w = out.attentions["visual"][0].detach()  # [2, 16]
    union = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0]]])
    outside = union_key_outside(union, GRID)[0]
    assert torch.all(w[0][outside[0]] == 0) and float(w[0].sum()) == pytest.approx(1.0, abs=1e-5)
    assert torch.all(w[1] > 0)  # the second pair's union box covers the image
