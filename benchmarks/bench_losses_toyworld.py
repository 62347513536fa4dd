"""Do the distillation losses train? Image-level labels in, pair-level accuracy out, on a toy world.

Run: ``python benchmarks/bench_losses_toyworld.py``.

The world: ``V`` verbs and ``O`` objects with random unit "CLIP text" embeddings
(D = 32). An image has 2-4 human-object pairs, each with a true verb and object;
a pair's input feature is a fixed random linear mix of its verb and object
embeddings plus noise, so the student (one linear layer) has to learn to undo the
mix. The teacher gives image-level labels only: the set of true verbs (each
dropped with probability 0.2: teachers are incomplete), two negative verbs from a
separate dictionary, and the parsed (verb, object) triplets for the SR loss, whose
"union crop" CLIP embedding is ``normalize(0.3 (verb + object) + gap + noise)``: ``gap`` is one
shared unit vector standing for CLIP's modality gap, which puts a crop's cosine to its
own verb / object text near 0.3, as with real CLIP, instead of ~0.7.

Measured: top-1 pair-level verb accuracy on held-out images (``argmax_v cos(I, T_v)``),
chance = 1 / V, after training with each loss alone and all together.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from clhoi.losses import Criterion, DistillTargets
from clhoi.structures import StudentOutput


@dataclass
class ToyBatch:
    inputs: torch.Tensor  # [P, D_in]
    pair_image: torch.Tensor  # [P]
    verbs: torch.Tensor  # [P] true verb of each pair
    targets: DistillTargets


class ToyWorld:
    def __init__(self, num_verbs: int = 24, num_objects: int = 8, dim: int = 32, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.g = g
        self.verb_text = F.normalize(torch.randn(num_verbs, dim, generator=g), dim=-1)
        self.object_text = F.normalize(torch.randn(num_objects, dim, generator=g), dim=-1)
        self.negative_text = F.normalize(torch.randn(20, dim, generator=g), dim=-1)
        self.mix_v = torch.randn(dim, dim, generator=g) / dim**0.5
        self.mix_o = torch.randn(dim, dim, generator=g) / dim**0.5
        self.gap = F.normalize(torch.randn(dim, generator=g), dim=0)
        self.dim = dim

    def batch(self, num_images: int, drop: float = 0.2, noise: float = 0.3) -> ToyBatch:
        g, d = self.g, self.dim
        nv, no = self.verb_text.shape[0], self.object_text.shape[0]
        counts = torch.randint(2, 5, (num_images,), generator=g)
        pair_image = torch.arange(num_images).repeat_interleave(counts)
        p = int(counts.sum())
        verbs = torch.randint(0, nv, (p,), generator=g)
        objects = torch.randint(0, no, (p,), generator=g)
        v, o = self.verb_text[verbs], self.object_text[objects]
        inputs = v @ self.mix_v + o @ self.mix_o + noise * torch.randn(p, d, generator=g) / d**0.5
        # CLIP-like image embedding of the union crop: a shared "image modality" direction dominates
        # (the modality gap), so cosines to the matching texts are ~0.3, as with real CLIP, not ~0.7
        crop = 0.3 * (v + o) + self.gap + noise * torch.randn(p, d, generator=g) / d**0.5
        union = F.normalize(crop, dim=-1)
        pos_rows, trip_rows = [], []
        for i in range(num_images):
            idx = (pair_image == i).nonzero().flatten().tolist()
            kept = [k for k in idx if torch.rand((), generator=g) > drop] or idx[:1]
            trip_rows.append([(int(verbs[k]), int(objects[k])) for k in kept])
            pos_rows.append(sorted({int(verbs[k]) for k in kept}))
        r = max(len(t) for t in trip_rows)
        npos = max(len(t) for t in pos_rows)
        pos = torch.zeros(num_images, npos, d)
        pos_mask = torch.zeros(num_images, npos, dtype=torch.bool)
        sr_v, sr_o = torch.zeros(num_images, r, d), torch.zeros(num_images, r, d)
        sr_mask = torch.zeros(num_images, r, dtype=torch.bool)
        for i in range(num_images):
            pos[i, : len(pos_rows[i])] = self.verb_text[pos_rows[i]]
            pos_mask[i, : len(pos_rows[i])] = True
            for j, (vv, oo) in enumerate(trip_rows[i]):
                sr_v[i, j], sr_o[i, j], sr_mask[i, j] = self.verb_text[vv], self.object_text[oo], True
        neg_idx = torch.stack([torch.randperm(20, generator=g)[:2] for _ in range(num_images)])
        targets = DistillTargets(
            caption=torch.zeros(num_images, 1, d), caption_mask=torch.zeros(num_images, 1, dtype=torch.bool),
            positives=pos, positive_mask=pos_mask,
            negatives=self.negative_text[neg_idx], negative_mask=torch.ones(num_images, 2, dtype=torch.bool),
            union=union, sr_verbs=sr_v, sr_objects=sr_o, sr_mask=sr_mask,
        )
        return ToyBatch(inputs, pair_image, verbs, targets)


def _output(student: torch.nn.Module, batch: ToyBatch) -> StudentOutput:
    p = batch.inputs.shape[0]
    zeros = torch.zeros(p, dtype=torch.long)
    return StudentOutput(student(batch.inputs), batch.pair_image, zeros, zeros, torch.ones(p, 2), zeros)


def pair_accuracy(student: torch.nn.Module, world: ToyWorld, batch: ToyBatch) -> float:
    with torch.no_grad():
        pred = (F.normalize(student(batch.inputs), dim=-1) @ world.verb_text.T).argmax(-1)
    return float((pred == batch.verbs).float().mean())


def train(weights: dict[str, float], steps: int = 150, seed: int = 0, sr_label_mode: str = "minmax",
          sr_threshold: float = 0.5) -> tuple[float, float]:
    """Train a linear student; return (held-out pair accuracy before, after)."""
    torch.manual_seed(seed)
    world = ToyWorld(seed=seed)
    test = world.batch(200)
    student = torch.nn.Linear(world.dim, world.dim)
    before = pair_accuracy(student, world, test)
    crit = Criterion(weights, temperature=0.07, sr_label_mode=sr_label_mode, sr_threshold=sr_threshold)
    opt = torch.optim.AdamW(student.parameters(), lr=1e-2)
    for _ in range(steps):
        batch = world.batch(16)
        loss = crit(_output(student, batch), batch.targets)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return before, pair_accuracy(student, world, test)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    runs = [
        ("i2t", {"i2t": 1.0}, "minmax", 0.5),
        ("t2i", {"t2i": 1.0}, "minmax", 0.5),
        ("soft_relation, minmax labels (default)", {"soft_relation": 1.0}, "minmax", 0.5),
        ("soft_relation, raw cosine >= 0.5 (paper letter)", {"soft_relation": 1.0}, "cosine", 0.5),
        ("i2t + t2i + soft_relation (minmax)", {"i2t": 1.0, "t2i": 1.0, "soft_relation": 1.0}, "minmax", 0.5),
    ]
    print(f"toy world: 24 verbs (chance 0.042), {args.steps} steps x 16 images, seeds {args.seeds}")
    for name, w, mode, thr in runs:
        t0 = time.perf_counter()
        res = [train(w, args.steps, s, mode, thr) for s in range(args.seeds)]
        after = [a for _, a in res]
        print(f"{name:50s} before {sum(b for b, _ in res) / len(res):.3f}  after {sum(after) / len(after):.3f} "
              f"(min {min(after):.3f})  {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
