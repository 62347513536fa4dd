"""Every metric key the evaluators write, pinned to a hand-computed value on cases where all of them differ.

HICO-DET: one rare class (8, wash airplane) and one non-rare class (10, carry bicycle); each has one true
positive and false positives in an image whose ground truth lacks the class's object, so Default and
Known-Object differ, and Rare and Non-rare differ. V-COCO: one person holds a cup (object annotated) and
eats (object not annotated, the prediction names a box), so agent AP, role AP scenario 1 and scenario 2 differ.
The same numbers are checked in ``summary()``, ``to_dict()``, the ``clhoi evaluate`` table and its ``--out`` JSON.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from clhoi import vocab
from clhoi.cli import app
from clhoi.eval import evaluate_hicodet, evaluate_vcoco
from clhoi.structures import ImageAnnotation, Predictions

runner = CliRunner()
RARE, NON_RARE = 8, 10  # wash airplane (rare), carry bicycle (non-rare)
H = [0.0, 0.0, 9.0, 9.0]
O = [20.0, 20.0, 29.0, 29.0]
FAR = [60.0, 60.0, 69.0, 69.0]

# hand-computed APs (11-point): RARE Default visits FP(.95) TP(.9): prec .5 at every threshold -> 1/2;
# NON_RARE Default visits FP(.85) FP(.83) TP(.8): prec 1/3 -> 1/3; Known-Object drops the FPs -> 1 and 1.
AP_DEFAULT = {RARE: 1 / 2, NON_RARE: 1 / 3}
EXPECTED_SUMMARY = {
    "default_full": 100 * (1 / 2 + 1 / 3) / 600,
    "default_rare": 100 * (1 / 2) / 138,
    "default_non_rare": 100 * (1 / 3) / 462,
    "known_object_full": 100 * 2 / 600,
    "known_object_rare": 100 * 1 / 138,
    "known_object_non_rare": 100 * 1 / 462,
}


def test_the_pinned_case_uses_a_rare_and_a_non_rare_class_of_different_objects():
    space = vocab.hicodet()
    assert RARE in space.rare and NON_RARE not in space.rare
    assert space.hoi_coco_object(RARE) != space.hoi_coco_object(NON_RARE)
    assert len(set(EXPECTED_SUMMARY.values())) == 6  # all six headline numbers differ


def _hico_gt() -> list[ImageAnnotation]:
    space = vocab.hicodet()
    out = []
    for name, cls in (("a.jpg", RARE), ("b.jpg", NON_RARE)):
        labels = torch.tensor([0, space.hoi_coco_object(cls)])
        out.append(ImageAnnotation(name, (100, 100), torch.tensor([H, O]), labels, torch.tensor([[0, 1, cls]])))
    return out


def _hico_records() -> list[dict]:
    return [
        # a holds RARE's object (airplane): NON_RARE false positives here are dropped by Known-Object
        {"file_name": "a.jpg", "boxes": [H, O, FAR], "labels": [0, 4, 1],
         "hoi": [[0, 1, RARE, 0.9], [0, 2, NON_RARE, 0.85], [0, 1, NON_RARE, 0.83]]},
        {"file_name": "b.jpg", "boxes": [H, O], "labels": [0, 1], "hoi": [[0, 1, NON_RARE, 0.8], [0, 1, RARE, 0.95]]},
    ]


def _preds(records: list[dict]) -> list[Predictions]:
    out = []
    for r in records:
        hoi = torch.tensor(r["hoi"], dtype=torch.float64)
        out.append(Predictions(r["file_name"], torch.tensor(r["boxes"], dtype=torch.float64), torch.tensor(r["labels"]),
                               hoi[:, :2].long(), hoi[:, 2].long(), hoi[:, 3]))
    return out


def test_hicodet_summary_and_to_dict_every_key():
    r = evaluate_hicodet(_preds(_hico_records()), _hico_gt())
    assert r.default.ap[RARE] == pytest.approx(AP_DEFAULT[RARE]) and r.default.ap[NON_RARE] == pytest.approx(1 / 3)
    assert r.known_object.ap[RARE] == pytest.approx(1.0) and r.known_object.ap[NON_RARE] == pytest.approx(1.0)
    summary = r.summary()
    assert set(summary) == set(EXPECTED_SUMMARY)
    for key, value in EXPECTED_SUMMARY.items():
        assert summary[key] == pytest.approx(value, rel=1e-12), key
    d = r.to_dict()
    assert (d["dataset"], d["num_images"], d["num_triplets"]) == ("hicodet", 2, 5)
    expected_setting = {
        "default": {"mAP_full": EXPECTED_SUMMARY["default_full"], "mAP_rare": EXPECTED_SUMMARY["default_rare"],
                    "mAP_non_rare": EXPECTED_SUMMARY["default_non_rare"],
                    "mAP_full_classes_with_gt": 100 * (1 / 2 + 1 / 3) / 2, "mean_recall": 100 * 2 / 600},
        "known_object": {"mAP_full": EXPECTED_SUMMARY["known_object_full"],
                         "mAP_rare": EXPECTED_SUMMARY["known_object_rare"],
                         "mAP_non_rare": EXPECTED_SUMMARY["known_object_non_rare"],
                         "mAP_full_classes_with_gt": 100.0, "mean_recall": 100 * 2 / 600},
    }
    for setting, keys in expected_setting.items():
        assert set(d[setting]) == set(keys)
        for key, value in keys.items():
            assert d[setting][key] == pytest.approx(value, rel=1e-12), (setting, key)
    assert len(d["per_class"]) == 600
    assert d["per_class"][RARE] == {"class": RARE, "name": "wash airplane", "rare": True, "num_gt": 1,
                                    "ap_default": pytest.approx(50.0), "ap_known_object": pytest.approx(100.0)}
    assert d["per_class"][NON_RARE] == {"class": NON_RARE, "name": "carry bicycle", "rare": False, "num_gt": 1,
                                        "ap_default": pytest.approx(100 / 3), "ap_known_object": pytest.approx(100.0)}
    assert d["per_class"][0]["ap_default"] == 0.0 and d["per_class"][0]["num_gt"] == 0


def _table_rows(output: str) -> dict[str, list[str]]:
    """``{row label: [cells]}`` of a rich table printed by the CLI."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if len(cells) >= 2:
            rows[cells[0]] = cells[1:]
    return rows


