"""Epoch sampler, collate, union crops, record selection, checkpoint mismatch."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image

from clhoi.data.collate import EpochSampler, collate
from clhoi.data.labels import Sample, select_training_records
from clhoi.data.transforms import crop_regions, union_boxes
from clhoi.config import ExperimentConfig
from clhoi.engine.checkpoint import CheckpointError, get_rng_state, load_weights, save_checkpoint, set_rng_state
from clhoi.structures import Detections, InteractionPair, LabelRecord


def test_epoch_sampler_is_deterministic_sharded_and_skippable():
    s = EpochSampler(10, seed=3)
    s.set_epoch(1)
    order = list(s)
    assert sorted(order) == list(range(10))
    again = EpochSampler(10, seed=3)
    again.set_epoch(1)
    assert list(again) == order
    again.set_epoch(2)
    assert list(again) != order
    again.set_epoch(1, skip=4)
    assert list(again) == order[4:] and len(again) == 6
    shards = [EpochSampler(10, seed=3, rank=r, world_size=3) for r in range(3)]
    for sh in shards:
        sh.set_epoch(1)
    parts = [list(sh) for sh in shards]
    assert all(len(p) == 4 for p in parts)  # padded to equal length, as DistributedSampler
    assert set().union(*parts) == set(range(10))
    ordered = EpochSampler(5, shuffle=False)
    assert list(ordered) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="empty"):
        EpochSampler(0)


def test_collate_and_union_crops():
    det = Detections(torch.tensor([[0.0, 0, 10, 10], [5, 5, 30, 20]]), torch.ones(2), torch.tensor([0, 1]),
                     image_size=(20, 40))
    samples = [Sample(f"{i}.png", det, pixel_values=torch.full((3, 4, 4), float(i))) for i in range(3)]
    batch = collate(samples)
    assert batch.pixel_values.shape == (3, 3, 4, 4) and batch.image_features is None and batch.records is None
    assert len(batch) == 3 and batch.file_names == ["0.png", "1.png", "2.png"]
    u = union_boxes(det.boxes, torch.tensor([[0, 1]]))
    assert u.tolist() == [[0.0, 0.0, 30.0, 20.0]]
    crops = crop_regions(Image.new("RGB", (40, 20)), torch.tensor([[0.0, 0, 30, 20], [39.5, 19.5, 50, 60]]))
    assert crops[0].size == (30, 20) and crops[1].size == (1, 1)  # clamped, never empty
    assert union_boxes(det.boxes, torch.zeros(0, 2, dtype=torch.long)).shape == (0, 4)


def test_record_selection_skips_bad_status_and_verbless():
    recs = [
        LabelRecord("a.jpg", caption="a man rides", pairs=[InteractionPair("ride", "horse")]),
        LabelRecord("b.jpg", status="no_action"),
        LabelRecord("c.jpg", status="error", reason="timeout"),
        LabelRecord("d.jpg", caption="a field"),
    ]
    sel = select_training_records(recs)
    assert [r.image for r in sel.records] == ["a.jpg"]
    assert (sel.skipped_status, sel.skipped_no_verb) == (2, 1)
    assert "1 label records used" in sel.summary()


def test_checkpoint_rejects_other_shapes_and_restores_rng(tmp_path):
    net = torch.nn.Linear(3, 2)
    save_checkpoint(tmp_path / "ck", net, ExperimentConfig())
    with pytest.raises(CheckpointError, match="does not match"):
        load_weights(torch.nn.Linear(4, 2), tmp_path / "ck")
    with pytest.raises(CheckpointError, match="does not match"):
        load_weights(torch.nn.Sequential(torch.nn.Linear(3, 2)), tmp_path / "ck")
    other = torch.nn.Linear(3, 2)
    load_weights(other, tmp_path / "ck")
    assert torch.equal(other.weight, net.weight)
    (tmp_path / "nock").mkdir()
    with pytest.raises(CheckpointError, match="not a clhoi checkpoint"):
        load_weights(net, tmp_path / "nock")

    state = get_rng_state()
    a = (torch.rand(3), random.random(), np.random.rand())
    set_rng_state(state)
    b = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]
