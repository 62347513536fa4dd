"""Two processes (torchrun, gloo on the CPU) train one model with DDP."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

from clhoi.config import save_config
from clhoi.engine.checkpoint import load_train_state
from clhoi.engine.log import read_log


def test_two_process_ddp_training(tiny_world, tmp_path):
    cfg = replace(tiny_world, output_dir=str(tmp_path / "run"))
    # 6 images: 3 per process in batches of 2; the 1-image tail joins the first batch -> 1 step of 3
    cfg.train = replace(cfg.train, epochs=1, batch_size=4)
    save_config(cfg, tmp_path / "tiny.yaml")
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "clhoi.cli", "train", str(tmp_path / "tiny.yaml"), "--no-progress"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    log = read_log(tmp_path / "run" / "log.jsonl")
    assert [r["processes"] for r in log if r["event"] == "start"] == [2]  # one writer, two processes
    assert [r["step"] for r in log if r["event"] == "train"] == [1]
    assert load_train_state(tmp_path / "run" / "checkpoint").step == 1
