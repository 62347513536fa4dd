"""Speed and memory of the CL-HOI student.

CPU (always): forward latency per image and peak memory for the tiny config
(the sandbox size), from CLIP patch tokens and from pixels.
GPU (when CUDA is available): images per second of the real-size student
(CLIP ViT-B/16 or ViT-L/14 + BLIP-2 Q-Former + ICN, random weights) and of
DETR-R50, in fp32 and bf16 autocast.

    python benchmarks/bench_model.py            # CPU tiny, plus GPU real-size when available
    python benchmarks/bench_model.py --cpu-real # also the real-size student on CPU (slow)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from clhoi.models.config import ModelConfig  # noqa: E402
from clhoi.models.student import CLHOI, build_architecture, build_student  # noqa: E402
from clhoi.models.testing import save_real_size_architecture, tiny_student_config  # noqa: E402
from clhoi.structures import Detections  # noqa: E402


def detections(n_humans: int, n_objects: int, emb_dim: int, size: tuple[int, int], seed: int,
               device: str = "cpu") -> Detections:
    g = torch.Generator().manual_seed(seed)
    n = n_humans + n_objects
    h, w = size
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.7, h * 0.7])
    wh = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.3, h * 0.3]) + 4
    labels = torch.cat([torch.zeros(n_humans, dtype=torch.long), torch.randint(1, 80, (n_objects,), generator=g)])
    return Detections(torch.cat([xy, xy + wh], 1), torch.rand(n, generator=g), labels,
                      torch.randn(n, emb_dim, generator=g), size).to(device)


def timeit(fn, repeats: int, warmup: int = 2, cuda: bool = False) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return times


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_cpu_tiny(batch: int, humans: int, objects: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        cfg = tiny_student_config(d)
        model = build_student(cfg).eval()
    dets = [detections(humans, objects, cfg.box_embed_dim, (480, 640), i) for i in range(batch)]
    pixels = torch.randn(batch, 3, cfg.image_size, cfg.image_size)
    feats = model.encode_images(pixels)
    rss0 = peak_rss_mb()
    with torch.inference_mode():
        t_feat = timeit(lambda: model(dets, image_features=feats), repeats)
        t_pix = timeit(lambda: model(dets, pixel_values=pixels), repeats)
    model.train()
    t_train = timeit(lambda: model(dets, image_features=feats).interaction.sum().backward(), repeats)
    pairs = batch * humans * (humans + objects - 1)
    print(f"[cpu tiny] threads={torch.get_num_threads()} batch={batch} pairs/img={pairs // batch} "
          f"trainable={sum(p.numel() for p in model.trainable_parameters()):,}")
    for name, t in (("fwd from features", t_feat), ("fwd from pixels", t_pix), ("fwd+bwd from features", t_train)):
        print(f"  {name:24s} median {statistics.median(t) / batch * 1e3:7.2f} ms/image "
              f"(batch {statistics.median(t) * 1e3:.1f} ms)")
    print(f"  peak RSS {peak_rss_mb():.0f} MB (before timing {rss0:.0f} MB)")


def real_model(clip: str, device: str) -> CLHOI:
    with tempfile.TemporaryDirectory() as d:
        clip_dir, qformer_dir = save_real_size_architecture(d, clip)
        cfg = ModelConfig(image_size=224)
        with torch.device(device):
            model = build_architecture(cfg, clip_dir, qformer_dir)
    return model.eval()


def bench_real(device: str, clip: str, batch: int, humans: int, objects: int, repeats: int) -> None:
    model = real_model(clip, device)
    cuda = device.startswith("cuda")
    dets = [detections(humans, objects, 256, (480, 640), i, device) for i in range(batch)]
    pixels = torch.randn(batch, 3, 224, 224, device=device)
    for dtype in (torch.float32, torch.bfloat16):
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        with torch.inference_mode(), torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32):
            t = timeit(lambda: model(dets, pixel_values=pixels), repeats, cuda=cuda)
        mem = f", peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if cuda else f", peak RSS {peak_rss_mb():.0f} MB"
        print(f"[{device} real {clip}] {str(dtype).split('.')[-1]:8s} batch={batch} pairs/img={humans * (humans + objects - 1)}: "
              f"{batch / statistics.median(t):8.1f} images/s{mem}")


def bench_detr(device: str, batch: int, repeats: int) -> None:
    from transformers import DetrConfig, DetrForObjectDetection, ResNetConfig

    backbone = ResNetConfig(depths=[3, 4, 6, 3], hidden_sizes=[256, 512, 1024, 2048], layer_type="bottleneck",
                            out_features=["stage4"])
    with torch.device(device):
        model = DetrForObjectDetection(DetrConfig(use_timm_backbone=False, backbone_config=backbone, num_labels=91)).eval()
    pixels = torch.randn(batch, 3, 800, 1066, device=device)
    for dtype in (torch.float32, torch.bfloat16):
        with torch.inference_mode(), torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
            t = timeit(lambda: model(pixel_values=pixels), repeats, cuda=True)
        print(f"[{device} DETR-R50 800x1066] {str(dtype).split('.')[-1]:8s} batch={batch}: "
              f"{batch / statistics.median(t):8.1f} images/s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--humans", type=int, default=4)
    p.add_argument("--objects", type=int, default=6)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cpu-real", action="store_true", help="also time the real-size student on CPU")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    bench_cpu_tiny(args.batch, args.humans, args.objects, args.repeats)
    if args.cpu_real:
        bench_real("cpu", "ViT-B/16", 2, args.humans, args.objects, 3)
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name()}")
        for clip in ("ViT-B/16", "ViT-L/14"):
            bench_real("cuda", clip, 16, 15, 15, args.repeats)  # UPT's maximum: 15 humans, 15 objects
        bench_detr("cuda", 8, args.repeats)


if __name__ == "__main__":
    main()
