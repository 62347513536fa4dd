"""V-COCO evaluator: hand-computed cases of vsrl_eval's rules, and agreement with a loop re-statement."""

import numpy as np
import pytest
import torch

from clhoi import vocab
from clhoi.eval import VCOCOEvaluator, evaluate_vcoco
from clhoi.structures import ImageAnnotation, Predictions
from eval_reference import vcoco_agent_aps, vcoco_role_aps

CLASSES = vocab.vcoco_classes()
HOLD, STAND, SIT = CLASSES.index(("hold", "obj")), CLASSES.index(("stand", None)), CLASSES.index(("sit", "instr"))
ACTIONS = [a.name for a in vocab.vcoco_actions()]
A_HOLD, A_SIT = ACTIONS.index("hold"), ACTIONS.index("sit")
P = [0.0, 0.0, 9.0, 9.0]
Q = [40.0, 0.0, 49.0, 9.0]
O = [20.0, 20.0, 29.0, 29.0]
CHAIR = 56


def vgt(name, persons, objects, rows, ignore=None) -> ImageAnnotation:
    boxes = persons + [b for b, _ in objects]
    labels = [0] * len(persons) + [lab for _, lab in objects]
    ign = None if ignore is None else torch.tensor(ignore + [False] * len(objects))
    return ImageAnnotation(name, (100, 100), torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                           torch.tensor(labels, dtype=torch.long), torch.tensor(rows, dtype=torch.long).reshape(-1, 3), ign)


def vpred(name, boxes, triplets) -> Predictions:
    t = torch.tensor([[h, o, c, s] for h, o, c, s in triplets], dtype=torch.float64).reshape(-1, 4)
    return Predictions(name, torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4), torch.zeros(len(boxes), dtype=torch.long),
                       t[:, :2].long(), t[:, 2].long(), t[:, 3])


def test_missing_role_object_scenario_1_needs_an_empty_box_scenario_2_does_not():
    gts = [vgt("a", [P], [(O, CHAIR)], [(0, -1, SIT)])]  # sitting, the instrument is not annotated
    r = evaluate_vcoco([vpred("a", [P], [(0, -1, SIT, 0.9)])], gts)
    assert r.role_ap_scenario_1[SIT] == 1.0 and r.role_ap_scenario_2[SIT] == 1.0
    r = evaluate_vcoco([vpred("a", [P, O], [(0, 1, SIT, 0.9)])], gts)  # predicts a chair
    assert r.role_ap_scenario_1[SIT] == 0.0 and r.role_ap_scenario_2[SIT] == 1.0
    r = evaluate_vcoco([vpred("a", [P, [0, 0, 0, 0]], [(0, 1, SIT, 0.9)])], gts)  # all-zero box = empty
    assert r.role_ap_scenario_1[SIT] == 1.0
    assert r.num_pos[A_SIT] == 1 and r.agent_ap[A_SIT] == 1.0


@pytest.mark.parametrize("role_box, expected", [([20, 20, 39, 29], 1.0), ([20, 20, 40, 29], 0.0), ([20, 20, 38, 29], 1.0)])
def test_role_iou_just_below_at_and_above_the_threshold(role_box, expected):
    gts = [vgt("a", [P], [(O, 41)], [(0, 1, HOLD)])]
    r = evaluate_vcoco([vpred("a", [P, role_box], [(0, 1, HOLD, 0.9)])], gts)
    assert r.role_ap_scenario_1[HOLD] == expected and r.role_ap_scenario_2[HOLD] == expected
    assert r.agent_ap[A_HOLD] == 1.0  # the agent does not need the object


def test_matches_to_unlabelled_persons_are_skipped():
    gts = [vgt("a", [P, Q], [(O, 41)], [(0, 2, HOLD)], ignore=[False, True])]
    preds = [vpred("a", [P, Q, O], [(1, 2, HOLD, 0.9), (0, 2, HOLD, 0.8)])]
    r = evaluate_vcoco(preds, gts)
    assert r.role_ap_scenario_1[HOLD] == 1.0 and r.agent_ap[A_HOLD] == 1.0  # Q's detection is neither TP nor FP
    # without ignore information Q is a labelled person who does not hold: a false positive ranked first
    gts[0].ignore = None
    r = evaluate_vcoco(preds, gts)
    assert r.role_ap_scenario_1[HOLD] == pytest.approx(0.5) and r.agent_ap[A_HOLD] == pytest.approx(0.5)


