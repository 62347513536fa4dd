"""Supervised setting: pair matching (IoU >= 0.5) and the UPT-style focal loss, against loops."""

import math

import torch
import torch.nn.functional as F

from clhoi.labelset import LabelSet
from clhoi.losses import Criterion
from clhoi.matching import SupervisedTargets, focal_loss, match_pairs, supervised_loss
from clhoi.structures import Detections, ImageAnnotation, StudentOutput


def _iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _random_boxes(n: int) -> torch.Tensor:
    xy = torch.rand(n, 2) * 50
    wh = torch.rand(n, 2) * 40 + 10
    return torch.cat([xy, xy + wh], 1)


def _scene(num_classes: int) -> tuple[StudentOutput, list[Detections], list[ImageAnnotation]]:
    dets, gts, rows = [], [], []
    for i in range(3):
        gt_boxes = _random_boxes(4)
        det_boxes = torch.cat([gt_boxes + torch.randn(4, 4) * 3, _random_boxes(2)])  # near-copies + clutter
        dets.append(Detections(det_boxes, torch.rand(6), torch.randint(0, 80, (6,))))
        hoi = torch.tensor([[0, 1, 2], [0, 2, 5], [3, -1, 1], [0, 1, 4]])  # one without an object
        gts.append(ImageAnnotation(f"{i}.jpg", (100, 100), gt_boxes, torch.zeros(4, dtype=torch.long), hoi))
        rows += [(i, h, o) for h in range(6) for o in range(6) if h != o]
    rows_t = torch.tensor(rows)
    p = rows_t.shape[0]
    out = StudentOutput(torch.randn(p, 8, dtype=torch.float64, requires_grad=True), rows_t[:, 0], rows_t[:, 1], rows_t[:, 2],
                        torch.rand(p, 2, dtype=torch.float64), torch.zeros(p, dtype=torch.long),
                        logit_scale=torch.tensor(5.0, dtype=torch.float64))
    return out, dets, gts


def test_match_pairs_matches_loop() -> None:
    out, dets, gts = _scene(7)
    labels = match_pairs(out, dets, gts, 7, iou_threshold=0.5)
    expected = torch.zeros_like(labels)
    for p in range(out.num_pairs):
        i, h, o = int(out.pair_image[p]), int(out.human_idx[p]), int(out.object_idx[p])
        hb, ob = dets[i].boxes[h].tolist(), dets[i].boxes[o].tolist()
        for gh, go, c in gts[i].hoi.tolist():
            ok_h = _iou(hb, gts[i].boxes[gh].tolist()) >= 0.5
            ok_o = go < 0 or _iou(ob, gts[i].boxes[go].tolist()) >= 0.5
            if ok_h and ok_o:
                expected[p, c] = 1.0
    assert torch.equal(labels, expected)
    assert labels.sum() > 0  # the scene has matches


def test_focal_loss_matches_formula() -> None:
    p, y = torch.rand(5, 3).double(), (torch.rand(5, 3) > 0.5).double()
    got = focal_loss(p, y, alpha=0.3, gamma=2.0)
    for i in range(5):
        for c in range(3):
            pp, yy = float(p[i, c]), float(y[i, c])
            ref = -0.3 * yy * (1 - pp) ** 2 * math.log(pp) - 0.7 * (1 - yy) * pp**2 * math.log(1 - pp)
            assert abs(float(got[i, c]) - ref) < 1e-5


def test_supervised_loss_matches_loop_and_respects_valid_classes() -> None:
    out, dets, gts = _scene(7)
    text = torch.randn(7, 8, dtype=torch.float64)
    labels = match_pairs(out, dets, gts, 7)
    valid = torch.rand(out.num_pairs, 7) > 0.3
    got = supervised_loss(out, SupervisedTargets(labels, text, valid), alpha=0.5, gamma=0.2, prior_lambda=1.0)
    total, n_pos = 0.0, 0.0
    for p in range(out.num_pairs):
        prior = float(out.pair_scores[p, 0] * out.pair_scores[p, 1])
        for c in range(7):
            if not valid[p, c]:
                continue
            cos = float(F.cosine_similarity(out.interaction[p].detach(), text[c], dim=0))
            prob = 1 / (1 + math.exp(-5.0 * cos)) * prior
            y = float(labels[p, c])
            total += -0.5 * y * (1 - prob) ** 0.2 * math.log(prob) - 0.5 * (1 - y) * prob**0.2 * math.log(1 - prob)
            n_pos += y
    assert abs(got.item() - total / max(n_pos, 1.0)) < 1e-5
    got.backward()
    assert out.interaction.grad.abs().sum() > 0


def test_supervised_targets_build_restricts_hicodet_classes_by_object() -> None:
    out, dets, gts = _scene(600)
    out.object_labels = torch.full((out.num_pairs,), 2)  # every object is a car (COCO-80 index 2)
    ls = LabelSet.hicodet()
    targets = SupervisedTargets.build(out, dets, gts, ls, torch.randn(600, 8))
    car_classes = {c for c in range(600) if ls.class_object[c] == 2}
    assert set(targets.valid[0].nonzero().flatten().tolist()) == car_classes
    losses = Criterion({"supervised": 1.0})(out, supervised=targets)
    assert set(losses) == {"supervised", "total"} and torch.isfinite(losses["total"])


def test_supervised_loss_with_no_pairs_is_zero() -> None:
    out = StudentOutput(torch.zeros(0, 8, requires_grad=True), torch.zeros(0, dtype=torch.long),
                        torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), torch.zeros(0, 2),
                        torch.zeros(0, dtype=torch.long))
    loss = supervised_loss(out, SupervisedTargets(torch.zeros(0, 3), torch.randn(3, 8)))
    assert loss.item() == 0.0 and loss.requires_grad
