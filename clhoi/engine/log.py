"""Where a run's numbers go: a JSON-lines file, TensorBoard when installed, the console.

Only the main process writes; the others hold a logger that does nothing.
"""

from __future__ import annotations

import json
import math
import time
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


def _jsonable(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    return str(x)


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """All records of a ``log.jsonl`` file."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
