"""`clhoi evaluate` scores the predictions.jsonl that `clhoi eval` writes, as they are, to the same numbers.

Also for the sandbox, reached by name through the dataset registry (an entry point), not by import.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from clhoi import vocab
from clhoi.cli import app
from clhoi.engine.train import train

runner = CliRunner()


@pytest.fixture(scope="module")
def checkpoint(tiny_world, tmp_path_factory):
    """The untrained tiny student (train.epochs=0: no data read, fast)."""
    cfg = replace(tiny_world, output_dir=str(tmp_path_factory.mktemp("ckpt")))
    cfg.train = replace(cfg.train, epochs=0)
    return train(cfg, progress=False)


def _eval_then_evaluate(checkpoint, tmp_path, dataset, annotations):
    r = runner.invoke(app, ["eval", str(checkpoint), "--dataset", dataset, "--annotations", str(annotations),
                            "--out", str(tmp_path / "ev"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["evaluate", "--dataset", dataset, "--annotations", str(annotations),
                            "--predictions", str(tmp_path / "ev" / "predictions.jsonl"), "--out", str(tmp_path / "m.json")])
    assert r.exit_code == 0, r.output
    def strict(name):  # both metrics files are strict JSON: no NaN / Infinity
        raise AssertionError(f"{name} in a metrics file")

    return (json.loads((tmp_path / "ev" / "metrics.json").read_text(), parse_constant=strict),
            json.loads((tmp_path / "m.json").read_text(), parse_constant=strict), r.output)


def test_hicodet_eval_predictions_score_the_same_in_evaluate(checkpoint, tiny_world, tmp_path):
    by_eval, by_evaluate, _ = _eval_then_evaluate(checkpoint, tmp_path, "hicodet", tiny_world.data.test_annotations)
    assert by_evaluate["num_triplets"] == by_eval["num_triplets"] > 0
    assert by_evaluate["default"] == by_eval["default"] and by_evaluate["known_object"] == by_eval["known_object"]
    assert [c["ap_default"] for c in by_evaluate["per_class"]] == [c["ap_default"] for c in by_eval["per_class"]]
    assert any(c["ap_default"] > 0 for c in by_eval["per_class"])


def test_sandbox_is_a_dataset_like_any_other(checkpoint, tiny_world, tmp_path):
    # the tiny world's 'hold bicycle' is not a sandbox class: the same world with 'push bicycle' instead
    gt = json.loads(open(tiny_world.data.test_annotations).read())
    verbs = vocab.hicodet().verbs
    for rec in gt:
        for h in rec["hoi_annotation"]:
            if verbs[h["category_id"] - 1] == "hold" and rec["annotations"][h["object_id"]]["category_id"] == 2:
                h["category_id"] = verbs.index("push") + 1
    path = tmp_path / "sandbox_test.json"
    path.write_text(json.dumps(gt))
    by_eval, by_evaluate, output = _eval_then_evaluate(checkpoint, tmp_path, "sandbox", path)
    assert len(by_eval["per_class"]) == 28 and by_eval["per_class"][0]["name"] == "ride bicycle"
    assert by_evaluate["default"] == by_eval["default"]
    assert [c["ap_default"] for c in by_evaluate["per_class"]] == [c["ap_default"] for c in by_eval["per_class"]]
    assert "HICO-DET mAP" in output


def test_predict_output_folder_is_read_as_it_is(checkpoint, tiny_world, tmp_path):
    images = sorted(str(p) for p in __import__("pathlib").Path(tiny_world.data.image_root).glob("*.png"))
    r = runner.invoke(app, ["predict", *images, "--checkpoint", str(checkpoint), "--dataset", "hicodet",
                            "--detections", tiny_world.data.detections_test, "--out", str(tmp_path / "p"),
                            "--threshold", "0", "--top-k", "100000", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    by_eval, _, _ = _eval_then_evaluate(checkpoint, tmp_path, "hicodet", tiny_world.data.test_annotations)
    r = runner.invoke(app, ["evaluate", "--dataset", "hicodet", "--annotations", tiny_world.data.test_annotations,
                            "--predictions", str(tmp_path / "p"), "--out", str(tmp_path / "pm.json")])
    assert r.exit_code == 0, r.output
    by_predict = json.loads((tmp_path / "pm.json").read_text())
    assert by_predict["num_triplets"] == by_eval["num_triplets"]  # same triplets; predict rounds scores to 4 digits
    assert by_predict["default"]["mAP_full"] == pytest.approx(by_eval["default"]["mAP_full"], abs=1e-6)
    r = runner.invoke(app, ["evaluate", "--dataset", "vcoco", "--annotations", tiny_world.data.test_annotations,
                            "--predictions", str(tmp_path / "p")])
    assert r.exit_code == 2 and "score the 'hicodet' label set" in r.output
