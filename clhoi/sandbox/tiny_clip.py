"""The sandbox's small CLIP: Hugging Face ``CLIPModel`` with a small config and a world tokenizer.

The tokenizer is a CLIP byte-pair encoding trained in code on the world's
texts (captions, prompts, the negative-verb dictionary): every byte is in the
vocabulary, so any text tokenizes, and the world's words are whole tokens.
It is saved with ``save_pretrained`` next to the model, so
``CLIPModel.from_pretrained(dir)`` / ``AutoTokenizer.from_pretrained(dir)``
load it exactly as they load ``openai/clip-*``.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

from clhoi.models.bpe import BOS, EOS, bytes_to_unicode

ASSET_DIR = Path(__file__).parent / "assets" / "clip"
"""Where the shipped, trained sandbox CLIP lives."""


def build_tokenizer(corpus: list[str], vocab_size: int = 1200) -> CLIPTokenizer:
    """Train a CLIP-style BPE (``</w>`` word ends, byte alphabet) on ``corpus``.

    Args:
        corpus: texts whose words should become tokens.
        vocab_size: target vocabulary size (bytes, merges and the two specials).
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, end_of_word_suffix="</w>", show_progress=False,
                                  min_frequency=2)
    tok.train_from_iterator(corpus, trainer)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split()) for m in json.loads(tok.to_str())["model"]["merges"]]
    chars = list(bytes_to_unicode().values())
    vocab_list = chars + [c + "</w>" for c in chars] + [a + b for a, b in merges] + [BOS, EOS]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(vocab_list))}
    return CLIPTokenizer(vocab=vocab, merges=merges)


def small_clip_config(tokenizer: CLIPTokenizer, image_size: int = 128, patch_size: int = 16, width: int = 64,
                      layers: int = 3, projection_dim: int = 64) -> CLIPConfig:
    """A small CLIP config (about 0.4 M parameters at the defaults) matching ``tokenizer``'s ids."""
    vocab = tokenizer.get_vocab()
    return CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=width, intermediate_size=4 * width, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=32, bos_token_id=vocab[BOS],
                         eos_token_id=vocab[EOS], pad_token_id=vocab[EOS]),
        vision_config=dict(hidden_size=width, intermediate_size=4 * width, num_hidden_layers=layers,
                           num_attention_heads=4, image_size=image_size, patch_size=patch_size),
        projection_dim=projection_dim,
        logit_scale_init_value=2.6592,
    )


def image_processor(image_size: int) -> CLIPImageProcessor:
    """CLIP's processor resizing to a ``image_size`` square without cropping."""
    return CLIPImageProcessor(size={"height": image_size, "width": image_size}, do_center_crop=False,
                              crop_size={"height": image_size, "width": image_size})


def save_clip(model: CLIPModel, tokenizer: CLIPTokenizer, directory: str | Path) -> Path:
    """``save_pretrained`` the model, its tokenizer and its image processor into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    image_processor(model.config.vision_config.image_size).save_pretrained(directory)
    return directory


def shipped_clip_path() -> Path:
    """The shipped sandbox CLIP directory; raises with the regeneration command when absent."""
    if not (ASSET_DIR / "config.json").is_file():
        raise FileNotFoundError(
            f"the sandbox CLIP is missing from {ASSET_DIR}; regenerate it with "
            "`python -m clhoi.sandbox.clip_training --out clhoi/sandbox/assets/clip`"
        )
    return ASSET_DIR


PROBE_CLIP_DIR = Path(__file__).parent / "assets" / "clip_probes"
"""The sandbox CLIP trained on the demo world and the capability probes' worlds (their words too)."""


def probe_clip_path() -> Path:
    """The shipped probes' CLIP directory; raises with the regeneration command when absent."""
    if not (PROBE_CLIP_DIR / "config.json").is_file():
        raise FileNotFoundError(
            f"the probes' sandbox CLIP is missing from {PROBE_CLIP_DIR}; regenerate it with `python -m "
            "clhoi.sandbox.clip_training --probe-scenes 400 --steps 900 --out clhoi/sandbox/assets/clip_probes`"
        )
    return PROBE_CLIP_DIR


QFORMER_DIR = Path(__file__).parent / "assets" / "qformer"
"""Where the shipped sandbox Q-Former (random init, small config) lives."""


def save_qformer(directory: str | Path, encoder_hidden_size: int = 64, hidden_size: int = 64, seed: int = 0) -> Path:
    """``save_pretrained`` a small, randomly initialised BLIP-2 Q-Former (2 layers, cross-attention in each)."""
    import torch
    from transformers import Blip2QFormerConfig, Blip2QFormerModel

    cfg = Blip2QFormerConfig(hidden_size=hidden_size, num_hidden_layers=2, num_attention_heads=4,
                             intermediate_size=2 * hidden_size, encoder_hidden_size=encoder_hidden_size,
                             cross_attention_frequency=1, vocab_size=32, max_position_embeddings=32)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = Blip2QFormerModel(cfg).eval()
    finally:
        torch.random.set_rng_state(state)
    directory = Path(directory)
    model.save_pretrained(directory)
    return directory
