"""Where a run's numbers go: a JSON-lines file, accelerate's trackers (TensorBoard, W&B, MLflow...), the console.

Only the main process writes; the others hold a logger that does nothing.
Training hands :class:`RunLogger` its ``Accelerator``: scalars then go through
``accelerator.log`` to every tracker :func:`resolve_trackers` chose.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class RunLogger:
    """Append one JSON object per event to ``log.jsonl``, and mirror scalars to trackers.

    Args:
        directory: the run's output directory (``log.jsonl`` and ``tensorboard/`` go there).
        enabled: False on non-main processes (every call is then a no-op).
        tensorboard: without ``accelerator``: also write TensorBoard events when
            ``tensorboard`` is installed.
        accelerator: an ``Accelerator`` whose trackers were started
            (``init_trackers``); numeric values then go to ``accelerator.log``
            as ``event/name`` at the event's step, and :meth:`close` ends them.
    """

    def __init__(self, directory: str | Path, enabled: bool = True, tensorboard: bool = True,
                 accelerator: Any = None) -> None:
        self.enabled = enabled
        self.path = Path(directory) / "log.jsonl"
        self._tb: Any = None
        self._accelerator = accelerator
        self._start = time.time()
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if tensorboard and accelerator is None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(Path(directory) / "tensorboard"))
            except ImportError:  # tensorboard is optional
                self._tb = None

    def log(self, event: str, step: int, **values: Any) -> None:
        """Write ``{"event", "step", "time", **values}``; numeric values also go to TensorBoard as ``event/name``."""
        if not self.enabled:
            return
        record = {"event": event, "step": step, "time": round(time.time() - self._start, 3), **values}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=_jsonable) + "\n")
        scalars = {f"{event}/{k}": v for k, v in values.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
        if self._accelerator is not None and scalars:
            self._accelerator.log(scalars, step=step)
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._accelerator is not None and self.enabled:
            # not accelerator.end_training(): it also destroys the process group, which outlives a run
            for tracker in self._accelerator.trackers:
                tracker.finish()
            self._accelerator.trackers = []
            self._accelerator = None


TRACKER_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow", "comet_ml": "comet-ml",
                    "aim": "aim", "clearml": "clearml", "dvclive": "dvclive"}
"""pip package of each accelerate tracker ``train.trackers`` may name."""


def resolve_trackers(tensorboard: bool, trackers: str, directory: str | Path) -> list[Any]:
    """The ``log_with`` list for ``Accelerator``: TensorBoard when asked and installed, plus ``trackers``.

    TensorBoard writes to ``<directory>/tensorboard`` (an accelerate
    ``TensorBoardTracker``); the other trackers are passed by name and take
    their settings from their own environment variables (``WANDB_PROJECT``,
    ``MLFLOW_TRACKING_URI``...).

    Raises:
        ValueError: ``trackers`` names a tracker that is unknown or not installed.
    """
    import accelerate.utils as au
    from accelerate.tracking import TensorBoardTracker

    from clhoi.engine.config import tracker_names

    names = tracker_names(trackers)
    out: list[Any] = []
    for name in names:
        if name not in TRACKER_PACKAGES:
            raise ValueError(f"train.trackers: unknown tracker {name!r}; valid: {', '.join(TRACKER_PACKAGES)}")
        if not getattr(au, f"is_{name}_available")():
            extra = ' or pip install "clhoi[tensorboard]"' if name == "tensorboard" else ""
            raise ValueError(f"train.trackers: {name} is not installed; pip install {TRACKER_PACKAGES[name]}{extra}, "
                             f"or remove it from train.trackers")
    if (tensorboard or "tensorboard" in names) and au.is_tensorboard_available():
        out.append(TensorBoardTracker("tensorboard", str(directory)))
    out.extend(n for n in dict.fromkeys(names) if n != "tensorboard")
    return out


def flat_config(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1e-4}}`` -> ``{"train.lr": 1e-4}``; lists and None become strings (tracker hparams)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat_config(v, f"{key}."))
        elif isinstance(v, (bool, int, float, str)):
            out[key] = v
        else:
            out[key] = json.dumps(v)
    return out


class LossMeter:
    """Running sums of the loss terms: means over the logging interval and over the epoch.

    ``add`` takes one optimizer step's terms; ``interval`` returns the means since
    the last ``interval`` call (and starts a new interval); ``epoch`` the means
    since the last ``reset_epoch``. With ``reduce`` (e.g. ``accelerator.reduce``,
    called on every process at the same step) the means are over all processes.
    """

    def __init__(self) -> None:
        self._interval: dict[str, float] = {}
        self._epoch: dict[str, float] = {}
        self.interval_steps = 0
        self.epoch_steps = 0

    def add(self, values: dict[str, float]) -> None:
        for sums in (self._interval, self._epoch):
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        self.interval_steps += 1
        self.epoch_steps += 1

    def interval(self, reduce: Callable[[Any], Any] | None = None) -> dict[str, float]:
        """Means since the last call (empty when no step was added); starts a new interval."""
        means = _means(self._interval, self.interval_steps, reduce)
        self._interval, self.interval_steps = {}, 0
        return means

    def epoch(self, reduce: Callable[[Any], Any] | None = None) -> dict[str, float]:
        """Means since the last :meth:`reset_epoch` (the epoch so far)."""
        return _means(self._epoch, self.epoch_steps, reduce)

    def reset_epoch(self) -> None:
        self._epoch, self.epoch_steps = {}, 0


def _means(sums: dict[str, float], steps: int, reduce: Callable[[Any], Any] | None) -> dict[str, float]:
    if not steps:
        return {}
    keys = list(sums)
    if reduce is None:
        return {k: sums[k] / steps for k in keys}
    import torch

    reduced = reduce(torch.tensor([sums[k] / steps for k in keys], dtype=torch.float64))
    return dict(zip(keys, (float(v) for v in reduced.cpu().tolist())))


def format_losses(values: dict[str, float]) -> str:
    """``i2t=0.412 t2i=0.388 total=1.203`` (non-finite values written as they are)."""
    return " ".join(f"{k}={v:.3f}" if math.isfinite(v) else f"{k}={v}" for k, v in values.items())


def _jsonable(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    return str(x)


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """All records of a ``log.jsonl`` file."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