def test_agent_score_is_the_max_over_the_humans_triplets_and_means_follow_vsrl_eval():
    gts = [vgt("a", [P], [(O, 41), ([60, 60, 69, 69], 41)], [(0, 1, HOLD)])]
    # the same human holds the wrong cup (0.9) and the right one (0.3): one agent detection, score 0.9
    r = evaluate_vcoco([vpred("a", [P, O, [60, 60, 69, 69]], [(0, 2, HOLD, 0.9), (0, 1, HOLD, 0.3)])], gts)
    assert r.agent_ap[A_HOLD] == 1.0
    assert r.role_ap_scenario_1[HOLD] == pytest.approx(0.5)  # FP then TP
    assert r.agent_map == pytest.approx(1 / 26)  # nansum over the 26 actions / 26
    assert r.role_map_scenario_1 == pytest.approx(0.5)  # nanmean: the only role class with positives
    assert np.isnan(r.role_ap_scenario_1[STAND]) and np.isnan(r.agent_ap[A_SIT])


def test_labelled_negatives_and_images_without_persons_give_false_positives():
    gts = [vgt("a", [P, Q], [(O, 41)], [(0, 2, HOLD)]), vgt("nobody", [], [(O, 41)], [])]
    preds = [vpred("nobody", [P, O], [(0, 1, HOLD, 0.95)]),  # nobody to match
             vpred("a", [Q, O, P], [(0, 1, HOLD, 0.9), (2, 1, HOLD, 0.8)])]  # Q is labelled but does not hold
    r = evaluate_vcoco(preds, gts)
    assert r.role_ap_scenario_1[HOLD] == pytest.approx(1 / 3)  # FP, FP, TP
    assert r.agent_ap[A_HOLD] == pytest.approx(1 / 3)


def test_no_person_anywhere_and_no_predictions():
    r = evaluate_vcoco([vpred("a", [P, O], [(0, 1, HOLD, 0.9)])], [vgt("a", [], [(O, 41)], [])])
    assert np.isnan(r.role_ap_scenario_1).all() and r.agent_map == 0.0
    r = evaluate_vcoco([], [vgt("a", [P], [(O, 41)], [(0, 1, HOLD)])])
    assert r.role_ap_scenario_1[HOLD] == 0.0 and r.agent_ap[A_HOLD] == 0.0 and r.num_triplets == 0


def test_action_with_positives_but_no_detections_scores_zero():
    gts = [vgt("a", [P], [(O, 41)], [(0, 1, HOLD), (0, -1, STAND)])]
    r = evaluate_vcoco([vpred("a", [P, O], [(0, 1, HOLD, 0.9)])], gts)
    assert r.agent_ap[ACTIONS.index("stand")] == 0.0 and r.agent_ap[A_HOLD] == 1.0
    assert r.agent_map == pytest.approx(1 / 26)


def test_bad_ground_truth_and_predictions_are_errors():
    with pytest.raises(ValueError, match="labelled person"):
        VCOCOEvaluator([vgt("a", [P], [(O, 41)], [(1, 0, HOLD)])])  # the agent is the cup
    with pytest.raises(ValueError, match="outside the V-COCO classes"):
        evaluate_vcoco([vpred("a", [P], [(0, -1, 29, 0.5)])], [vgt("a", [P], [], [])])


