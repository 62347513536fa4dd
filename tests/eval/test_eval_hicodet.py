"""HICO-DET evaluator: hand-computed cases of the official rules, and agreement with a loop re-statement."""

import numpy as np
import pytest
import torch

from clhoi import vocab
from clhoi.eval import HICODetEvaluator, evaluate_hicodet
from clhoi.structures import ImageAnnotation, Predictions
from eval_reference import hicodet_aps

AIRPLANE_C, AIRPLANE_C2, BICYCLE_C = 0, 1, 10  # board airplane, direct airplane, carry bicycle
H = [0.0, 0.0, 9.0, 9.0]  # a 10 x 10 human
O = [20.0, 20.0, 29.0, 29.0]  # a 10 x 10 object


def gt(name: str, rows: list[tuple[list[float], list[float], int]]) -> ImageAnnotation:
    boxes, hoi = [], []
    for h, o, c in rows:
        boxes += [h, o]
        hoi.append([len(boxes) - 2, len(boxes) - 1, c])
    obj = [vocab.hicodet().hoi_coco_object(c) for *_, c in rows]
    labels = [x for o in obj for x in (0, o)]
    return ImageAnnotation(name, (100, 100), torch.tensor(boxes).reshape(-1, 4), torch.tensor(labels, dtype=torch.long),
                           torch.tensor(hoi, dtype=torch.long).reshape(-1, 3))


def pred(name: str, triplets: list[tuple[list[float], list[float], int, float]]) -> Predictions:
    boxes, pairs, cls, scores = [], [], [], []
    for h, o, c, s in triplets:
        boxes += [h, o]
        pairs.append([len(boxes) - 2, len(boxes) - 1])
        cls.append(c)
        scores.append(s)
    return Predictions(name, torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4), torch.zeros(len(boxes), dtype=torch.long),
                       torch.tensor(pairs, dtype=torch.long).reshape(-1, 2), torch.tensor(cls, dtype=torch.long),
                       torch.tensor(scores, dtype=torch.float64))


def ap(result, c: int, setting: str = "default") -> float:
    return float(getattr(result, setting).ap[c])


def shifted(box: list[float], dx: float) -> list[float]:
    return [box[0] + dx, box[1], box[2] + dx, box[3]]


def test_perfect_detection_and_the_600_class_mean():
    r = evaluate_hicodet([pred("a", [(H, O, AIRPLANE_C, 0.9)])], [gt("a", [(H, O, AIRPLANE_C)])])
    assert ap(r, AIRPLANE_C) == pytest.approx(1.0, abs=1e-15)
    assert r.default.full == pytest.approx(1 / 600)  # classes without ground truth count as 0
    assert r.default.full_with_gt == pytest.approx(1.0)
    assert r.default.non_rare == pytest.approx(1 / 462) and r.default.rare == 0.0
    assert r.num_gt.sum() == 1 and r.num_triplets == 1


@pytest.mark.parametrize("object_box, expected", [
    ([20, 20, 39, 29], 1.0),  # object IoU exactly 0.5: true positive
    ([20, 20, 40, 29], 0.0),  # 100/210, just below: false positive
    ([20, 20, 38, 29], 1.0),  # 100/190, just above
])
def test_iou_just_below_at_and_above_the_threshold(object_box, expected):
    r = evaluate_hicodet([pred("a", [(H, object_box, AIRPLANE_C, 0.9)])], [gt("a", [(H, O, AIRPLANE_C)])])
    assert ap(r, AIRPLANE_C) == pytest.approx(expected, abs=1e-15)


def test_both_boxes_must_overlap():
    r = evaluate_hicodet([pred("a", [([0, 0, 20, 9], O, AIRPLANE_C, 0.9)])], [gt("a", [(H, O, AIRPLANE_C)])])
    assert ap(r, AIRPLANE_C) == 0.0


