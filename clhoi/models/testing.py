"""Tiny random CLIP / Q-Former checkpoints for tests and the offline sandbox.

:func:`tiny_student_config` writes them with ``save_pretrained`` (so the real
``from_pretrained`` path is exercised) and returns a :class:`ModelConfig`
pointing at them. The CLIP tokenizer is a byte-level BPE built in code: every
byte is a token, plus a few merges, so any text tokenizes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from transformers import (
    Blip2QFormerConfig,
    Blip2QFormerModel,
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPTokenizer,
)

from clhoi.models.bpe import BOS, EOS, bytes_to_unicode
from clhoi.models.config import ModelConfig

_MERGES = ["t h", "th e</w>", "o n</w>", "i n", "in g</w>", "p e", "pe r", "per s", "pers on</w>"]


def tiny_clip_tokenizer() -> CLIPTokenizer:
    """A CLIP BPE tokenizer over bytes (~530 tokens), built in memory."""
    chars = list(bytes_to_unicode().values())
    vocab_list = chars + [c + "</w>" for c in chars]
    merges = [tuple(m.split()) for m in _MERGES if len(m.split()) == 2]
    for a, b in merges:
        vocab_list.append(a + b)
    vocab_list += [BOS, EOS]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(vocab_list))}
    return CLIPTokenizer(vocab=vocab, merges=merges)


def tiny_clip(tokenizer: CLIPTokenizer, image_size: int = 32, patch_size: int = 8, width: int = 32,
              projection_dim: int = 32) -> CLIPModel:
    """A 2-layer random CLIP whose text config matches ``tokenizer``'s special ids."""
    vocab = tokenizer.get_vocab()
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=32, bos_token_id=vocab[BOS],
                         eos_token_id=vocab[EOS], pad_token_id=vocab[EOS]),
        vision_config=dict(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2, num_attention_heads=2,
                           image_size=image_size, patch_size=patch_size),
        projection_dim=projection_dim,
    )
    return CLIPModel(cfg).eval()


def tiny_qformer(encoder_hidden_size: int = 24, hidden_size: int = 32) -> Blip2QFormerModel:
    """A 2-layer random Q-Former with cross-attention in every layer."""
    cfg = Blip2QFormerConfig(hidden_size=hidden_size, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=2 * hidden_size, encoder_hidden_size=encoder_hidden_size,
                             cross_attention_frequency=1, vocab_size=64, max_position_embeddings=32)
    return Blip2QFormerModel(cfg).eval()


def save_tiny_backbones(directory: str | Path, image_size: int = 32, seed: int = 0) -> tuple[Path, Path]:
    """Write a tiny CLIP (with tokenizer and processor) and a tiny Q-Former; return their directories."""
    directory = Path(directory)
    clip_dir, qformer_dir = directory / "tiny-clip", directory / "tiny-qformer"
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        tokenizer = tiny_clip_tokenizer()
        tiny_clip(tokenizer, image_size=image_size).save_pretrained(clip_dir)
        tokenizer.save_pretrained(clip_dir)
        CLIPImageProcessor(size={"height": image_size, "width": image_size}, do_center_crop=False,
                           crop_size={"height": image_size, "width": image_size}).save_pretrained(clip_dir)
        tiny_qformer().save_pretrained(qformer_dir)
    finally:
        torch.random.set_rng_state(gen_state)
    return clip_dir, qformer_dir


def tiny_student_config(directory: str | Path, **overrides: object) -> ModelConfig:
    """A CPU-sized :class:`ModelConfig` whose CLIP and Q-Former are tiny random models saved under ``directory``.

    Image side 32 px with 8 px patches (16 tokens), hidden 32, 4 context queries,
    box embeddings of width 16. ``overrides`` replace any config field.
    """
    image_size = int(overrides.get("image_size", 32))  # type: ignore[arg-type]
    clip_dir, qformer_dir = save_tiny_backbones(directory, image_size=image_size)
    cfg = ModelConfig(clip=str(clip_dir), qformer=str(qformer_dir), image_size=image_size, num_context_queries=4,
                      box_embed_dim=16, hidden_dim=32, num_heads=2, num_spatial_layers=1, dropout=0.0)
    return replace(cfg, **overrides)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- real-size architectures
REAL_CLIP = {
    "ViT-B/16": dict(text_config=dict(), vision_config=dict(patch_size=16), projection_dim=512),
    "ViT-L/14": dict(
        text_config=dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12),
        vision_config=dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=24,
                           patch_size=14),
        projection_dim=768,
    ),
}
"""``CLIPConfig`` arguments of ``openai/clip-vit-base-patch16`` and ``openai/clip-vit-large-patch14``."""


def save_real_size_architecture(directory: str | Path, clip: str = "ViT-B/16") -> tuple[Path, Path]:
    """Write the *configs* (no weights) of a real-size CLIP and BLIP-2's Q-Former, for random-weight builds.

    The tokenizer written is the tiny byte-level one (the architecture does not
    depend on it). Build with ``clhoi.models.student.build_architecture``.
    """
    directory = Path(directory)
    clip_dir, qformer_dir = directory / "clip", directory / "qformer"
    image_size = CLIPConfig(**REAL_CLIP[clip]).vision_config.image_size
    CLIPConfig(**REAL_CLIP[clip]).save_pretrained(clip_dir)
    tiny_clip_tokenizer().save_pretrained(clip_dir)
    CLIPImageProcessor(size={"height": image_size, "width": image_size}, do_center_crop=False).save_pretrained(clip_dir)
    Blip2QFormerConfig().save_pretrained(qformer_dir)  # BLIP-2's: BERT-base width, cross-attention every 2 layers
    return clip_dir, qformer_dir
