"""Model section of the experiment config (no torch imports)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelConfig:
    """The CL-HOI student's architecture and switches.

    Attributes:
        clip: CLIP model id or path (image and text encoders).
        hidden_dim: width of the interaction cognition network.
        use_vlt, use_spatial, use_visual, use_context: the ablation switches
            of Table 4 (all off but spatial content = UPT-style baseline).
        score_lambda: lambda of Eq. 18.
    """

    clip: str = "openai/clip-vit-base-patch16"
    hidden_dim: int = 256
    use_vlt: bool = True
    use_spatial: bool = True
    use_visual: bool = True
    use_context: bool = True
    score_lambda: float = 0.5
