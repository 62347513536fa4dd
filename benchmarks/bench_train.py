"""Training speed: optimizer steps per second from the feature cache and from images, and the speed-up.

Runs the real training step (``clhoi.engine.step.batch_losses`` + backward +
clip + AdamW) on a synthetic world written to a temporary folder: noise
images, ``--humans`` persons and ``--objects`` objects per image, teacher
records with a caption, one verb and two negatives, all four distillation
losses on (the soft-relation loss needs union-crop embeddings: cached, or CLIP
on crops each step).

Sizes:
  tiny  the test-size student (32 px CLIP, hidden 32): CPU-friendly.
  real  the paper's architecture with random weights: CLIP ViT-B/16 at 224 px,
        BLIP-2 Q-Former (768 wide, 12 layers), ICN width 256, DETR-sized box
        embeddings (256). Needs a GPU to finish in reasonable time.

Usage:
  python benchmarks/bench_train.py                       # tiny, CPU, batch 16
  python benchmarks/bench_train.py --size real --device cuda --bf16
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def real_size_backbones(directory: Path) -> tuple[str, str]:
    """Save a random CLIP ViT-B/16 (with a small in-code tokenizer) and a BLIP-2-sized Q-Former."""
    from transformers import Blip2QFormerConfig, Blip2QFormerModel, CLIPConfig, CLIPImageProcessor, CLIPModel

    from clhoi.models.testing import BOS, EOS, tiny_clip_tokenizer

    tok = tiny_clip_tokenizer()
    vocab = tok.get_vocab()
    clip = CLIPModel(CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                         num_attention_heads=8, max_position_embeddings=77, bos_token_id=vocab[BOS],
                         eos_token_id=vocab[EOS], pad_token_id=vocab[EOS]),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=224, patch_size=16),
        projection_dim=512,
    ))
    clip_dir, q_dir = directory / "clip-b16", directory / "qformer"
    clip.save_pretrained(clip_dir)
    tok.save_pretrained(clip_dir)
    CLIPImageProcessor(size={"height": 224, "width": 224}, do_center_crop=False,
                       crop_size={"height": 224, "width": 224}).save_pretrained(clip_dir)
    Blip2QFormerModel(Blip2QFormerConfig()).save_pretrained(q_dir)
    return str(clip_dir), str(q_dir)


def make_world(root: Path, size: str, n_images: int, humans: int, objects: int):
    """Images, a detections file and teacher labels; returns the experiment config."""
    from clhoi.config import ExperimentConfig
    from clhoi.detect.files import save_detections
    from clhoi.models.config import ModelConfig
    from clhoi.models.testing import tiny_student_config
    from clhoi.structures import Detections, InteractionPair, LabelRecord
    from clhoi.teacher.store import write_labels

    g = torch.Generator().manual_seed(0)
    if size == "tiny":
        model = tiny_student_config(root / "backbones")
    else:
        clip, qformer = real_size_backbones(root / "backbones")
        model = ModelConfig(clip=clip, qformer=qformer)
    w, h = 320, 240
    (root / "images").mkdir(parents=True)
    dets, records = {}, []
    for i in range(n_images):
        name = f"{i:04d}.jpg"
        Image.fromarray((torch.rand(h, w, 3, generator=g) * 255).to(torch.uint8).numpy()).save(root / "images" / name)
        n = humans + objects
        xy = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.7, h * 0.7])
        wh = (torch.rand(n, 2, generator=g) * 0.5 + 0.1) * torch.tensor([w, h])
        boxes = torch.cat([xy, torch.minimum(xy + wh, torch.tensor([w - 1.0, h - 1.0]))], 1)
        labels = torch.cat([torch.zeros(humans, dtype=torch.long), torch.randint(1, 80, (objects,), generator=g)])
        dets[name] = Detections(boxes, torch.rand(n, generator=g) * 0.5 + 0.5, labels,
                                torch.randn(n, model.box_embed_dim, generator=g), (h, w))
        records.append(LabelRecord(name, caption=f"a person riding a horse number {i}",
                                   pairs=[InteractionPair("ride", "horse", "horse")], negatives=["say", "know"]))
    save_detections(root / "dets.safetensors", dets)
    write_labels(records, root / "labels.jsonl")
    cfg = replace(ExperimentConfig(name="bench", output_dir=str(root / "run")), model=model)
    cfg.data = replace(cfg.data, image_root=str(root / "images"), labels=str(root / "labels.jsonl"),
                       detections_train=str(root / "dets.safetensors"))
    cfg.detector = replace(cfg.detector, min_humans=0, max_humans=humans, min_objects=0, max_objects=objects,
                           score_threshold=0.0, nms_threshold=1.0)
    return cfg


def steps_per_second(cfg, steps: int, device: str, bf16: bool) -> float:
    """Time ``steps`` optimizer steps (after one warm-up step) of the real training step."""
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    from clhoi.data.collate import collate
    from clhoi.engine.setup import build_training
    from clhoi.engine.step import batch_losses
    from clhoi.engine.train import build_optimizer

    accelerator = Accelerator(cpu=device == "cpu", mixed_precision="bf16" if bf16 else "no")
    parts = build_training(cfg, accelerator.device)
    loader = DataLoader(parts.dataset, batch_size=cfg.train.batch_size, shuffle=False, collate_fn=collate)
    optimizer = build_optimizer(parts.model, cfg.train.lr, cfg.train.weight_decay)
    parts.model, optimizer = accelerator.prepare(parts.model, optimizer)
    parts.model.train()
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    done, start = -1, 0.0
    while done < steps:
        for batch in loader:
            losses = batch_losses(parts, batch, accelerator)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(losses["total"])
            accelerator.clip_grad_norm_(parts.model.parameters(), cfg.train.clip_grad_norm)
            optimizer.step()
            done += 1
            if done == 0:  # warm-up step done: start the clock
                sync()
                start = time.perf_counter()
            if done == steps:
                break
    sync()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--humans", type=int, default=4)
    parser.add_argument("--objects", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from clhoi.engine.cache import build_cache

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n_images = args.batch_size * 2
        cfg = make_world(root, args.size, n_images, args.humans, args.objects)
        cfg.train = replace(cfg.train, batch_size=args.batch_size)
        pairs = args.humans * (args.humans + args.objects - 1)
        print(f"size={args.size} device={args.device} bf16={args.bf16} batch={args.batch_size} "
              f"pairs/image={pairs} threads={args.threads} steps={args.steps}")

        images = steps_per_second(cfg, args.steps, args.device, args.bf16)
        print(f"from images: {images:.3f} steps/s ({1 / images:.3f} s/step)")

        cached = replace(cfg, data=replace(cfg.data, cache_dir=str(root / "cache")))
        model_device = "cuda" if args.device.startswith("cuda") else "cpu"
        from clhoi.models.student import build_student

        t = time.perf_counter()
        build_cache(cached, "train", model=build_student(cached.model).to(model_device))
        cache_s = time.perf_counter() - t
        print(f"cache build: {n_images / cache_s:.2f} images/s ({cache_s:.1f} s for {n_images} images, "
              f"with union crops)")
        from_cache = steps_per_second(cached, args.steps, args.device, args.bf16)
        print(f"from cache:  {from_cache:.3f} steps/s ({1 / from_cache:.3f} s/step)")
        print(f"speed-up:    {from_cache / images:.1f}x")


if __name__ == "__main__":
    main()
