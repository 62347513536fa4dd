"""Teacher section of the experiment config (no torch imports)."""

from __future__ import annotations

import math
from dataclasses import dataclass

BACKENDS: tuple[str, ...] = ("instructblip", "blip2", "chat", "openai", "captions", "stub")
"""Caption backends. ``chat`` is any Hugging Face image-text-to-text chat model."""
PARSERS: tuple[str, ...] = ("same", "rules", "instructblip", "blip2", "chat", "openai", "stub")
"""Who answers prompt 2: the caption backend itself (``same``), the rule-based
parser (``rules``, no LLM) or another backend built from this same config."""
DTYPES: tuple[str, ...] = ("auto", "bfloat16", "float16", "float32")

INT_RANGES: tuple[tuple[str, int, int], ...] = (
    ("max_new_tokens", 1, 1_000_000), ("num_beams", 1, 1024), ("batch_size", 1, 100_000),
    ("concurrency", 1, 10_000), ("retries", 0, 1000), ("image_max_side", 0, 1_000_000),
    ("num_negatives", 0, 10_000),
)
"""Integer settings and their accepted ranges (checked when the config is made)."""
FLOAT_RANGES: tuple[tuple[str, float, float, bool], ...] = (
    ("temperature", 0.0, 100.0, False), ("top_p", 0.0, 1.0, True), ("repetition_penalty", 0.0, 100.0, True),
    ("timeout_s", 0.0, 86_400.0, True), ("backoff_s", 0.0, 3_600.0, False),
)
"""Float settings: ``(name, low, high, low excluded)``; NaN and infinity are always refused."""


@dataclass
class TeacherConfig:
    """Which VLLM labels the images, and how (paper section 3.2, appendix A.1/A.2).

    Attributes:
        backend: who writes the context caption (prompt 1); one of :data:`BACKENDS`.
        model: model id or local path loaded with ``from_pretrained`` (HF
            backends), or the model name sent to the HTTP endpoint.
        parser: who answers prompt 2; one of :data:`PARSERS`. ``same`` with the
            ``captions`` backend means ``rules``.
        fallback_rules: when the parser's answer yields no pair, parse the
            caption with the rule-based parser instead.
        prompt_caption: prompt 1: a bundled prompt name (``clhoi/teacher/prompts/<name>.txt``)
            or a path to a ``.txt`` file.
        prompt_parse: prompt 2, same forms; must contain ``{caption}``.
        max_new_tokens: generation length limit (both prompts).
        num_beams: beam width (HF backends).
        do_sample: sample instead of greedy / beam search.
        temperature: sampling temperature (also sent to the HTTP endpoint).
        top_p: nucleus sampling mass.
        repetition_penalty: HF generation repetition penalty.
        dtype: model weights dtype; ``auto`` is bfloat16 on a GPU that supports
            it, float16 on other GPUs, float32 on CPU.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1``, ...
        batch_size: images per model call.
        trust_remote_code: passed to ``from_pretrained`` (chat backend).
        url: base URL of the OpenAI-compatible endpoint (``.../v1``).
        api_key_env: environment variable holding the endpoint's API key (may be unset).
        concurrency: HTTP requests kept in flight.
        timeout_s: seconds per HTTP request.
        retries: retries of a failed request (5xx, 429, timeout, malformed answer).
        backoff_s: first retry delay; doubles each retry, with jitter.
        image_max_side: downscale images whose longer side exceeds this before
            the model sees them or they are sent to the endpoint (0 = never;
            JPEGs are then also decoded at reduced size).
        captions_file: captions for the ``captions`` backend: JSON lines
            ``{"image": ..., "caption": ...}``, a ``{image: caption}`` JSON map,
            or a COCO captions file.
        image_list: label only the image paths (relative to the image root) listed
            in this text file, one per line (e.g. V-COCO's training images inside
            COCO's ``train2014``); empty = every image under the root.
        seed: seed of the negative-verb draw (per image, independent of order).
        num_negatives: negative verbs per image (appendix A.2: 2).
    """

    backend: str = "instructblip"
    model: str = "Salesforce/instructblip-vicuna-7b"
    parser: str = "same"
    fallback_rules: bool = True
    prompt_caption: str = "caption"
    prompt_parse: str = "parse"
    max_new_tokens: int = 64
    num_beams: int = 1
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    dtype: str = "auto"
    device: str = "auto"
    batch_size: int = 8
    trust_remote_code: bool = False
    url: str = "http://localhost:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 16
    timeout_s: float = 120.0
    retries: int = 4
    backoff_s: float = 1.0
    image_max_side: int = 0
    captions_file: str = ""
    image_list: str = ""
    seed: int = 0
    num_negatives: int = 2

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"teacher.backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.parser not in PARSERS:
            raise ValueError(f"teacher.parser must be one of {PARSERS}, got {self.parser!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"teacher.dtype must be one of {DTYPES}, got {self.dtype!r}")
        for name, low, high in INT_RANGES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"teacher.{name} must be an integer in [{low}, {high}], got {value!r}")
        for name, low, high, open_low in FLOAT_RANGES:
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or not (low < value if open_low else low <= value) or value > high:
                bound = f"({low}, {high}]" if open_low else f"[{low}, {high}]"
                raise ValueError(f"teacher.{name} must be a finite number in {bound}, got {value!r}")
        if self.seed is None or isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"teacher.seed must be an integer, got {self.seed!r}")
        if self.backend == "captions" and not self.captions_file:
            raise ValueError("teacher.backend=captions needs teacher.captions_file=<path to the captions>")
