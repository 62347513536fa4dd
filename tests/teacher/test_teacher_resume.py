"""Interrupt `clhoi label` (Ctrl-C, kill -9, a torn last line) and resume: exactly one record per image."""

import os
import signal
import subprocess
import sys
import time

from PIL import Image

from clhoi.teacher.client import StubClient
from clhoi.teacher.config import TeacherConfig
from clhoi.teacher.run import label
from clhoi.teacher.store import read_labels

# Runs the real `clhoi label` command with a stub teacher that takes 200 ms per image (slow enough that
# the test always interrupts it mid-run, even on a loaded machine).
DRIVER = """
import sys, time
import clhoi.teacher.run as run
from clhoi.teacher.client import StubClient

class Slow(StubClient):
    def caption(self, images, prompt):
        time.sleep(0.2)
        return super().caption(images, prompt)

slow = Slow()
run.build_clients = lambda cfg: (slow, slow)
from clhoi.cli import main
sys.argv = ["clhoi", "label", "--images", sys.argv[1], "--out", sys.argv[2], "backend=stub", "batch_size=1",
            "--no-progress"]
main()
"""


def lines(path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True) if path.exists() else []


def start_and_stop(driver, images, out, sig, after_lines):
    """Start the driver, wait until the store has ``after_lines`` more lines, send ``sig``; returns (rc, output)."""
    before = len(lines(out))
    proc = subprocess.Popen([sys.executable, str(driver), str(images), str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while len(lines(out)) < before + after_lines and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)
    return proc.returncode, output.decode()


def test_interrupt_kill_and_resume_leave_exactly_one_record_per_image(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    keys = [f"{i:03d}.jpg" for i in range(40)]
    for i, k in enumerate(keys):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(images / k)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = tmp_path / "labels.jsonl"

    rc, output = start_and_stop(driver, images, out, signal.SIGINT, after_lines=3)  # Ctrl-C
    assert rc == 130 and "interrupted" in output and "run the same command to resume" in output, output
    after_ctrl_c = lines(out)
    assert 3 <= len(after_ctrl_c) < 40 and all(ln.endswith(b"\n") for ln in after_ctrl_c)
    assert len({r.image for r in read_labels(out)}) == len(after_ctrl_c)

    rc, _ = start_and_stop(driver, images, out, signal.SIGKILL, after_lines=3)  # kill -9
    assert rc == -signal.SIGKILL
    done = {r.image for r in read_labels(out)}
    assert len(after_ctrl_c) + 3 <= len(done) < 40

    victim = next(k for k in keys if k not in done)  # a write torn by the kill
    with open(out, "ab") as f:
        f.write(b'{"image": "' + victim.encode() + b'", "caption": "A man is ri')

    client = StubClient()
    summary = label(TeacherConfig(backend="stub"), images, out, progress=False, clients=(client, client))
    assert summary.labelled_now == 40 - len(done)
    records = read_labels(out)
    assert sorted(r.image for r in records) == keys
    assert len(lines(out)) == 40  # nothing lost, nothing duplicated, the torn line gone
    assert {r.image: r for r in records}[victim].caption != "A man is ri"
