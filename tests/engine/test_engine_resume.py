"""A resumed run equals an uninterrupted one; checkpoints are atomic; non-finite losses stop the run."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from clhoi.engine import checkpoint as ckpt_mod
from clhoi.engine.checkpoint import CheckpointError, load_train_state, resolve_checkpoint
from clhoi.engine.log import read_log
from clhoi.engine.train import NonFiniteLossError, train


def _weights(path):
    return load_file(str(path / "model.safetensors"))


def _cfg(world, out, **train):
    cfg = replace(world, output_dir=str(out))
    cfg.model = replace(cfg.model, dropout=0.2)  # dropout draws from the RNG: resume must restore it
    # deterministic kernels: on a GPU too the resumed run must be bit-identical (a no-op on the CPU)
    cfg.train = replace(cfg.train, epochs=2, batch_size=2, lr=1e-3, lr_drop_epoch=1, deterministic=True, **train)
    return cfg


def test_resume_mid_epoch_equals_uninterrupted(tiny_world, tmp_path):
    full = train(_cfg(tiny_world, tmp_path / "full"), progress=False)

    part_cfg = _cfg(tiny_world, tmp_path / "part", max_steps=4)  # stops in the middle of epoch 1 (3 steps/epoch)
    part = train(part_cfg, progress=False)
    state = load_train_state(part)
    assert (state.epoch, state.step_in_epoch, state.step) == (1, 1, 4)
    assert state.scheduler["last_epoch"] == 1  # the lr drop after epoch 0 is in the saved scheduler

    with pytest.raises(CheckpointError, match="--resume"):
        train(part_cfg, progress=False)  # refuses to overwrite without --resume
    resumed = train(_cfg(tiny_world, tmp_path / "part"), resume=True, progress=False)

    a, b = _weights(full), _weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    losses = lambda p: [r["total"] for r in read_log(p / "log.jsonl") if r["event"] == "train"]  # noqa: E731
    assert losses(tmp_path / "full") == losses(tmp_path / "part")
    assert load_train_state(resumed).step == 6


def test_resume_refuses_a_different_config(tiny_world, tmp_path):
    cfg = _cfg(tiny_world, tmp_path / "r", max_steps=1)
    train(cfg, progress=False)
    other = replace(cfg, model=replace(cfg.model, hidden_dim=64))
    with pytest.raises(CheckpointError, match="model.hidden_dim"):
        train(other, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="does not exist"):
        train(cfg, resume=tmp_path / "nowhere", progress=False)


def test_interrupted_save_keeps_the_previous_checkpoint(tiny_world, tmp_path, monkeypatch):
    cfg = _cfg(tiny_world, tmp_path / "a", max_steps=1)
    path = train(cfg, progress=False)
    before = _weights(path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while saving")

    monkeypatch.setattr(ckpt_mod, "save_run_config", crash)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tiny_world, tmp_path / "a", max_steps=2), resume=True, progress=False)
    monkeypatch.undo()
    assert resolve_checkpoint(path) == path
    after = _weights(path)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert load_train_state(path).step == 1

    # a crash between the two renames leaves ".checkpoint.old": loading falls back to it
    path.rename(path.with_name(".checkpoint.old"))
    assert resolve_checkpoint(path).name == ".checkpoint.old"


def test_non_finite_loss_names_step_and_term(tiny_world, tmp_path, monkeypatch):
    from clhoi.losses import Criterion

    real = Criterion.forward
    calls = {"n": 0}

    def nan_on_third(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            out["i2t"] = out["i2t"] * float("nan")
            out["total"] = sum(v for k, v in out.items() if k != "total")
        return out

    monkeypatch.setattr(Criterion, "forward", nan_on_third)
    with pytest.raises(NonFiniteLossError, match=r"step 3: i2t=nan"):
        train(_cfg(tiny_world, tmp_path / "nan"), progress=False)
