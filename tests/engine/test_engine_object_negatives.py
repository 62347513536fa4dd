"""data.object_negatives reaches the training dataset's records (and the paper's setting leaves them alone)."""

from __future__ import annotations

from dataclasses import replace

from clhoi.engine.setup import build_training


def test_training_records_gain_the_objects_other_verbs(tiny_world, tmp_path):
    base = replace(tiny_world, output_dir=str(tmp_path / "run"))
    paper = build_training(base)
    assert all(r.negatives == ["say", "know"] for r in paper.dataset.records.values())

    cfg = replace(base, data=replace(base.data, object_negatives=3))
    parts = build_training(cfg)
    records = parts.dataset.records
    by_object: dict[str, set[str]] = {}
    for r in records.values():
        by_object.setdefault(r.pairs[0].coco, set()).add(r.pairs[0].verb)
    assert any("object_negatives" in n for n in parts.notes)
    grew = 0
    for r in records.values():
        assert r.negatives[:2] == ["say", "know"]
        extra = r.negatives[2:]
        assert set(extra) == by_object[r.pairs[0].coco] - {r.pairs[0].verb}  # 3 >= what the pool holds
        grew += bool(extra)
    assert grew > 0
