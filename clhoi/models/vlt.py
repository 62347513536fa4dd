"""Visual Linguistic Translator (section 3.2): adapter -> BLIP-2 Q-Former -> adapters.

``f_img`` (CLIP patch tokens) is mapped by a first adapter into the Q-Former's
input space; the Q-Former updates the learned context queries ``C_0`` (and,
by default, the adapted image tokens) while cross-attending to the image; a
second adapter projects the updated queries to context features ``f_c`` and a
third projects the updated image tokens to visual features ``f_v``, both of
the CLIP text width.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from torch import Tensor, nn
from transformers import Blip2QFormerConfig, Blip2QFormerModel


def adapter(in_dim: int, out_dim: int) -> nn.Sequential:
    """A tuning adapter: LayerNorm then a linear map."""
    return nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, out_dim))


def _resolve(name_or_path: str, filename: str) -> Path:
    local = Path(name_or_path) / filename
    if local.is_file():
        return local
    if Path(name_or_path).is_dir():
        raise FileNotFoundError(f"{local} does not exist")
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(name_or_path, filename))


def _blip2_state(name_or_path: str) -> dict[str, Tensor]:
    """Read only the ``qformer.*`` and ``query_tokens`` tensors of a (sharded) BLIP-2 checkpoint."""
    try:
        index = json.loads(_resolve(name_or_path, "model.safetensors.index.json").read_text())
        files = sorted({f for k, f in index["weight_map"].items() if k.startswith(("qformer.", "query_tokens"))})
    except (FileNotFoundError, OSError):
        files = ["model.safetensors"]
    state: dict[str, Tensor] = {}
    for name in files:
        with safe_open(str(_resolve(name_or_path, name)), framework="pt") as f:
            for k in f.keys():
                if k.startswith("qformer.") or k == "query_tokens":
                    state[k] = f.get_tensor(k)
    return state


def load_qformer(name_or_path: str, weights: bool = True) -> tuple[Blip2QFormerModel, Tensor | None]:
    """Load a Q-Former by id or path.

    Accepts a full BLIP-2 checkpoint (``model_type: blip-2``, e.g.
    ``Salesforce/blip2-opt-2.7b``: only its Q-Former and query tokens are
    read) or a saved ``Blip2QFormerModel`` directory.

    Args:
        name_or_path: Hugging Face id or local directory.
        weights: when false, build the architecture with random weights.

    Returns:
        ``(qformer, query_tokens)``; ``query_tokens`` is BLIP-2's learned
        ``[1, 32, H]`` queries when the checkpoint has them, else ``None``.
    """
    raw = json.loads(_resolve(name_or_path, "config.json").read_text())
    is_blip2 = raw.get("model_type") in ("blip-2", "blip_2")
    config = Blip2QFormerConfig.from_pretrained(name_or_path)
    if not weights:
        return Blip2QFormerModel(config), None
    if not is_blip2:
        return Blip2QFormerModel.from_pretrained(name_or_path), None
    state = _blip2_state(name_or_path)
    model = Blip2QFormerModel(config)
    sub = {k[len("qformer."):]: v for k, v in state.items() if k.startswith("qformer.")}
    missing, unexpected = model.load_state_dict(sub, strict=False)
    if missing:
        raise ValueError(f"{name_or_path}: the BLIP-2 checkpoint lacks Q-Former weights {missing[:5]}...")
    return model, state.get("query_tokens")


@dataclass
class VLTOutput:
    """What the VLT gives for ``B`` images.

    Attributes:
        context: ``[B, Q, D]`` context features ``f_c`` (text width ``D``).
        visual: ``[B, L, D]`` visual features ``f_v``.
        attention: ``[B, Q, L]`` last Q-Former cross-attention of the context
            queries over the image patches (head mean), when asked.
    """

    context: Tensor
    visual: Tensor
    attention: Tensor | None = None


class VisualLinguisticTranslator(nn.Module):
    """Adapters around a BLIP-2 Q-Former with learned context queries ``C_0``.

    Args:
        qformer: a ``Blip2QFormerModel``.
        image_dim: width ``C`` of ``f_img``.
        out_dim: width ``D`` of ``f_c`` and ``f_v`` (the CLIP text width).
        num_queries: number of context queries ``Q``.
        query_init: optional ``[1, Q', H]`` initial queries (BLIP-2's); used
            when ``Q' == Q``, otherwise ``C_0`` starts from N(0, 0.02).
        updates_image: also pass the adapted image tokens through the Q-Former
            as queries, giving the updated ``f'_img``.
        frozen_qformer: freeze the Q-Former (kept in eval mode).
    """

    def __init__(self, qformer: Blip2QFormerModel, image_dim: int, out_dim: int, num_queries: int,
                 query_init: Tensor | None = None, updates_image: bool = True, frozen_qformer: bool = True) -> None:
        super().__init__()
        self.qformer = qformer
        hidden = qformer.config.hidden_size
        self.updates_image = updates_image
        self.frozen_qformer = frozen_qformer
        self.image_to_kv = adapter(image_dim, qformer.config.encoder_hidden_size)  # adapter 1: Q-Former input space
        self.image_to_tokens = adapter(image_dim, hidden)  # adapter 1: image tokens as Q-Former queries
        self.context_queries = nn.Parameter(torch.empty(1, num_queries, hidden))  # C_0
        if query_init is not None and query_init.shape[-2:] == (num_queries, hidden):
            self.context_queries.data.copy_(query_init.reshape(1, num_queries, hidden))
        else:
            nn.init.normal_(self.context_queries, std=0.02)
        self.context_adapter = adapter(hidden, out_dim)  # adapter 2: f_c
        self.visual_adapter = adapter(hidden, out_dim)  # adapter 3: f_v, same width as f_c
        if frozen_qformer:
            self.qformer.requires_grad_(False)
            self.qformer.eval()

    def train(self, mode: bool = True) -> "VisualLinguisticTranslator":
        super().train(mode)
        if self.frozen_qformer:
            self.qformer.eval()
        return self

    def forward(self, image_features: Tensor, return_attention: bool = False) -> VLTOutput:
        """Translate ``f_img [B, L, C]`` into ``f_c [B, Q, D]`` and ``f_v [B, L, D]``."""
        b, q = image_features.shape[0], self.context_queries.shape[1]
        kv = self.image_to_kv(image_features)  # [B, L, H_enc]
        tokens = self.image_to_tokens(image_features)  # [B, L, H]
        queries = self.context_queries.expand(b, -1, -1)
        if self.updates_image:
            queries = torch.cat([queries, tokens], dim=1)  # [B, Q + L, H]
        impl = self.qformer.config._attn_implementation
        if return_attention and impl != "eager":
            self.qformer.set_attn_implementation("eager")  # only eager attention returns weights
        try:
            out = self.qformer(query_embeds=queries, encoder_hidden_states=kv, output_attentions=return_attention)
        finally:
            if return_attention and impl != "eager":
                self.qformer.set_attn_implementation(impl)
        hidden = out.last_hidden_state
        updated_image = hidden[:, q:] if self.updates_image else tokens  # f'_img, [B, L, H]
        attention = None
        if return_attention and out.cross_attentions:
            attention = out.cross_attentions[-1][:, :, :q].mean(1)  # [B, Q, L]
        return VLTOutput(self.context_adapter(hidden[:, :q]), self.visual_adapter(updated_image), attention)
