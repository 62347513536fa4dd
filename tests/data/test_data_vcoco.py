"""V-COCO reader: official files + COCO instances agree with the converted JSON; bad files fail by name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from clhoi import vocab
from clhoi.data.coco import read_coco_instances
from clhoi.data.errors import AnnotationError
from clhoi.data.vcoco import load_vcoco, read_vcoco

CLASSES = vocab.vcoco_classes()


def cls(action: str, role: str | None = None) -> int:
    return CLASSES.index((action, role))


# COCO instances: image -> [(ann id, category name, [x, y, w, h], iscrowd)]
COCO = {
    100: ("COCO_val2014_000000000100.jpg", 640, 480, [
        (1001, "person", [10, 20, 100, 200], 0),
        (1002, "person", [300, 40, 80, 220], 0),  # not in V-COCO: ignored
        (1003, "baseball bat", [50, 60, 30, 10.5], 0),
        (1004, "sports ball", [200, 100, 10, 10], 0),
        (1005, "person", [0, 0, 640, 100], 1),  # crowd, not in V-COCO: ignored
    ]),
    200: ("COCO_val2014_000000000200.jpg", 500, 375, [
        (2001, "person", [5, 5, 200, 300], 0),
        (2002, "pizza", [100, 200, 80, 40], 0),
        (2003, "fork", [90, 180, 5, 30], 0),
    ]),
    300: ("COCO_val2014_000000000300.jpg", 300, 200, [(3001, "person", [1, 1, 50, 150], 0)]),
}
AGENTS = [(100, 1001), (200, 2001), (300, 3001)]
# positive (agent, action) -> role object ids in role order after the agent (0 = none)
POSITIVES = {
    (1001, "hold"): [1003], (1001, "stand"): [], (1001, "look"): [0], (1001, "hit"): [1003, 1004],
    (2001, "sit"): [0], (2001, "eat"): [2002, 2003], (2001, "smile"): [],
}


def write_coco(path: Path, coco: dict = COCO) -> Path:
    images, anns = [], []
    for iid, (name, w, h, objs) in coco.items():
        images.append({"id": iid, "file_name": name, "width": w, "height": h})
        for aid, cat, bbox, crowd in objs:
            anns.append({"id": aid, "image_id": iid, "category_id": vocab.COCO_IDS[vocab.coco_index(cat)],
                         "bbox": bbox, "iscrowd": crowd, "area": bbox[2] * bbox[3]})
    cats = [{"id": i, "name": n} for i, n in zip(vocab.COCO_IDS, vocab.COCO_CLASSES)]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def official_actions(agents: list = AGENTS, positives: dict = POSITIVES) -> list[dict]:
    """``vcoco_*.json``: per action, N agents; role_object_id stored role-major (R x N, flattened)."""
    out = []
    for action in vocab.vcoco_actions():
        n, roles = len(agents), action.roles
        label = [int((aid, action.name) in positives) for _, aid in agents]
        role_ids = [[aid for _, aid in agents]]
        for r in range(1, len(roles)):
            role_ids.append([positives.get((aid, action.name), [0] * len(roles))[r - 1] for _, aid in agents])
        out.append({"action_name": action.name, "role_name": list(roles), "image_id": [i for i, _ in agents],
                    "ann_id": [a for _, a in agents], "label": label,
                    "role_object_id": [v for row in role_ids for v in row], "include": [[] for _ in range(n)]})
    return out


def write_official(path: Path, edit=None) -> Path:
    data = official_actions()
    if edit is not None:
        edit(data)
    path.write_text(json.dumps(data))
    return path


def write_converted(path: Path) -> Path:
    """QPIC's ``test_vcoco.json``: every COCO box of the image (xyxy), rows in action then agent order."""
    out = []
    for iid, (name, _, _, objs) in COCO.items():
        ids = [o[0] for o in objs]
        anns = [{"bbox": [x, y, x + w, y + h], "category_id": vocab.COCO_IDS[vocab.coco_index(c)]}
                for _, c, (x, y, w, h), _ in objs]
        hois = []
        for action in vocab.vcoco_actions():
            for img, aid in AGENTS:
                if img != iid or (aid, action.name) not in POSITIVES:
                    continue
                if not action.object_roles:
                    hois.append({"subject_id": ids.index(aid), "object_id": -1, "category_id": cls(action.name)})
                for role, oid in zip(action.object_roles, POSITIVES[(aid, action.name)]):
                    hois.append({"subject_id": ids.index(aid), "object_id": ids.index(oid) if oid else -1,
                                 "category_id": cls(action.name, role)})
        out.append({"file_name": name, "annotations": anns, "hoi_annotation": hois})
    path.write_text(json.dumps(out))
    return path


