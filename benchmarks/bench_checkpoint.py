"""Size of a real-size checkpoint, before (every weight) and after (trained parameters only, frozen parts named).

CLIP ViT-B/16 + BLIP-2's Q-Former with random weights (no download), for both baselines: parameter counts,
``model.safetensors`` bytes as ``CLHOI.save_pretrained`` writes it, the full state dict's bytes as clhoi 0.1
wrote it, and the time of the frozen parts' fingerprints (paid once per process, at save and at load).

    python benchmarks/bench_checkpoint.py
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time

import torch
from safetensors.torch import save_model

from clhoi.models.config import ModelConfig
from clhoi.models.student import build_architecture, fingerprint
from clhoi.models.testing import save_real_size_architecture


def main() -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        clip_dir, qformer_dir = save_real_size_architecture(d)
        for baseline in ("mlp", "upt"):
            torch.manual_seed(0)
            model = build_architecture(dataclasses.replace(ModelConfig(), baseline=baseline), clip_dir, qformer_dir)
            times = {}
            for name, part in model.frozen_parts().items():
                t = time.perf_counter()
                fingerprint(part)
                times[name] = round(time.perf_counter() - t, 2)
            out = os.path.join(d, f"ck-{baseline}")
            model.save_pretrained(out)
            full = os.path.join(d, f"full-{baseline}.safetensors")
            save_model(model, full)
            frozen = {n: sum(p.numel() for p in part.parameters()) for n, part in model.frozen_parts().items()}
            print(json.dumps({
                "baseline": baseline,
                "frozen_parameters": frozen,
                "trained_tensors_numel": sum(v.numel() for v in model.trained_state_dict().values()),
                "model_safetensors_MB": round(os.path.getsize(os.path.join(out, "model.safetensors")) / 1e6, 1),
                "config_json_kB": round(os.path.getsize(os.path.join(out, "config.json")) / 1e3, 1),
                "full_state_dict_MB": round(os.path.getsize(full) / 1e6, 1),
                "fingerprint_s": times,
            }))
            os.remove(full)


if __name__ == "__main__":
    main()
