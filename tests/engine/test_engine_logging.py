"""Training logs what happened: interval and epoch means, and a too-small tail batch merged."""

from __future__ import annotations

from dataclasses import replace

import pytest

from accelerate.tracking import GeneralTracker

import clhoi.engine.train as train_module
from clhoi.data.collate import EpochSampler, TailMergingBatchSampler, min_tail
from clhoi.engine.log import LossMeter, flat_config, read_log, resolve_trackers
from clhoi.engine.train import TrainEvent, train


class RecordingTracker(GeneralTracker):
    """An accelerate tracker that keeps what it is given (stands in for TensorBoard / W&B / MLflow)."""

    name = "recording"
    requires_logging_directory = False

    def __init__(self) -> None:
        super().__init__()
        self.config: dict = {}
        self.logged: list[tuple[int, dict]] = []
        self.finished = False

    @property
    def tracker(self):
        return self

    def store_init_configuration(self, values: dict) -> None:
        self.config = dict(values)

    def log(self, values: dict, step: int | None = None, **kwargs) -> None:
        self.logged.append((step, dict(values)))

    def finish(self) -> None:
        self.finished = True


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


def test_train_logs_interval_and_epoch_means(tiny_world, tmp_path, monkeypatch):
    tracker = RecordingTracker()
    monkeypatch.setattr(train_module, "resolve_trackers", lambda *a: [tracker])
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

    # the same means went through accelerate's tracker API, with the flat config as hyperparameters
    tracked = {step: v for step, v in tracker.logged if "train/total" in v}
    assert sorted(tracked) == [4, 6]
    assert tracked[4]["train/total"] == pytest.approx(logged[0]["total"]) and tracked[6]["train/steps"] == 2
    assert any("epoch/i2t" in v for _, v in tracker.logged)
    assert tracker.config["train.batch_size"] == 2 and tracker.config["name"] == cfg.name
    assert tracker.finished


def test_resolve_trackers_names_what_to_install(tmp_path):
    import accelerate.utils as au

    with pytest.raises(ValueError, match="unknown tracker 'tensorbord'"):
        resolve_trackers(False, "tensorbord", tmp_path)
    if not au.is_wandb_available():
        with pytest.raises(ValueError, match="wandb is not installed; pip install wandb"):
            resolve_trackers(False, "wandb", tmp_path)
    got = resolve_trackers(True, "", tmp_path)  # TensorBoard when installed, else nothing (no error)
    assert [t.name for t in got] == (["tensorboard"] if au.is_tensorboard_available() else [])
    assert resolve_trackers(False, "", tmp_path) == []
    assert flat_config({"a": {"b": 1, "c": [1, 2], "d": None}}) == {"a.b": 1, "a.c": "[1, 2]", "a.d": "null"}


def test_config_refuses_unknown_tracker():
    from clhoi.engine.config import TrainConfig

    with pytest.raises(ValueError, match="train.trackers: unknown tracker"):
        TrainConfig(trackers="wandb,tensorbord")
    assert TrainConfig(trackers=" wandb , mlflow").trackers


def test_train_merges_a_one_image_tail(tiny_world, tmp_path):
    # 6 training images, batch 5: the 1-image tail joins the first batch -> one 6-image step per epoch
    cfg = replace(tiny_world, output_dir=str(tmp_path / "run"))
    cfg.train = replace(cfg.train, epochs=2, batch_size=5, log_every=1)
    events: list[TrainEvent] = []
    train(cfg, callback=events.append, progress=False)
    steps = [e for e in events if e.kind == "step"]
    assert len(steps) == 2 and steps[-1].total_steps == 2
    assert all(s.losses["i2t"] > 0 and s.losses["t2i"] > 0 for s in steps)
