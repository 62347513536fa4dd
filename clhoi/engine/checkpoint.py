"""Checkpoint directories: written atomically, loadable with no code from the run.

A checkpoint is a directory::

    config.yaml          the full ExperimentConfig (clhoi.config.save_run_config): paths inside the
                         run directory relative to this file, so the run can be moved or copied
    config.json          the model config + names and fingerprints of the frozen CLIP / Q-Former
    model.safetensors    the trained parameters only (``CLHOI.save_pretrained``)
    README.md            the Hugging Face model card
    provenance.json      where it came from (code version, config hash, teacher, ...)
    trainer_state.pt     resumable state: optimizer, scheduler, RNG, epoch, step (training only)

The frozen parts are loaded by name when the checkpoint is (``CLHOI.from_pretrained``).

It is written into a hidden temporary directory beside the target and renamed
into place, so a run killed while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from safetensors.torch import load_model as _load_safetensors_model
from safetensors.torch import save_model as _save_safetensors_model
from torch import nn

from clhoi.config import ConfigError, ExperimentConfig, load_config, save_run_config, to_dict
from clhoi.tensor_files import default_file_mode

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.safetensors"
STATE_FILE = "trainer_state.pt"
PROVENANCE_FILE = "provenance.json"
HUB_CONFIG_FILE = "config.json"


class CheckpointError(ValueError):
    """A checkpoint directory that is missing, incomplete or does not fit a config."""


@dataclass
class TrainState:
    """Everything besides the weights that a resumed run needs to continue exactly.

    Attributes:
        epoch: the epoch in progress (0-based).
        step_in_epoch: optimizer steps already done in ``epoch``; ``0`` at an epoch start.
        step: optimizer steps done since the start of training.
        optimizer: ``optimizer.state_dict()``.
        scheduler: ``scheduler.state_dict()``.
        rng: random states of python, numpy and torch (see :func:`get_rng_state`).
    """

    epoch: int = 0
    step_in_epoch: int = 0
    step: int = 0
    optimizer: dict[str, Any] = field(default_factory=dict)
    scheduler: dict[str, Any] = field(default_factory=dict)
    rng: dict[str, Any] = field(default_factory=dict)


def get_rng_state() -> dict[str, Any]:
    """Random states of python, numpy, torch (CPU and CUDA), in tensor/list form."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states saved by :func:`get_rng_state`."""
    random.setstate(_to_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_tuple(x: Any) -> Any:
    return tuple(_to_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    cfg: ExperimentConfig,
    state: TrainState | None = None,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory atomically (temporary directory, then rename).

    Args:
        path: the checkpoint directory to create or replace.
        model: the (unwrapped) student; all its weights are saved.
        cfg: the full experiment config, saved as ``config.yaml``.
        state: resumable training state; ``None`` for a weights-only checkpoint.
        provenance: JSON-serialisable facts about the run.

    Returns:
        ``path``.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    old = final.with_name(f".{final.name}.old")
    clean_stale_temporaries(final)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    if hasattr(model, "save_pretrained"):  # the student: trained weights + config.json naming the frozen parts
        model.save_pretrained(tmp)
    else:
        _save_safetensors_model(model, str(tmp / MODEL_FILE))
        os.chmod(tmp / MODEL_FILE, default_file_mode())
    # the full experiment config; paths inside the run directory are written relative to the checkpoint
    save_run_config(cfg, tmp / CONFIG_FILE, roots=(cfg.output_dir, final))
    (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance or {}, indent=2, default=str), encoding="utf-8")
    if state is not None:
        torch.save(state.__dict__, tmp / STATE_FILE)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    # A crash here leaves only ``old``: resolve_checkpoint() finds it, and the next save replaces it.
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def clean_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporary directories ``.<name>.tmp-<pid>`` that killed saves of checkpoint ``path`` left.

    Only directories of processes that no longer run are removed (a save in
    progress elsewhere is left alone). Returns the removed paths.
    """
    final = Path(path)
    removed = []
    for tmp in final.parent.glob(f".{final.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def existing_checkpoint(path: str | Path) -> Path | None:
    """The checkpoint at ``path``, or the previous one a save interrupted between its renames left; else None."""
    path = Path(path)
    for candidate in (path, path.with_name(f".{path.name}.old")):
        if (candidate / MODEL_FILE).is_file() or (candidate / CONFIG_FILE).is_file():
            return candidate
    return None


def resolve_checkpoint(path: str | Path) -> Path:
    """The checkpoint directory at ``path``, checked for completeness.

    Falls back to the previous checkpoint left by a save interrupted between
    its two renames.

    Raises:
        CheckpointError: naming what is missing.
    """
    path = Path(path)
    if not path.exists():
        old = path.with_name(f".{path.name}.old")
        if old.is_dir():
            return resolve_checkpoint(old)
        raise CheckpointError(f"checkpoint {path} does not exist; pass the directory `clhoi train` wrote")
    if path.is_dir() and not (path / MODEL_FILE).is_file() and not (path / CONFIG_FILE).is_file():
        old = path.with_name(f".{path.name}.old")
        if old.is_dir():  # an empty directory in place of the checkpoint, the previous one beside it
            return resolve_checkpoint(old)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a file; pass its directory (with {CONFIG_FILE} and {MODEL_FILE})")
    missing = [f for f in (CONFIG_FILE, MODEL_FILE) if not (path / f).is_file()]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}; it is not a clhoi checkpoint")
    return path


def load_checkpoint_config(path: str | Path) -> ExperimentConfig:
    """The experiment config stored in a checkpoint."""
    path = resolve_checkpoint(path)
    try:
        return load_config(path / CONFIG_FILE)
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {path}: its {CONFIG_FILE} does not fit this clhoi version ({e})") from None


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load ``model.safetensors`` of checkpoint ``path`` into ``model`` (strict).

    Raises:
        CheckpointError: when names or shapes differ, i.e. the checkpoint was
            written for another model config.
    """
    path = resolve_checkpoint(path)
    check_safetensors(path / MODEL_FILE, "the checkpoint's weights")
    try:
        if hasattr(model, "load_trained_state"):  # the student: frozen parts are not in the file
            if (path / HUB_CONFIG_FILE).is_file():
                frozen = json.loads((path / HUB_CONFIG_FILE).read_text(encoding="utf-8")).get("frozen", {})
                model.check_frozen_parts(frozen, path)
            missing, unexpected = model.load_trained_state(load_file(str(path / MODEL_FILE)))
        else:
            missing, unexpected = _load_safetensors_model(model, str(path / MODEL_FILE), strict=False)
    except RuntimeError as e:
        raise CheckpointError(
            f"checkpoint {path} does not match the model config (shapes differ): {str(e)[:400]}"
        ) from None
    except ValueError as e:  # a frozen part with another fingerprint
        raise CheckpointError(str(e)) from None
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {path} does not match the model config: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}; build the model from the checkpoint's own config.yaml"
        )


