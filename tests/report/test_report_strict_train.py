"""`clhoi train` in strict annotation-free mode refuses ground-truth HOI labels before building anything."""

import yaml
from typer.testing import CliRunner

from clhoi.cli import app
from clhoi.structures import InteractionPair, LabelRecord


def write_run(tmp_path, teacher: str, **data) -> str:
    labels = tmp_path / "labels.jsonl"
    labels.write_text(LabelRecord("a.jpg", "a man rides a horse", [InteractionPair("ride", "horse", "horse")],
                                  negatives=["eat", "cook"], teacher=teacher).to_json() + "\n")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"supervision": "annotation_free", "output_dir": str(tmp_path / "run"),
                                   "data": {"labels": str(labels), **data}}))
    return str(cfg)


def test_train_refuses_labels_made_from_ground_truth(tmp_path):
    result = CliRunner().invoke(app, ["train", write_run(tmp_path, "gt:hicodet")])
    assert result.exit_code == 2
    assert "strict annotation-free mode" in result.output and "made from ground-truth HOIs" in result.output
    assert not (tmp_path / "run").exists()


def test_train_refuses_training_annotations(tmp_path):
    cfg = write_run(tmp_path, "Salesforce/instructblip-vicuna-7b", train_annotations="trainval_hico.json")
    result = CliRunner().invoke(app, ["train", cfg])
    assert result.exit_code == 2 and "data.train_annotations" in result.output
