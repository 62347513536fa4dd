"""The training settings reach the optimisation: the learning rate of every epoch, weight decay, clipping.

The paper's schedule (section 4.1): AdamW, lr 1e-4 dropped to 1e-5 after the 3rd epoch, 5 epochs. One
batch per epoch here, so each step event shows its epoch's learning rate.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from accelerate import Accelerator

from clhoi.engine.checkpoint import load_train_state
from clhoi.engine.config import TrainConfig
from clhoi.engine.train import TrainEvent, train


def _run(tiny_world, tmp_path, monkeypatch, **train_fields):
    cfg = replace(tiny_world, output_dir=str(tmp_path / "run"))
    cfg.train = replace(cfg.train, batch_size=6, **train_fields)  # the 6 labelled images: one step per epoch
    norms: list[float] = []
    real = Accelerator.clip_grad_norm_

    def spy(self, parameters, max_norm, *args, **kwargs):
        norms.append(float(max_norm))
        return real(self, parameters, max_norm, *args, **kwargs)

    monkeypatch.setattr(Accelerator, "clip_grad_norm_", spy)
    events: list[TrainEvent] = []
    ckpt = train(cfg, callback=events.append, progress=False)
    steps = [e for e in events if e.kind == "step"]
    return [(e.epoch, e.lr) for e in steps], norms, load_train_state(ckpt)


def test_paper_schedule_lr_of_every_epoch(tiny_world, tmp_path, monkeypatch):
    paper = TrainConfig()
    assert (paper.epochs, paper.lr, paper.lr_drop_epoch, paper.lr_drop_factor) == (5, 1e-4, 3, 0.1)
    lrs, norms, state = _run(tiny_world, tmp_path, monkeypatch, epochs=paper.epochs, lr=paper.lr,
                             lr_drop_epoch=paper.lr_drop_epoch, lr_drop_factor=paper.lr_drop_factor,
                             weight_decay=0.03, clip_grad_norm=0.7)
    assert [e for e, _ in lrs] == [0, 1, 2, 3, 4]
    assert [lr for _, lr in lrs] == pytest.approx([1e-4, 1e-4, 1e-4, 1e-5, 1e-5], rel=1e-9)
    # the settings reach the optimizer and the clipping
    assert norms == [0.7] * 5
    group = state.optimizer["param_groups"][0]
    assert group["weight_decay"] == 0.03 and group["lr"] == pytest.approx(1e-5, rel=1e-9)
    assert state.epoch == 5 and state.step == 5


def test_drop_epoch_and_factor_reach_the_schedule(tiny_world, tmp_path, monkeypatch):
    lrs, norms, state = _run(tiny_world, tmp_path, monkeypatch, epochs=3, lr=2e-4, lr_drop_epoch=1,
                             lr_drop_factor=0.5, clip_grad_norm=0.0)
    assert [lr for _, lr in lrs] == pytest.approx([2e-4, 1e-4, 1e-4], rel=1e-9)
    assert norms == []  # clip_grad_norm 0: no clipping
    assert state.optimizer["param_groups"][0]["weight_decay"] == TrainConfig().weight_decay


def test_each_step_uses_its_own_gradient(tiny_world, tmp_path, monkeypatch):
    """Two steps on the same 6 images with a negligible lr: the second gradient equals the first (not their sum)."""
    import torch

    norms: list[float] = []
    real = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        grads = [p.grad.flatten() for g in self.param_groups for p in g["params"] if p.grad is not None]
        norms.append(float(torch.cat(grads).norm()))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    _run(tiny_world, tmp_path, monkeypatch, epochs=2, lr=1e-12, clip_grad_norm=0.0)
    assert len(norms) == 2 and norms[0] > 0
    assert norms[1] == pytest.approx(norms[0], rel=1e-3)


def test_verb_template_reaches_the_training_texts(tiny_world, tmp_path):
    from clhoi.data.collate import collate
    from clhoi.engine.setup import build_training
    from clhoi.engine.step import batch_losses

    cfg = replace(tiny_world, output_dir=str(tmp_path / "run"))
    cfg.model = replace(cfg.model, verb_template="someone is {verb} here")
    parts = build_training(cfg)
    parts.model.encoders.clear_text_cache()
    batch = collate([parts.dataset[i] for i in range(2)])
    batch_losses(parts, batch, Accelerator(cpu=True))
    texts = set(parts.model.encoders._text_cache)
    assert {"someone is riding here", "someone is holding here"} & texts
    assert not any(t.startswith("a photo of a person") and not t.endswith(("bicycle", "cup", "horse")) for t in texts)


def test_score_lambda_reaches_evaluation(tiny_world, tmp_path):
    """lambda = 1 in Eq. 18: every evaluated triplet scores s_h * s_o, the detector's product."""
    import json

    from clhoi.engine.evaluate import evaluate_checkpoint

    cfg = replace(tiny_world, output_dir=str(tmp_path / "run"))
    cfg.model = replace(cfg.model, score_lambda=1.0)
    cfg.train = replace(cfg.train, epochs=0)
    ckpt = train(cfg, progress=False)
    result = evaluate_checkpoint(ckpt, progress=False, batch_size=6)
    # every image of the tiny world: these boxes with these scores (a prediction lists its boxes in its own order)
    score_of = {(4, 4, 30, 44): 0.95, (20, 10, 60, 40): 0.9, (2, 30, 14, 46): 0.6, (34, 2, 62, 30): 0.5}
    preds = [json.loads(line) for line in open(result.output_dir / "predictions.jsonl")]
    n = 0
    for p in preds:
        scores = [score_of[tuple(round(v) for v in box)] for box in p["boxes"]]
        for h, o, _, s in p["hoi"]:
            assert s == pytest.approx(scores[int(h)] * scores[int(o)], rel=1e-5)
            n += 1
    assert n > 0


def test_predict_threshold_keeps_exactly_the_triplets_at_or_above_it(tiny_world, tmp_path):
    """lambda = 1: scores are s_h * s_o of the tiny world's boxes (0.95, 0.9, 0.6, 0.5; persons 0 and 2)."""
    import json

    from PIL import Image

    from clhoi.detect.files import load_detections, save_detections
    from clhoi.engine.predict import predict

    cfg = replace(tiny_world, output_dir=str(tmp_path / "run"))
    cfg.model = replace(cfg.model, score_lambda=1.0)
    cfg.train = replace(cfg.train, epochs=0)
    ckpt = train(cfg, progress=False)
    Image.open(f"{cfg.data.image_root}/img01.png").save(tmp_path / "photo.png")
    save_detections(tmp_path / "dets.safetensors", {"photo.png": load_detections(cfg.data.detections_test)["img01.png"]})
    scores = {}
    for thr in (0.0, 0.55):
        [res] = predict([tmp_path / "photo.png"], ckpt, out_dir=tmp_path / f"p{thr}", verbs=["ride", "hold"],
                        detections=tmp_path / "dets.safetensors", threshold=thr, top_k=100)
        scores[thr] = [t["score"] for t in json.loads(res.json_path.read_text())["triplets"]]
    # 6 pairs x 2 verbs: .855 .855 .57 .57 .57 .57 .54 .54 .475 .475 .3 .3
    assert scores[0.0] == pytest.approx(sorted([0.855, 0.57, 0.475, 0.57, 0.54, 0.3] * 2, reverse=True), rel=1e-5)
    assert scores[0.55] == scores[0.0][:6]