def load_train_state(path: str | Path) -> TrainState:
    """The resumable state of checkpoint ``path``."""
    path = resolve_checkpoint(path)
    if not (path / STATE_FILE).is_file():
        raise CheckpointError(f"checkpoint {path} has no {STATE_FILE}: it holds weights only and cannot be resumed")
    try:
        data = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated zip, foreign pickle (blocked by weights_only), ...
        text = str(e).strip()
        blocked = "GLOBAL" in text or "Unsupported global" in text
        what = ("refused: it asks to build objects other than tensors and plain data (not loaded, for safety)"
                if blocked else "damaged, or not a clhoi trainer state (not loaded)")
        raise CheckpointError(f"{path / STATE_FILE}: {what}; resume from a previous checkpoint (--resume-from DIR) "
                              "or start afresh into another output_dir") from None
    if not isinstance(data, dict) or not set(data) <= set(TrainState.__dataclass_fields__):
        raise CheckpointError(f"{path / STATE_FILE}: not a clhoi trainer state; resume from a previous checkpoint "
                              "or start afresh into another output_dir")
    return TrainState(**data)


def check_safetensors(path: str | Path, what: str) -> None:
    """Raise :class:`CheckpointError` naming ``path`` when it is not a readable safetensors file.

    Reads only the header (8-byte length + JSON) and compares the data size it
    declares with the file size, so a zero-byte, truncated or overwritten file
    is caught before any tensor is read.
    """
    path = Path(path)
    size = path.stat().st_size
    problem = ""
    if size < 8:
        problem = f"{size} bytes, too short"
    else:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 1 or 8 + n > size or n > 100_000_000:
                problem = "its header is damaged"
            else:
                try:
                    header = json.loads(f.read(n))
                    end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
                    if 8 + n + end > size:
                        problem = f"truncated ({size} of {8 + n + end} bytes)"
                except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError):
                    problem = "its header is damaged"
    if problem:
        raise CheckpointError(f"{path}: {what} is damaged ({problem}); use a previous checkpoint or train again")


def load_provenance(path: str | Path) -> dict[str, Any]:
    p = resolve_checkpoint(path) / PROVENANCE_FILE
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


def config_differences(a: ExperimentConfig, b: ExperimentConfig, sections: tuple[str, ...]) -> list[str]:
    """``key: a -> b`` for every leaf that differs in the given top-level sections."""
    out: list[str] = []

    def walk(x: Any, y: Any, prefix: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                walk(x.get(k), y.get(k), f"{prefix}.{k}" if prefix else k)
        elif x != y:
            out.append(f"{prefix}: {x!r} -> {y!r}")

    da, db = to_dict(a), to_dict(b)
    for s in sections:
        walk(da.get(s), db.get(s), s)  # a scalar top-level key (seed) compares as itself
    return out


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ExperimentConfig]:
    """Build the student from a checkpoint: the frozen CLIP / Q-Former by the names its ``config.json``
    records (as a training run loads them; fingerprints checked), then its trained weights.

    Returns:
        ``(model in eval mode on device, the checkpoint's ExperimentConfig)``.
    """
    from clhoi.models.student import CLHOI

    path = resolve_checkpoint(path)
    cfg = load_checkpoint_config(path)
    check_safetensors(path / MODEL_FILE, "the checkpoint's weights")
    try:
        model = CLHOI.from_pretrained(path)
    except (ValueError, RuntimeError) as e:
        msg = str(e)[:400]
        raise CheckpointError(msg if msg.startswith(str(path)) else f"checkpoint {path}: {msg}") from None
    except OSError as e:  # a frozen part that cannot be found or downloaded
        raise CheckpointError(f"checkpoint {path}: cannot load a frozen part ({str(e).splitlines()[0][:300]}); "
                              "with no internet, download it once into the Hugging Face cache") from None
    return model.to(device).eval(), cfg