def test_score_ties_keep_ground_truth_image_order_not_file_order():
    gts = [gt("a", [(H, O, AIRPLANE_C)]), gt("b", [(H, O, AIRPLANE_C)])]
    miss = ([50, 50, 59, 59], O, AIRPLANE_C, 0.5)
    hit = (H, O, AIRPLANE_C, 0.5)
    # image a (first) holds the false positive: visits FP, TP -> rec 0 .5, prec 0 .5 -> 6 x .5 / 11
    r = evaluate_hicodet([pred("b", [hit]), pred("a", [miss])], gts)
    assert ap(r, AIRPLANE_C) == pytest.approx(3 / 11)
    # image a holds the true positive: TP, FP -> rec .5 .5, prec 1 .5 -> 6 / 11
    r = evaluate_hicodet([pred("b", [miss]), pred("a", [hit])], gts)
    assert ap(r, AIRPLANE_C) == pytest.approx(6 / 11)
    # within an image, ties keep the file's triplet order
    r = evaluate_hicodet([pred("a", [miss, hit])], gts[:1])
    assert ap(r, AIRPLANE_C) == pytest.approx(0.5)  # FP then TP: rec 0 1, prec 0 .5
    r = evaluate_hicodet([pred("a", [hit, miss])], gts[:1])
    assert ap(r, AIRPLANE_C) == pytest.approx(1.0)


def test_duplicate_detection_is_a_false_positive():
    gts = [gt("a", [(H, O, AIRPLANE_C)]), gt("b", [(H, O, AIRPLANE_C)])]
    preds = [pred("a", [(H, O, AIRPLANE_C, 0.9), (H, O, AIRPLANE_C, 0.8)]), pred("b", [(H, O, AIRPLANE_C, 0.7)])]
    # TP, FP, TP: rec .5 .5 1, prec 1 .5 2/3 -> (6 * 1 + 5 * 2/3) / 11
    assert ap(evaluate_hicodet(preds, gts), AIRPLANE_C) == pytest.approx((6 + 5 * 2 / 3) / 11)


def test_duplicated_ground_truth_can_never_be_fully_recalled():
    # two identical rows: every detection picks the first (first maximum), so the second stays unmatched
    gts = [gt("a", [(H, O, AIRPLANE_C), (H, O, AIRPLANE_C)])]
    r = evaluate_hicodet([pred("a", [(H, O, AIRPLANE_C, 0.9), (H, O, AIRPLANE_C, 0.8)])], gts)
    assert r.num_gt[AIRPLANE_C] == 2
    assert ap(r, AIRPLANE_C) == pytest.approx(6 / 11) and r.default.recall[AIRPLANE_C] == 0.5


def test_a_detection_whose_best_ground_truth_is_taken_is_a_false_positive():
    # VOC rule: the second detection picks gt 0 (IoU 95/105) although gt 1 (IoU 85/115 >= .5) is still free
    gts = [gt("a", [(H, O, AIRPLANE_C), (H, shifted(O, 2), AIRPLANE_C)])]
    preds = [pred("a", [(H, O, AIRPLANE_C, 0.9), (H, shifted(O, 0.5), AIRPLANE_C, 0.8)])]
    r = evaluate_hicodet(preds, gts)
    assert ap(r, AIRPLANE_C) == pytest.approx(6 / 11)  # TP, FP over 2 ground truths
    assert ap(r, AIRPLANE_C) == hicodet_aps(preds, gts)[AIRPLANE_C]


def test_class_without_ground_truth_scores_zero_and_counts_in_the_mean():
    gts = [gt("a", [(H, O, AIRPLANE_C)])]
    r = evaluate_hicodet([pred("a", [(H, O, AIRPLANE_C, 0.9), (H, O, AIRPLANE_C2, 0.8)])], gts)
    assert ap(r, AIRPLANE_C2) == 0.0 and r.num_gt[AIRPLANE_C2] == 0
    assert np.isnan(r.default.recall[AIRPLANE_C2])  # MATLAB's REC: 0/0 with detections
    assert r.default.full == pytest.approx(1 / 600)


def test_image_without_predictions_and_image_without_ground_truth():
    gts = [gt("a", [(H, O, AIRPLANE_C)]), gt("b", [(H, O, AIRPLANE_C)]), gt("empty", [])]
    # b has no predictions: recall stops at .5; a detection on the empty image is a false positive
    r = evaluate_hicodet([pred("a", [(H, O, AIRPLANE_C, 0.9)]), pred("empty", [(H, O, AIRPLANE_C, 0.95)])], gts)
    assert r.default.recall[AIRPLANE_C] == 0.5
    assert ap(r, AIRPLANE_C) == pytest.approx(6 * 0.5 / 11)  # FP, TP: rec 0 .5, prec 0 .5


def test_predictions_without_any_ground_truth_to_meet():
    r = evaluate_hicodet([pred("empty", [(H, O, AIRPLANE_C, 0.9)])], [gt("empty", []), gt("b", [(H, O, BICYCLE_C)])])
    assert r.default.full == 0.0 and r.num_triplets == 1
    r = evaluate_hicodet([], [gt("empty", [])])
    assert r.default.full == 0.0 and np.isnan(r.default.recall).sum() == 0


