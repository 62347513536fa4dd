"""Writing ``.safetensors`` files: atomically and with the user's normal file mode.

``safetensors.torch.save_file`` creates its file with mode 0600; a checkpoint,
a feature cache shard or a detections file is meant to be shared like any
other file the user writes, so :func:`save_tensors` gives it ``0666 & ~umask``
(0644 under the usual umask 022).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import torch
from safetensors.torch import save_file

_UMASK_LOCK = threading.Lock()


def default_file_mode() -> int:
    """``0o666`` minus the process umask: the mode ``open(path, "w")`` gives a new file."""
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def save_tensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write ``tensors`` to ``path`` (a temporary file beside it, then a rename) with the default file mode."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