def _write_hico_converted(path) -> None:
    space = vocab.hicodet()
    records = []
    for name, cls in (("a.jpg", RARE), ("b.jpg", NON_RARE)):
        verb, obj = space.hoi[cls]
        coco = vocab.COCO_IDS[space.object_to_coco[obj]]
        records.append({"file_name": name, "annotations": [{"bbox": H, "category_id": 1}, {"bbox": O, "category_id": coco}],
                        "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": verb + 1}]})
    path.write_text(json.dumps(records))


def test_hicodet_cli_table_and_out_json_every_number(tmp_path):
    _write_hico_converted(tmp_path / "gt.json")
    (tmp_path / "preds.json").write_text(json.dumps(_hico_records()))
    out = tmp_path / "m.json"
    result = runner.invoke(app, ["evaluate", "--dataset", "hicodet", "--annotations", str(tmp_path / "gt.json"),
                                 "--predictions", str(tmp_path / "preds.json"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = _table_rows(result.output)
    e = EXPECTED_SUMMARY
    assert rows["Default"] == [f"{e['default_full']:.2f}", f"{e['default_rare']:.2f}", f"{e['default_non_rare']:.2f}"]
    assert rows["Known-Object"] == [f"{e['known_object_full']:.2f}", f"{e['known_object_rare']:.2f}",
                                    f"{e['known_object_non_rare']:.2f}"]
    assert rows["Default"] == ["0.14", "0.36", "0.07"] and rows["Known-Object"] == ["0.33", "0.72", "0.22"]
    m = json.loads(out.read_text())
    assert m["default"]["mAP_rare"] == pytest.approx(e["default_rare"], rel=1e-12)
    assert m["default"]["mAP_non_rare"] == pytest.approx(e["default_non_rare"], rel=1e-12)
    assert m["known_object"]["mAP_rare"] == pytest.approx(e["known_object_rare"], rel=1e-12)
    assert m["known_object"]["mAP_full"] == pytest.approx(e["known_object_full"], rel=1e-12)
    assert m["per_class"][RARE]["ap_known_object"] == pytest.approx(100.0)
    assert m["per_class"][RARE]["ap_default"] == pytest.approx(50.0)
    assert m["num_triplets"] == 5 and m["num_images"] == 2


# ----------------------------------------------------------------------------- V-COCO
CLASSES = vocab.vcoco_classes()
ACTIONS = [a.name for a in vocab.vcoco_actions()]
HOLD, EAT_OBJ, EAT_INSTR = CLASSES.index(("hold", "obj")), CLASSES.index(("eat", "obj")), CLASSES.index(("eat", "instr"))
# agent: hold 1, eat 1 -> 2/26. Roles with positives: hold.obj 1 | 1; eat.obj 0 (S1: the missing object needs an
# empty box) | 1 (S2: any box); eat.instr 0 | 0 (never predicted) -> S1 1/3, S2 2/3.
VCOCO_EXPECTED = {"agent_ap": 100 * 2 / 26, "role_ap_scenario_1": 100 / 3, "role_ap_scenario_2": 200 / 3}


def _vcoco_gt() -> list[ImageAnnotation]:
    return [ImageAnnotation("c.jpg", (100, 100), torch.tensor([H, O]), torch.tensor([0, 41]),
                            torch.tensor([[0, 1, HOLD], [0, -1, EAT_OBJ]]))]


def _vcoco_record() -> dict:
    return {"file_name": "c.jpg", "boxes": [H, O], "labels": [0, 41], "hoi": [[0, 1, HOLD, 0.9], [0, 1, EAT_OBJ, 0.8]]}


def test_vcoco_summary_and_to_dict_every_key():
    r = evaluate_vcoco(_preds([_vcoco_record()]), _vcoco_gt())
    summary = r.summary()
    assert set(summary) == set(VCOCO_EXPECTED)
    for key, value in VCOCO_EXPECTED.items():
        assert summary[key] == pytest.approx(value, rel=1e-6), key
    d = r.to_dict()
    assert (d["dataset"], d["num_images"], d["num_triplets"]) == ("vcoco", 1, 2)
    assert d["agent_mAP"] == pytest.approx(VCOCO_EXPECTED["agent_ap"], rel=1e-6)
    assert d["role_mAP_scenario_1"] == pytest.approx(VCOCO_EXPECTED["role_ap_scenario_1"], rel=1e-6)
    assert d["role_mAP_scenario_2"] == pytest.approx(VCOCO_EXPECTED["role_ap_scenario_2"], rel=1e-6)
    agent = {a["action"]: (a["num_pos"], a["ap"]) for a in d["agent"]}
    assert agent["hold"] == (1, pytest.approx(100.0)) and agent["eat"] == (1, pytest.approx(100.0))
    assert all(ap is None and n == 0 for name, (n, ap) in agent.items() if name not in ("hold", "eat"))
    role = {(x["action"], x["role"]): (x["ap_scenario_1"], x["ap_scenario_2"]) for x in d["role"]}
    assert len(role) == 25  # the 4 agent-only classes have no role entry
    assert role[("hold", "obj")] == (pytest.approx(100.0), pytest.approx(100.0))
    assert role[("eat", "obj")] == (0.0, pytest.approx(100.0))
    assert role[("eat", "instr")] == (0.0, 0.0)
    assert all(v == (None, None) for k, v in role.items() if k not in (("hold", "obj"), ("eat", "obj"), ("eat", "instr")))
    assert np.isnan(r.role_ap_scenario_1[CLASSES.index(("stand", None))])


def test_vcoco_cli_table_and_out_json_every_number(tmp_path):
    (tmp_path / "gt.json").write_text(json.dumps([{
        "file_name": "c.jpg", "annotations": [{"bbox": H, "category_id": 1}, {"bbox": O, "category_id": 47}],
        "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": HOLD},
                           {"subject_id": 0, "object_id": -1, "category_id": EAT_OBJ}]}]))
    (tmp_path / "preds.json").write_text(json.dumps([_vcoco_record()]))
    out = tmp_path / "m.json"
    result = runner.invoke(app, ["evaluate", "--dataset", "vcoco", "--annotations", str(tmp_path / "gt.json"),
                                 "--predictions", str(tmp_path / "preds.json"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = _table_rows(result.output)
    assert rows["AP_role scenario 1"] == ["33.33"]
    assert rows["AP_role scenario 2"] == ["66.67"]
    assert rows["AP_agent"] == ["7.69"]
    m = json.loads(out.read_text())
    assert m["role_mAP_scenario_1"] == pytest.approx(100 / 3, rel=1e-6)
    assert m["role_mAP_scenario_2"] == pytest.approx(200 / 3, rel=1e-6)
    assert m["agent_mAP"] == pytest.approx(200 / 26, rel=1e-6)


# ----------------------------------------------------------------------------- exact IoU boundaries
@pytest.mark.parametrize("person_box, expected", [
    ([0.0, 0.0, 19.0, 9.0], 1.0),  # 100 / 200 = 0.5 exactly: a hit
    ([0.0, 0.0, 20.0, 9.0], 0.0),  # 100 / 210: a miss
])
def test_vcoco_person_box_iou_exactly_half_is_a_hit(person_box, expected):
    gts = [ImageAnnotation("c.jpg", (100, 100), torch.tensor([H, O]), torch.tensor([0, 41]), torch.tensor([[0, 1, HOLD]]))]
    rec = {"file_name": "c.jpg", "boxes": [person_box, O], "labels": [0, 41], "hoi": [[0, 1, HOLD, 0.9]]}
    r = evaluate_vcoco(_preds([rec]), gts)
    assert r.agent_ap[ACTIONS.index("hold")] == expected
    assert r.role_ap_scenario_1[HOLD] == expected and r.role_ap_scenario_2[HOLD] == expected


@pytest.mark.parametrize("human_box, expected", [([0.0, 0.0, 19.0, 9.0], 1.0), ([0.0, 0.0, 20.0, 9.0], 0.0)])
def test_hicodet_person_box_iou_exactly_half_is_a_hit(human_box, expected):
    rec = {"file_name": "a.jpg", "boxes": [human_box, O], "labels": [0, 4], "hoi": [[0, 1, RARE, 0.9]]}
    r = evaluate_hicodet(_preds([rec]), _hico_gt())
    assert r.default.ap[RARE] == pytest.approx(expected) and r.known_object.ap[RARE] == pytest.approx(expected)


def test_disjoint_boxes_do_not_overlap():
    from clhoi.eval.matching import box_iou_inclusive

    a = np.array([[0.0, 0.0, 9.0, 9.0]] * 3)
    b = np.array([[20.0, 20.0, 29.0, 29.0],  # apart in x and y (both "overlaps" negative: their product is not)
                  [5.0, 20.0, 14.0, 29.0],   # overlapping in x only
                  [5.0, 5.0, 14.0, 14.0]])   # 25 px of 175
    np.testing.assert_array_equal(box_iou_inclusive(a, b), [0.0, 0.0, 25 / 175])
