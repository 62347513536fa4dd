"""Train a tiny model with TensorBoard on (accelerate's tracker) and list what the event files hold.

Needs ``pip install "clhoi[tensorboard]"``. Usage, from the repository root (it builds the engine
tests' tiny offline world in the given folder): ``python benchmarks/check_tensorboard.py /tmp/tb_check``
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path


def main(root: Path) -> None:
    sys.path.insert(0, "tests/engine")
    from conftest import make_world
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from clhoi.engine.train import train

    shutil.rmtree(root, ignore_errors=True)
    cfg = make_world(root)
    cfg.train = replace(cfg.train, epochs=2, batch_size=2, log_every=2, tensorboard=True)
    train(cfg, progress=False)
    runs = sorted((root / "run" / "tensorboard").rglob("events.out.tfevents*"))
    print("event files:", [str(p.relative_to(root)) for p in runs])
    acc = EventAccumulator(str(root / "run" / "tensorboard"))
    acc.Reload()
    print("scalar tags:", acc.Tags()["scalars"])
    print("train/total steps:", [e.step for e in acc.Scalars("train/total")])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
