"""``model.link_residual``: the spatial link adds to UPT's pair features, Eq. 2's query adds to ``I_s``."""

import pytest
import torch

from clhoi.models.icn import SpatialCognition, VisualCognition

DIM, HEADS = 16, 2


def _pairs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    e = torch.randn(1, 3, DIM, generator=g)
    xy = torch.rand(1, 3, 2, generator=g) * 0.5
    boxes = torch.cat([xy, xy + 0.3 + torch.rand(1, 3, 2, generator=g) * 0.2], -1)
    mask = torch.ones(1, 3, dtype=torch.bool)
    pair_h, pair_o = torch.tensor([[0, 0]]), torch.tensor([[1, 2]])
    base = torch.randn(1, 2, DIM, generator=g)
    return e, boxes, mask, pair_h, pair_o, base


def test_spatial_residual_adds_the_same_mapping_to_the_baseline_features():
    torch.manual_seed(0)
    plain = SpatialCognition(DIM, HEADS, 1, 0.0, base_dim=DIM).eval()
    torch.manual_seed(0)
    res = SpatialCognition(DIM, HEADS, 1, 0.0, base_dim=DIM, residual=True).eval()
    e, boxes, mask, ph, po, base = _pairs()
    out_plain = plain(e, boxes, mask, ph, po, base)
    out_res = res(e, boxes, mask, ph, po, base)
    assert torch.allclose(out_res, base + out_plain, atol=1e-6)
    # a zeroed last layer leaves exactly the baseline's features: the link starts from them
    torch.nn.init.zeros_(res.fuse[-1].weight)
    torch.nn.init.zeros_(res.fuse[-1].bias)
    assert torch.equal(res(e, boxes, mask, ph, po, base), base)


def test_spatial_residual_needs_baseline_features_to_add_to():
    layer = SpatialCognition(DIM, HEADS, 1, 0.0, base_dim=0, residual=True)
    assert not layer.residual  # the MLP baseline holds no pair features: nothing to add to
    e, boxes, mask, ph, po, _ = _pairs()
    assert layer(e, boxes, mask, ph, po).shape == (1, 2, DIM)


def test_visual_residual_query_keeps_i_s():
    torch.manual_seed(0)
    plain = VisualCognition(DIM, 8, HEADS, 0.0).eval()
    torch.manual_seed(0)
    res = VisualCognition(DIM, 8, HEADS, 0.0, residual=True).eval()
    g = torch.Generator().manual_seed(3)
    i_s = torch.randn(1, 2, DIM, generator=g)
    centre = torch.rand(1, 2, 2, generator=g)
    f_v = torch.randn(1, 16, 8, generator=g)
    a, _ = plain(i_s, centre, f_v, (4, 4))
    b, _ = res(i_s, centre, f_v, (4, 4))
    assert not torch.allclose(a, b)
    # with the query MLP's last layer zeroed, the residual query is I_s itself
    torch.nn.init.zeros_(res.query_mlp[-1].weight)
    torch.nn.init.zeros_(res.query_mlp[-1].bias)
    out, _ = res(i_s, centre, f_v, (4, 4))
    keys = torch.cat([f_v, _patch_pe(res)], -1)
    expected, _ = res.block(i_s, i_s, keys, f_v)
    assert torch.allclose(out, expected, atol=1e-6)


def _patch_pe(module: VisualCognition) -> torch.Tensor:
    from clhoi.models.geometry import patch_centres, sine_encoding

    return sine_encoding(patch_centres((4, 4), torch.device("cpu")), module.dim // 2).expand(1, -1, -1)


@pytest.mark.parametrize("residual", [False, True])
def test_student_config_reaches_both_links(residual, tmp_path):
    from clhoi.models.student import build_student
    from clhoi.models.testing import tiny_student_config

    student = build_student(tiny_student_config(tmp_path, link_residual=residual))
    assert student.icn.spatial.residual is residual
    assert student.icn.visual.residual is residual
