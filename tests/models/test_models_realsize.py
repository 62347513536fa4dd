"""Real-size architectures built with random weights on the meta device: parameter counts.

References: ``openai/clip-vit-base-patch16`` has 149,620,737 parameters and
``openai/clip-vit-large-patch14`` 427,616,513 (the published checkpoints); the
DETR paper (Carion et al. 2020, Table 1) gives 41M for DETR-R50 and 60M for
DETR-R101; the BLIP-2 Q-Former is counted layer by layer from its published
shape (BERT-base, 12 layers, cross-attention to 1408-d ViT-g features every
second layer).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import (
    Blip2QFormerConfig,
    Blip2QFormerModel,
    CLIPConfig,
    CLIPModel,
    DetrConfig,
    DetrForObjectDetection,
    ResNetConfig,
)

from clhoi.models.config import ModelConfig
from clhoi.models.student import build_architecture
from clhoi.models.testing import REAL_CLIP, save_real_size_architecture


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name, expected", [("ViT-B/16", 149_620_737), ("ViT-L/14", 427_616_513)])
def test_clip_parameter_counts(name: str, expected: int) -> None:
    with torch.device("meta"):
        model = CLIPModel(CLIPConfig(**REAL_CLIP[name]))
    assert count(model) == expected


@pytest.mark.parametrize("depths, millions", [([3, 4, 6, 3], 41), ([3, 4, 23, 3], 60)], ids=["R50", "R101"])
def test_detr_parameter_counts(depths: list[int], millions: int) -> None:
    backbone = ResNetConfig(depths=depths, hidden_sizes=[256, 512, 1024, 2048], layer_type="bottleneck",
                            out_features=["stage4"])
    with torch.device("meta"):
        model = DetrForObjectDetection(DetrConfig(use_timm_backbone=False, backbone_config=backbone, num_labels=91))
    assert count(model) // 1_000_000 == millions  # 41.5M and 60.5M, published as 41M and 60M
    assert model.config.d_model == ModelConfig().box_embed_dim  # decoder states are the box embeddings


def test_blip2_qformer_parameter_count() -> None:
    h, enc, ffn, layers = 768, 1408, 3072, 12
    self_attn = 4 * (h * h + h) + 2 * h  # q, k, v, out + LayerNorm
    cross_attn = 2 * (h * h + h) + 2 * (enc * h + h) + 2 * h  # q, out from h; k, v from the image width
    ffn_params = (h * ffn + ffn) + (ffn * h + h) + 2 * h  # the query FFN (no text input here)
    expected = layers * (self_attn + ffn_params) + (layers // 2) * cross_attn + 2 * h  # + input LayerNorm
    with torch.device("meta"):
        model = Blip2QFormerModel(Blip2QFormerConfig())
    assert count(model) == expected == 105_137_664


def test_real_size_student_on_meta(tmp_path: Path) -> None:
    clip_dir, qformer_dir = save_real_size_architecture(tmp_path)
    with torch.device("meta"):
        model = build_architecture(ModelConfig(), clip_dir, qformer_dir)
    assert count(model.encoders) == 149_620_737
    assert count(model.vlt.qformer) == 105_137_664
    trainable = sum(p.numel() for p in model.trainable_parameters())
    assert trainable == count(model) - 149_620_737 - 105_137_664  # CLIP and the Q-Former are frozen
    # UPT's head (tests/models/test_models_upt.py derives its size from UPT's layers) with CLIP's 768-d tokens pooled
    assert count(model.icn.baseline) == 12_712_592
    assert model.vlt.context_queries.shape == (1, 32, 768)
    assert model.grid == (14, 14)
