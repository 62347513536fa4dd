"""Fault injection: a table of damaged inputs run over every command, each in its own process.

Every case builds its bad input (NaN boxes, truncated PNGs, zero-byte
safetensors, ``../`` names, NaN settings, ...) in a fresh tiny world, runs one
``clhoi`` command in a subprocess and classifies what happened:

* ``clean``: exit code 1 or 2, stderr ends with an ``error: ...`` line and holds only such lines;
* ``skip``: the command succeeded and said what it left out (a documented skip);
* ``ok``: the command succeeded where success is right (a recovered checkpoint);
* ``traceback``: a Python traceback reached the user;
* ``internal``: clhoi's own "internal error (a bug)" line (exit 3);
* ``crash``: killed by a signal (segmentation fault, abort);
* ``hang``: no answer within the time limit;
* ``silent``: exit 0 where the input should have been refused;
* ``lost``: output or a checkpoint was lost or overwritten;
* ``unclear``: anything else (an error that is not one ``error:`` line).

Usage::

    python benchmarks/fault_injection.py                  # the code of this checkout
    python benchmarks/fault_injection.py --code /tmp/before  # another checkout (e.g. a git worktree)
    python benchmarks/fault_injection.py --only eval      # cases whose name contains "eval"

The world is built with this checkout's code; the commands run with ``--code``
on ``PYTHONPATH`` (configs are written with keys every version knows). Takes a
few minutes on 2 cores (one process at a time).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

REPO = Path(__file__).resolve().parents[1]
CATEGORIES = ("clean", "skip", "ok", "traceback", "internal", "crash", "hang", "silent", "lost", "unclear")


# ----------------------------------------------------------------------------- the tiny world
def build_world(root: Path) -> dict:
    """Six 64x48 images, detections (with and without embeddings), labels, HICO-DET-style ground truth."""
    import torch
    from PIL import Image

    from clhoi import vocab
    from clhoi.detect.files import save_detections
    from clhoi.models.testing import tiny_student_config
    from clhoi.structures import Detections, InteractionPair, LabelRecord
    from clhoi.teacher.store import write_labels

    images = root / "images"
    images.mkdir(parents=True)
    verbs = vocab.hicodet().verbs
    dets, plain, records, gt = {}, {}, [], []
    boxes = [[4.0, 4.0, 30.0, 44.0], [20.0, 10.0, 60.0, 40.0], [2.0, 30.0, 14.0, 46.0], [34.0, 2.0, 62.0, 30.0]]
    for i in range(6):
        name = f"img{i:02d}.png"
        g = torch.Generator().manual_seed(i)
        Image.fromarray((torch.rand(48, 64, 3, generator=g) * 255).to(torch.uint8).numpy()).save(images / name)
        dets[name] = Detections(torch.tensor(boxes), torch.tensor([0.95, 0.9, 0.6, 0.5]), torch.tensor([0, 17, 0, 41]),
                                torch.randn(4, 16, generator=g), image_size=(48, 64))
        plain[name] = {"boxes": boxes, "scores": [0.95, 0.9, 0.6, 0.5], "labels": [0, 17, 0, 41], "image_size": [48, 64]}
        records.append(LabelRecord(image=name, caption="a person is riding a horse",
                                   pairs=[InteractionPair("ride", "horse", "horse")], negatives=["say", "know"],
                                   teacher="stub", status="ok"))
        gt.append({"file_name": name, "width": 64, "height": 48,
                   "annotations": [{"bbox": boxes[0], "category_id": 1}, {"bbox": boxes[1], "category_id": 19}],
                   "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": verbs.index("ride") + 1}]})
    save_detections(root / "dets.safetensors", dets)
    (root / "dets.json").write_text(json.dumps(plain))
    write_labels(records, root / "labels.jsonl")
    (root / "test_hico.json").write_text(json.dumps(gt))
    m = tiny_student_config(root / "backbones")
    config = {
        "name": "fault", "seed": 0, "output_dir": str(root / "run"),
        "model": {"clip": m.clip, "qformer": m.qformer, "image_size": m.image_size, "num_context_queries": 4,
                  "box_embed_dim": 16, "hidden_dim": 32, "num_heads": 2, "num_spatial_layers": 1, "dropout": 0.0},
        "data": {"dataset": "hicodet", "image_root": str(images), "labels": str(root / "labels.jsonl"),
                 "detections_train": str(root / "dets.json"), "detections_test": str(root / "dets.json"),
                 "test_annotations": str(root / "test_hico.json")},
        "train": {"epochs": 1, "batch_size": 2, "lr": 0.001, "log_every": 1},
        "eval": {"batch_size": 4},
    }
    (root / "tiny.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


# ----------------------------------------------------------------------------- running one case
@dataclass
class Case:
    """One bad input: ``prepare(world) -> argv`` makes it and names the command; ``expect`` says what is right."""

    name: str
    prepare: Callable[[Path], list[str]]
    expect: str = "error"  # error | skip | ok
    check: Callable[[Path], str | None] | None = None  # after the run: "lost" when something was lost
    timeout: float = 120.0
    stdin: bytes | None = None
    needs_checkpoint: bool = False


@dataclass
class Outcome:
    case: str
    category: str
    rc: int | None
    seconds: float
    last_line: str = ""
    notes: list[str] = field(default_factory=list)


def run_case(case: Case, world: Path, code: Path) -> Outcome:
    argv = case.prepare(world)
    env = {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": ""}
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "clhoi.cli", *argv], cwd=world, env=env, capture_output=True,
                              timeout=case.timeout, input=case.stdin)
    except subprocess.TimeoutExpired:
        return Outcome(case.name, "hang", None, time.perf_counter() - start, f"no answer in {case.timeout:.0f} s")
    seconds = time.perf_counter() - start
    err = proc.stderr.decode("utf-8", "replace")
    out = proc.stdout.decode("utf-8", "replace")
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("I1", "W1"))]
    last = lines[-1].strip() if lines else (out.strip().splitlines() or [""])[-1]
    if proc.returncode < 0:
        category = "crash"
    elif "Traceback (most recent call last)" in err or "Traceback (most recent call last)" in out:
        category = "traceback"
    elif proc.returncode == 3 and "internal error" in err:
        category = "internal"
    elif proc.returncode == 0:
        if case.expect == "error":
            category = "silent"
        elif case.expect == "skip":
            category = "skip" if ("skipped" in (out + err) or "failed" in (out + err)) else "silent"
        else:
            category = "ok"
    elif case.expect in ("error", "skip") and last.startswith("error:") and all(
            ln.startswith(("error:", "warning:", "note:")) for ln in lines):
        category = "clean"  # ends in one error line (a stream command may also name each bad line)
    else:
        category = "unclear"
    if case.check is not None:
        lost = case.check(world)
        if lost:
            return Outcome(case.name, "lost", proc.returncode, seconds, lost)
    return Outcome(case.name, category, proc.returncode, seconds, last[:160])


# ----------------------------------------------------------------------------- the cases
def _cfg(world: Path) -> str:
    return str(world / "tiny.yaml")


def _json_dets(world: Path, edit: Callable[[dict], object]) -> str:
    data = json.loads((world / "dets.json").read_text())
    data = edit(data) or data
    p = world / "bad_dets.json"
    p.write_text(json.dumps(data))
    return str(p)


def _nan_box(d: dict) -> None:
    d["img01.png"]["boxes"][1][2] = float("nan")


def _inverted_box(d: dict) -> None:
    d["img02.png"]["boxes"][0] = [30.0, 4.0, 4.0, 44.0]


def _unknown_label(d: dict) -> None:
    d["img03.png"]["labels"][1] = "unicorn"


def _fractional_label(d: dict) -> None:
    d["img03.png"]["labels"][1] = 10.7


def _damage_image(world: Path, how: str, name: str = "img03.png") -> None:
    p = world / "images" / name
    data = p.read_bytes()
    p.write_bytes({"empty": b"", "truncated": data[: len(data) // 3], "text": b"this is not an image"}[how])


def _checkpoint(world: Path) -> Path:
    return world / "ckpt" / "checkpoint"


def _damage_file(path: Path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"\x00garbage" * 10}[how])


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _resume_run(world: Path) -> Path:
    """A copy of the epochs=0 checkpoint as ``run/checkpoint`` (for --resume cases)."""
    dst = world / "run" / "checkpoint"
    shutil.copytree(_checkpoint(world), dst)
    return dst


def _bad_state(world: Path, how: str) -> list[str]:
    ckpt = _resume_run(world)
    if how == "malicious":
        (ckpt / "trainer_state.pt").write_bytes(pickle.dumps({"epoch": _Evil()}))
    else:
        _damage_file(ckpt / "trainer_state.pt", how)
    return ["train", _cfg(world), "--resume", "--no-progress"]


def _no_pwned(world: Path) -> str | None:
    return "the malicious pickle ran (PWNED exists)" if (world / "PWNED").exists() else None


def _old_only(world: Path) -> list[str]:
    ckpt = _resume_run(world)
    ckpt.rename(ckpt.with_name(".checkpoint.old"))  # what a save killed between its two renames leaves
    return ["train", _cfg(world), "--no-progress"]


def _old_kept(world: Path) -> str | None:
    old = world / "run" / ".checkpoint.old"
    return None if (old / "model.safetensors").is_file() else "the previous checkpoint (.checkpoint.old) was deleted"


def _eval_old(world: Path) -> list[str]:
    src = _checkpoint(world)
    old = world / "ev" / ".checkpoint.old"
    shutil.copytree(src, old)
    return ["eval", str(world / "ev" / "checkpoint"), "--device", "cpu"]


def _labels_with(world: Path, name: str) -> str:
    lines = (world / "labels.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    rec["image"] = name
    lines[0] = json.dumps(rec)
    p = world / "bad_labels.jsonl"
    p.write_text("\n".join(lines) + "\n")
    return str(p)


def _gt_with(world: Path, edit: Callable[[list], None]) -> str:
    gt = json.loads((world / "test_hico.json").read_text())
    edit(gt)
    p = world / "bad_gt.json"
    p.write_text(json.dumps(gt))
    return str(p)


def _predictions_with_class(world: Path, cls: object) -> str:
    gt = json.loads((world / "test_hico.json").read_text())
    preds = [{"file_name": g["file_name"], "boxes": [a["bbox"] for a in g["annotations"]], "labels": [1, 19],
              "hoi": [[0, 1, cls, 0.9]]} for g in gt]  # rows (subject, object, class, score)
    p = world / "preds.json"
    p.write_text(json.dumps(preds))
    return str(p)


def _shard_cache(world: Path) -> list[str]:
    cache = world / "cache"
    cfg = _cfg(world)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "clhoi.cli", "cache", cfg, f"data.cache_dir={cache}",
                    "data.detections_train=" + str(world / "dets.safetensors"), "--shard-size", "2"],
                   cwd=world, env={**env, "PYTHONPATH": os.environ.get("FAULT_CODE", "")}, capture_output=True)
    shards = sorted((cache / "train").glob("shard-*.safetensors"))
    if shards:
        _damage_file(shards[1], "truncated")
    return ["train", cfg, f"data.cache_dir={cache}", "data.detections_train=" + str(world / "dets.safetensors"),
            "--no-progress"]


def _same_names(world: Path) -> list[str]:
    for d, src in (("a", "img01.png"), ("b", "img02.png")):
        (world / d).mkdir()
        shutil.copy(world / "images" / src, world / d / "x.png")
    dets = json.loads((world / "dets.json").read_text())
    (world / "x_dets.json").write_text(json.dumps({"x.png": dets["img01.png"]}))
    return ["predict", str(world / "a" / "x.png"), str(world / "b" / "x.png"), "--checkpoint", str(_checkpoint(world)),
            "--detections", str(world / "x_dets.json"), "--out", str(world / "pred"), "--device", "cpu"]


def _both_kept(world: Path) -> str | None:
    found = sorted(p.name for p in (world / "pred").glob("*.json")) if (world / "pred").is_dir() else []
    return None if len(found) == 2 else f"2 inputs, {len(found)} result files ({found})"


def _label_list(world: Path, line: str) -> list[str]:
    (world / "list.txt").write_text(line + "\n")
    return ["label", "--images", str(world / "images"), "--out", str(world / "l.jsonl"), "--image-list",
            str(world / "list.txt"), "backend=stub", "--no-progress"]


def _deep(n: int) -> bytes:
    return ("[" * n + "]" * n + "\n").encode()


def cases() -> list[Case]:
    cfg = _cfg
    ck = lambda w: str(_checkpoint(w))  # noqa: E731
    train = lambda *extra: (lambda w: ["train", cfg(w), *extra, "--no-progress"])  # noqa: E731
    return [
        # 1. detections files
        Case("train: NaN box in detections", lambda w: ["train", cfg(w), f"data.detections_train={_json_dets(w, _nan_box)}",
                                                         "--no-progress"]),
        Case("eval: NaN box in detections", lambda w: ["eval", ck(w), "--detections", _json_dets(w, _nan_box),
                                                        "--device", "cpu", "--out", str(w / "ev")], needs_checkpoint=True),
        Case("predict: NaN box in detections", lambda w: ["predict", str(w / "images" / "img01.png"), "--checkpoint", ck(w),
                                                           "--detections", _json_dets(w, _nan_box), "--device", "cpu",
                                                           "--out", str(w / "pred")], needs_checkpoint=True),
        Case("cache: NaN box in detections", lambda w: ["cache", cfg(w), f"data.cache_dir={w / 'c'}",
                                                         f"data.detections_train={_json_dets(w, _nan_box)}"]),
        Case("train: x2 < x1 in detections", lambda w: ["train", cfg(w), f"data.detections_train={_json_dets(w, _inverted_box)}",
                                                         "--no-progress"]),
        Case("train: unknown label in detections", lambda w: ["train", cfg(w),
                                                               f"data.detections_train={_json_dets(w, _unknown_label)}",
                                                               "--no-progress"]),
        Case("train: label 10.7 in detections", lambda w: ["train", cfg(w),
                                                            f"data.detections_train={_json_dets(w, _fractional_label)}",
                                                            "--no-progress"]),
        Case("train: numbers instead of records", lambda w: ["train", cfg(w),
                                                              f"data.detections_train={_json_dets(w, lambda d: [1, 2, 3])}",
                                                              "--no-progress"]),
        Case("train: zero-byte detections .safetensors",
             lambda w: (_damage_file(w / "dets.safetensors", "empty"),
                        ["train", cfg(w), f"data.detections_train={w / 'dets.safetensors'}", "--no-progress"])[1]),
        Case("train: truncated detections .safetensors",
             lambda w: (_damage_file(w / "dets.safetensors", "truncated"),
                        ["train", cfg(w), f"data.detections_train={w / 'dets.safetensors'}", "--no-progress"])[1]),
        # 1. images
        Case("train: zero-byte image", lambda w: (_damage_image(w, "empty"), train()(w))[1]),
        Case("train: truncated PNG", lambda w: (_damage_image(w, "truncated"), train()(w))[1]),
        Case("train: text file as image", lambda w: (_damage_image(w, "text"), train()(w))[1]),
        Case("train --skip-bad-images: truncated PNG", lambda w: (_damage_image(w, "truncated"),
                                                                   train("--skip-bad-images")(w))[1], expect="skip"),
        Case("eval: truncated PNG", lambda w: (_damage_image(w, "truncated"),
                                               ["eval", ck(w), "--device", "cpu", "--out", str(w / "ev"),
                                                "--image-root", str(w / "images")])[1],
             needs_checkpoint=True),
        Case("eval --skip-bad-images: zero-byte image", lambda w: (_damage_image(w, "empty"),
                                                                    ["eval", ck(w), "--device", "cpu", "--out",
                                                                     str(w / "ev"), "--image-root", str(w / "images"),
                                                                     "--skip-bad-images"])[1],
             expect="skip", needs_checkpoint=True),
        Case("predict: zero-byte image", lambda w: (_damage_image(w, "empty", "img01.png"),
                                                    ["predict", str(w / "images" / "img01.png"), "--checkpoint", ck(w),
                                                     "--detections", str(w / "dets.json"), "--device", "cpu",
                                                     "--out", str(w / "pred")])[1], needs_checkpoint=True),
        Case("label: one zero-byte image (error record)", lambda w: (_damage_image(w, "empty"),
                                                                      ["label", "--images", str(w / "images"), "--out",
                                                                       str(w / "l.jsonl"), "backend=stub",
                                                                       "--no-progress"])[1], expect="skip"),
        # 1. checkpoints
        Case("eval: zero-byte model.safetensors", lambda w: (_damage_file(_checkpoint(w) / "model.safetensors", "empty"),
                                                             ["eval", ck(w), "--device", "cpu"])[1], needs_checkpoint=True),
        Case("eval: truncated model.safetensors",
             lambda w: (_damage_file(_checkpoint(w) / "model.safetensors", "truncated"),
                        ["eval", ck(w), "--device", "cpu"])[1], needs_checkpoint=True),
        Case("train --resume: damaged trainer_state.pt", lambda w: _bad_state(w, "garbage"), needs_checkpoint=True),
        Case("train --resume: malicious trainer_state.pt", lambda w: _bad_state(w, "malicious"), check=_no_pwned,
             needs_checkpoint=True),
        Case("train: fresh run beside .checkpoint.old", _old_only, check=_old_kept, needs_checkpoint=True),
        Case("eval: checkpoint only as .checkpoint.old", _eval_old, expect="ok", needs_checkpoint=True),
        Case("train: damaged cache shard", _shard_cache),
        # 1. options and files
        Case("eval: --out is a file", lambda w: (Path(w / "afile").write_text("x"),
                                                 ["eval", ck(w), "--out", str(w / "afile"), "--device", "cpu"])[1],
             needs_checkpoint=True),
        Case("eval: --device foo", lambda w: ["eval", ck(w), "--device", "foo"], needs_checkpoint=True),
        Case("train: binary config file", lambda w: (Path(w / "bin.yaml").write_bytes(bytes(range(256)) * 8),
                                                     ["train", str(w / "bin.yaml")])[1]),
        Case("train: model.image_size=-32", train("model.image_size=-32")),
        Case("train: empty CLIP folder", lambda w: ((w / "emptyclip").mkdir(), train(f"model.clip={w / 'emptyclip'}")(w))[1]),
        Case("parse: 100000-deep JSON line", lambda w: ["parse"], stdin=_deep(100_000)),
        Case("demo: --train-images 10^20", lambda w: ["demo", "--train-images", str(10**20), "--output", str(w / "demo")],
             timeout=30),
        # 2. paths
        Case("label: /etc/hostname in the image list", lambda w: _label_list(w, "/etc/hostname")),
        Case("label: ../ in the image list", lambda w: _label_list(w, "../tiny.yaml")),
        Case("train: ../ image in label records", lambda w: train(f"data.labels={_labels_with(w, '../../etc/hostname')}")(w)),
        Case("check-annotations: ../ file name", lambda w: ["check-annotations",
                                                            _gt_with(w, lambda g: g[1].update(file_name="../x.png"))]),
        Case("check-annotations: duplicate image", lambda w: ["check-annotations", _gt_with(w, lambda g: g.append(g[0]))]),
        # 4. values
        Case("label: timeout_s=nan", lambda w: ["label", "--images", str(w / "images"), "--out", str(w / "l.jsonl"),
                                                "backend=stub", "timeout_s=nan", "--no-progress"]),
        Case("label: temperature=nan", lambda w: ["label", "--images", str(w / "images"), "--out", str(w / "l.jsonl"),
                                                  "backend=stub", "temperature=nan", "--no-progress"]),
        Case("train: clip_grad_norm=nan", train("train.clip_grad_norm=nan")),
        Case("train: lr_drop_factor=nan", train("train.lr_drop_factor=nan")),
        Case("train: supervision=full without ground truth", train("supervision=full", "loss.supervised=1")),
        Case("evaluate: class index 10.7", lambda w: ["evaluate", "--dataset", "hicodet", "--annotations",
                                                       str(w / "test_hico.json"), "--predictions",
                                                       _predictions_with_class(w, 10.7)]),
        Case("predict: two inputs named x.png", _same_names, expect="ok", check=_both_kept, needs_checkpoint=True),
    ]


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--code", type=Path, default=REPO, help="checkout whose clhoi runs the commands")
    ap.add_argument("--only", default="", help="run only the cases whose name contains this ('a|b': either)")
    ap.add_argument("--json", type=Path, help="also write the outcomes here")
    args = ap.parse_args()
    os.environ["FAULT_CODE"] = str(args.code)
    selected = [c for c in cases() if any(part in c.name for part in args.only.split("|"))]
    with tempfile.TemporaryDirectory(prefix="clhoi-faults-") as tmp:
        base = Path(tmp) / "base"
        build_world(base)
        if any(c.needs_checkpoint for c in selected):  # an untrained checkpoint, made by the code under test
            env = {**os.environ, "PYTHONPATH": str(args.code), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
            subprocess.run([sys.executable, "-m", "clhoi.cli", "train", str(base / "tiny.yaml"), "train.epochs=0",
                            f"output_dir={base / 'ckpt'}", "--no-progress"], cwd=base, env=env, check=True,
                           capture_output=True)
        outcomes = []
        for i, case in enumerate(selected):
            world = Path(tmp) / f"case{i:02d}"
            shutil.copytree(base, world, symlinks=True, ignore=shutil.ignore_patterns("backbones"))
            # the copied config points into base: repoint it to this case's folder
            text = (base / "tiny.yaml").read_text().replace(str(base), str(world))
            # the frozen backbones stay those of the checkpoint (a resumed run must see the same config)
            (world / "tiny.yaml").write_text(text.replace(str(world / "backbones"), str(base / "backbones")))
            outcome = run_case(case, world, args.code)
            outcomes.append(outcome)
            print(f"{outcome.category:9s} rc={outcome.rc!s:4s} {outcome.seconds:5.1f}s  {case.name}: {outcome.last_line}",
                  flush=True)
            shutil.rmtree(world, ignore_errors=True)
    totals = Counter(o.category for o in outcomes)
    print("\ntotals: " + ", ".join(f"{k} {totals[k]}" for k in CATEGORIES if totals[k]) + f" (of {len(outcomes)})")
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], indent=2))


if __name__ == "__main__":
    main()
