"""The assembled CL-HOI student: CLIP -> VLT -> pairs -> ICN -> interaction features.

``build_student(cfg)`` loads CLIP and the Q-Former by name or path;
``CLHOI.save_pretrained(dir)`` / ``CLHOI.from_pretrained(dir)`` round-trip a
self-contained checkpoint (``config.yaml`` + ``model.safetensors`` + the CLIP
and Q-Former architecture files under ``clip/`` and ``qformer/``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import yaml
from PIL import Image
from safetensors.torch import load_model, save_model
from torch import Tensor, nn

from clhoi.models.config import ModelConfig
from clhoi.models.encoders import ClipEncoders, load_clip, preprocess_images
from clhoi.models.icn import InteractionCognitionNetwork
from clhoi.models.pairs import PairLayout, layout_pairs
from clhoi.models.pooling import pool_box_features
from clhoi.models.vlt import VisualLinguisticTranslator, adapter, load_qformer
from clhoi.labelset import LabelSet, hoi_prompt, verb_prompt
from clhoi.structures import Detections, StudentOutput

CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "model.safetensors"


class CLHOI(nn.Module):
    """The CL-HOI student (sections 3.1-3.3).

    Train/eval contract: ``forward`` returns one interaction feature per
    human-object pair (all pairs of the batch, flattened) plus, with the VLT
    on, the context features ``f_c``; it computes no loss and no score. Losses
    (Eqs. 5-16) and Eq. 18 scoring live outside the model. Frozen parts (CLIP,
    by default the Q-Former) stay in eval mode under ``train()``.

    Build it with :func:`build_student` or :meth:`from_pretrained`.
    """

    def __init__(self, cfg: ModelConfig, encoders: ClipEncoders, vlt: VisualLinguisticTranslator | None) -> None:
        super().__init__()
        self.config = cfg
        self.encoders = encoders
        self.vlt = vlt
        c, d, h = encoders.image_dim, encoders.text_dim, cfg.hidden_dim
        self.grid = encoders.grid(cfg.image_size)
        if vlt is None:
            self.visual_adapter = adapter(c, d)  # f_v straight from f_img when the VLT is off
        if cfg.box_embedding in ("auto", "detector"):
            self.embed_proj = nn.Linear(cfg.box_embed_dim, h)
        if cfg.box_embedding in ("auto", "pooled"):
            self.pooled_proj = nn.Linear(c, h)
        self.icn = InteractionCognitionNetwork(
            h, d, d, cfg.num_heads, cfg.num_spatial_layers, cfg.dropout,
            use_spatial=cfg.use_spatial, use_visual=cfg.use_visual, use_context=cfg.use_context,
        )
        self.out_proj = nn.Linear(h, d)  # interaction features to the CLIP text width
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(cfg.logit_scale_init)),
                                            requires_grad=cfg.learn_logit_scale)

    # ------------------------------------------------------------------ encoders
    def preprocess(self, images: list[Image.Image]) -> Tensor:
        """PIL images -> ``pixel_values [B, 3, S, S]`` for :meth:`encode_images` (no crop)."""
        return preprocess_images(images, self.encoders.image_processor, self.config.image_size)

    def encode_images(self, pixel_values: Tensor) -> Tensor:
        """Frozen CLIP patch tokens ``f_img [B, L, C]`` (what the feature cache stores)."""
        return self.encoders.encode_images(pixel_values)

    def embed_images(self, pixel_values: Tensor) -> Tensor:
        """Global projected CLIP image embeddings, L2-normalised, ``[N, D]`` (union-box crops for A.3)."""
        return self.encoders.embed_images(pixel_values)

    def encode_text(self, texts: list[str]) -> Tensor:
        """CLIP text embeddings ``[N, D]``, L2-normalised, cached while frozen. Texts are used as given."""
        return self.encoders.encode_text(texts)

    def prompt(self, verb: str, obj: str | None = None) -> str:
        """The configured prompt of a verb (and object): ``"a photo of a person riding a bicycle"``."""
        if obj:
            return hoi_prompt(verb, obj, self.config.prompt_template)
        return verb_prompt(verb, self.config.verb_template)

    def encode_label_set(self, label_set: LabelSet) -> Tensor:
        """Text embeddings ``Y [C, D]`` of a :class:`~clhoi.labelset.LabelSet`'s texts (Eq. 17)."""
        return self.encode_text(list(label_set.texts))

    # ------------------------------------------------------------------ forward
    def forward(self, detections: list[Detections], pixel_values: Tensor | None = None,
                image_features: Tensor | None = None, return_attention: bool = False) -> StudentOutput:
        """Interaction features for every human-object pair of a batch.

        Args:
            detections: one :class:`Detections` per image, boxes xyxy in
                pixels of the original image, ``image_size`` set.
            pixel_values: ``[B, 3, S, S]`` from :meth:`preprocess`; or
            image_features: ``[B, L, C]`` frozen CLIP patch tokens from
                :meth:`encode_images` (skips the frozen encoder).
            return_attention: fill ``attentions`` with head-averaged maps:
                ``visual [P, L]`` (ICN, Eq. 3), ``context [P, Q]`` (Eq. 4) and
                ``vlt [B, Q, L]`` (last Q-Former cross-attention, Fig. 8).

        Returns:
            :class:`StudentOutput` with ``interaction [P, D]``, ``context
            [B, Q, D]`` (``None`` without VLT), ``visual [B, L, D]``.
        """
        if image_features is None:
            if pixel_values is None:
                raise ValueError("CLHOI.forward needs pixel_values or image_features")
            image_features = self.encode_images(pixel_values)
        image_features = image_features.to(self.out_proj.weight.dtype)  # a float16 feature cache, say
        b = image_features.shape[0]
        if len(detections) != b:
            raise ValueError(f"{len(detections)} Detections for a batch of {b} images")
        if image_features.shape[1] != self.grid[0] * self.grid[1]:
            raise ValueError(f"image_features have {image_features.shape[1]} tokens, the config's image_size "
                             f"{self.config.image_size} gives {self.grid[0] * self.grid[1]}")
        device = image_features.device
        attentions: dict[str, Tensor] = {}
        f_c = None
        if self.vlt is not None:
            vlt = self.vlt(image_features, return_attention)
            f_c, f_v = vlt.context, vlt.visual
            if vlt.attention is not None:
                attentions["vlt"] = vlt.attention
        else:
            f_v = self.visual_adapter(image_features)
        layout = layout_pairs(detections, device)
        e = self._box_embeddings(detections, layout, image_features)
        icn = self.icn(e, layout.boxes, layout.box_mask, layout.pair_human, layout.pair_object,
                       f_v, self.grid, f_c, return_attention)
        slots = icn.features[layout.pair_image, layout.slot]  # [P, H]
        for name, w in icn.attentions.items():
            attentions[name] = w[layout.pair_image, layout.slot]
        return StudentOutput(
            interaction=self.out_proj(slots),
            pair_image=layout.pair_image,
            human_idx=layout.human_idx,
            object_idx=layout.object_idx,
            pair_scores=self._pair_values(detections, layout, "scores", device).float(),
            object_labels=self._pair_values(detections, layout, "labels", device, objects_only=True).long(),
            context=f_c,
            visual=f_v,
            logit_scale=self.log_logit_scale.exp().clamp(max=100.0),
            attentions=attentions if return_attention else None,
        )

    def _box_embeddings(self, detections: list[Detections], layout: PairLayout, image_features: Tensor) -> Tensor:
        """Box embeddings projected to ``H``, padded per image: ``[B, N, H]``.

        Detector embeddings go through ``embed_proj``; boxes of images whose
        Detections carry none (or all boxes, with ``box_embedding: pooled``)
        get RoIAlign features of the CLIP patch tokens through ``pooled_proj``.
        """
        b, n = layout.box_mask.shape
        out = image_features.new_zeros(b, n, self.config.hidden_dim)
        mode = self.config.box_embedding
        use_det = [d.embeddings is not None and mode != "pooled" and len(d) > 0 for d in detections]
        for i, det in enumerate(detections):
            if mode == "detector" and det.embeddings is None and len(det):
                raise ValueError(f"detections of image {i} have no embeddings but model.box_embedding is "
                                 "'detector'; use 'auto' or 'pooled' to pool them from CLIP features")
            if use_det[i] and det.embeddings.shape[1] != self.config.box_embed_dim:
                raise ValueError(f"detections of image {i} have {det.embeddings.shape[1]}-d embeddings, the model "
                                 f"expects model.box_embed_dim={self.config.box_embed_dim}")
        from_det = torch.tensor(use_det, device=out.device)[layout.box_image]  # [T]
        if any(use_det):
            emb = torch.cat([d.embeddings for d, u in zip(detections, use_det) if u]).to(out)
            out[layout.box_image[from_det], layout.box_local[from_det]] = self.embed_proj(emb).to(out.dtype)
        if not all(use_det[i] for i, d in enumerate(detections) if len(d)):
            pooled_boxes = layout.boxes[layout.box_image[~from_det], layout.box_local[~from_det]]
            pooled = pool_box_features(image_features, self.grid, pooled_boxes, layout.box_image[~from_det])
            out[layout.box_image[~from_det], layout.box_local[~from_det]] = self.pooled_proj(pooled).to(out.dtype)
        return out

    @staticmethod
    def _pair_values(detections: list[Detections], layout: PairLayout, field: str, device: torch.device,
                     objects_only: bool = False) -> Tensor:
        """Per-pair ``[P, 2]`` (human, object) values of a Detections field, or ``[P]`` of the object's."""
        values = torch.cat([getattr(d, field) for d in detections]).to(device)  # [T]
        first = layout.first_box[layout.pair_image]
        if objects_only:
            return values[first + layout.object_idx]
        return torch.stack([values[first + layout.human_idx], values[first + layout.object_idx]], -1)

    def similarity(self, output: StudentOutput, text_embeddings: Tensor) -> Tensor:
        """Eq. 17: cosine similarity ``[P, K]`` of interaction features and label embeddings ``[K, D]``."""
        i = nn.functional.normalize(output.interaction, dim=-1)
        return i @ nn.functional.normalize(text_embeddings.to(i), dim=-1).T  # Eq. 17

    # ------------------------------------------------------------------ save / load
    def trainable_parameters(self) -> list[nn.Parameter]:
        """The parameters an optimizer should get (frozen CLIP / Q-Former excluded)."""
        return [p for p in self.parameters() if p.requires_grad]

    def save_pretrained(self, directory: str | Path) -> None:
        """Write ``config.yaml``, ``model.safetensors`` and ``clip/``, ``qformer/`` architecture files."""
        from clhoi.config import save_config

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_config(self.config, directory / CONFIG_FILE)
        self.encoders.save_architecture(directory / "clip")
        if self.vlt is not None:
            self.vlt.qformer.config.save_pretrained(directory / "qformer")
        save_model(self, str(directory / WEIGHTS_FILE), metadata={"format": "pt", "clhoi": "CLHOI"})

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> "CLHOI":
        """Load a directory written by :meth:`save_pretrained` (or an engine checkpoint).

        ``config.yaml`` may be a bare model config or a full experiment config
        with a ``model:`` section. Nothing is downloaded.
        """
        directory = Path(directory)
        cfg = read_model_config(directory / CONFIG_FILE)
        weights = directory / WEIGHTS_FILE
        if not weights.is_file():
            raise FileNotFoundError(f"{weights} does not exist; is {directory} a CL-HOI checkpoint?")
        if not (directory / "clip").is_dir():
            raise FileNotFoundError(f"{directory / 'clip'} does not exist; write checkpoints with CLHOI.save_pretrained")
        model = _assemble(cfg, str(directory / "clip"), str(directory / "qformer"), weights=False)
        missing, unexpected = load_model(model, str(weights), strict=False)
        if missing or unexpected:
            raise ValueError(f"{weights} does not fit the config: missing {missing[:5]}, unexpected {unexpected[:5]}")
        return model.to(map_location)


