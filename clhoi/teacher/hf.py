"""Hugging Face teachers: InstructBLIP and BLIP-2 (the paper's), and any image-text-to-text chat model.

Weights load by name (or local folder) with ``from_pretrained``. Prompt 1 is
answered by the whole model with the image; prompt 2 by the same model's
language model alone (InstructBLIP / BLIP-2: ``model.language_model``, as in
the paper, appendix A.1; chat models: the model without an image).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from clhoi.teacher.client import TeacherFatalError, TeacherImage, render_parse_prompt
from clhoi.teacher.config import TeacherConfig

BLIP2_QUESTION = "Question: {} Answer:"
"""BLIP-2 is prompted in its VQA format; InstructBLIP takes the prompt as it is."""


def resolve_device(name: str) -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``; other names as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TeacherFatalError(f"teacher.device={name} but CUDA is not available; use teacher.device=cpu")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` -> bfloat16 on a GPU that has it, float16 on other GPUs, float32 on CPU."""
    if name != "auto":
        return getattr(torch, name)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def generation_kwargs(cfg: TeacherConfig) -> dict[str, Any]:
    """``generate`` keyword arguments from the config."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": cfg.max_new_tokens,
        "num_beams": cfg.num_beams,
        "do_sample": cfg.do_sample,
        "repetition_penalty": cfg.repetition_penalty,
    }
    if cfg.do_sample:
        kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p)
    return kwargs


def _load(loader: Any, model: str, what: str, **kwargs: Any) -> Any:
    try:
        return loader.from_pretrained(model, **kwargs)
    except (OSError, ValueError) as e:
        raise TeacherFatalError(
            f"could not load the teacher {what} {model!r} ({e}); set teacher.model to a Hugging Face model id "
            "(needs internet the first time) or to a local folder written by save_pretrained"
        ) from None


@contextmanager
def _oom_stops_the_run(n: int) -> Iterator[None]:
    """Out of GPU memory on a batch would fail every batch alike: stop with the fix instead."""
    try:
        yield
    except torch.cuda.OutOfMemoryError:
        raise TeacherFatalError(
            f"out of GPU memory on a batch of {n}; lower teacher.batch_size or use teacher.dtype=bfloat16/float16"
        ) from None


def _new_tokens(output: torch.Tensor, input_ids: torch.Tensor | None) -> torch.Tensor:
    """The generated part of ``output`` ``[B, T]`` (drops an echoed prompt ``[B, L]`` when present)."""
    if input_ids is not None and output.shape[1] >= input_ids.shape[1]:
        n = input_ids.shape[1]
        if torch.equal(output[:, :n].to(input_ids.device), input_ids):
            return output[:, n:]
    return output


def _left_padding(tokenizer: Any) -> None:
    tokenizer.padding_side = "left"  # decoder-only generation continues after the prompt
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token


class Blip2FamilyClient:
    """InstructBLIP (``InstructBlipForConditionalGeneration``) or BLIP-2 (``Blip2ForConditionalGeneration``).

    Args:
        model: the loaded model, in eval mode, on ``device``.
        processor: its processor (``InstructBlipProcessor`` / ``Blip2Processor``).
        name: teacher id for the records.
        device: where inputs go.
        dtype: dtype of the pixel values (the model's).
        generate_kwargs: ``generate`` settings (see :func:`generation_kwargs`).
        question_format: how prompt 1 is wrapped (``"{}"``: as is; BLIP-2: :data:`BLIP2_QUESTION`).
    """

    needs_pixels = True
    max_workers = 1

    def __init__(
        self,
        model: Any,
        processor: Any,
        name: str,
        device: torch.device,
        dtype: torch.dtype,
        generate_kwargs: dict[str, Any],
        question_format: str = "{}",
    ) -> None:
        self.model, self.processor, self.name = model, processor, name
        self.device, self.dtype, self.generate_kwargs = device, dtype, generate_kwargs
        self.question_format = question_format
        self._lock = threading.Lock()
        _left_padding(processor.tokenizer)

    @classmethod
    def from_config(cls, cfg: TeacherConfig, family: str) -> "Blip2FamilyClient":
        """Load ``cfg.model`` with ``from_pretrained`` (family ``instructblip`` or ``blip2``)."""
        import transformers

        if family == "instructblip":
            model_cls, proc_cls = transformers.InstructBlipForConditionalGeneration, transformers.InstructBlipProcessor
            fmt = "{}"
        elif family == "blip2":
            model_cls, proc_cls = transformers.Blip2ForConditionalGeneration, transformers.Blip2Processor
            fmt = BLIP2_QUESTION
        else:
            raise ValueError(f"unknown BLIP family {family!r}; valid: instructblip, blip2")
        device = resolve_device(cfg.device)
        dtype = resolve_dtype(cfg.dtype, device)
        processor = _load(proc_cls, cfg.model, "processor")
        model = _load(model_cls, cfg.model, "model", dtype=dtype).to(device).eval()
        return cls(model, processor, cfg.model, device, dtype, generation_kwargs(cfg), fmt)

    @torch.inference_mode()
    def caption(self, images: Sequence[TeacherImage], prompt: str) -> list[str | Exception]:
        if not images:
            return []
        text = [self.question_format.format(prompt)] * len(images)
        inputs = self.processor(images=[it.image for it in images], text=text, return_tensors="pt", padding=True)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        with self._lock, _oom_stops_the_run(len(images)):
            out = self.model.generate(**inputs, **self.generate_kwargs)
        ids = _new_tokens(out, inputs.get("input_ids"))
        return [t.strip() for t in self.processor.batch_decode(ids, skip_special_tokens=True)]

    @torch.inference_mode()
    def parse(self, captions: Sequence[str], prompt: str) -> list[str | Exception]:
        if not captions:
            return []
        tokenizer = self.processor.tokenizer
        texts = [render_parse_prompt(prompt, c) for c in captions]
        inputs = tokenizer(texts, return_tensors="pt", padding=True).to(self.device)
        lm = self.model.language_model  # the LLM inside the VLLM answers prompt 2 (appendix A.1)
        with self._lock, _oom_stops_the_run(len(captions)):
            out = lm.generate(
                input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], **self.generate_kwargs
            )
        ids = out if lm.config.is_encoder_decoder else _new_tokens(out, inputs["input_ids"])
        return [t.strip() for t in tokenizer.batch_decode(ids, skip_special_tokens=True)]


class ChatClient:
    """Any Hugging Face image-text-to-text chat model (Qwen2-VL, LLaVA, ...), prompted through its chat template.

    Args:
        model: an ``AutoModelForImageTextToText`` model, in eval mode, on ``device``.
        processor: its ``AutoProcessor`` (with a chat template).
        name: teacher id for the records.
        device: where inputs go.
        dtype: dtype of floating inputs (the model's).
        generate_kwargs: ``generate`` settings.
    """

    needs_pixels = True
    max_workers = 1

    def __init__(
        self,
        model: Any,
        processor: Any,
        name: str,
        device: torch.device,
        dtype: torch.dtype,
        generate_kwargs: dict[str, Any],
    ) -> None:
        self.model, self.processor, self.name = model, processor, name
        self.device, self.dtype, self.generate_kwargs = device, dtype, generate_kwargs
        self._lock = threading.Lock()
        _left_padding(processor.tokenizer)

    @classmethod
    def from_config(cls, cfg: TeacherConfig) -> "ChatClient":
        """Load ``cfg.model`` with the auto classes."""
        from transformers import AutoModelForImageTextToText, AutoProcessor

        device = resolve_device(cfg.device)
        dtype = resolve_dtype(cfg.dtype, device)
        remote = {"trust_remote_code": cfg.trust_remote_code}
        processor = _load(AutoProcessor, cfg.model, "processor", **remote)
        if getattr(processor, "chat_template", None) is None:
            raise TeacherFatalError(
                f"{cfg.model!r} has no chat template; use a chat model or backend=instructblip/blip2"
            )
        model = _load(AutoModelForImageTextToText, cfg.model, "model", dtype=dtype, **remote).to(device).eval()
        return cls(model, processor, cfg.model, device, dtype, generation_kwargs(cfg))

    def _chat(self, prompt: str, image: bool) -> str:
        content = ([{"type": "image"}] if image else []) + [{"type": "text", "text": prompt}]
        messages = [{"role": "user", "content": content}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _generate(self, inputs: Any) -> list[str]:
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        for k, v in inputs.items():
            if torch.is_floating_point(v):
                inputs[k] = v.to(self.dtype)
        with self._lock, _oom_stops_the_run(len(inputs["input_ids"])):
            out = self.model.generate(**inputs, **self.generate_kwargs)
        ids = out[:, inputs["input_ids"].shape[1] :]  # chat models echo the prompt
        return [t.strip() for t in self.processor.batch_decode(ids, skip_special_tokens=True)]

    @torch.inference_mode()
    def caption(self, images: Sequence[TeacherImage], prompt: str) -> list[str | Exception]:
        if not images:
            return []
        text = [self._chat(prompt, image=True)] * len(images)
        inputs = self.processor(images=[it.image for it in images], text=text, return_tensors="pt", padding=True)
        return self._generate(inputs)

    @torch.inference_mode()
    def parse(self, captions: Sequence[str], prompt: str) -> list[str | Exception]:
        if not captions:
            return []
        text = [self._chat(render_parse_prompt(prompt, c), image=False) for c in captions]
        inputs = self.processor(text=text, return_tensors="pt", padding=True)
        return self._generate(inputs)