def _random_case(seed: int):
    rng = np.random.default_rng(seed)
    pool = [HOLD, STAND, SIT, 6, 7, 8, 9]  # hold, stand, sit, hit (instr, obj), eat (obj, instr)
    gts, preds = [], []
    for i in range(20):
        persons = [[float(x), float(y), float(x + rng.integers(6, 20)), float(y + rng.integers(6, 20))]
                   for x, y in rng.integers(0, 50, (rng.integers(0, 4), 2))]
        objects = [([float(x), float(y), float(x + rng.integers(4, 15)), float(y + rng.integers(4, 15))], 41)
                   for x, y in rng.integers(0, 50, (rng.integers(0, 3), 2))]
        ignore = [bool(rng.random() < 0.2) for _ in persons]
        rows = []
        for j, ig in enumerate(ignore):
            if ig:
                continue
            for c in rng.choice(pool, rng.integers(0, 4), replace=False):
                has_obj = CLASSES[c][1] is not None and objects and rng.random() < 0.7
                rows.append((j, len(persons) + int(rng.integers(len(objects))) if has_obj else -1, int(c)))
        gts.append(vgt(f"img{i}", persons, objects, rows, ignore))
        boxes = [[v + float(rng.normal(0, 1.5)) for v in b] for b in persons + [o for o, _ in objects]]
        boxes += [[float(x), float(y), float(x + 10), float(y + 10)] for x, y in rng.integers(0, 50, (2, 2))]
        boxes = [[b[0], b[1], max(b[0], b[2]), max(b[1], b[3])] for b in boxes]
        humans = list(range(len(persons))) + [len(boxes) - 1]
        triplets = [(j, o, c, 0.0) for j, o, c in rows if rng.random() < 0.7]  # mostly right
        for _ in range(rng.integers(0, 8)):  # and some noise
            c = int(rng.choice(pool))
            o = -1 if CLASSES[c][1] is None or rng.random() < 0.25 else int(rng.integers(len(boxes)))
            triplets.append((int(rng.choice(humans)), o, c, 0.0))
        triplets = [(h, o, c, float(np.round(rng.random(), 1))) for h, o, c, _ in triplets]  # coarse: ties
        if rng.random() < 0.9:
            preds.append(vpred(f"img{i}", boxes, triplets))
    return preds, gts


def _official_detections(preds: list[Predictions], gts: list[ImageAnnotation]):
    """Our triplets as vsrl_eval detections: one agent per human box, one role detection per triplet."""
    index = {a.file_name: i for i, a in enumerate(gts)}
    agents, roles = [], []
    for p in sorted(preds, key=lambda p: index[p.file_name]):
        i = index[p.file_name]
        for h in sorted(set(p.pairs[:, 0].tolist())):
            scores = np.full(len(ACTIONS), np.nan)
            for (hh, _), c, s in zip(p.pairs.tolist(), p.classes.tolist(), p.scores.tolist()):
                if hh == h:
                    a = ACTIONS.index(CLASSES[c][0])
                    scores[a] = np.nanmax([scores[a], np.float32(s)])
            agents.append({"image": i, "box": p.boxes[h].tolist(), "scores": scores})
        for (h, o), c, s in zip(p.pairs.tolist(), p.classes.tolist(), p.scores.tolist()):
            if CLASSES[c][1] is not None:
                roles.append({"image": i, "box": p.boxes[h].tolist(), "cls": c, "score": s,
                              "role_box": p.boxes[o].tolist() if o >= 0 else [0.0] * 4})
    return agents, roles


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_the_loop_restatement_of_vsrl_eval(seed):
    preds, gts = _random_case(seed)
    r = evaluate_vcoco(preds, gts)
    agents, roles = _official_detections(preds, gts)
    assert r.num_triplets > 30 and np.nansum(r.role_ap_scenario_1) > 0
    np.testing.assert_allclose(r.agent_ap, vcoco_agent_aps(agents, gts), rtol=0, atol=1e-6)
    np.testing.assert_allclose(r.role_ap_scenario_1, vcoco_role_aps(roles, gts, 1), rtol=0, atol=1e-6)
    np.testing.assert_allclose(r.role_ap_scenario_2, vcoco_role_aps(roles, gts, 2), rtol=0, atol=1e-6)


def _random_official(seed: int, gts: list[ImageAnnotation]) -> list[dict]:
    """vsrl_eval-style records: person box, every action's agent score, role boxes (some NaN / empty / absent)."""
    rng = np.random.default_rng(seed)
    records = []
    for a in gts:
        persons = [b for b, lab in zip(a.boxes.tolist(), a.labels.tolist()) if lab == 0]
        objects = a.boxes.tolist()
        for _ in range(rng.integers(0, 5)):
            pb = persons[int(rng.integers(len(persons)))] if persons and rng.random() < 0.8 else [5.0, 5.0, 30.0, 30.0]
            rec = {"file_name": a.file_name, "person_box": [v + float(rng.normal(0, 1)) for v in pb[:2]] + pb[2:]}
            rec["person_box"][2:] = [max(rec["person_box"][0], pb[2]), max(rec["person_box"][1], pb[3])]
            for act in vocab.vcoco_actions():
                rec[f"{act.name}_agent"] = float(np.round(rng.random(), 1)) if rng.random() < 0.8 else None
                for role in act.object_roles:
                    u = rng.random()
                    box = objects[int(rng.integers(len(objects)))] if objects and u < 0.6 else [0.0] * 4
                    if u > 0.9:
                        continue  # key absent: not predicted
                    rec[f"{act.name}_{role}"] = box + [float(np.round(rng.random(), 1)) if u < 0.85 else None]
            records.append(rec)
    return records


