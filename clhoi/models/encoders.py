"""CLIP image and text encoders (Hugging Face ``CLIPModel``), frozen by default.

* :meth:`ClipEncoders.encode_images`: patch tokens ``f_img`` from a chosen layer;
* :meth:`ClipEncoders.embed_images`: global projected image embeddings;
* :meth:`ClipEncoders.encode_text`: projected, L2-normalised text embeddings,
  cached per string while the text tower is frozen;
* :func:`preprocess_images`: PIL images -> ``pixel_values``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import transformers
from PIL import Image
from torch import Tensor, nn
from transformers import AutoTokenizer, CLIPConfig, CLIPModel

_ImageProcessor = getattr(transformers, "CLIPImageProcessorPil", None)
try:  # the torchvision-backed processor when torchvision imports, the PIL one otherwise
    import torchvision  # noqa: F401

    _ImageProcessor = transformers.CLIPImageProcessor
except ImportError:  # pragma: no cover - depends on the install
    _ImageProcessor = _ImageProcessor or transformers.CLIPImageProcessor


def _pooled(x: Any) -> Tensor:
    """transformers v5 returns an output object from ``get_*_features``; v4 a tensor."""
    return x if torch.is_tensor(x) else x.pooler_output


def load_clip(name_or_path: str, weights: bool = True) -> tuple[CLIPModel, Any, Any]:
    """Load a CLIP model, its tokenizer and image processor by id or local path.

    Args:
        name_or_path: Hugging Face id (``openai/clip-vit-base-patch16``) or a
            directory written by ``save_pretrained``.
        weights: when false, build the architecture from ``config.json`` with
            random weights (the student's own checkpoint supplies them).

    Returns:
        ``(model, tokenizer, image_processor)``.
    """
    if weights:
        model = CLIPModel.from_pretrained(name_or_path)
    else:
        model = CLIPModel(CLIPConfig.from_pretrained(name_or_path))
    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    processor = _ImageProcessor.from_pretrained(name_or_path)
    return model, tokenizer, processor


def preprocess_images(images: list[Image.Image], processor: Any, size: int) -> Tensor:
    """PIL images -> normalised CLIP input ``[B, 3, size, size]`` float32.

    Images are resized to a square without cropping, so a point at normalised
    ``(x, y)`` in the original image is at ``(x, y)`` of the patch grid too.
    """
    rgb = [im.convert("RGB") for im in images]
    out = processor(
        images=rgb, size={"height": size, "width": size}, do_center_crop=False, return_tensors="pt"
    )
    return out["pixel_values"]


class ClipEncoders(nn.Module):
    """The CLIP towers the student uses.

    Args:
        clip: a ``CLIPModel``.
        tokenizer: its tokenizer.
        image_processor: its image processor (for :func:`preprocess_images`).
        feature_layer: index into the vision ``hidden_states`` whose patch
            tokens are returned by :meth:`encode_images`.
        visual_layer: optionally a second layer whose tokens :meth:`encode_images`
            appends along the channels (``[B, L, 2C]``; ``model.visual_feature_layer``).
        frozen: freeze both towers (no gradients, eval mode, text cache on).
    """

    def __init__(self, clip: CLIPModel, tokenizer: Any, image_processor: Any, feature_layer: int = -1,
                 frozen: bool = True, visual_layer: int | None = None) -> None:
        super().__init__()
        self.clip = clip
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.feature_layer = feature_layer
        self.visual_layer = visual_layer
        self.frozen = frozen
        self._text_cache: dict[str, Tensor] = {}
        if frozen:
            self.clip.requires_grad_(False)
            self.clip.eval()

    def train(self, mode: bool = True) -> "ClipEncoders":
        super().train(mode)
        if self.frozen:
            self.clip.eval()
        return self

    @property
    def image_dim(self) -> int:
        """Width ``C`` of the patch tokens."""
        return self.clip.config.vision_config.hidden_size

    @property
    def text_dim(self) -> int:
        """Width ``D`` of the projected (joint) embedding space."""
        return self.clip.config.projection_dim

    def grid(self, image_size: int) -> tuple[int, int]:
        """``(rows, cols)`` of the patch grid for a square input of side ``image_size``."""
        n = image_size // self.clip.config.vision_config.patch_size
        return n, n

    def encode_images(self, pixel_values: Tensor) -> Tensor:
        """Patch tokens ``f_img`` of the configured layer.

        Args:
            pixel_values: ``[B, 3, S, S]`` float, from :func:`preprocess_images`.

        Returns:
            ``[B, L, C]``, ``L = (S / patch)^2`` patch tokens in row-major
            order (class token dropped); ``[B, L, 2C]`` with a ``visual_layer``
            (its tokens after the feature layer's). No gradient when frozen.
        """
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            out = self.clip.vision_model(pixel_values=pixel_values, output_hidden_states=True)
            tokens = out.hidden_states[self.feature_layer][:, 1:]
            if self.visual_layer is None:
                return tokens
            return torch.cat([tokens, out.hidden_states[self.visual_layer][:, 1:]], dim=-1)

    def embed_images(self, pixel_values: Tensor) -> Tensor:
        """Global projected image embeddings, L2-normalised: ``[N, D]``."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            emb = _pooled(self.clip.get_image_features(pixel_values=pixel_values))
        return nn.functional.normalize(emb, dim=-1)

    def encode_text(self, texts: list[str], batch_size: int = 256) -> Tensor:
        """Projected text embeddings, L2-normalised: ``[N, D]`` on the model's device.

        While the text tower is frozen, each distinct string is encoded once
        and cached (on CPU).
        """
        device = self.clip.text_projection.weight.device
        if not texts:
            return torch.zeros(0, self.text_dim, device=device)
        if not self.frozen:
            return self._encode_text(texts, batch_size)
        todo = list(dict.fromkeys(t for t in texts if t not in self._text_cache))
        if todo:
            with torch.no_grad():
                emb = self._encode_text(todo, batch_size).float().cpu()
            self._text_cache.update(zip(todo, emb))
        return torch.stack([self._text_cache[t] for t in texts]).to(device)

    def _encode_text(self, texts: list[str], batch_size: int) -> Tensor:
        device = self.clip.text_projection.weight.device
        max_len = self.clip.config.text_config.max_position_embeddings
        chunks = []
        for i in range(0, len(texts), batch_size):
            tok = self.tokenizer(texts[i : i + batch_size], padding=True, truncation=True, max_length=max_len,
                                 return_tensors="pt").to(device)
            emb = _pooled(self.clip.get_text_features(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"]))
            chunks.append(emb)
        return nn.functional.normalize(torch.cat(chunks), dim=-1)

    def clear_text_cache(self) -> None:
        self._text_cache.clear()

    def save_architecture(self, directory: str | Path) -> None:
        """Write CLIP's ``config.json``, tokenizer and processor files (no weights)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.clip.config.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        self.image_processor.save_pretrained(directory)
