"""The config modules stay torch-free: ``clhoi.detect``'s names load lazily."""

from __future__ import annotations

import subprocess
import sys


def test_config_import_does_not_pull_torch() -> None:
    code = ("import sys, clhoi.config, clhoi.detect.config, clhoi.models.config; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "import clhoi.detect; assert 'torch' not in sys.modules; "
            "from clhoi.detect import save_detections, filter_detections; assert callable(save_detections)")
    subprocess.run([sys.executable, "-c", code], check=True)
