"""The assembled CL-HOI student: CLIP -> VLT -> pairs -> ICN -> interaction features.

``build_student(cfg)`` loads CLIP and the Q-Former by name or path.
``CLHOI.save_pretrained(dir)`` / ``CLHOI.from_pretrained(dir or Hub id)`` /
``push_to_hub`` (Hugging Face's ``PyTorchModelHubMixin``) round-trip a small
checkpoint: ``config.json`` (the model config plus the names and fingerprints
of the frozen CLIP / Q-Former) and ``model.safetensors`` (trained parameters
only); loading fetches the frozen parts by name and checks their fingerprints.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import torch
import yaml
from huggingface_hub import PyTorchModelHubMixin
from PIL import Image
from safetensors.torch import load_file, load_model
from torch import Tensor, nn

from clhoi.labelset import LabelSet, hoi_prompt, verb_prompt
from clhoi.models.config import ModelConfig
from clhoi.models.encoders import ClipEncoders, load_clip, preprocess_images
from clhoi.models.icn import InteractionCognitionNetwork
from clhoi.models.pairs import PairLayout, layout_pairs
from clhoi.models.pooling import pool_box_features
from clhoi.models.vlt import VisualLinguisticTranslator, adapter, load_qformer
from clhoi.structures import Detections, StudentOutput

CONFIG_FILE = "config.yaml"
"""The model config of a clhoi 0.1 checkpoint (an engine checkpoint's full experiment config)."""
HUB_CONFIG_FILE = "config.json"
"""The model config, with the frozen parts' names and fingerprints (Hugging Face's file name)."""
WEIGHTS_FILE = "model.safetensors"
FORMAT_VERSION = 2
"""2: only trained parameters stored, frozen parts loaded by name (1: clhoi 0.1, every weight)."""
FROZEN_PREFIXES = {"clip": "encoders.clip.", "qformer": "vlt.qformer."}


MODEL_CARD = """---
{{ card_data }}
---

A CL-HOI student: human-object interaction detection distilled from a vision large language model
(Gao et al., "Cross-Level Human-Object Interaction Distillation from Vision Large Language Models"),
saved by `clhoi`. `model.safetensors` holds the trained parameters only; `config.json` names the frozen
CLIP and Q-Former, which load by those names and must match the fingerprints saved there.

```python
from clhoi.models.student import CLHOI
model = CLHOI.from_pretrained("THIS_REPO_OR_FOLDER")
triplets = model.predict(pil_image, verbs=["ride", "hold"], detections=dets)
```
"""
"""The model card ``save_pretrained`` / ``push_to_hub`` write as ``README.md``."""


class CLHOI(nn.Module, PyTorchModelHubMixin, library_name="clhoi", license="mit",
            tags=["human-object-interaction", "cl-hoi"], model_card_template=MODEL_CARD):
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
        if vlt is None or cfg.visual_feature_layer is not None:
            # f_v straight from f_img when the VLT is off; from model.visual_feature_layer when set
            self.visual_adapter = adapter(c, d)
        if cfg.box_embedding in ("auto", "detector"):
            self.embed_proj = nn.Linear(cfg.box_embed_dim, h)
        if cfg.box_embedding in ("auto", "pooled"):
            self.pooled_proj = nn.Linear(c, h)
        self.icn = InteractionCognitionNetwork(
            h, d, d, cfg.num_heads, cfg.num_spatial_layers, cfg.dropout,
            use_spatial=cfg.use_spatial, use_visual=cfg.use_visual, use_context=cfg.use_context,
            baseline=cfg.baseline, image_dim=c, num_cooperative_layers=cfg.num_cooperative_layers,
            visual_guidance=cfg.visual_union_guidance, residual=cfg.link_residual,
            upt_global_token=cfg.upt_global_token,
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
        visual_tokens = None
        if self.config.visual_feature_layer is not None:
            c = self.encoders.image_dim
            if image_features.shape[-1] != 2 * c:
                raise ValueError(f"image_features are {image_features.shape[-1]}-d; with model.visual_feature_layer "
                                 f"set they hold two CLIP layers ({2 * c}-d): rebuild the feature cache")
            image_features, visual_tokens = image_features[..., :c], image_features[..., c:]
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
        if visual_tokens is not None:
            f_v = self.visual_adapter(visual_tokens)
        layout = layout_pairs(detections, device)
        e = self._box_embeddings(detections, layout, image_features)
        icn = self.icn(e, layout.boxes, layout.box_mask, layout.pair_human, layout.pair_object,
                       f_v, self.grid, f_c, return_attention, layout.pair_mask, image_features)
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

    # ------------------------------------------------------------------ in-memory inference
    @torch.no_grad()
    def predict(self, image: Image.Image, verbs: list[str] | None = None, detections: Detections | None = None,
                label_set: LabelSet | None = None, threshold: float = 0.0,
                top_k: int | None = 20) -> list[dict[str, Any]]:
        """HOI triplets in one PIL image, in memory (no file is read or written).

        Args:
            image: the photo.
            verbs: score these verbs (open vocabulary); or
            label_set: score these classes; default: ``self.label_set`` (set by
                ``clhoi.load_model`` to the checkpoint's dataset), else HICO-DET's 600.
            detections: boxes (xyxy pixels of ``image``), scores and COCO-80
                labels; default: ``self.detector.detect([image])`` when a detector
                is attached (``clhoi.load_model`` attaches the checkpoint's when it loads).
            threshold: keep triplets scoring at least this (Eq. 18).
            top_k: keep at most this many triplets, best first.

        Returns:
            dicts with ``human_box``, ``object_box``, ``object``, ``interaction``,
            ``score`` (and indices), best first.
        """
        from clhoi.postprocess import PostProcess, triplet_records

        if detections is None:
            detector = getattr(self, "detector", None)
            if detector is None:
                raise ValueError("CLHOI.predict needs detections=Detections(...) (boxes xyxy in pixels, scores, "
                                 "COCO-80 labels) or a model loaded with clhoi.load_model(..., detector=...)")
            detections = detector.detect([image])[0]
        if verbs:
            label_set = LabelSet.verbs(list(verbs), self.config.verb_template)
        label_set = label_set or getattr(self, "label_set", None) or LabelSet.hicodet(self.config.class_template)
        device = self.out_proj.weight.device
        det = detections.to(device)
        if det.image_size is None:
            det.image_size = (image.height, image.width)
        was_training = self.training
        self.eval()
        try:
            output = self([det], pixel_values=self.preprocess([image]).to(device))
        finally:
            self.train(was_training)
        post = PostProcess(score_lambda=self.config.score_lambda, top_k=top_k, min_score=threshold)
        pred = post(output, [det], ["image"], self.encode_label_set(label_set), label_set)[0]
        return triplet_records(pred, label_set)

    # ------------------------------------------------------------------ save / load
    def trainable_parameters(self) -> list[nn.Parameter]:
        """The parameters an optimizer should get (frozen CLIP / Q-Former excluded)."""
        return [p for p in self.parameters() if p.requires_grad]

    def frozen_parts(self) -> dict[str, nn.Module]:
        """The frozen pretrained parts a checkpoint names instead of storing: ``clip``, ``qformer``."""
        parts: dict[str, nn.Module] = {}
        if self.encoders.frozen:
            parts["clip"] = self.encoders.clip
        if self.vlt is not None and self.vlt.frozen_qformer:
            parts["qformer"] = self.vlt.qformer
        return parts

    def trained_state_dict(self) -> dict[str, Tensor]:
        """The state dict without the frozen parts: what a checkpoint's ``model.safetensors`` holds."""
        skip = tuple(FROZEN_PREFIXES[name] for name in self.frozen_parts())
        return {k: v for k, v in self.state_dict().items() if not k.startswith(skip)}

    def _save_pretrained(self, save_directory: Path) -> None:
        """Write ``config.json`` (the model config, the frozen parts' names and fingerprints) and
        ``model.safetensors`` (the trained parameters only). Called by ``save_pretrained`` /
        ``push_to_hub`` of :class:`~huggingface_hub.PyTorchModelHubMixin`."""
        from clhoi.config import portable_path, to_dict
        from clhoi.tensor_files import save_tensors

        directory = Path(save_directory)
        data = to_dict(self.config)
        for key in ("clip", "qformer"):  # package files as clhoi://..., local folders absolute, Hub ids as they are
            data[key] = portable_path(data[key], directory, name=True)
        frozen = {}
        for name, part in self.frozen_parts().items():
            frozen[name] = {"name": data[name], "fingerprint": fingerprint(part),
                            "parameters": sum(p.numel() for p in part.parameters())}
        meta = {"clhoi_format": FORMAT_VERSION, "frozen": frozen}
        (directory / HUB_CONFIG_FILE).write_text(json.dumps({**data, **meta}, indent=2), encoding="utf-8")
        tensors = {k: v.detach().cpu().clone().contiguous() for k, v in self.trained_state_dict().items()}
        save_tensors(tensors, directory / WEIGHTS_FILE, metadata={"format": "pt", "clhoi": "CLHOI"})

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, **kwargs: Any) -> "CLHOI":
        """A folder or Hub repository written by :meth:`save_pretrained` (see :meth:`_from_pretrained`);
        a clhoi 0.1 folder (no ``config.json``) loads without the Hub mixin's missing-config warning."""
        path = Path(pretrained_model_name_or_path)
        if path.is_dir() and not (path / HUB_CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file():
            return _from_full_checkpoint(path, path / WEIGHTS_FILE).to(kwargs.get("map_location", "cpu"))
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None = None, cache_dir: str | Path | None = None,
                         force_download: bool = False, local_files_only: bool = False, token: str | bool | None = None,
                         map_location: str | torch.device = "cpu", clip: str | None = None,
                         qformer: str | None = None, **kwargs: Any) -> "CLHOI":
        """Load a checkpoint folder or Hub repository written by :meth:`save_pretrained`.

        The frozen parts are loaded by the names in ``config.json``
        (``from_pretrained(name)``, as :func:`build_student` does) unless
        ``clip`` / ``qformer`` name another copy; their fingerprints must
        match the ones saved. Checkpoints of clhoi 0.1 (``config.yaml``, all
        weights, ``clip/`` and ``qformer/`` architecture folders) load too.
        """
        hub = dict(revision=revision, cache_dir=cache_dir, force_download=force_download,
                   local_files_only=local_files_only, token=token)
        config_file = _checkpoint_file(model_id, HUB_CONFIG_FILE, hub)
        weights = _checkpoint_file(model_id, WEIGHTS_FILE, hub)
        if weights is None:
            raise FileNotFoundError(f"{model_id} has no {WEIGHTS_FILE}; is it a CL-HOI checkpoint?")
        if config_file is None:  # clhoi 0.1: every weight stored, architectures in clip/ and qformer/
            return _from_full_checkpoint(Path(model_id), weights).to(map_location)
        cfg, frozen = read_hub_config(config_file)
        sources = {"clip": clip or cfg.clip, "qformer": qformer or cfg.qformer}
        model = _assemble(cfg, sources["clip"], sources["qformer"], weights=True)
        model.check_frozen_parts(frozen, model_id, sources)
        state = load_file(str(weights))
        missing, unexpected = model.load_trained_state(state)
        if missing or unexpected:
            raise ValueError(f"{weights} does not fit its config.json: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}")
        return model.to(map_location)

    def check_frozen_parts(self, frozen: dict[str, Any], where: str | Path,
                           sources: dict[str, str] | None = None) -> None:
        """Refuse frozen parts whose fingerprints differ from a checkpoint's records (``config.json`` ``frozen``).

        Raises:
            ValueError: one line naming the part, both names and both fingerprints.
        """
        for name, part in self.frozen_parts().items():
            saved = frozen.get(name)
            if saved is None:
                raise ValueError(f"{where}: the checkpoint stores no record of the frozen {name}; it was trained "
                                 f"with model.freeze_{name}=false, load it with the same setting")
            got = fingerprint(part)
            if got != saved["fingerprint"]:
                source = (sources or {}).get(name, getattr(self.config, name))
                raise ValueError(
                    f"{where}: the frozen {name} {source!r} (fingerprint {got[7:19]}) is not the one this checkpoint "
                    f"was trained with ({saved['name']!r}, fingerprint {saved['fingerprint'][7:19]}); put those "
                    f"weights there, or pass {name}=PATH of a copy to CLHOI.from_pretrained"
                )

    def load_trained_state(self, state: dict[str, Tensor]) -> tuple[list[str], list[str]]:
        """Load trained parameters (a full state dict of an old checkpoint works too).

        Returns:
            ``(missing, unexpected)`` keys, both ignoring the frozen parts.
        """
        want = set(self.trained_state_dict())
        skip = tuple(FROZEN_PREFIXES[name] for name in self.frozen_parts())
        state = {k: v for k, v in state.items() if k in want or not k.startswith(skip)}
        self.load_state_dict(state, strict=False)
        return sorted(want - set(state)), sorted(set(state) - want)


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


def read_hub_config(path: str | Path) -> tuple[ModelConfig, dict[str, Any]]:
    """The :class:`ModelConfig` and the frozen parts' records of a checkpoint's ``config.json``."""
    from clhoi.config import from_dict, resolve_path

    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    version = data.pop("clhoi_format", None)
    if version is None or version > FORMAT_VERSION:
        raise ValueError(f"{path}: not a clhoi checkpoint config of format <= {FORMAT_VERSION} (got {version!r}); "
                         "upgrade clhoi")
    frozen = data.pop("frozen", {})
    for key in ("clip", "qformer"):
        data[key] = resolve_path(data[key], path.parent, name=True)
    return from_dict(ModelConfig, data, "model"), frozen


def fingerprint(module: nn.Module) -> str:
    """``sha256:`` of a module's parameters (names, dtypes, shapes and bytes, in name order).

    Memoised on the module: it is meant for frozen parts. A real ViT-B/16 CLIP
    (150 M parameters) takes 1.5-2.3 s on a loaded 2-core CPU (benchmarks/bench_checkpoint.py).
    """
    cached = getattr(module, "_clhoi_fingerprint", None)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    for name, p in sorted(module.named_parameters()):
        t = p.detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    value = "sha256:" + h.hexdigest()
    module._clhoi_fingerprint = value  # type: ignore[assignment]
    return value


def _checkpoint_file(model_id: str, filename: str, hub: dict[str, Any]) -> Path | None:
    """``filename`` of a local checkpoint folder, or downloaded from the Hub repository ``model_id``."""
    if Path(model_id).is_dir():
        local = Path(model_id) / filename
        return local if local.is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return Path(hf_hub_download(model_id, filename, **hub))
    except EntryNotFoundError:
        return None


def _from_full_checkpoint(directory: Path, weights: Path) -> CLHOI:
    """A clhoi 0.1 checkpoint: ``config.yaml``, every weight, the architectures in ``clip/`` and ``qformer/``."""
    cfg = read_model_config(directory / CONFIG_FILE)
    if not (directory / "clip").is_dir():
        raise FileNotFoundError(f"{directory} has neither {HUB_CONFIG_FILE} nor a clip/ folder; "
                                "write checkpoints with CLHOI.save_pretrained")
    model = _assemble(cfg, str(directory / "clip"), str(directory / "qformer"), weights=False)
    missing, unexpected = load_model(model, str(weights), strict=False)
    if missing or unexpected:
        raise ValueError(f"{weights} does not fit the config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model


def _assemble(cfg: ModelConfig, clip_source: str, qformer_source: str, weights: bool) -> CLHOI:
    from clhoi.config import resolve_path

    clip_source, qformer_source = resolve_path(clip_source, name=True), resolve_path(qformer_source, name=True)
    clip, tokenizer, processor = load_clip(clip_source, weights=weights)
    encoders = ClipEncoders(clip, tokenizer, processor, cfg.clip_feature_layer, frozen=cfg.freeze_clip,
                            visual_layer=cfg.visual_feature_layer)
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