def read_model_config(path: str | Path) -> ModelConfig:
    """A :class:`ModelConfig` from a bare model YAML or an experiment YAML with a ``model:`` section."""
    from clhoi.config import from_dict

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    if isinstance(data.get("model"), dict):
        data = data["model"]
    return from_dict(ModelConfig, data, "model")


def _assemble(cfg: ModelConfig, clip_source: str, qformer_source: str, weights: bool) -> CLHOI:
    clip, tokenizer, processor = load_clip(clip_source, weights=weights)
    encoders = ClipEncoders(clip, tokenizer, processor, cfg.clip_feature_layer, frozen=cfg.freeze_clip)
    vlt = None
    if cfg.use_vlt:
        qformer, query_init = load_qformer(qformer_source, weights=weights)
        vlt = VisualLinguisticTranslator(
            qformer, encoders.image_dim, encoders.text_dim, cfg.num_context_queries, query_init,
            updates_image=cfg.qformer_updates_image, frozen_qformer=cfg.freeze_qformer,
        )
    return CLHOI(cfg, encoders, vlt)


def build_architecture(cfg: ModelConfig, clip_dir: str | Path, qformer_dir: str | Path) -> CLHOI:
    """The student with random weights everywhere, from CLIP / Q-Former architecture directories
    (``config.json`` + tokenizer + processor); works under ``torch.device("meta")``."""
    return _assemble(cfg, str(clip_dir), str(qformer_dir), weights=False)


def build_student(cfg: ModelConfig) -> CLHOI:
    """Build the student from its config, loading CLIP (``cfg.clip``) and the Q-Former (``cfg.qformer``)
    pretrained weights by Hugging Face id or local path; the new parts are randomly initialised."""
    return _assemble(cfg, cfg.clip, cfg.qformer, weights=True)