# --------------------------------------------------------------------------- agreement
def test_official_files_give_the_expected_rows(tmp_path: Path) -> None:
    data = load_vcoco(write_official(tmp_path / "vcoco_test.json"), write_coco(tmp_path / "instances.json"))
    assert data.layout == "official" and len(data) == 3
    a, b, c = data.images
    assert a.file_name == "COCO_val2014_000000000100.jpg" and a.size == (640, 480)
    assert a.boxes[2].tolist() == [50, 60, 79, 69.5]  # x + w - 1, y + h - 1: the official evaluation's frame
    assert a.labels.tolist() == [0, 0, vocab.coco_index("baseball bat"), vocab.coco_index("sports ball"), 0]
    assert a.hoi.tolist() == [[0, 2, cls("hold", "obj")], [0, -1, cls("stand")], [0, -1, cls("look", "obj")],
                              [0, 2, cls("hit", "instr")], [0, 3, cls("hit", "obj")]]
    assert b.hoi.tolist() == [[0, -1, cls("sit", "instr")], [0, 1, cls("eat", "obj")], [0, 2, cls("eat", "instr")],
                              [0, -1, cls("smile")]]
    assert c.hoi.shape == (0, 3)
    assert a.ignore.tolist() == [False, True, False, False, True]
    assert not b.ignore.any() and not c.ignore.any()
    assert sum(data.class_counts()) == 9


def test_converted_json_equals_official_files(tmp_path: Path) -> None:
    coco = read_coco_instances(write_coco(tmp_path / "instances.json"))
    official = read_vcoco(write_official(tmp_path / "vcoco_test.json"), coco)
    converted = load_vcoco(write_converted(tmp_path / "test_vcoco.json"))
    assert converted.layout == "converted"
    for o, c in zip(official, converted.images, strict=True):
        assert o.file_name == c.file_name
        assert torch.equal(o.boxes, c.boxes) and torch.equal(o.labels, c.labels) and torch.equal(o.hoi, c.hoi)
        assert c.size == (0, 0) and c.ignore is None  # the converted layout lost both


def test_official_ground_truth_is_clipped_and_drops_what_vsrl_eval_drops(tmp_path: Path) -> None:
    coco = {400: ("COCO_val2014_000000000400.jpg", 100, 80, [
        (4001, "person", [90, 70, 20, 20], 0),  # runs past the image: clipped to (99, 79)
        (4002, "person", [10, 10, 0.5, 30], 0),  # under one pixel wide: left out, with its rows
        (4003, "cup", [20, 20, 5, 5], 0),
        (4004, "sports ball", [40, 40, 10, 10], 0),
    ])}
    agents = [(400, 4001), (400, 4002)]
    positives = {(4001, "hold"): [4004], (4002, "stand"): []}
    instances = write_coco(tmp_path / "instances.json", coco)
    path = tmp_path / "vcoco_test.json"
    path.write_text(json.dumps(official_actions(agents, positives)))
    with pytest.warns(UserWarning, match="left out 1 COCO box"):
        data = load_vcoco(path, instances)
    (img,) = data.images
    assert img.boxes.tolist() == [[90, 70, 99, 79], [20, 20, 24, 24], [40, 40, 49, 49]]
    assert img.hoi.tolist() == [[0, 2, cls("hold", "obj")]]
    assert data.dropped_boxes == [4002] and data.dropped_rows == 1
    path.write_text(json.dumps(official_actions(agents, {(4001, "hold"): [4002]})))
    with pytest.raises(AnnotationError, match="hold.role_object_id \\(obj\\)'.*under one pixel"):
        read_vcoco(path, instances)


def test_class_order_is_the_converted_files_verb_list() -> None:
    """QPIC / CDN ``verb_classes`` (their V-COCO conversion and evaluation), as written there."""
    qpic = ["hold_obj", "stand", "sit_instr", "ride_instr", "walk", "look_obj", "hit_instr", "hit_obj", "eat_obj",
            "eat_instr", "jump_instr", "lay_instr", "talk_on_phone_instr", "carry_obj", "throw_obj", "catch_obj",
            "cut_instr", "cut_obj", "run", "work_on_computer_instr", "ski_instr", "surf_instr", "skateboard_instr",
            "smile", "drink_instr", "kick_obj", "point_instr", "read_obj", "snowboard_instr"]
    assert [a if r is None else f"{a}_{r}" for a, r in CLASSES] == qpic


