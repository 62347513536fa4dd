"""Our student side by side with UPT's own model (fredzzhang/upt), same GPU, batch and image size, one run.

UPT is run as its authors publish it: a clone of fredzzhang/upt with its ``detr``
submodule (fredzzhang/detr, branch ``intr``) and ``pocket`` importable; nothing of it is
copied here, the script imports it from ``--upt``. Both models get random weights (speed
only; nothing is downloaded: torchvision's ImageNet ResNet-50 that DETR asks for is built
without weights).

What is timed, per batch of ``--batch`` images of ``--height x --width`` pixels:

Random-weight detectors give one box per image after NMS, so both models' detections are replaced, after
their DETR ran, by the same fixed set of distinct boxes (``synthetic_queries``).

* inference: UPT ``model.eval()(images)`` (DETR-R50 + interaction head + post-processing);
  ours: DETR-R50 (transformers, random) + UPT's detection filter + CLIP ViT-B/16 +
  VLT + UPT head + ICN + Eq. 18 over HICO-DET's 600 classes;
* training step: UPT ``model.train()(images, targets)`` + backward + AdamW step on the
  head (DETR frozen, as UPT's ``main.py``); ours from images: frozen DETR + frozen CLIP +
  the student + the four losses of Eq. 10 (union-crop embeddings for L_SR given, not
  encoded: see ``--help``) + backward + AdamW step; and ours from the feature cache
  (student + losses only, what ``clhoi train`` runs after ``clhoi cache``).

Usage (on a GPU machine)::

    git clone --recursive https://github.com/fredzzhang/upt /tmp/upt   # plus: pip install -e /tmp/upt/pocket
    python benchmarks/bench_vs_upt.py --upt /tmp/upt --batch 8 --height 640 --width 800 --iters 20
    python benchmarks/bench_vs_upt.py --ours-only --tiny --device cpu --batch 2 --iters 1 --height 64 --width 64

Prints one JSON object; record it in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402


def synthetic_queries(num_queries: int, h: int, w: int, device: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fixed ``(scores, labels, boxes)`` for every query of a random-weight DETR.

    A DETR with random weights predicts nearly the same box for every query, so NMS would leave one box and
    no pairs. Both models get these instead (after their DETR has run, so its time counts): distinct boxes,
    a third of them persons, scores in [0.3, 1); UPT's and our filters then keep the same detections.
    """
    g = torch.Generator().manual_seed(num_queries)
    xy = torch.rand(num_queries, 2, generator=g) * torch.tensor([w * 0.8, h * 0.8])
    wh = (torch.rand(num_queries, 2, generator=g) * 0.3 + 0.05) * torch.tensor([w, h])
    labels = torch.randint(1, 80, (num_queries,), generator=g)
    labels[: num_queries // 3] = 0
    scores = torch.rand(num_queries, generator=g) * 0.7 + 0.3
    return scores.to(device), labels.to(device), torch.cat([xy, xy + wh], 1).to(device)


def timed(fn: Callable[[], Any], iters: int, warmup: int, cuda: bool) -> dict[str, float]:
    """Median and mean seconds per call of ``fn``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return {"median_s": round(statistics.median(times), 4), "mean_s": round(statistics.mean(times), 4)}


def images(batch: int, height: int, width: int, device: str) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.rand(3, height, width, generator=g).to(device) for _ in range(batch)]


# ----------------------------------------------------------------------------- UPT
def build_upt(root: Path, device: str) -> torch.nn.Module:
    """UPT's model from its own ``build_detector`` with ``main.py``'s defaults (HICO-DET, 117 verbs)."""
    import torchvision

    sys.path[:0] = [str(root), str(root / "detr")]
    original = torchvision.models.resnet50

    def resnet50_without_download(*args: Any, pretrained: bool = False, **kwargs: Any) -> torch.nn.Module:
        kwargs.pop("weights", None)
        return original(*args, weights=None, **kwargs)

    torchvision.models.resnet50 = resnet50_without_download  # DETR's backbone asks for ImageNet weights
    from upt import build_detector  # noqa: PLC0415  (from the user's clone)

    args = SimpleNamespace(
        backbone="resnet50", dilation=False, position_embedding="sine", repr_dim=512, hidden_dim=256, enc_layers=6,
        dec_layers=6, dim_feedforward=2048, dropout=0.1, nheads=8, num_queries=100, pre_norm=False, aux_loss=True,
        set_cost_class=1, set_cost_bbox=5, set_cost_giou=2, bbox_loss_coef=5, giou_loss_coef=2, eos_coef=0.1,
        alpha=0.5, gamma=0.2, dataset="hicodet", device=device, pretrained="", box_score_thresh=0.2,
        fg_iou_thresh=0.5, min_instances=3, max_instances=15, lr_backbone=0.0, masks=False, human_idx=0,
        num_classes=117,
    )
    from clhoi import vocab

    space = vocab.hicodet()
    object_to_verbs: list[list[int]] = [[] for _ in range(80)]
    for c, (v, _) in enumerate(space.hoi):
        coco = space.hoi_coco_object(c)
        if v not in object_to_verbs[coco]:
            object_to_verbs[coco].append(v)
    model = build_detector(args, object_to_verbs).to(device)
    forward = model.postprocessor.forward

    def with_synthetic_boxes(results: Any, image_sizes: torch.Tensor) -> Any:  # see synthetic_queries
        out = forward(results, image_sizes)
        for r, (h, w) in zip(out, image_sizes.tolist()):
            r["scores"], r["labels"], r["boxes"] = synthetic_queries(r["boxes"].shape[0], h, w, r["boxes"].device)
        return out

    model.postprocessor.forward = with_synthetic_boxes
    for p in model.detector.parameters():  # UPT trains the interaction head only
        p.requires_grad = False
    return model


def bench_upt(root: Path, imgs: list[torch.Tensor], iters: int, warmup: int, cuda: bool) -> dict[str, Any]:
    model = build_upt(root, str(imgs[0].device))
    model.eval()
    with torch.no_grad():
        dets = model(imgs)
    # targets = the first detected pairs, so that the focal loss has positives (box format as UPT's loader)
    targets = []
    for d, im in zip(dets, imgs):
        h, w = im.shape[-2:]
        pairs = d["pairing"][:, :4] if d["pairing"].shape[0] == 2 else d["pairing"][:4].T
        boxes = d["boxes"] / torch.tensor([w, h, w, h], device=im.device)
        cxcywh = torch.cat([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], 1)
        targets.append({"boxes_h": cxcywh[pairs[0]], "boxes_o": cxcywh[pairs[1]], "labels": d["labels"][: pairs.shape[1]],
                        "size": torch.tensor([h, w], device=im.device)})
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=1e-4)

    def infer() -> None:
        with torch.no_grad():
            model(imgs)

    def train_step() -> None:
        loss = sum(model(imgs, targets).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        opt.step()

    model.eval()
    pairs = sum(int(torch.unique(d["pairing"].reshape(2, -1), dim=1).shape[1]) for d in dets)
    out = {"inference": timed(infer, iters, warmup, cuda), "pairs_per_batch": pairs}
    model.train()
    out["train_step"] = timed(train_step, iters, warmup, cuda)
    out["trainable_parameters"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return out


# ----------------------------------------------------------------------------- ours
def build_ours(device: str, tmp: Path, tiny: bool = False) -> tuple[Any, Any]:
    """The real-size student (CLIP ViT-B/16, BLIP-2 Q-Former, UPT head, ICN) and DETR-R50, random weights.

    ``tiny``: the test-size student and a 2-layer DETR instead (a CPU smoke test of this script).
    """
    from transformers import DetrConfig, DetrForObjectDetection, ResNetConfig

    from clhoi.models.config import ModelConfig
    from clhoi.models.student import build_architecture, build_student
    from clhoi.models.testing import save_real_size_architecture, tiny_student_config

    if tiny:
        student = build_student(tiny_student_config(tmp, box_embed_dim=32)).to(device)
        backbone = ResNetConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 64], embedding_size=8,
                                layer_type="basic", out_features=["stage4"])
        detr_cfg = DetrConfig(use_timm_backbone=False, backbone_config=backbone, num_labels=91, d_model=32,
                              encoder_layers=1, decoder_layers=1, encoder_ffn_dim=64, decoder_ffn_dim=64,
                              encoder_attention_heads=2, decoder_attention_heads=2, num_queries=20)
    else:
        clip_dir, qformer_dir = save_real_size_architecture(tmp)
        student = build_architecture(ModelConfig(), clip_dir, qformer_dir).to(device)
        backbone = ResNetConfig(depths=[3, 4, 6, 3], hidden_sizes=[256, 512, 1024, 2048], layer_type="bottleneck",
                                out_features=["stage4"])
        detr_cfg = DetrConfig(use_timm_backbone=False, backbone_config=backbone, num_labels=91)
    from clhoi.vocab import COCO_CLASSES, COCO_ID_TO_INDEX

    detr_cfg.id2label = {i: "N/A" for i in range(91)} | {cid: COCO_CLASSES[k] for cid, k in COCO_ID_TO_INDEX.items()}
    detr_cfg.label2id = {v: k for k, v in detr_cfg.id2label.items()}
    detr = DetrForObjectDetection(detr_cfg).to(device)

    for p in detr.parameters():
        p.requires_grad = False
    return student, detr.eval()


def detect(detr: Any, imgs: list[torch.Tensor]) -> list[Any]:
    from clhoi.detect.detector import coco_label_map, decode_outputs
    from clhoi.detect.filter import filter_detections

    mean = torch.tensor([0.485, 0.456, 0.406], device=imgs[0].device)[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225], device=imgs[0].device)[:, None, None]
    with torch.no_grad():
        out = detr(pixel_values=torch.stack([(im - mean) / std for im in imgs]))
    label_map = coco_label_map(detr.config.id2label)
    dets = []
    for i, im in enumerate(imgs):
        d = decode_outputs(out.logits[i], out.pred_boxes[i], out.last_hidden_state[i], label_map, tuple(im.shape[-2:]))
        q = out.last_hidden_state.shape[1]
        d.scores, d.labels, d.boxes = synthetic_queries(q, *im.shape[-2:], im.device)  # see synthetic_queries
        d.embeddings = out.last_hidden_state[i]
        dets.append(filter_detections(d, 0.2, 0.5, 3, 15, 3, 15))
    return dets


def clip_pixels(student: Any, imgs: list[torch.Tensor]) -> torch.Tensor:
    size = student.config.image_size
    x = torch.nn.functional.interpolate(torch.stack(imgs), size=(size, size), mode="bicubic", align_corners=False)
    mean = torch.tensor([0.4815, 0.4578, 0.4082], device=x.device)[:, None, None]
    std = torch.tensor([0.2686, 0.2613, 0.2758], device=x.device)[:, None, None]
    return (x - mean) / std


def synthetic_targets(student: Any, batch: int, pairs: int, device: str) -> Any:
    from clhoi.losses import DistillTargets

    g = torch.Generator().manual_seed(1)
    d = student.encoders.text_dim

    def rows(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(batch, n, d, generator=g).to(device), torch.ones(batch, n, dtype=torch.bool, device=device)

    cap, cap_m = rows(1)
    pos, pos_m = rows(3)
    neg, neg_m = rows(2)
    sr_v, sr_m = rows(3)
    sr_o, _ = rows(3)
    return DistillTargets(cap, cap_m, pos, pos_m, neg, neg_m, torch.randn(pairs, d, generator=g).to(device),
                          sr_v, sr_o, sr_m)


def bench_ours(imgs: list[torch.Tensor], iters: int, warmup: int, cuda: bool, tiny: bool = False) -> dict[str, Any]:
    from clhoi.labelset import LabelSet
    from clhoi.losses import Criterion
    from clhoi.postprocess import PostProcess

    device = str(imgs[0].device)
    with tempfile.TemporaryDirectory() as tmp:
        student, detr = build_ours(device, Path(tmp), tiny)
    label_set = LabelSet.hicodet(student.config.class_template)
    with torch.no_grad():
        text = student.encode_label_set(label_set)  # frozen and memoised: computed once, as in evaluation
    post = PostProcess(score_lambda=student.config.score_lambda)
    criterion = Criterion({"context": 1, "i2t": 1, "t2i": 1, "soft_relation": 1})
    opt = torch.optim.AdamW(student.trainable_parameters(), lr=1e-4, weight_decay=1e-4)
    names = [f"{i}.jpg" for i in range(len(imgs))]

    def infer() -> None:
        with torch.no_grad():
            dets = detect(detr, imgs)
            out = student(dets, pixel_values=clip_pixels(student, imgs))
            post(out, dets, names, text, label_set)

    dets = detect(detr, imgs)
    with torch.no_grad():
        feats = student.encode_images(clip_pixels(student, imgs))
    pairs = student(dets, image_features=feats).interaction.shape[0]
    targets = synthetic_targets(student, len(imgs), pairs, device)

    def step(from_images: bool) -> None:
        if from_images:
            d = detect(detr, imgs)
            with torch.no_grad():
                f = student.encode_images(clip_pixels(student, imgs))
        else:
            d, f = dets, feats
        losses = criterion(student(d, image_features=f), targets)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(student.trainable_parameters(), 0.1)
        opt.step()

    student.eval()
    out = {"inference": timed(infer, iters, warmup, cuda), "pairs_per_batch": pairs}
    student.train()
    out["train_step_from_images"] = timed(lambda: step(True), iters, warmup, cuda)
    out["train_step_from_cache"] = timed(lambda: step(False), iters, warmup, cuda)
    out["trainable_parameters"] = sum(p.numel() for p in student.trainable_parameters())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upt", type=Path, help="a clone of fredzzhang/upt with its detr submodule (and pocket installed)")
    ap.add_argument("--ours-only", action="store_true")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--height", type=int, default=640)
    ap.add_argument("--width", type=int, default=800)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--tiny", action="store_true", help="test-size models (a CPU smoke test of the script)")
    a = ap.parse_args()
    if not a.ours_only and (a.upt is None or not (a.upt / "upt.py").is_file()):
        ap.error("--upt must point at a clone of fredzzhang/upt (or pass --ours-only)")
    cuda = a.device.startswith("cuda")
    imgs = images(a.batch, a.height, a.width, a.device)
    result: dict[str, Any] = {"device": torch.cuda.get_device_name() if cuda else "cpu", "batch": a.batch,
                              "image_size": [a.height, a.width], "iters": a.iters, "torch": torch.__version__}
    result["ours"] = bench_ours(imgs, a.iters, a.warmup, cuda, a.tiny)
    if cuda:
        result["ours"]["peak_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        torch.cuda.reset_peak_memory_stats()
    if not a.ours_only:
        result["upt"] = bench_upt(a.upt, imgs, a.iters, a.warmup, cuda)
        if cuda:
            result["upt"]["peak_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        for key in ("inference",):
            result[f"{key}_speed_ratio_ours_over_upt"] = round(
                result["upt"][key]["median_s"] / result["ours"][key]["median_s"], 3)
        result["train_speed_ratio_ours_from_images_over_upt"] = round(
            result["upt"]["train_step"]["median_s"] / result["ours"]["train_step_from_images"]["median_s"], 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
