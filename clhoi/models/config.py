"""Model section of the experiment config (no torch imports)."""

from __future__ import annotations

from dataclasses import dataclass

BOX_EMBEDDING_MODES = ("auto", "detector", "pooled")
BASELINES = ("upt", "mlp")
TEXT_SPACES = ("verb_object", "verb", "mixed")  # = clhoi.labelset.TEXT_SPACES (no torch import here)


@dataclass
class ModelConfig:
    """The CL-HOI student's architecture, switches and frozen parts.

    Defaults are the paper's RN50 setting with real model names: a frozen CLIP
    ViT-B/16, the Q-Former of BLIP-2 (OPT-2.7b checkpoint, frozen) between two
    trained adapters with trained context queries, and DETR-R50 decoder states
    (width 256) as box embeddings.

    Attributes:
        clip: CLIP model id or local path (image and text encoders, processor,
            tokenizer); loaded with ``CLIPModel.from_pretrained``.
        clip_feature_layer: index into the CLIP vision ``hidden_states`` whose
            patch tokens (class token dropped) are the image features
            ``f_img``; ``-1`` is the last layer.
        visual_feature_layer: when set, the visual link reads its own CLIP
            layer: ``f_v`` is a linear adapter of that layer's patch tokens
            (with or without the VLT, which then gives ``f_c`` only), while
            ``clip_feature_layer`` still feeds the VLT, the pooled box
            embeddings and UPT's global token. ``None`` (default): ``f_v``
            comes from ``f_img`` as in the paper. An early layer keeps what
            the masked visual attention sees local to the union box (late CLIP
            tokens have attended to the whole image); see docs/results.md,
            "Capability probes".
        image_size: side of the square CLIP input; images are resized to it
            without cropping so that normalised coordinates are shared by the
            image and the patch grid.
        qformer: BLIP-2 checkpoint id/path (its Q-Former weights and query
            tokens are used) or a saved ``Blip2QFormerModel``.
        num_context_queries: number of learned context queries ``C_0``.
        qformer_updates_image: pass the adapted image tokens through the
            Q-Former together with ``C_0`` (so they come out updated as
            ``f'_img``); when false ``f'_img`` is the first adapter's output.
        box_embed_dim: width of the detector's box embeddings (DETR: 256).
        box_embedding: ``auto`` (detector embeddings when a Detections has
            them, RoIAlign-pooled CLIP features otherwise), ``detector``
            (require them) or ``pooled`` (always pool).
        hidden_dim: width of the interaction cognition network.
        num_heads: attention heads in the ICN.
        num_spatial_layers: self-attention layers of Eq. 1.
        dropout: dropout inside the ICN.
        baseline: the pair features the cognition chain starts from, the
            paper's Table 4 row 1: ``upt`` (UPT's interaction head, cooperative
            and competitive layers, :mod:`clhoi.models.upt`; the paper builds on
            UPT) or ``mlp`` (``MLP(e_h, e_o)``, a minimal ablation baseline).
        num_cooperative_layers: cooperative layers of the UPT head (UPT: 2).
        upt_global_token: the UPT head fuses the mean of the image tokens (UPT's
            global feature) into every pair token. ``False`` drops it: an
            ablation whose baseline cannot see the scene (docs/results.md,
            issue 10 part 2). Default ``True``: UPT as published.
        use_vlt: the Visual Linguistic Translator; off = ``f_v`` is a linear
            projection of ``f_img`` and there is no ``f_c``.
        use_spatial: spatial cognition (pair geometry prior ``S`` and the
            self-attention of Eq. 1); off = ``I_s`` from projected
            embeddings alone.
        use_visual: visual cognition (Eqs. 2-3).
        visual_union_guidance: how the union box ``b_u`` guides Eq. 3's attention
            besides ``PE(c_u)`` in the query: ``none``, ``mask`` (keys outside
            ``b_u`` masked) or ``bias`` (a learned negative bias on them); see
            docs/paper_map.md. Default ``none``: unchanged from earlier checkpoints.
        use_context: context cognition (Eq. 4); needs ``use_vlt``.
        link_residual: each link adds to the features it receives instead of
            re-mapping them: ``I_s = base + MLP(...)`` over the UPT head's pair
            features, ``I_v0 = I_s + MLP(I_s, PE(c_u))`` (the paper writes the
            MLPs alone; Eq. 3-4's attention blocks are residual either way).
            See docs/paper_map.md. Default ``False``: unchanged from earlier checkpoints.
        freeze_clip: keep the CLIP encoders frozen (the paper's setting).
        freeze_qformer: keep the Q-Former frozen (adapters and context queries
            are trained either way).
        learn_logit_scale: let the optimizer train ``logit_scale``, the
            multiplier of the cosine inside Eq. 18's sigmoid. Only the
            supervised focal loss reads it, so it changes only in
            ``supervision: full`` runs; annotation-free runs keep
            ``logit_scale_init`` whatever this says (the paper configs set it
            to false there, so the config says what the run does).
        logit_scale_init: the initial (annotation-free: the constant)
            ``logit_scale``; 14.285714 = 1 / 0.07, the contrastive losses'
            temperature.
        score_lambda: lambda of Eq. 18 (read by the post-processor).
        prompt_template: text prompt for an HOI, with ``{verb}`` (filled with
            the gerund, "riding") and ``{object}`` (with its article, "a
            bicycle") placeholders; see ``clhoi.labelset.hoi_prompt``.
        verb_template: text prompt for a verb alone (``{verb}``); see
            ``clhoi.labelset.verb_prompt``.
        text_space: the texts interaction features are compared with, the
            same at training and testing (``clhoi.labelset.TEXT_SPACES``):
            ``verb_object`` (training positives, negatives and SR texts are
            ``prompt_template`` with the teacher's object; HICO-DET classes too),
            ``verb`` (``verb_template`` at both), or ``mixed`` (verbs at
            training, verb + object at testing; the pre-issue-15 behaviour).
            V-COCO's classes carry no object and always use ``verb_template``.
            Default ``verb``: both consistent spaces beat ``mixed`` on 3 sandbox
            seeds, ``verb`` by a little more, and it is the space V-COCO and
            open-vocabulary verbs share (docs/results.md).
    """

    clip: str = "openai/clip-vit-base-patch16"
    clip_feature_layer: int = -1
    visual_feature_layer: int | None = None
    image_size: int = 224
    qformer: str = "Salesforce/blip2-opt-2.7b"
    num_context_queries: int = 32
    qformer_updates_image: bool = True
    box_embed_dim: int = 256
    box_embedding: str = "auto"
    hidden_dim: int = 256
    num_heads: int = 8
    num_spatial_layers: int = 2
    dropout: float = 0.1
    baseline: str = "upt"
    num_cooperative_layers: int = 2
    upt_global_token: bool = True
    use_vlt: bool = True
    use_spatial: bool = True
    use_visual: bool = True
    visual_union_guidance: str = "none"
    use_context: bool = True
    link_residual: bool = False
    freeze_clip: bool = True
    freeze_qformer: bool = True
    learn_logit_scale: bool = True
    logit_scale_init: float = 14.285714
    score_lambda: float = 0.5
    prompt_template: str = "a photo of a person {verb} {object}"
    verb_template: str = "a photo of a person {verb}"
    text_space: str = "verb"

    def __post_init__(self) -> None:
        if self.box_embedding not in BOX_EMBEDDING_MODES:
            raise ValueError(f"box_embedding must be one of {BOX_EMBEDDING_MODES}, got {self.box_embedding!r}")
        if self.visual_union_guidance not in ("none", "mask", "bias"):
            raise ValueError(f"model.visual_union_guidance must be one of none, mask, bias, "
                             f"got {self.visual_union_guidance!r}")
        if self.baseline not in BASELINES:
            raise ValueError(f"model.baseline must be one of {BASELINES}, got {self.baseline!r}")
        if self.use_context and not self.use_vlt:
            raise ValueError("use_context needs use_vlt (context features f_c come from the VLT); set use_context=false")
        for name in ("image_size", "num_context_queries", "box_embed_dim", "hidden_dim", "num_heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("num_spatial_layers", "num_cooperative_layers"):
            if getattr(self, name, 0) < 0:
                raise ValueError(f"model.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.hidden_dim % self.num_heads:
            raise ValueError(f"hidden_dim {self.hidden_dim} must be divisible by num_heads {self.num_heads}")
        if self.hidden_dim % 4:
            raise ValueError(f"hidden_dim {self.hidden_dim} must be divisible by 4 (box positional encoding)")
        if "{verb}" not in self.prompt_template or "{object}" not in self.prompt_template:
            raise ValueError("prompt_template needs both {verb} and {object} placeholders")
        if "{verb}" not in self.verb_template:
            raise ValueError("verb_template needs a {verb} placeholder")
        if self.text_space not in TEXT_SPACES:
            raise ValueError(f"model.text_space must be one of {TEXT_SPACES}, got {self.text_space!r}")
        if not 0.0 <= self.score_lambda <= 1.0:
            raise ValueError(f"score_lambda must be in [0, 1], got {self.score_lambda}")

    @property
    def class_template(self) -> str:
        """Template of the HOI classes scored at testing (Eq. 17), per ``text_space``."""
        return self.verb_template if self.text_space == "verb" else self.prompt_template

    @property
    def training_hoi_template(self) -> str | None:
        """Template of the training texts when they carry the object (``verb_object``), else ``None``."""
        return self.prompt_template if self.text_space == "verb_object" else None
