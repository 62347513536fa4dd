"""Interaction Cognition Network (section 3.3): spatial -> visual -> context cognition.

Everything runs on the padded per-image layout of :class:`~clhoi.models.pairs.PairLayout`:
detections ``[B, N, H]`` and pair slots ``[B, M, H]``; padded rows are
computed and dropped by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from clhoi.models.geometry import NUM_PAIR_FEATURES, box_cxcywh, pair_features, patch_centres, sine_encoding, union_boxes
from clhoi.models.upt import UPTHead


def mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Two linear layers with a ReLU between."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))


def _gather(x: Tensor, idx: Tensor) -> Tensor:
    """``x [B, N, C]``, ``idx [B, M]`` -> ``[B, M, C]``."""
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def _unmask_empty_rows(key_padding: Tensor) -> Tensor:
    """Keep one key in rows that mask every key, so softmax stays finite (those rows are dropped later)."""
    key_padding = key_padding.clone()
    key_padding[key_padding.all(dim=1), 0] = False
    return key_padding


class CognitionBlock(nn.Module):
    """Attention, residual + norm, then FFN, residual + norm (DETR post-norm layer).

    Args:
        dim: query width.
        heads: attention heads.
        kdim, vdim: key and value widths (default ``dim``).
        dropout: dropout on attention and FFN outputs.
    """

    def __init__(self, dim: int, heads: int, kdim: int | None = None, vdim: int | None = None,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, kdim=kdim, vdim=vdim, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(4 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, q: Tensor, k: Tensor, v: Tensor, key_padding: Tensor | None = None,
                need_weights: bool = False, attn_mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """``x`` is the residual stream; ``q, k, v`` the attention inputs; ``attn_mask`` an additive
        ``[B * heads, Lq, Lk]`` float mask. Weights: ``[B, Lq, Lk]`` head mean."""
        out, w = self.attn(q, k, v, key_padding_mask=key_padding, need_weights=need_weights, attn_mask=attn_mask)
        x = self.norm1(x + self.drop(out))
        return self.norm2(x + self.drop(self.ffn(x))), w


@dataclass
class ICNOutput:
    """Interaction features of every pair slot and optional attention maps.

    Attributes:
        features: ``[B, M, H]`` final interaction features ``I`` (``I_c``).
        attentions: ``{"visual": [B, M, L], "context": [B, M, Q]}`` when asked
            and the link is on.
    """

    features: Tensor
    attentions: dict[str, Tensor]


class SpatialCognition(nn.Module):
    """Spatial prior ``S`` from pair geometry, Eq. 1 over box embeddings, and ``I_s``.

    ``base_dim`` is the width of the baseline's pair features (UPT head) fused
    into ``I_s``; 0 means no baseline features. With ``enabled=False`` there is
    no geometry and no self-attention: ``I_s`` is the baseline's pair feature
    (UPT) or, without one, ``MLP(e_h, e_o)``. ``residual`` (with ``base_dim``):
    ``I_s = base + MLP(...)``, so the link starts from the baseline's features.
    """

    def __init__(self, dim: int, heads: int, num_layers: int, dropout: float, enabled: bool = True,
                 base_dim: int = 0, residual: bool = False) -> None:
        super().__init__()
        self.enabled = enabled
        self.residual = residual and base_dim > 0
        self.dim = dim
        self.base_dim = base_dim
        if enabled:
            self.layers = nn.ModuleList(CognitionBlock(dim, heads, dropout=dropout) for _ in range(num_layers))
            self.spatial_prior = nn.Sequential(nn.Linear(NUM_PAIR_FEATURES, dim), nn.ReLU(inplace=True))  # S
            self.fuse = mlp(3 * dim + base_dim, dim, dim)
        elif not base_dim:
            self.fuse = mlp(2 * dim, dim, dim)

    def forward(self, e: Tensor, boxes: Tensor, box_mask: Tensor, pair_h: Tensor, pair_o: Tensor,
                base: Tensor | None = None) -> Tensor:
        """``e [B, N, H]``, ``boxes [B, N, 4]`` ([0, 1] xyxy), pair indices ``[B, M]``, baseline pair
        features ``base [B, M, base_dim]`` (when ``base_dim``) -> ``I_s [B, M, H]``."""
        if (base is None) != (not self.base_dim):
            raise ValueError(f"SpatialCognition was built with base_dim={self.base_dim} but got base={base is not None}")
        if not self.enabled:
            if base is not None:
                return base
            return self.fuse(torch.cat([_gather(e, pair_h), _gather(e, pair_o)], -1))
        pe = sine_encoding(box_cxcywh(boxes), self.dim // 4)  # PE(b), [B, N, H]
        pad = _unmask_empty_rows(~box_mask)
        x = e
        for layer in self.layers:
            x, _ = layer(x, x + pe, x + pe, x, key_padding=pad)  # Eq. 1: SelfAttn(e + PE(b), e + PE(b), e)
        bh, bo = _gather(boxes, pair_h), _gather(boxes, pair_o)  # [B, M, 4]
        geometry = pair_features(bh.flatten(0, 1), bo.flatten(0, 1)).view(*pair_h.shape, -1)  # [B, M, 36]
        s = self.spatial_prior(geometry)  # S
        parts = [_gather(x, pair_h), _gather(x, pair_o), s] + ([base] if base is not None else [])
        i_s = self.fuse(torch.cat(parts, -1))  # I_s
        return base + i_s if self.residual else i_s


UNION_GUIDANCE = ("none", "mask", "bias")
"""How Eq. 3's attention is "guided by the union-region bounding box b_u" (``model.visual_union_guidance``)."""


