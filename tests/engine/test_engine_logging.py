"""Training logs what happened: interval and epoch means, and a too-small tail batch merged."""

from __future__ import annotations

from dataclasses import replace

import pytest

from clhoi.data.collate import EpochSampler, TailMergingBatchSampler, min_tail
from clhoi.engine.log import LossMeter, read_log
from clhoi.engine.train import TrainEvent, train


@pytest.mark.parametrize(("size", "batch", "expected"), [
    (7, 3, [3, 4]),        # a tail of 1 has no negatives: merged
    (8, 3, [3, 3, 2]),     # a tail of 2 >= min_tail(3) stays
    (18, 16, [18]),        # 2 of 16: merged (the reported i2t=0.000 line)
    (24, 16, [16, 8]),     # half a batch stays
    (1, 4, [1]),           # the only batch of an epoch stays
    (5, 1, [1, 1, 1, 1, 1]),
])
def test_tail_batch_is_merged_when_too_small(size, batch, expected):
    sampler = EpochSampler(size, seed=1)
    batches = TailMergingBatchSampler(sampler, batch)
    got = list(batches)
    assert [len(b) for b in got] == expected and len(batches) == len(expected)
    assert sorted(i for b in got for i in b) == list(range(size))  # no image dropped
    assert min_tail(16) == 8 and min_tail(2) == 2


def test_tail_merge_respects_resume_skip():
    sampler = EpochSampler(7, seed=2)
    sampler.set_epoch(0)
    full = list(TailMergingBatchSampler(sampler, 3))
    sampler.set_epoch(0, skip=3)  # resumed after the first step
    assert list(TailMergingBatchSampler(sampler, 3)) == full[1:]


def test_loss_meter_interval_and_epoch_means():
    m = LossMeter()
    for v in (1.0, 2.0, 6.0):
        m.add({"i2t": v, "total": 2 * v})
    assert m.interval() == {"i2t": 3.0, "total": 6.0} and m.interval() == {}
    m.add({"i2t": 5.0, "total": 10.0})
    assert m.interval() == {"i2t": 5.0, "total": 10.0}
    assert m.epoch() == {"i2t": 3.5, "total": 7.0} and m.epoch_steps == 4
    m.reset_epoch()
    assert m.epoch() == {}


def test_train_logs_interval_and_epoch_means(tiny_world, tmp_path):
    cfg = replace(tiny_world, output_dir=str(tmp_path / "run"))
    cfg.train = replace(cfg.train, epochs=2, batch_size=2, log_every=4)  # 3 steps per epoch, 6 steps
    events: list[TrainEvent] = []
    train(cfg, callback=events.append, progress=False)
    steps = [e.losses for e in events if e.kind == "step"]
    assert len(steps) == 6
    log = read_log(tmp_path / "run" / "log.jsonl")
    logged = [r for r in log if r["event"] == "train"]
    assert [r["step"] for r in logged] == [4, 6]  # every log_every steps, and the last step
    assert [r["steps"] for r in logged] == [4, 2]
    bounds = [(0, 4), (4, 6)]  # an interval may span an epoch boundary
    for rec, (a, b) in zip(logged, bounds):
        for key in ("i2t", "t2i", "total"):
            assert rec[key] == pytest.approx(sum(s[key] for s in steps[a:b]) / (b - a), rel=1e-9, abs=1e-12)
    epochs = [r for r in log if r["event"] == "epoch"]
    assert [r["steps"] for r in epochs] == [3, 3]
    for e, rec in enumerate(epochs):
        assert rec["total"] == pytest.approx(sum(s["total"] for s in steps[3 * e: 3 * e + 3]) / 3, rel=1e-9)
    epoch_events = [e for e in events if e.kind == "epoch"]
    assert epoch_events[-1].losses["total"] == pytest.approx(epochs[-1]["total"])


def test_train_merges_a_one_image_tail(tiny_world, tmp_path):
    # 6 training images, batch 5: the 1-image tail joins the first batch -> one 6-image step per epoch
    cfg = replace(tiny_world, output_dir=str(tmp_path / "run"))
    cfg.train = replace(cfg.train, epochs=2, batch_size=5, log_every=1)
    events: list[TrainEvent] = []
    train(cfg, callback=events.append, progress=False)
    steps = [e for e in events if e.kind == "step"]
    assert len(steps) == 2 and steps[-1].total_steps == 2
    assert all(s.losses["i2t"] > 0 and s.losses["t2i"] > 0 for s in steps)
