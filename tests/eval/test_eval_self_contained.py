"""`clhoi evaluate` from a fresh clone: shipped annotations, no torch, and the layering it relies on."""

import ast
import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from clhoi.cli import app
from clhoi.data.hicodet import read_hicodet, shipped_test_annotations
from eval_reference import MATLAB_T

ROOT = Path(__file__).resolve().parents[2]
ASSET = ROOT / "clhoi" / "data" / "assets" / "hicodet"
runner = CliRunner()


def test_the_shipped_annotations_are_the_fredzzhang_file_with_its_licence():
    assert shipped_test_annotations() == ASSET / "instances_test2015.json.gz"
    raw = gzip.decompress(shipped_test_annotations().read_bytes())
    assert hashlib.sha256(raw).hexdigest() == "cfeaefcc1e006a0d7d205dfba95ac6614341995d18613e016ae650d278757daa"
    licence = (ASSET / "LICENSE").read_text()
    assert "MIT License" in licence and "Copyright (c) 2020 Frederic Zhang" in licence
    assert "data/assets/**/*" in (ROOT / "pyproject.toml").read_text()  # shipped in the wheel too


def test_the_vectorised_fredzzhang_reader_equals_the_record_by_record_one(monkeypatch):
    from clhoi.data import hicodet

    fast = read_hicodet(shipped_test_annotations(), tensors=False)
    monkeypatch.setattr(hicodet, "_fredzzhang_vectorised", lambda *a: None)
    slow = read_hicodet(shipped_test_annotations(), tensors=False)
    assert [a.file_name for a in fast] == [a.file_name for a in slow] and len(fast) == 9658
    for a, b in zip(fast, slow):
        assert a.size == b.size
        for key in ("boxes", "labels", "hoi"):
            x, y = getattr(a, key), getattr(b, key)
            assert x.dtype == y.dtype and np.array_equal(x, y), (a.file_name, key)


def test_evaluate_without_annotations_uses_the_shipped_test_set(tmp_path):
    gts = read_hicodet(shipped_test_annotations(), tensors=False)
    # the ground truth of the first 300 images as predictions, in JSON lines: precision 1 everywhere
    lines = [json.dumps({"file_name": a.file_name, "boxes": a.boxes.tolist(), "labels": a.labels.tolist(),
                         "hoi": [[h, o, c, 1.0] for h, o, c in a.hoi.tolist()]}) for a in gts[:300]]
    (tmp_path / "preds.jsonl").write_text("\n".join(lines))
    out = tmp_path / "m.json"
    result = runner.invoke(app, ["evaluate", "--dataset", "hicodet", "--predictions", str(tmp_path / "preds.jsonl"),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "instances_test2015.json.gz, the hicodet test annotations shipped with clhoi" in result.output
    m = json.loads(out.read_text())
    assert m["num_images"] == 9658
    total = np.bincount(np.concatenate([a.hoi[:, 2] for a in gts]), minlength=600)
    seen = np.bincount(np.concatenate([a.hoi[:, 2] for a in gts[:300]]), minlength=600)
    expected = [100 * sum(t <= s / n for t in MATLAB_T) / 11 if s else 0.0 for s, n in zip(seen, total)]
    np.testing.assert_allclose([c["ap_default"] for c in m["per_class"]], expected, rtol=0, atol=1e-9)


def test_evaluate_imports_neither_torch_nor_transformers(tmp_path):
    gts = read_hicodet(shipped_test_annotations(), tensors=False)
    preds = [{"file_name": a.file_name, "boxes": a.boxes.tolist(), "labels": a.labels.tolist(),
              "hoi": [[h, o, c, 0.5] for h, o, c in a.hoi.tolist()]} for a in gts[:20]]
    (tmp_path / "preds.json").write_text(json.dumps(preds))
    code = ("import sys\nfrom clhoi.cli import app\n"
            "try:\n    app(['evaluate', '--dataset', 'hicodet', '--predictions', sys.argv[1]])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('modules:', sorted(m for m in ('torch', 'transformers', 'torchvision') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "preds.json")], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Known-Object" in done.stdout and "modules: []" in done.stdout, done.stdout


FORBIDDEN_IMPORTERS = ("engine", "eval", "models", "data")


@pytest.mark.parametrize("package", FORBIDDEN_IMPORTERS)
def test_nothing_in_engine_eval_models_data_imports_the_sandbox(package):
    """The sandbox is a plug-in dataset (clhoi.data.registry): the core never imports it, not even lazily."""
    offenders = []
    for path in sorted((ROOT / "clhoi" / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                    "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                names = [str(node.args[0].value)]
            if any(n == "clhoi.sandbox" or n.startswith("clhoi.sandbox.") for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_the_sandbox_registers_through_an_entry_point():
    from importlib.metadata import entry_points

    from clhoi.data.registry import ENTRY_POINT_GROUP, get_dataset

    eps = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert eps.get("sandbox") == "clhoi.sandbox.dataset:SANDBOX"
    assert 'sandbox = "clhoi.sandbox.dataset:SANDBOX"' in (ROOT / "pyproject.toml").read_text()
    spec = get_dataset("sandbox")
    assert spec.protocol == "hicodet" and spec.label_space().num_classes == 28
    with pytest.raises(ValueError, match="unknown dataset 'coco'.*hicodet, vcoco, sandbox"):
        get_dataset("coco")


def test_the_registry_sandbox_mapping_is_to_sandbox_classes():
    """clhoi.sandbox.dataset maps ground truth exactly as clhoi.sandbox.experiment.to_sandbox_classes (torch or NumPy)."""
    import torch

    from clhoi import vocab
    from clhoi.sandbox.dataset import to_sandbox_ids
    from clhoi.sandbox.experiment import to_sandbox_classes
    from clhoi.sandbox.labels import sandbox_to_hicodet
    from clhoi.structures import ImageAnnotation

    hico = list(sandbox_to_hicodet())
    boxes = torch.tensor([[0.0, 0, 9, 9], [5, 5, 20, 20]])
    images = [ImageAnnotation(f"{i}.png", (32, 32), boxes, torch.tensor([0, 1]),
                              torch.tensor([[0, 1, hico[i]], [0, 1, hico[-1 - i]]])) for i in range(3)]
    images.append(ImageAnnotation("empty.png", (32, 32), boxes, torch.tensor([0, 1]), torch.zeros(0, 3, dtype=torch.long)))
    want = to_sandbox_classes(images)
    got = to_sandbox_ids(images)
    assert all(torch.equal(a.hoi, b.hoi) and a.hoi.dtype == b.hoi.dtype for a, b in zip(got, want))
    numpy_in = [ImageAnnotation(a.file_name, a.size, a.boxes.numpy(), a.labels.numpy(), a.hoi.numpy()) for a in images]
    assert all(np.array_equal(a.hoi, b.hoi.numpy()) for a, b in zip(to_sandbox_ids(numpy_in), want))
    outside = next(c for c in range(len(vocab.hicodet().hoi)) if c not in hico)
    bad = [ImageAnnotation("x.png", (32, 32), boxes, torch.tensor([0, 1]), torch.tensor([[0, 1, outside]]))]
    with pytest.raises(KeyError, match="x.png"):
        to_sandbox_ids(bad)
