"""Provenance builders, round trips, the eval header, and the strict annotation-free mode."""

import json
import re

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from clhoi.config import ExperimentConfig, apply_overrides, config_hash
from clhoi.provenance import (
    AnnotationFreeError,
    check_annotation_free,
    code_version,
    format_provenance_header,
    from_metadata,
    labels_provenance,
    read_provenance,
    run_provenance,
    to_metadata,
    write_provenance,
)
from clhoi.structures import InteractionPair, LabelRecord
from clhoi.teacher.provenance import teacher_provenance

PROMPTS = {"caption": "What are the persons doing in the image?", "parse": "Briefly list ..."}


def cfg_with(*overrides: str) -> ExperimentConfig:
    return apply_overrides(ExperimentConfig(), list(overrides))


def test_code_version_names_this_checkout():
    code = code_version()
    assert code["clhoi"] == __import__("clhoi").__version__
    assert code["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", code["git_commit"])


def test_run_provenance_has_every_section():
    cfg = cfg_with("detector.trained_on=hicodet")
    record_prov = teacher_provenance(cfg.teacher, "Salesforce/blip2-opt-2.7b", "rules", PROMPTS)
    records = [LabelRecord("a.jpg", teacher="Salesforce/blip2-opt-2.7b", provenance=record_prov)]
    prov = run_provenance(cfg, labels=labels_provenance("labels.jsonl", records))
    assert prov["config_hash"] == config_hash(cfg)
    assert prov["teacher"] == record_prov  # what made the labels, not the config's teacher section
    assert prov["detector"] == {"model": cfg.detector.model, "trained_on": "hicodet"}
    assert prov["labels"]["teachers"] == ["Salesforce/blip2-opt-2.7b"] and prov["labels"]["num_records"] == 1
    assert prov["supervision"] == "annotation_free" and prov["code"] == code_version()
    from_config = run_provenance(cfg, PROMPTS)
    assert from_config["teacher"]["model"] == cfg.teacher.model and from_config["teacher"]["source"] == "config"
    assert from_config["teacher"]["prompts"] == PROMPTS


def test_label_record_provenance_round_trips_through_json():
    prov = teacher_provenance(ExperimentConfig().teacher, "Salesforce/blip2-opt-2.7b", "rules", PROMPTS)
    rec = LabelRecord("a.jpg", "a man rides a horse", [InteractionPair("ride", "horse", "horse")], provenance=prov)
    back = LabelRecord.from_dict(json.loads(rec.to_json()))
    assert back.provenance == prov and back.provenance["prompts"] == PROMPTS


def test_checkpoint_and_cache_provenance_round_trip(tmp_path):
    prov = run_provenance(ExperimentConfig(), PROMPTS)
    write_provenance(tmp_path, prov)
    assert read_provenance(tmp_path) == prov
    assert read_provenance(tmp_path / "missing") == {}
    save_file({"x": torch.zeros(2)}, str(tmp_path / "f.safetensors"), metadata=to_metadata(prov))
    with safe_open(str(tmp_path / "f.safetensors"), "pt") as f:
        assert from_metadata(f.metadata()) == prov
    assert from_metadata(None) == {}


def test_header_shows_teacher_detector_and_hash():
    cfg = ExperimentConfig()
    record_prov = teacher_provenance(cfg.teacher, "Salesforce/blip2-opt-2.7b", "rules", PROMPTS)
    records = [LabelRecord("a.jpg", teacher="Salesforce/blip2-opt-2.7b", provenance=record_prov)]
    prov = run_provenance(cfg, labels=labels_provenance("labels.jsonl", records))
    text = format_provenance_header(prov)
    assert text.splitlines()[0] == "provenance"
    for needle in ("Salesforce/blip2-opt-2.7b", prov["config_hash"], "facebook/detr-resnet-50",
                   "trained on coco2017", "annotation_free", "What are the persons doing", "labels.jsonl: 1 records"):
        assert needle in text
    assert "from the config" in format_provenance_header(run_provenance(cfg))
    assert "unknown" in format_provenance_header({})


def test_strict_mode_refuses_ground_truth_training_annotations():
    cfg = cfg_with("data.train_annotations=hico/instances_train2015.json")
    with pytest.raises(AnnotationFreeError, match="data.train_annotations"):
        check_annotation_free(cfg)
    warnings = check_annotation_free(cfg, strict=False)
    assert len(warnings) == 1 and "not annotation-free" in warnings[0]
    relaxed = apply_overrides(cfg, ["train.strict_annotation_free=false"])
    assert check_annotation_free(relaxed) == warnings
    assert check_annotation_free(cfg_with("supervision=full", "data.train_annotations=x.json")) == []


def test_strict_mode_refuses_labels_made_from_ground_truth():
    cfg = ExperimentConfig()
    teacher = LabelRecord("a.jpg", teacher="Salesforce/instructblip-vicuna-7b")
    oracle = LabelRecord("b.jpg", teacher="gt:hicodet")
    marked = LabelRecord("c.jpg", teacher="x", provenance={"source": "ground_truth"})
    renamed = LabelRecord("d.jpg", teacher="x", provenance={"teacher": "gt:hicodet"})
    assert check_annotation_free(cfg, [teacher]) == []
    for bad in (oracle, marked, renamed):
        with pytest.raises(AnnotationFreeError, match="ground-truth HOIs"):
            check_annotation_free(cfg, [teacher, bad])


def test_detector_fine_tuned_on_evaluation_boxes_warns():
    assert check_annotation_free(ExperimentConfig()) == []
    warnings = check_annotation_free(cfg_with("detector.trained_on=hicodet"))
    assert len(warnings) == 1 and "fine-tuned on hicodet" in warnings[0]
    warnings = check_annotation_free(ExperimentConfig(), detector={"model": "d", "trained_on": "HICO-DET"})
    assert len(warnings) == 1
    assert "V-COCO test images" in check_annotation_free(cfg_with("data.dataset=vcoco"))[0]