# --------------------------------------------------------------------------- malformed files
def _drop_action(d: list) -> None:
    d.pop(5)


def _bad_role_object(d: list) -> None:
    hit = next(a for a in d if a["action_name"] == "hit")
    hit["role_object_id"][2 * 3] = 2002  # obj role of agent 1001 -> a box of another image


OFFICIAL_CASES = {
    "unknown action": (lambda d: d[0].update(action_name="fly"), "#0 (fly)", "action_name", "not a V-COCO action"),
    "wrong roles": (lambda d: d[7].update(role_name=["agent", "instr", "obj"]), "#7 (eat)", "role_name", "has"),
    "missing action": (_drop_action, "<file>", "action_name", "missing"),
    "label not 0/1": (lambda d: d[0]["label"].__setitem__(1, 2), "#0 (hold)", "label[1]", "out of range"),
    "role ids too short": (lambda d: d[0]["role_object_id"].pop(), "#0 (hold)", "role_object_id", "need 6"),
    "agent column differs": (lambda d: d[0]["role_object_id"].__setitem__(0, 1002), "#0 (hold)", "role_object_id[0]",
                             "must repeat"),
    "image not in COCO": (lambda d: d[0]["image_id"].__setitem__(0, 999), "#0 (hold)", "image_id[0]", "not in"),
    "role object of another image": (_bad_role_object, "image 100 (COCO_val2014_000000000100.jpg)",
                                     "hit.role_object_id (obj)", "not a box of this image"),
}


@pytest.mark.parametrize("case", sorted(OFFICIAL_CASES))
def test_malformed_official_file_names_file_record_and_field(tmp_path: Path, case: str) -> None:
    edit, record, field, problem = OFFICIAL_CASES[case]
    path = write_official(tmp_path / "vcoco_test.json", edit)
    with pytest.raises(AnnotationError) as err:
        read_vcoco(path, write_coco(tmp_path / "instances.json"))
    assert str(err.value).startswith(f"{path}: record {record}: field '{field}'") and problem in str(err.value)


def test_malformed_coco_and_converted_files(tmp_path: Path) -> None:
    coco = write_coco(tmp_path / "instances.json")
    data = json.loads(coco.read_text())
    data["annotations"][3]["bbox"][2] = -1.0
    coco.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"record #3 \(annotation id 1004\): field 'annotations\[3\].bbox'"):
        read_coco_instances(coco)
    conv = write_converted(tmp_path / "test_vcoco.json")
    for edit, field in [
        (lambda r: r["hoi_annotation"][0].update(category_id=29), "hoi_annotation[0].category_id"),
        (lambda r: r["hoi_annotation"][1].update(object_id=2), "hoi_annotation[1].object_id"),  # stand has no object
        (lambda r: r["hoi_annotation"][0].update(subject_id=2), "hoi_annotation[0].subject_id"),
        (lambda r: r["annotations"][0].update(bbox=[10, 20, 5, 220]), "annotations[0].bbox"),
    ]:
        data = json.loads(write_converted(conv).read_text())
        edit(data[0])
        conv.write_text(json.dumps(data))
        where = f"{conv}: record #0 (COCO_val2014_000000000100.jpg): field '{field}'"
        with pytest.raises(AnnotationError, match=re.escape(where)):
            read_vcoco(conv)


def test_official_file_without_coco_instances_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="coco_instances=.*instances_vcoco_all_2014.json"):
        read_vcoco(write_official(tmp_path / "vcoco_test.json"))


def test_engine_reads_the_official_layout_with_data_coco_instances(tmp_path: Path) -> None:
    """`data.coco_instances` reaches the reader in training, caching and `clhoi eval`."""
    from clhoi.engine.sources import InputError, read_ground_truth

    official, instances = write_official(tmp_path / "vcoco_test.json"), write_coco(tmp_path / "instances.json")
    got = read_ground_truth("vcoco", str(official), "data.test_annotations", str(instances))
    want = read_vcoco(official, instances)
    assert [a.file_name for a in got] == [a.file_name for a in want]
    assert all(torch.equal(a.hoi, b.hoi) and torch.equal(a.boxes, b.boxes) for a, b in zip(got, want))
    with pytest.raises(InputError, match="data.coco_instances"):
        read_ground_truth("vcoco", str(official), "data.test_annotations", str(tmp_path / "missing.json"))
