"""UPT's interaction head (Zhang et al., CVPR 2022), the baseline of the paper's Table 4.

Our own batched implementation of the head's two layers, on the padded layout
of :class:`~clhoi.models.pairs.PairLayout`; the facts follow fredzzhang/upt
(``interaction_head.py``, ``ops.compute_spatial_encodings``) and pocket
(``TransformerEncoderLayer``):

* pairwise spatial encodings of *every* ordered box pair (36 values, the same
  :func:`~clhoi.models.geometry.pair_features` as the ICN's prior ``S``)
  through a 3-layer ReLU MLP (36 -> 128 -> 256 -> R);
* the **cooperative layer** (two of them): each unary token (box embedding)
  receives messages from every box of its image; the attention logits of head
  ``h`` read ``[u_i, u_j, p_ij]`` and the messages are ``W_h (u_i * p_ij)``,
  so the pairwise spatial encodings modulate both; softmax over the senders;
* pair tokens ``[MBF(u_h, u_o; p_ho), MBF(g; p_ho)]`` where ``g`` is the
  mean-pooled image feature (UPT pools its backbone's C5 map; we pool the
  CLIP patch tokens ``f_img``) and MBF is UPT's multi-branch fusion;
* the **competitive layer**: one post-norm Transformer encoder layer
  (self-attention, GELU FFN) over the pair tokens of each image.

Widths follow UPT's ratios to the box-embedding width ``H`` (UPT: H = 256):
``R = 2H`` (UPT's ``repr_dim`` 512), pair tokens ``2R``, the competitive FFN
``8H`` (pocket's 2048). The output is projected to ``H`` so that the cognition
chain continues at the ICN's width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clhoi.models.geometry import NUM_PAIR_FEATURES, pair_features


def _feed_forward(dim: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))


def _gather(x: Tensor, idx: Tensor) -> Tensor:
    """``x [B, N, C]``, ``idx [B, M]`` -> ``[B, M, C]``."""
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def pairwise_spatial_encodings(boxes: Tensor) -> Tensor:
    """``boxes [B, N, 4]`` ([0, 1] xyxy) -> ``[B, N, N, 36]``: entry ``[b, i, j]`` encodes box ``i`` with box ``j``."""
    b, n, _ = boxes.shape
    first = boxes[:, :, None].expand(b, n, n, 4).reshape(-1, 4)
    second = boxes[:, None].expand(b, n, n, 4).reshape(-1, 4)
    return pair_features(first, second).view(b, n, n, NUM_PAIR_FEATURES)


class MultiBranchFusion(nn.Module):
    """UPT's MBF: ``ReLU(W3 ReLU(W1 a * W2 s))``.

    UPT writes it as ``cardinality`` branches of width ``out / cardinality``
    whose outputs are summed; that is the same function as one product of the
    full width followed by one linear map (the branches' ``W3`` blocks side by
    side), which is how it is written here.
    """

    def __init__(self, appearance_dim: int, spatial_dim: int, out_dim: int) -> None:
        super().__init__()
        self.appearance = nn.Linear(appearance_dim, out_dim)
        self.spatial = nn.Linear(spatial_dim, out_dim)
        self.out = nn.Linear(out_dim, out_dim)

    def forward(self, appearance: Tensor, spatial: Tensor) -> Tensor:
        return F.relu(self.out(F.relu(self.appearance(appearance) * self.spatial(spatial))))


class CooperativeLayer(nn.Module):
    """UPT's modified encoder layer over the unary tokens of each image.

    Args:
        dim: unary token width ``H``.
        repr_dim: width ``R`` of the pairwise encodings and the messages.
        heads: attention heads (``R`` must be divisible by it).
        dropout: dropout on the aggregated messages and in the FFN.
    """

    def __init__(self, dim: int, repr_dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if repr_dim % heads:
            raise ValueError(f"repr_dim {repr_dim} must be divisible by heads {heads}")
        self.heads, self.head_dim = heads, repr_dim // heads
        self.unary = nn.Linear(dim, repr_dim)
        self.pairwise = nn.Linear(repr_dim, repr_dim)
        d = self.head_dim
        self.attn_weight = nn.Parameter(torch.empty(heads, 3 * d))  # one Linear(3d, 1) per head
        self.attn_bias = nn.Parameter(torch.zeros(heads))
        self.message_weight = nn.Parameter(torch.empty(heads, d, d))  # one Linear(d, d) per head
        self.message_bias = nn.Parameter(torch.zeros(heads, d))
        bound = 1.0 / (3 * d) ** 0.5
        nn.init.uniform_(self.attn_weight, -bound, bound)
        nn.init.uniform_(self.message_weight, -1.0 / d**0.5, 1.0 / d**0.5)
        self.aggregate = nn.Linear(repr_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = _feed_forward(dim, 4 * dim, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, pairwise: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``x [B, N, H]``, ``pairwise [B, N, N, R]``, ``mask [B, N]`` -> (``[B, N, H]``, weights ``[B, N, N, heads]``).

        ``weights[b, i, j, h]`` is how much receiver ``j`` takes from sender ``i`` (softmax over ``i``).
        """
        b, n, _ = x.shape
        h, d = self.heads, self.head_dim
        u = F.relu(self.unary(x)).view(b, n, h, d)  # [B, N, h, d]
        p = F.relu(self.pairwise(pairwise)).view(b, n, n, h, d)  # [B, N(i), N(j), h, d]
        a_i, a_j, a_p = self.attn_weight.split(d, dim=-1)  # [h, d] each
        logits = (torch.einsum("bihd,hd->bih", u, a_i)[:, :, None] + torch.einsum("bjhd,hd->bjh", u, a_j)[:, None]
                  + torch.einsum("bijhd,hd->bijh", p, a_p) + self.attn_bias)  # [B, N(i), N(j), h]
        senders = mask.clone()
        senders[~senders.any(1), 0] = True  # an image without boxes keeps one sender: finite, dropped later
        logits = logits.masked_fill(~senders[:, :, None, None], float("-inf"))
        weights = logits.softmax(dim=1)
        # sum_i w_ij (W (u_i * p_ij) + c) = W (sum_i w_ij u_i * p_ij) + c, since the weights sum to 1
        mixed = torch.einsum("bijh,bihd,bijhd->bjhd", weights, u, p)  # [B, N(j), h, d]
        messages = torch.einsum("bjhd,hed->bjhe", mixed, self.message_weight) + self.message_bias
        x = self.norm1(x + self.drop(self.aggregate(F.relu(messages.reshape(b, n, h * d)))))
        return self.norm2(x + self.drop(self.ffn(x))), weights