def _reference_inputs(records: list[dict], gts: list[ImageAnnotation]):
    index = {a.file_name: i for i, a in enumerate(gts)}
    agents, roles = [], []
    for rec in records:
        i = index[rec["file_name"]]
        scores = np.array([np.nan if rec[f"{a}_agent"] is None else rec[f"{a}_agent"] for a in ACTIONS])
        agents.append({"image": i, "box": rec["person_box"], "scores": scores})
    for c, (act, role) in enumerate(CLASSES):  # role lists per class keep record order
        for rec in records:
            v = rec.get(f"{act}_{role}") if role else None
            if v is not None and v[4] is not None:
                roles.append({"image": index[rec["file_name"]], "box": rec["person_box"], "cls": c,
                              "role_box": v[:4], "score": v[4]})
    return agents, roles


@pytest.mark.parametrize("seed", range(3))
def test_official_detection_records_agree_with_the_loop_restatement(seed):
    _, gts = _random_case(seed)
    records = _random_official(seed, gts)
    ev = VCOCOEvaluator(gts)
    ev.process_detections(records)
    r = ev.evaluate()
    agents, roles = _reference_inputs(records, gts)
    assert r.num_triplets == len(records) > 20 and np.nansum(r.agent_ap) > 0
    np.testing.assert_allclose(r.agent_ap, vcoco_agent_aps(agents, gts), rtol=0, atol=1e-6)
    np.testing.assert_allclose(r.role_ap_scenario_1, vcoco_role_aps(roles, gts, 1), rtol=0, atol=1e-6)
    np.testing.assert_allclose(r.role_ap_scenario_2, vcoco_role_aps(roles, gts, 2), rtol=0, atol=1e-6)


def test_official_records_by_coco_image_id_and_their_errors():
    gts = [vgt("COCO_val2014_000000000139.jpg", [P], [(O, 41)], [(0, 1, HOLD)])]
    rec = {"image_id": 139, "person_box": P, "hold_agent": 0.9, "hold_obj": O + [0.8]}
    ev = VCOCOEvaluator(gts)
    ev.process_detections([rec])
    r = ev.evaluate()
    assert r.agent_ap[A_HOLD] == 1.0 and r.role_ap_scenario_1[HOLD] == 1.0
    for bad, message in [({**rec, "image_id": 7}, "not in the V-COCO annotations"),
                         ({**rec, "person_box": [1, 2]}, "person_box"),
                         ({**rec, "hold_obj": [1, 2, 3]}, "'hold_obj' must be")]:
        with pytest.raises(ValueError, match=message):
            VCOCOEvaluator(gts).process_detections([rec, bad], "dets.json")
    ev = VCOCOEvaluator(gts)
    ev.process([vpred("COCO_val2014_000000000139.jpg", [P], [(0, -1, STAND, 0.5)])])
    ev.process_detections([rec])
    with pytest.raises(ValueError, match="both triplet predictions and official"):
        ev.evaluate()


@pytest.mark.parametrize("seed", range(2))
def test_official_records_alone_are_not_concatenated_with_the_empty_triplets(seed):
    from clhoi.eval.vcoco import from_triplets
    from clhoi.eval.vcoco_detections import concat

    _, gts = _random_case(seed)
    ev = VCOCOEvaluator(gts)
    ev.process_detections(_random_official(seed, gts))
    none = from_triplets(ev._collector.arrays(), ev._action_of, ev._has_role)
    (official,) = ev._official
    joined = concat(none, official)
    assert none.image.size == 0 and none.num_inputs == 0
    for field in ("image", "box", "scores", "role_agent", "role_cls", "role_box", "role_empty", "role_score",
                  "role_index"):
        a, b = getattr(joined, field), getattr(official, field)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), field
    assert joined.num_inputs == official.num_inputs
