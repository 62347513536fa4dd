"""The Visual Linguistic Translator and loading its Q-Former from a BLIP-2 checkpoint."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from transformers import Blip2Config, Blip2Model

from clhoi.models.student import build_student
from clhoi.models.testing import tiny_qformer, tiny_student_config
from clhoi.models.vlt import VisualLinguisticTranslator, load_qformer


def tiny_blip2(path: Path, sharded: bool) -> Blip2Model:
    cfg = Blip2Config(
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=16, patch_size=8),
        qformer_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            cross_attention_frequency=1, vocab_size=64, max_position_embeddings=32),
        text_config=dict(model_type="opt", vocab_size=64, hidden_size=16, num_hidden_layers=1, ffn_dim=32,
                         num_attention_heads=2, max_position_embeddings=32, word_embed_proj_dim=16),
        num_query_tokens=4,
    )
    model = Blip2Model(cfg)
    model.save_pretrained(path, max_shard_size="20KB" if sharded else "1GB")
    return model


@pytest.mark.parametrize("sharded", [False, True], ids=["single-file", "sharded"])
def test_qformer_and_queries_from_a_blip2_checkpoint(tmp_path: Path, sharded: bool) -> None:
    blip2 = tiny_blip2(tmp_path / "blip2", sharded)
    assert (tmp_path / "blip2" / "model.safetensors.index.json").is_file() == sharded
    qformer, queries = load_qformer(str(tmp_path / "blip2"))
    assert torch.equal(queries, blip2.query_tokens)
    ref = blip2.qformer.state_dict()
    for k, v in qformer.state_dict().items():
        assert torch.equal(v, ref[k]), k
    # the student takes the Q-Former and starts C_0 from BLIP-2's queries
    cfg = tiny_student_config(tmp_path / "tiny", qformer=str(tmp_path / "blip2"))
    model = build_student(cfg)
    assert torch.equal(model.vlt.context_queries.data, blip2.query_tokens.data)
    assert model.vlt.image_to_kv[1].out_features == blip2.config.qformer_config.encoder_hidden_size


def test_saved_qformer_and_architecture_only(tmp_path: Path) -> None:
    q = tiny_qformer()
    q.save_pretrained(tmp_path)
    loaded, queries = load_qformer(str(tmp_path))
    assert queries is None
    for (k, v), w in zip(q.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(v, w), k
    bare, _ = load_qformer(str(tmp_path), weights=False)
    assert bare.config.hidden_size == q.config.hidden_size


def test_missing_checkpoint_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_qformer(str(tmp_path))


def test_vlt_shapes_and_image_update_switch() -> None:
    torch.manual_seed(0)
    q = tiny_qformer(encoder_hidden_size=24, hidden_size=32)
    vlt = VisualLinguisticTranslator(q, image_dim=20, out_dim=12, num_queries=3, updates_image=True).eval()
    f = torch.randn(2, 9, 20)
    impl = q.config._attn_implementation
    out = vlt(f, return_attention=True)
    assert q.config._attn_implementation == impl  # restored after asking for weights
    assert out.context.shape == (2, 3, 12) and out.visual.shape == (2, 9, 12)
    assert out.attention.shape == (2, 3, 9)
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(2, 3))
    again = vlt(f)
    torch.testing.assert_close(again.context, out.context, atol=1e-5, rtol=1e-5)
    # without the image update the visual features skip the Q-Former
    vlt.updates_image = False
    plain = vlt(f)
    torch.testing.assert_close(plain.visual, vlt.visual_adapter(vlt.image_to_tokens(f)))
    assert not torch.allclose(plain.visual, out.visual)


def test_context_queries_see_the_image(tmp_path: Path) -> None:
    cfg = tiny_student_config(tmp_path)
    model = build_student(dataclasses.replace(cfg)).eval()
    a = model.vlt(torch.randn(1, 16, 32)).context
    b = model.vlt(torch.randn(1, 16, 32)).context
    assert not torch.allclose(a, b)
