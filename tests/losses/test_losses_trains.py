"""The distillation losses teach pair-level verbs from image-level labels (a small toy world).

A pair's input is a fixed random mix of its true verb's text embedding; each image
lists its verbs (image level only) and two negatives. A linear student trained
with I2T + T2I + SR must learn which pair does which verb.
"""

import torch
import torch.nn.functional as F

from clhoi.losses import Criterion, DistillTargets, soft_relation_labels
from clhoi.structures import StudentOutput

D, V = 16, 10


def _world(g: torch.Generator) -> dict[str, torch.Tensor]:
    verbs = F.normalize(torch.randn(V, D, generator=g), dim=-1)
    q, _ = torch.linalg.qr(verbs.T)  # [D, V] basis of the verbs' span
    gap = torch.randn(D, generator=g)
    gap = F.normalize(gap - q @ (q.T @ gap), dim=0)  # the modality gap, orthogonal to every text
    return {
        "verbs": verbs,
        "negatives": F.normalize(torch.randn(8, D, generator=g), dim=-1),
        "mix": torch.randn(D, D, generator=g) / D**0.5,
        "gap": gap,
    }


def _batch(w: dict[str, torch.Tensor], b: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                         DistillTargets]:
    pair_image = torch.arange(b).repeat_interleave(3)  # 3 pairs per image
    verbs = torch.randint(0, V, (3 * b,), generator=g)
    text = w["verbs"][verbs]
    inputs = text @ w["mix"] + 0.1 * torch.randn(3 * b, D, generator=g)
    union = F.normalize(0.3 * text + w["gap"] + 0.05 * torch.randn(3 * b, D, generator=g), dim=-1)  # CLIP-like crop
    per_image = text.reshape(b, 3, D)
    ones = torch.ones(b, 3, dtype=torch.bool)
    neg = w["negatives"][torch.randint(0, 8, (b, 2), generator=g)]
    targets = DistillTargets(torch.zeros(b, 1, D), torch.zeros(b, 1, dtype=torch.bool), per_image, ones,
                             neg, torch.ones(b, 2, dtype=torch.bool), union=union, sr_verbs=per_image,
                             sr_objects=per_image, sr_mask=ones)
    return inputs, pair_image, verbs, targets


def _out(x: torch.Tensor, pair_image: torch.Tensor) -> StudentOutput:
    z = torch.zeros(x.shape[0], dtype=torch.long)
    return StudentOutput(x, pair_image, z, z, torch.ones(x.shape[0], 2), z)


def test_image_level_losses_learn_pair_level_verbs() -> None:
    g = torch.Generator().manual_seed(0)
    w = _world(g)
    test_x, _, test_v, _ = _batch(w, 100, g)
    student = torch.nn.Linear(D, D)
    opt = torch.optim.AdamW(student.parameters(), lr=2e-2)
    crit = Criterion({"i2t": 1.0, "t2i": 1.0, "soft_relation": 1.0})

    def accuracy() -> float:
        with torch.no_grad():
            pred = (F.normalize(student(test_x), dim=-1) @ w["verbs"].T).argmax(-1)
        return float((pred == test_v).float().mean())

    before = accuracy()
    for _ in range(40):
        x, pair_image, _, targets = _batch(w, 16, g)
        loss = crit(_out(student(x), pair_image), targets)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = accuracy()
    assert before < 0.3 and after > 0.8, (before, after)


def test_raw_cosine_threshold_gives_no_labels_for_clip_like_crops() -> None:
    # why "minmax" is the default: CLIP crop-text cosines sit near 0.3, below the paper's 0.5
    g = torch.Generator().manual_seed(1)
    w = _world(g)
    _, pair_image, _, t = _batch(w, 8, g)
    raw, _ = soft_relation_labels(t.union, pair_image, t.sr_verbs, t.sr_objects, t.sr_mask, 0.5, "cosine")
    rel, _ = soft_relation_labels(t.union, pair_image, t.sr_verbs, t.sr_objects, t.sr_mask, 0.5, "minmax")
    assert raw.sum() == 0
    assert (rel.reshape(8, 3, 3).sum(1) >= 1).all()  # every triplet finds at least its best pair