def test_known_object_keeps_only_images_containing_the_class_object():
    gts = [gt("a", [(H, O, AIRPLANE_C)]), gt("bike", [(H, O, BICYCLE_C)]), gt("empty", []),
           gt("plane2", [(H, O, AIRPLANE_C2)])]
    preds = [pred("a", [(H, O, AIRPLANE_C, 0.5)]),
             pred("bike", [(H, O, AIRPLANE_C, 0.9)]),  # no airplane in the image: dropped in Known-Object
             pred("empty", [(H, O, AIRPLANE_C, 0.8)]),  # no ground truth at all: dropped too
             pred("plane2", [(H, O, AIRPLANE_C, 0.7)])]  # airplane present (another verb): kept, FP
    r = evaluate_hicodet(preds, gts)
    # Default: FP FP FP TP -> rec 0 0 0 1, prec 0 0 0 .25
    assert ap(r, AIRPLANE_C) == pytest.approx(11 * 0.25 / 11)
    # Known-Object: FP (plane2) TP -> prec .5
    assert ap(r, AIRPLANE_C, "known_object") == pytest.approx(0.5)
    for ko in (False, True):
        ref = hicodet_aps(preds, gts, known_object=ko)
        got = (r.known_object if ko else r.default).ap
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_object_label_of_the_prediction_is_not_checked():
    p = pred("a", [(H, O, AIRPLANE_C, 0.9)])
    p.labels[:] = 16  # "dog": the official code compares boxes and the HOI class only
    assert ap(evaluate_hicodet([p], [gt("a", [(H, O, AIRPLANE_C)])]), AIRPLANE_C) == pytest.approx(1.0)


def test_batches_and_reset():
    gts = [gt("a", [(H, O, AIRPLANE_C)]), gt("b", [(H, O, AIRPLANE_C)])]
    preds = [pred("a", [(H, O, AIRPLANE_C, 0.9)]), pred("b", [(shifted(H, 15), O, AIRPLANE_C, 0.95)])]
    ev = HICODetEvaluator(gts)
    ev.process(preds[:1])
    ev.process(preds[1:])
    once = evaluate_hicodet(preds, gts)
    assert np.array_equal(ev.evaluate().default.ap, once.default.ap)
    ev.reset()
    ev.process(preds[:1])
    assert ev.evaluate().default.ap[AIRPLANE_C] == pytest.approx(6 / 11)


@pytest.mark.parametrize("bad, message", [
    (pred("zzz", [(H, O, AIRPLANE_C, 0.9)]), "not in the HICO-DET annotations"),
    (pred("a", [(H, O, 600, 0.9)]), "outside the HICO-DET classes"),
    (pred("a", [(H, O, AIRPLANE_C, float("nan"))]), "finite"),
    (pred("a", [([9, 0, 0, 9], O, AIRPLANE_C, 0.9)]), "x2 >= x1"),
])
def test_bad_predictions_name_the_fault(bad, message):
    with pytest.raises(ValueError, match=message):
        evaluate_hicodet([bad], [gt("a", [(H, O, AIRPLANE_C)])])


def test_missing_object_and_repeated_image_are_errors():
    p = pred("a", [(H, O, AIRPLANE_C, 0.9)])
    p.pairs[0, 1] = -1
    with pytest.raises(ValueError, match="needs an object box"):
        evaluate_hicodet([p], [gt("a", [(H, O, AIRPLANE_C)])])
    with pytest.raises(ValueError, match="given twice"):
        evaluate_hicodet([pred("a", []), pred("a", [])], [gt("a", [(H, O, AIRPLANE_C)])])


