"""Tiny random InstructBLIP / BLIP-2 / LLaVA teachers with tokenizers built in code (no downloads)."""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "what are the persons doing in image ? a man is riding horse holding cup person ride hold , . < > "
    "briefly list human-object interactions triplet of interaction object from sentence question answer : "
    "woman bicycle kick ball sit on bench dog"
).split()
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<image>"]


def tokenizer():
    """A word-level fast tokenizer over :data:`WORDS` (pad 0, unk 1, bos 2, eos 3, image 4)."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + list(dict.fromkeys(WORDS)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 2)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>",
    )


def _text_config(vocab_size: int) -> dict:
    return dict(
        model_type="llama", vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128, pad_token_id=0, bos_token_id=2,
        eos_token_id=3,
    )


def _vision_config() -> dict:
    return dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=30, patch_size=15)


def _qformer_config(vocab_size: int) -> dict:
    return dict(
        vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        encoder_hidden_size=16, max_position_embeddings=128, pad_token_id=0,
    )


def save_instructblip(path: Path) -> Path:
    from transformers import BlipImageProcessor, InstructBlipConfig, InstructBlipForConditionalGeneration, InstructBlipProcessor

    tok = tokenizer()
    n = len(tok)
    cfg = InstructBlipConfig(
        vision_config=_vision_config(), qformer_config=_qformer_config(n), text_config=_text_config(n),
        num_query_tokens=2, image_token_index=4,
    )
    model = InstructBlipForConditionalGeneration(cfg).eval()
    proc = InstructBlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 30, "width": 30}), tokenizer=tok, qformer_tokenizer=tokenizer(),
        num_query_tokens=2,
    )
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path


def save_blip2(path: Path) -> Path:
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor, BlipImageProcessor

    tok = tokenizer()
    n = len(tok)
    qformer = _qformer_config(n)
    cfg = Blip2Config(
        vision_config=_vision_config(), qformer_config=qformer, text_config=_text_config(n), num_query_tokens=2,
        image_token_index=4,
    )
    model = Blip2ForConditionalGeneration(cfg).eval()
    proc = Blip2Processor(image_processor=BlipImageProcessor(size={"height": 30, "width": 30}), tokenizer=tok, num_query_tokens=2)
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path


CHAT_TEMPLATE = (
    "{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' %}<image> "
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %}{% if add_generation_prompt %} answer :{% endif %}"
)


def save_llava(path: Path) -> Path:
    """A tiny LLaVA: a generic image-text-to-text chat model for ``backend=chat``."""
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    tok = tokenizer()
    n = len(tok)
    vision = dict(model_type="clip_vision_model", **_vision_config(), projection_dim=16)
    cfg = LlavaConfig(vision_config=vision, text_config=_text_config(n), image_token_id=4, vision_feature_layer=-1)
    model = LlavaForConditionalGeneration(cfg).eval()
    image_proc = CLIPImageProcessor(size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30})
    proc = LlavaProcessor(
        image_processor=image_proc, tokenizer=tok, patch_size=15, vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE, num_additional_image_tokens=1, image_token="<image>",
    )
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path