class CompetitiveLayer(nn.Module):
    """Post-norm Transformer encoder layer over the pair tokens of each image (pocket's, GELU FFN)."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = _feed_forward(dim, ffn_dim, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """``x [B, M, 2R]``, ``mask [B, M]`` real pairs -> (``[B, M, 2R]``, weights ``[B, M, M]`` or None)."""
        pad = ~mask
        pad[pad.all(1), 0] = False  # an image without pairs keeps one key
        out, w = self.attn(x, x, x, key_padding_mask=pad, need_weights=need_weights)
        x = self.norm1(x + self.drop(out))
        return self.norm2(x + self.drop(self.ffn(x))), w


class UPTHead(nn.Module):
    """UPT's interaction head: cooperative layers over boxes, competitive layer over pairs.

    Args:
        dim: box-embedding width ``H`` (also the output width).
        image_dim: width of the image features pooled into the global token.
        heads: attention heads of both layers.
        num_cooperative_layers: UPT uses 2.
        dropout: dropout of both layers (UPT: 0.1).
        global_token: fuse the mean image token into every pair token (UPT does); ``False``
            builds pair tokens from the boxes and their geometry alone.
    """

    def __init__(self, dim: int, image_dim: int, heads: int = 8, num_cooperative_layers: int = 2,
                 dropout: float = 0.1, global_token: bool = True) -> None:
        super().__init__()
        r = 2 * dim
        width = 2 * r if global_token else r
        self.spatial_head = nn.Sequential(nn.Linear(NUM_PAIR_FEATURES, 128), nn.ReLU(), nn.Linear(128, 256), nn.ReLU(),
                                          nn.Linear(256, r), nn.ReLU())
        self.cooperative = nn.ModuleList(CooperativeLayer(dim, r, heads, dropout) for _ in range(num_cooperative_layers))
        self.fuse_pair = MultiBranchFusion(2 * dim, r, r)
        self.fuse_global = MultiBranchFusion(image_dim, r, r) if global_token else None
        self.competitive = CompetitiveLayer(width, heads, 8 * dim, dropout)
        self.out = nn.Linear(width, dim)

    def forward(self, e: Tensor, boxes: Tensor, box_mask: Tensor, pair_h: Tensor, pair_o: Tensor, pair_mask: Tensor,
                image_features: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """Pair features of every pair slot.

        Args:
            e: ``[B, N, H]`` unary tokens (projected box embeddings).
            boxes: ``[B, N, 4]`` xyxy in the ``[0, 1]`` frame.
            box_mask: ``[B, N]`` real detections.
            pair_h, pair_o: ``[B, M]`` human / object index of each pair slot.
            pair_mask: ``[B, M]`` real pairs.
            image_features: ``[B, L, C]`` image tokens, mean-pooled into UPT's global feature.
            need_weights: also return the competitive layer's head-averaged attention ``[B, M, M]``.

        Returns:
            ``([B, M, H], weights or None)``; padded slots hold finite values.
        """
        spatial = self.spatial_head(pairwise_spatial_encodings(boxes).to(e.dtype))  # [B, N, N, R]
        x = e
        for layer in self.cooperative:
            x, _ = layer(x, spatial, box_mask)
        bidx = torch.arange(e.shape[0], device=e.device)[:, None]  # [B, 1]
        s_pair = spatial[bidx, pair_h, pair_o]  # [B, M, R]
        unary = torch.cat([_gather(x, pair_h), _gather(x, pair_o)], -1)  # [B, M, 2H]
        tokens = self.fuse_pair(unary, s_pair)  # [B, M, R]
        if self.fuse_global is not None:
            g = image_features.mean(1, keepdim=True).expand(-1, pair_h.shape[1], -1)  # [B, M, C]
            tokens = torch.cat([tokens, self.fuse_global(g.to(e.dtype), s_pair)], -1)  # [B, M, 2R]
        tokens, weights = self.competitive(tokens, pair_mask, need_weights)
        return self.out(tokens), weights