def _random_case(seed: int):
    rng = np.random.default_rng(seed)
    classes = [AIRPLANE_C, AIRPLANE_C2, 2, BICYCLE_C, 11, 12]
    gts, preds = [], []
    for i in range(25):
        rows = []
        for _ in range(rng.integers(0, 4)):
            h = [float(v) for v in rng.integers(0, 40, 2)]
            h += [h[0] + float(rng.integers(5, 30)), h[1] + float(rng.integers(5, 30))]
            o = [float(v) for v in rng.integers(0, 40, 2)]
            o += [o[0] + float(rng.integers(5, 30)), o[1] + float(rng.integers(5, 30))]
            rows.append((h, o, int(rng.choice(classes))))
        if rows and rng.random() < 0.2:
            rows.append(rows[0])  # duplicated ground truth
        gts.append(gt(f"img{i}", rows))
        triplets = []
        for h, o, c in rows:
            for _ in range(rng.integers(0, 3)):  # jittered copies, some below the threshold
                jh = [v + float(rng.normal(0, 2.5)) for v in h]
                jo = [v + float(rng.normal(0, 2.5)) for v in o]
                jh[2], jo[2] = max(jh[2], jh[0]), max(jo[2], jo[0])
                jh[3], jo[3] = max(jh[3], jh[1]), max(jo[3], jo[1])
                triplets.append((jh, jo, c if rng.random() < 0.8 else int(rng.choice(classes)), 0.0))
        for _ in range(rng.integers(0, 3)):  # background
            b = [float(v) for v in rng.integers(0, 60, 2)]
            triplets.append((b + [b[0] + 10, b[1] + 12], b + [b[0] + 20, b[1] + 5], int(rng.choice(classes)), 0.0))
        scores = np.round(rng.random(len(triplets)), 1)  # coarse: many exact ties
        triplets = [(h, o, c, float(s)) for (h, o, c, _), s in zip(triplets, scores)]
        if rng.random() < 0.9:
            preds.append(pred(f"img{i}", triplets))
    rng.shuffle(preds)
    return preds, gts


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_the_loop_restatement_of_the_official_code(seed):
    preds, gts = _random_case(seed)
    r = evaluate_hicodet(preds, gts)
    assert r.num_triplets > 20
    np.testing.assert_allclose(r.default.ap, hicodet_aps(preds, gts), rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.known_object.ap, hicodet_aps(preds, gts, known_object=True), rtol=0, atol=1e-12)


def test_recall_exactly_0_6_counts_the_0_6_threshold_through_the_evaluator():
    # 5 ground truths in 5 images, 3 found: MATLAB's t = 0.6 (1 - 4*0.1) equals 3/5, the np.arange ports' does not
    gts = [gt(f"i{k}", [(H, O, AIRPLANE_C)]) for k in range(5)]
    r = evaluate_hicodet([pred(f"i{k}", [(H, O, AIRPLANE_C, 0.9 - k / 10)]) for k in range(3)], gts)
    assert r.default.recall[AIRPLANE_C] == 0.6
    assert ap(r, AIRPLANE_C) == pytest.approx(7 / 11, abs=1e-15)


def test_float32_predictions_from_the_model_are_accepted():
    p = pred("a", [(H, O, AIRPLANE_C, 0.9)])
    p32 = Predictions(p.file_name, p.boxes.float(), p.labels, p.pairs, p.classes, p.scores.float())
    assert ap(evaluate_hicodet([p32], [gt("a", [(H, O, AIRPLANE_C)])]), AIRPLANE_C) == pytest.approx(1.0)


def test_predictions_file_keeps_doubles(tmp_path):
    from clhoi.eval.files import read_predictions

    path = tmp_path / "p.json"
    path.write_text('[{"file_name": "a", "boxes": [[0, 0, 9.000000001, 9]], "labels": [0], '
                    '"hoi": [[0, 0, 5, 0.1234567891], [0, 0, 5, 0.1234567892]]}]')
    (p,) = read_predictions(path)
    assert p.scores.dtype == torch.float64 and p.scores[0] < p.scores[1]  # distinct, unlike in float32
    assert p.boxes[0, 2].item() == 9.000000001


@pytest.mark.parametrize("what, message", [
    ("class", r"c: hoi\[1\] class 600 is outside the HICO-DET classes"),
    ("score", r"c: hoi\[1\] score is inf"),
    ("box", r"c: boxes\[1\] = \[1.0, 2.0, nan, 9.0\] is not a finite"),
])
def test_a_fault_after_images_without_triplets_names_its_image_and_row(what, message):
    gts = [gt(n, [(H, O, AIRPLANE_C)]) for n in "abcd"]
    c = pred("c", [(H, O, AIRPLANE_C, 0.9), (shifted(H, 3), O, AIRPLANE_C, 0.8)])
    if what == "class":
        c.classes[1] = 600
    elif what == "score":
        c.scores[1] = float("inf")
    else:
        c.boxes[1] = torch.tensor([1.0, 2.0, float("nan"), 9.0], dtype=c.boxes.dtype)
    preds = [pred("a", []), pred("b", []), c, pred("d", [(H, O, AIRPLANE_C, 0.5)])]
    with pytest.raises(ValueError, match=message):
        evaluate_hicodet(preds, gts)
