"""Two processes (torchrun, gloo on the CPU) train one model with DDP: the same weights as one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import torch
from safetensors.torch import load_file

from clhoi.config import save_config
from clhoi.engine.checkpoint import load_train_state
from clhoi.engine.log import read_log
from clhoi.engine.train import train


def test_two_process_ddp_training_equals_one_process_with_the_same_global_batch(tiny_world, tmp_path):
    # 4 labelled images, global batch 2: 1 image per process, two steps, no tail batch
    keep = [json.loads(line) for line in open(tiny_world.data.labels)][:4]
    (tmp_path / "labels4.jsonl").write_text("".join(json.dumps(r) + "\n" for r in keep))
    cfg = replace(tiny_world, output_dir=str(tmp_path / "ddp"))
    cfg.data = replace(cfg.data, labels=str(tmp_path / "labels4.jsonl"))
    # terms that are means over images (I2T) and over equally many (pair, triplet) entries per image (SR):
    # the mean of the two processes' gradients is the 1-process gradient; the batch-contrastive L_c / L_T2I are not
    cfg.loss = replace(cfg.loss, context=0.0, t2i=0.0)
    cfg.train = replace(cfg.train, epochs=1, batch_size=2, lr=1e-2)
    save_config(cfg, tmp_path / "tiny.yaml")
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "clhoi.cli", "train", str(tmp_path / "tiny.yaml"), "--no-progress"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    log = read_log(tmp_path / "ddp" / "log.jsonl")
    assert [r["processes"] for r in log if r["event"] == "start"] == [2]  # one writer, two processes
    assert [r["step"] for r in log if r["event"] == "train"] == [1, 2]
    assert load_train_state(tmp_path / "ddp" / "checkpoint").step == 2

    single = train(replace(cfg, output_dir=str(tmp_path / "one")), progress=False)
    a = load_file(str(tmp_path / "ddp" / "checkpoint" / "model.safetensors"))
    b = load_file(str(single / "model.safetensors"))
    init = train(replace(cfg, output_dir=str(tmp_path / "init"), train=replace(cfg.train, epochs=0)), progress=False)
    c = load_file(str(init / "model.safetensors"))
    assert a.keys() == b.keys()
    update = torch.cat([(b[k] - c[k]).flatten() for k in b])
    assert update.abs().mean() > 1e-3  # training moved the weights (lr 1e-2)
    # float tolerance: Adam normalises gradients that are pure rounding noise (a softmax's key bias) to ~lr-sized
    # steps, so those parameters agree only to ~1e-5; a process training on its own gradient is off by ~lr
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4, msg=lambda m, k=k: f"{k}: {m}")
