"""Speed of the loss terms (forward + backward) and of Eq. 18 post-processing at the paper's batch size.

Run: ``python benchmarks/bench_losses.py`` (add ``--threads 2`` on an idle machine).
Setting: B = 16 images, 32 pairs each (P = 512), D = 512 (CLIP ViT-B/16 text width),
Q = 32 context queries, 3 positive verbs / 2 negatives / 3 triplets per image;
post-processing against HICO-DET's 600 classes and V-COCO's 29.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from clhoi.labelset import LabelSet
from clhoi.losses import Criterion, DistillTargets
from clhoi.matching import SupervisedTargets
from clhoi.postprocess import PostProcess
from clhoi.structures import Detections, StudentOutput


def _timed(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, min(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    b, k, d, q = 16, 32, 512, 32
    p = b * k
    unit = lambda *s: F.normalize(torch.randn(*s), dim=-1)  # noqa: E731
    dets = [Detections(torch.rand(12, 2).repeat(1, 2) * 100 + torch.tensor([0, 0, 20, 20.0]), torch.rand(12),
                       torch.randint(0, 80, (12,))) for _ in range(b)]
    pair_image = torch.arange(b).repeat_interleave(k)
    human = torch.randint(0, 4, (p,))
    obj = torch.randint(4, 12, (p,))

    object_labels = torch.stack([dets[int(i)].labels[int(o)] for i, o in zip(pair_image, obj)])
    pair_scores = torch.rand(p, 2)

    def output() -> StudentOutput:
        return StudentOutput(torch.randn(p, d, requires_grad=True), pair_image, human, obj, pair_scores,
                             object_labels, context=torch.randn(b, q, d, requires_grad=True),
                             logit_scale=torch.tensor(14.3))

    ones = lambda n: torch.ones(b, n, dtype=torch.bool)  # noqa: E731
    targets = DistillTargets(unit(b, 1, d), ones(1), unit(b, 3, d), ones(3), unit(b, 2, d), ones(2),
                             union=unit(p, d), sr_verbs=unit(b, 3, d), sr_objects=unit(b, 3, d), sr_mask=ones(3))
    crit = Criterion({"context": 1, "i2t": 1, "t2i": 1, "soft_relation": 1})
    hico = LabelSet.hicodet()
    sup = SupervisedTargets((torch.rand(p, 600) > 0.995).float(), unit(600, d),
                            hico.valid_mask(output().object_labels))
    crit_sup = Criterion({"supervised": 1})

    def step(c: Criterion, **kw) -> None:
        out = output()
        c(out, **kw)["total"].backward()

    rows = [
        ("distillation terms (Eqs. 7-9, 11-16), fwd+bwd", lambda: step(crit, targets=targets)),
        ("supervised focal loss, 600 classes, fwd+bwd", lambda: step(crit_sup, supervised=sup)),
    ]
    post = PostProcess(score_lambda=0.5)
    out_eval = output()
    names = [f"{i}.jpg" for i in range(b)]
    text600, text29 = unit(600, d), unit(29, d)
    vcoco = LabelSet.vcoco()
    rows += [
        ("PostProcess HICO-DET 600 (16 images)", lambda: post(out_eval, dets, names, text600, hico)),
        ("PostProcess V-COCO 29 (16 images)", lambda: post(out_eval, dets, names, text29, vcoco)),
    ]
    print(f"B={b} P={p} D={d} Q={q} threads={args.threads} repeats={args.repeats} torch={torch.__version__}")
    for name, fn in rows:
        med, best = _timed(fn, args.repeats)
        print(f"{name:55s} median {med:7.1f} ms   min {best:7.1f} ms")


if __name__ == "__main__":
    main()
