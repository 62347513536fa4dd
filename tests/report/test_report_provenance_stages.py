"""Provenance round-trips through the real label store, feature-cache meta and checkpoint directory."""

from torch import nn

from clhoi.config import ExperimentConfig, apply_overrides
from clhoi.engine.checkpoint import load_provenance, save_checkpoint
from clhoi.engine.feature_store import read_meta, write_meta
from clhoi.provenance import format_provenance_header, labels_provenance, run_provenance
from clhoi.structures import InteractionPair, LabelRecord
from clhoi.teacher.provenance import teacher_provenance
from clhoi.teacher.store import LabelStore, read_labels

PROMPTS = {"caption": "What are the persons doing in the image?", "parse": "Briefly list ..."}


def test_label_store_keeps_each_record_provenance(tmp_path):
    prov = teacher_provenance(ExperimentConfig().teacher, "Salesforce/instructblip-vicuna-7b", "rules", PROMPTS)
    path = tmp_path / "labels.jsonl"
    with LabelStore(path) as store:
        store.append(LabelRecord("a.jpg", "a man rides a horse", [InteractionPair("ride", "horse", "horse")],
                                 teacher="Salesforce/instructblip-vicuna-7b", provenance=prov))
        store.append(LabelRecord("b.jpg", status="no_action", provenance=prov))
    records = read_labels(path)
    assert [r.provenance for r in records] == [prov, prov]
    assert records[0].provenance["prompts"] == PROMPTS


def test_cache_meta_and_checkpoint_keep_run_provenance(tmp_path):
    cfg = apply_overrides(ExperimentConfig(), ["detector.trained_on=hicodet", "data.labels=labels.jsonl"])
    record_prov = teacher_provenance(cfg.teacher, "Salesforce/instructblip-vicuna-7b", "rules", PROMPTS)
    records = [LabelRecord("a.jpg", teacher="Salesforce/instructblip-vicuna-7b", provenance=record_prov)]
    prov = run_provenance(cfg, labels=labels_provenance(cfg.data.labels, records))

    write_meta(tmp_path, {"key": "k", "provenance": prov})
    assert read_meta(tmp_path)["provenance"] == prov

    ckpt = save_checkpoint(tmp_path / "ckpt", nn.Linear(2, 2), cfg, provenance=prov)
    loaded = load_provenance(ckpt)
    assert loaded == prov
    header = format_provenance_header(loaded)
    assert prov["config_hash"] in header and "trained on hicodet" in header and "labels.jsonl: 1 records" in header
    assert "prompt caption: What are the persons doing" in header