def union_key_outside(union: Tensor, grid: tuple[int, int]) -> Tensor:
    """Patches whose centre lies outside each pair's union box ``b_u``: ``[B, M, L]`` (True = outside).

    ``union [B, M, 4]`` xyxy in ``[0, 1]``. A pair whose box holds no patch centre (a tiny
    or degenerate box, or a padded slot) keeps the patch nearest its centre, so every pair
    attends to at least one key.
    """
    c = patch_centres(grid, union.device).to(union.dtype)  # [L, 2]
    x, y = c[:, 0], c[:, 1]
    u = union.unsqueeze(-2)  # [B, M, 1, 4]
    inside = (x >= u[..., 0]) & (x <= u[..., 2]) & (y >= u[..., 1]) & (y <= u[..., 3])  # [B, M, L]
    centre = (union[..., :2] + union[..., 2:]) / 2  # [B, M, 2]
    nearest = ((centre.unsqueeze(-2) - c) ** 2).sum(-1).argmin(-1, keepdim=True)  # [B, M, 1]
    fallback = torch.zeros_like(inside).scatter_(-1, nearest, True) & ~inside.any(-1, keepdim=True)
    return ~(inside | fallback)


class VisualCognition(nn.Module):
    """Eqs. 2-3: ``I_v0 = MLP(I_s, PE(c_u))``; ``I_v = FFN(CrossAttn(I_v0, [f_v, PE(xy)], f_v))``.

    ``guidance`` is how the union box ``b_u`` guides the attention besides ``PE(c_u)`` in the
    query: ``none`` (only that), ``mask`` (keys whose patch centre is outside ``b_u`` are
    masked) or ``bias`` (their logits get a learned per-head bias ``-softplus(w)``, ``w``
    initialised to 2, i.e. about -2.1). ``residual``: ``I_v0 = I_s + MLP(I_s, PE(c_u))``.
    """

    def __init__(self, dim: int, visual_dim: int, heads: int, dropout: float, guidance: str = "none",
                 residual: bool = False) -> None:
        super().__init__()
        if guidance not in UNION_GUIDANCE:
            raise ValueError(f"unknown visual union guidance {guidance!r}; valid: {', '.join(UNION_GUIDANCE)}")
        self.dim = dim
        self.heads = heads
        self.guidance = guidance
        self.residual = residual
        self.query_mlp = mlp(2 * dim, dim, dim)
        self.block = CognitionBlock(dim, heads, kdim=visual_dim + dim, vdim=visual_dim, dropout=dropout)
        if guidance == "bias":
            self.outside_weight = nn.Parameter(torch.full((heads,), 2.0))

    def forward(self, i_s: Tensor, union_centre: Tensor, f_v: Tensor, grid: tuple[int, int],
                need_weights: bool = False, union: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """``I_s [B, M, H]``, ``union_centre [B, M, 2]`` ([0, 1]), ``f_v [B, L, D_v]`` -> ``I_v [B, M, H]``.

        ``union [B, M, 4]`` (xyxy, [0, 1]) is needed when ``guidance`` is not ``none``.
        """
        i_v0 = self.query_mlp(torch.cat([i_s, sine_encoding(union_centre, self.dim // 2)], -1))  # Eq. 2
        if self.residual:
            i_v0 = i_s + i_v0
        pos = sine_encoding(patch_centres(grid, f_v.device), self.dim // 2).to(f_v.dtype)  # [L, H]
        keys = torch.cat([f_v, pos.expand(f_v.shape[0], -1, -1)], -1)  # Concat(f_v, PE), [B, L, D_v + H]
        if self.guidance == "none":
            return self.block(i_v0, i_v0, keys, f_v, need_weights=need_weights)  # Eq. 3
        if union is None:
            raise ValueError(f"visual union guidance {self.guidance!r} needs the union boxes")
        outside = union_key_outside(union, grid)  # [B, M, L]
        if self.guidance == "mask":
            bias = torch.zeros(outside.shape, dtype=i_v0.dtype, device=i_v0.device).masked_fill(outside, float("-inf"))
            bias = bias.unsqueeze(1).expand(-1, self.heads, -1, -1)  # [B, heads, M, L]
        else:
            w = -nn.functional.softplus(self.outside_weight).to(i_v0.dtype)  # [heads]
            bias = outside.unsqueeze(1).to(i_v0.dtype) * w.view(1, -1, 1, 1)  # [B, heads, M, L]
        mask = bias.reshape(-1, *outside.shape[1:])  # [B * heads, M, L], as nn.MultiheadAttention wants
        return self.block(i_v0, i_v0, keys, f_v, need_weights=need_weights, attn_mask=mask)  # Eq. 3, guided by b_u


class ContextCognition(nn.Module):
    """Eq. 4: ``I_c = FFN(CrossAttn(I_v, f_c, f_c))``."""

    def __init__(self, dim: int, context_dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.block = CognitionBlock(dim, heads, kdim=context_dim, vdim=context_dim, dropout=dropout)

    def forward(self, i_v: Tensor, f_c: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        return self.block(i_v, i_v, f_c, f_c, need_weights=need_weights)


class InteractionCognitionNetwork(nn.Module):
    """The chain of cognitions; each link can be switched off (Table 4).

    Args:
        dim: ICN width ``H``.
        visual_dim: width of ``f_v``.
        context_dim: width of ``f_c``.
        heads: attention heads.
        num_spatial_layers: self-attention layers of Eq. 1.
        dropout: dropout.
        use_spatial, use_visual, use_context: the links.
        baseline: the pair features the chain starts from (Table 4 row 1): ``"upt"``
            (:class:`~clhoi.models.upt.UPTHead`, the paper's baseline) or ``"mlp"``
            (``MLP(e_h, e_o)`` when spatial cognition is off; nothing extra when on).
        image_dim: width of the image features the UPT head pools (``baseline="upt"``).
        num_cooperative_layers: the UPT head's cooperative layers (UPT: 2).
        visual_guidance: how ``b_u`` guides Eq. 3 (:class:`VisualCognition`): none, mask, bias.
        residual: the spatial link adds to the UPT head's pair features and Eq. 2's query adds
            to ``I_s`` (``model.link_residual``).
        upt_global_token: the UPT head fuses the mean image token (``model.upt_global_token``).
    """

    def __init__(self, dim: int, visual_dim: int, context_dim: int, heads: int = 8, num_spatial_layers: int = 2,
                 dropout: float = 0.1, use_spatial: bool = True, use_visual: bool = True,
                 use_context: bool = True, baseline: str = "mlp", image_dim: int = 0,
                 num_cooperative_layers: int = 2, visual_guidance: str = "none", residual: bool = False,
                 upt_global_token: bool = True) -> None:
        super().__init__()
        if baseline not in ("upt", "mlp"):
            raise ValueError(f"unknown baseline {baseline!r}; valid: upt, mlp")
        self.baseline = (UPTHead(dim, image_dim, heads, num_cooperative_layers, dropout, upt_global_token)
                         if baseline == "upt" else None)
        self.spatial = SpatialCognition(dim, heads, num_spatial_layers, dropout, enabled=use_spatial,
                                        base_dim=dim if baseline == "upt" else 0, residual=residual)
        self.visual = VisualCognition(dim, visual_dim, heads, dropout, visual_guidance, residual) if use_visual else None
        self.context = ContextCognition(dim, context_dim, heads, dropout) if use_context else None

    def forward(self, e: Tensor, boxes: Tensor, box_mask: Tensor, pair_h: Tensor, pair_o: Tensor,
                f_v: Tensor | None, grid: tuple[int, int], f_c: Tensor | None,
                return_attention: bool = False, pair_mask: Tensor | None = None,
                image_features: Tensor | None = None) -> ICNOutput:
        """Run the chain on padded inputs (see :class:`~clhoi.models.pairs.PairLayout`).

        Args:
            e: ``[B, N, H]`` box embeddings (projected to ``H``).
            boxes: ``[B, N, 4]`` xyxy in the ``[0, 1]`` frame.
            box_mask: ``[B, N]`` real detections.
            pair_h, pair_o: ``[B, M]`` human / object index of each pair slot.
            f_v: ``[B, L, D_v]`` visual features (needed when visual is on).
            grid: ``(rows, cols)`` of ``f_v``'s patches.
            f_c: ``[B, Q, D_c]`` context features (needed when context is on).
            return_attention: also return head-averaged attention maps.
            pair_mask: ``[B, M]`` real pair slots (needed by the UPT baseline).
            image_features: ``[B, L, C]`` image tokens the UPT baseline pools.
        """
        attentions: dict[str, Tensor] = {}
        base = None
        if self.baseline is not None:
            if pair_mask is None or image_features is None:
                raise ValueError("the UPT baseline needs pair_mask and image_features")
            base, w = self.baseline(e, boxes, box_mask, pair_h, pair_o, pair_mask, image_features, return_attention)
            if w is not None:
                attentions["competitive"] = w  # UPT's competitive layer, [B, M, M]
        x = self.spatial(e, boxes, box_mask, pair_h, pair_o, base)  # I_s
        if self.visual is not None:
            if f_v is None:
                raise ValueError("visual cognition is on but no visual features f_v were given")
            union = union_boxes(_gather(boxes, pair_h).flatten(0, 1), _gather(boxes, pair_o).flatten(0, 1))
            centre = box_cxcywh(union)[:, :2].view(*pair_h.shape, 2)
            x, w = self.visual(x, centre, f_v, grid, return_attention, union.view(*pair_h.shape, 4))  # I_v
            if w is not None:
                attentions["visual"] = w
        if self.context is not None:
            if f_c is None:
                raise ValueError("context cognition is on but no context features f_c were given (use_vlt off?)")
            x, w = self.context(x, f_c, return_attention)  # I_c
            if w is not None:
                attentions["context"] = w
        return ICNOutput(x, attentions)
