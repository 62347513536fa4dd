"""Checkpoints are never lost: a crash between the two renames of a save, damaged files, leftovers (issue 13)."""

from __future__ import annotations

import os
import pickle
from dataclasses import replace

import pytest
import torch

from clhoi.engine.checkpoint import (
    CheckpointError,
    TrainState,
    load_train_state,
    load_weights,
    resolve_checkpoint,
    save_checkpoint,
)
from clhoi.engine.train import train


def _cfg(world, out, **kw):
    cfg = replace(world, output_dir=str(out))
    cfg.train = replace(cfg.train, epochs=1, batch_size=2, **kw)
    return cfg


def _fail_second_rename(monkeypatch, folder):
    """Make the REAL os.replace raise at its second call inside ``folder`` (the tmp -> checkpoint rename)."""
    real, calls = os.replace, []

    def replace_(src, dst, *a, **k):
        if os.path.dirname(os.path.abspath(src)) == str(folder):
            calls.append(src)
            if len(calls) == 2:
                raise OSError(28, "No space left on device (injected)")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace_)
    return calls


def test_crash_between_renames_keeps_the_previous_checkpoint(tiny_world, tmp_path, monkeypatch):
    out = tmp_path / "run"
    ckpt = train(_cfg(tiny_world, out, max_steps=1), progress=False)
    calls = _fail_second_rename(monkeypatch, out)
    with pytest.raises(OSError, match="injected"):
        train(_cfg(tiny_world, out, max_steps=2), resume=True, progress=False)
    monkeypatch.undo()
    assert len(calls) == 2 and not ckpt.exists()
    old = out / ".checkpoint.old"
    assert (old / "model.safetensors").is_file()
    assert list(out.glob(".checkpoint.tmp-*")), "the failed save left its temporary folder"

    # eval / predict / --resume find the previous checkpoint
    assert resolve_checkpoint(ckpt) == old
    assert load_train_state(ckpt).step == 1
    # a fresh run into the same folder refuses instead of deleting it
    with pytest.raises(CheckpointError, match="already holds a checkpoint"):
        train(_cfg(tiny_world, out, max_steps=2), progress=False)
    assert (old / "model.safetensors").is_file()
    # --resume continues from it; the leftovers are cleaned
    done = train(_cfg(tiny_world, out, max_steps=2), resume=True, progress=False)
    assert load_train_state(done).step == 2
    assert not old.exists() and not list(out.glob(".checkpoint.tmp-*"))


def _small_checkpoint(tiny_world, path):
    return save_checkpoint(path, torch.nn.Linear(2, 2), tiny_world, TrainState(step=3))


def test_orphaned_temporary_folders_are_cleaned_by_the_next_save(tiny_world, tmp_path):
    path = tmp_path / "checkpoint"
    dead = tmp_path / ".checkpoint.tmp-999999999"  # no process has this id
    dead.mkdir()
    (dead / "model.safetensors").write_bytes(b"partial")
    _small_checkpoint(tiny_world, path)
    assert not dead.exists() and resolve_checkpoint(path) == path


@pytest.mark.parametrize("content", [b"", b"\x00" * 20, b"not a zip nor a pickle"])
def test_damaged_trainer_state_is_one_clear_error(tiny_world, tmp_path, content):
    path = _small_checkpoint(tiny_world, tmp_path / "checkpoint")
    (path / "trainer_state.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match=r"trainer_state.pt: damaged.*previous checkpoint"):
        load_train_state(path)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_malicious_trainer_state_stays_blocked(tiny_world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _small_checkpoint(tiny_world, tmp_path / "checkpoint")
    torch.save({"epoch": _Evil()}, path / "trainer_state.pt")
    with pytest.raises(CheckpointError, match="refused"):
        load_train_state(path)
    (path / "trainer_state.pt").write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError, match="trainer_state.pt"):
        load_train_state(path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("cut", [0, 5, -7])
def test_damaged_weights_name_the_file(tiny_world, tmp_path, cut):
    path = _small_checkpoint(tiny_world, tmp_path / "checkpoint")
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[:cut] if cut >= 0 else data[:cut])
    with pytest.raises(CheckpointError, match=r"model.safetensors: the checkpoint's weights is damaged"):
        load_weights(torch.nn.Linear(2, 2), path)
