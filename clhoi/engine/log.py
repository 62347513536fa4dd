"""Where a run's numbers go: a JSON-lines file, TensorBoard when installed, the console.

Only the main process writes; the others hold a logger that does nothing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class RunLogger:
    """Append one JSON object per event to ``log.jsonl``, and mirror scalars to TensorBoard.

    Args:
        directory: the run's output directory (``log.jsonl`` and ``tensorboard/`` go there).
        enabled: False on non-main processes (every call is then a no-op).
        tensorboard: also write TensorBoard events when ``tensorboard`` is installed.
    """

    def __init__(self, directory: str | Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(directory) / "log.jsonl"
        self._tb: Any = None
        self._start = time.time()
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if tensorboard:
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
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    self._tb.add_scalar(f"{event}/{k}", v, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


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
