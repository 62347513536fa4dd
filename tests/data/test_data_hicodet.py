"""HICO-DET reader: three layouts agree, malformed files fail by name, the real test set reads."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import savemat

from clhoi import vocab
from clhoi.data.errors import AnnotationError
from clhoi.data.hicodet import HICODataset, load_hicodet, read_hicodet, shipped_test_annotations

REAL = shipped_test_annotations()  # fredzzhang/hicodet instances_test2015.json, gzip-compressed, shipped with clhoi
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SPACE = vocab.hicodet()


@pytest.fixture(scope="module")
def real() -> HICODataset:
    assert REAL.is_file(), f"the real HICO-DET test annotations are missing at {REAL}"
    return load_hicodet(REAL)


def hoi_class(verb: str, obj: str) -> int:
    return SPACE.hoi.index((SPACE.verbs.index(verb), SPACE.objects.index(obj)))


# One small dataset, written below in each layout. Pairs of one class are
# contiguous (the .mat groups them by class). Boxes are 1-based pixels.
H1, H2 = [10.0, 20.0, 110.0, 220.0], [200.0, 30.0, 290.0, 240.0]
BIKE, CUP = [50.0, 150.0, 300.0, 330.0], [90.0, 60.0, 120.0, 95.0]
IMAGES = [
    {"file_name": "HICO_test2015_00000001.jpg", "size": (640, 480), "pairs": [
        (H1, BIKE, hoi_class("ride", "bicycle")),
        (H2, BIKE, hoi_class("ride", "bicycle")),
        (H1, BIKE, hoi_class("hold", "bicycle")),
        (H1, CUP, hoi_class("drink_with", "cup")),
    ]},
    {"file_name": "HICO_test2015_00000002.jpg", "size": (500, 375), "pairs": []},
    {"file_name": "HICO_test2015_00000003.jpg", "size": (320, 240), "pairs": [
        (H2, H1, hoi_class("hug", "person")),
    ]},
]


def write_converted(path: Path, images: list[dict] = IMAGES, hoi_category_id: bool = False) -> Path:
    """PPDM / QPIC ``test_hico.json``: each pair lists its own two boxes; verb ids 1-117."""
    out = []
    for img in images:
        anns, hois = [], []
        for h, o, cls in img["pairs"]:
            verb, obj = SPACE.hoi[cls]
            anns += [{"bbox": h, "category_id": 1},
                     {"bbox": o, "category_id": vocab.COCO_IDS[SPACE.object_to_coco[obj]]}]
            row = {"subject_id": len(anns) - 2, "object_id": len(anns) - 1, "category_id": verb + 1}
            if hoi_category_id:
                row["hoi_category_id"] = cls + 1
            hois.append(row)
        out.append({"file_name": img["file_name"], "img_id": int(img["file_name"][-12:-4]),
                    "annotations": anns, "hoi_annotation": hois})
    path.write_text(json.dumps(out))
    return path


def write_fredzzhang(path: Path, images: list[dict] = IMAGES) -> Path:
    """fredzzhang/hicodet ``instances_*.json``: per-pair boxes, alphabetical objects and verbs."""
    annotation = []
    for img in images:
        rec = {"boxes_h": [], "boxes_o": [], "hoi": [], "object": [], "verb": []}
        for h, o, cls in img["pairs"]:
            verb, obj = SPACE.hoi[cls]
            for k, v in zip(rec, (h, o, cls, obj, verb)):
                rec[k].append(v)
        annotation.append(rec)
    data = {
        "annotation": annotation, "filenames": [i["file_name"] for i in images],
        "size": [list(i["size"]) for i in images], "empty": [k for k, i in enumerate(images) if not i["pairs"]],
        "objects": list(SPACE.objects), "verbs": list(SPACE.verbs),
        "correspondence": [[c, o, v] for c, (v, o) in enumerate(SPACE.hoi)],
        "rare": sorted(SPACE.rare), "non_rare": sorted(SPACE.non_rare),
    }
    path.write_text(json.dumps(data))
    return path


def _mat_boxes(boxes: list[list[float]]) -> np.ndarray:
    arr = np.empty((1, len(boxes)), dtype=[(k, object) for k in ("x1", "x2", "y1", "y2")])
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        arr[0, k] = tuple(np.array([[v]], dtype=np.uint16) for v in (x1, x2, y1, y2))
    return arr


def _mat_split(images: list[dict], invisible: bool) -> np.ndarray:
    """A ``bbox_test``-style 1xN struct array: filename, size, hoi(id, bboxhuman, bboxobject, connection, invis)."""
    split = np.empty((1, len(images)), dtype=[(k, object) for k in ("filename", "size", "hoi")])
    for i, img in enumerate(images):
        by_class: dict[int, list] = {}
        for h, o, cls in img["pairs"]:
            by_class.setdefault(cls, []).append((h, o))
        entries = []
        for cls, pairs in by_class.items():
            humans = [list(b) for b in dict.fromkeys(tuple(h) for h, _ in pairs)]
            objects = [list(b) for b in dict.fromkeys(tuple(o) for _, o in pairs)]
            conn = np.array([[humans.index(h) + 1, objects.index(o) + 1] for h, o in pairs], dtype=np.uint8)
            entries.append((cls + 1, _mat_boxes(humans), _mat_boxes(objects), conn, 0))
        if invisible or not entries:  # HICO-DET lists invisible interactions with empty boxes
            entries.append((hoi_class("no_interaction", "bicycle") + 1, np.zeros((0, 0)), np.zeros((0, 0)),
                            np.zeros((0, 0)), 1))
        hoi = np.empty((1, len(entries)), dtype=[(k, object) for k in
                                                 ("id", "bboxhuman", "bboxobject", "connection", "invis")])
        for k, (cid, bh, bo, conn, inv) in enumerate(entries):
            hoi[0, k] = (np.array([[cid]], dtype=np.uint16), bh, bo, conn, np.array([[inv]], dtype=np.uint8))
        size = np.empty((1, 1), dtype=[(k, object) for k in ("width", "height", "depth")])
        size[0, 0] = tuple(np.array([[v]], dtype=np.uint16) for v in (*img["size"], 3))
        split[0, i] = (np.array([img["file_name"]]), size, hoi)
    return split


def write_mat(path: Path, images: list[dict] = IMAGES, train: list[dict] | None = None) -> Path:
    """The official ``anno_bbox.mat`` layout (x1, x2, y1, y2 structs, 1-based connection rows)."""
    data = {"bbox_test": _mat_split(images, invisible=True)}
    if train is not None:
        data["bbox_train"] = _mat_split(train, invisible=False)
    savemat(str(path), data)
    return path


def same(a, b, size: bool = True) -> None:
    assert a.file_name == b.file_name
    assert torch.equal(a.boxes, b.boxes) and torch.equal(a.labels, b.labels) and torch.equal(a.hoi, b.hoi)
    if size:
        assert a.size == b.size


# --------------------------------------------------------------------------- agreement
def test_three_layouts_give_the_same_annotations(tmp_path: Path) -> None:
    conv = load_hicodet(write_converted(tmp_path / "test_hico.json", hoi_category_id=True))
    fred = load_hicodet(write_fredzzhang(tmp_path / "instances_test2015.json"))
    mat = load_hicodet(write_mat(tmp_path / "anno_bbox.mat"))
    assert (conv.layout, fred.layout, mat.layout) == ("converted", "fredzzhang", "mat")
    assert len(conv) == len(fred) == len(mat) == 3
    for c, f, m in zip(conv.images, fred.images, mat.images):
        same(f, m)
        same(c, f, size=False)  # the converted layout has no image sizes
    assert conv.images[0].size == (0, 0) and mat.images[0].size == (640, 480)
    assert conv.empty == fred.empty == mat.empty == [1]
    assert mat.invisible == 3 and mat.split == "test"  # one invisible entry per image, no rows


def test_boxes_are_shared_between_pairs_and_labels_follow_the_class(tmp_path: Path) -> None:
    img = read_hicodet(write_converted(tmp_path / "test_hico.json"))[0]
    # H1, BIKE, H2, CUP: first use in the rows, duplicates merged; 1-based file numbers -> 0-based
    assert (img.boxes + 1).tolist() == [H1, BIKE, H2, CUP]
    assert img.labels.tolist() == [0, vocab.coco_index("bicycle"), 0, vocab.coco_index("cup")]
    assert img.hoi.tolist() == [[0, 1, hoi_class("ride", "bicycle")], [2, 1, hoi_class("ride", "bicycle")],
                                [0, 1, hoi_class("hold", "bicycle")], [0, 3, hoi_class("drink_with", "cup")]]
    hug = read_hicodet(tmp_path / "test_hico.json")[2]
    assert hug.labels.tolist() == [0, 0] and hug.hoi.tolist() == [[0, 1, hoi_class("hug", "person")]]


def test_documented_converted_record_matches_the_real_fredzzhang_file(real: HICODataset) -> None:
    """The PPDM README's test_hico.json example (image 17) against the real annotations of that image."""
    conv = read_hicodet(FIXTURES / "hicodet" / "test_hico_00000017.json")
    by_name = {a.file_name: a for a in real.images}
    same(conv[0], by_name["HICO_test2015_00000017.jpg"], size=False)


def test_unreferenced_converted_boxes_are_kept_after_the_pairs(tmp_path: Path) -> None:
    rec = {"file_name": "a.jpg", "annotations": [
        {"bbox": [1, 1, 5, 5], "category_id": 62}, {"bbox": [2, 2, 9, 9], "category_id": 1},
        {"bbox": [3, 3, 8, 8], "category_id": 47}], "hoi_annotation": [{"subject_id": 1, "object_id": 2, "category_id": 37}]}
    (tmp_path / "a.json").write_text(json.dumps([rec]))
    img = read_hicodet(tmp_path / "a.json")[0]
    assert img.boxes.tolist() == [[1, 1, 8, 8], [2, 2, 7, 7], [0, 0, 4, 4]]
    assert img.labels.tolist() == [0, vocab.coco_index("cup"), vocab.coco_index("chair")]
    assert img.hoi.tolist() == [[0, 1, hoi_class("hold", "cup")]]


def test_mat_split_must_be_named_when_the_file_has_both(tmp_path: Path) -> None:
    path = write_mat(tmp_path / "anno_bbox.mat", train=IMAGES[:1])
    with pytest.raises(ValueError, match="split='train' or split='test'"):
        read_hicodet(path)
    train = load_hicodet(path, split="train")
    assert train.split == "train" and len(train) == 1 and train.invisible == 0
    same(train.images[0], read_hicodet(path, split="test")[0])


# --------------------------------------------------------------------------- the real test set
def test_real_test_set_reads_in_full(real: HICODataset) -> None:
    data = real
    raw = json.loads(gzip.decompress(REAL.read_bytes()))
    assert data.layout == "fredzzhang" and len(data) == 9658
    assert [a.file_name for a in data.images] == raw["filenames"]
    assert data.empty == sorted(raw["empty"]) and len(data.empty) == 112
    assert len(data) - len(data.empty) == 9546  # the paper's test-image count (Sec. 4.1): images with pairs
    assert data.num_pairs == 33405
    counts = data.class_counts()
    assert sum(c > 0 for c in counts) == 600
    in_file = Counter(h for a in raw["annotation"] for h in a["hoi"])
    assert counts == [in_file[c] for c in range(600)]
    assert [a.size for a in data.images] == [tuple(s) for s in raw["size"]]
    # all images at once: boxes inside the image (0-based indices), humans as subjects, objects of the class
    n_boxes = torch.tensor([len(a.boxes) for a in data.images])
    boxes, labels = torch.cat([a.boxes for a in data.images]), torch.cat([a.labels for a in data.images])
    wh = torch.tensor(raw["size"], dtype=torch.float32).repeat_interleave(n_boxes, dim=0)
    assert (boxes[:, 2:] <= wh - 1).all() and (boxes[:, :2] >= 0).all() and (boxes[:, 2:] == wh - 1).any()
    offsets = torch.cumsum(n_boxes, 0) - n_boxes
    n_rows = torch.tensor([len(a.hoi) for a in data.images])
    hoi = torch.cat([a.hoi for a in data.images])
    hoi[:, :2] += offsets.repeat_interleave(n_rows)[:, None]
    assert (labels[hoi[:, 0]] == vocab.PERSON).all()
    class_object = torch.tensor([SPACE.hoi_coco_object(c) for c in range(600)])
    assert torch.equal(labels[hoi[:, 1]], class_object[hoi[:, 2]])
    first = data.images[0]
    pairs = [((first.boxes[s] + 1).tolist(), (first.boxes[o] + 1).tolist(), c) for s, o, c in first.hoi.tolist()]
    rec = raw["annotation"][0]
    assert pairs == list(zip(rec["boxes_h"], rec["boxes_o"], rec["hoi"]))


def test_vocab_agrees_with_the_real_file_metadata() -> None:
    """clhoi.vocab's HICO-DET facts against the real file's own objects, verbs, classes and rare split."""
    raw = json.loads(gzip.decompress(REAL.read_bytes()))
    assert list(SPACE.objects) == raw["objects"] and list(SPACE.verbs) == raw["verbs"]
    assert [list(SPACE.hoi[c]) for c in range(600)] == [[v, o] for _, o, v in raw["correspondence"]]
    assert sorted(SPACE.rare) == sorted(raw["rare"]) and sorted(SPACE.non_rare) == sorted(raw["non_rare"])
    assert [vocab.coco_index(n) for n in raw["objects"]] == list(SPACE.object_to_coco)


# --------------------------------------------------------------------------- malformed files
def _corrupt_converted(tmp_path: Path, edit) -> Path:
    path = write_converted(tmp_path / "test_hico.json", hoi_category_id=True)
    data = json.loads(path.read_text())
    edit(data[0])
    path.write_text(json.dumps(data))
    return path


CONVERTED_CASES = {
    "box x2 < x1": (lambda r: r["annotations"][1].update(bbox=[300, 150, 50, 330]), "annotations[1].bbox", "x2 < x1"),
    "unknown category": (lambda r: r["annotations"][1].update(category_id=12), "annotations[1].category_id", "COCO"),
    "object index past the boxes": (lambda r: r["hoi_annotation"][2].update(object_id=8),
                                    "hoi_annotation[2].object_id", "out of range"),
    "verb id 0": (lambda r: r["hoi_annotation"][0].update(category_id=0), "hoi_annotation[0].category_id", "range"),
    "verb not valid for object": (lambda r: r["hoi_annotation"][3].update(category_id=1 + SPACE.verbs.index("ride")),
                                  "hoi_annotation[3].category_id", "not one of the 600"),
    "hoi class disagrees": (lambda r: r["hoi_annotation"][0].update(hoi_category_id=1),
                            "hoi_annotation[0].hoi_category_id", "disagrees"),
    "subject not a person": (lambda r: r["hoi_annotation"][0].update(subject_id=1),
                             "hoi_annotation[0].subject_id", "persons"),
    "missing field": (lambda r: r["hoi_annotation"][1].pop("object_id"), "hoi_annotation[1].object_id", "missing"),
}


@pytest.mark.parametrize("case", sorted(CONVERTED_CASES))
def test_malformed_converted_file_names_file_record_and_field(tmp_path: Path, case: str) -> None:
    edit, field, problem = CONVERTED_CASES[case]
    path = _corrupt_converted(tmp_path, edit)
    with pytest.raises(AnnotationError) as err:
        read_hicodet(path)
    msg = str(err.value)
    assert str(path) in msg and "#0 (HICO_test2015_00000001.jpg)" in msg and f"'{field}'" in msg and problem in msg
    assert err.value.field == field


FREDZZHANG_CASES = {
    "class disagrees with verb": (lambda d: d["annotation"][0]["hoi"].__setitem__(0, 0), "annotation[0].hoi[0]"),
    "object index out of range": (lambda d: d["annotation"][2]["object"].__setitem__(0, 80), "annotation[2].object[0]"),
    "ragged pair lists": (lambda d: d["annotation"][0]["verb"].pop(), "annotation[0]"),
    "box y2 < y1": (lambda d: d["annotation"][2]["boxes_o"].__setitem__(0, [1, 50, 2, 40]), "annotation[2].boxes_o[0]"),
    "wrong empty list": (lambda d: d.__setitem__("empty", []), "empty"),
    "correspondence with a wrong object": (lambda d: d["correspondence"][0].__setitem__(1, 5), "correspondence[0]"),
}


@pytest.mark.parametrize("case", sorted(FREDZZHANG_CASES))
def test_malformed_fredzzhang_file_names_the_field(tmp_path: Path, case: str) -> None:
    edit, field = FREDZZHANG_CASES[case]
    path = write_fredzzhang(tmp_path / "instances_test2015.json")
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError) as err:
        read_hicodet(path)
    assert str(path) in str(err.value) and f"'{field}'" in str(err.value)


def test_malformed_mat_file_names_the_struct_field(tmp_path: Path) -> None:
    bad = [dict(IMAGES[0], pairs=[(H1, BIKE, 600)])]  # id 601 after the +1
    with pytest.raises(AnnotationError, match=r"record #0 \(HICO_test2015_00000001.jpg\): field 'bbox_test\(1\).hoi\(1\).id'"):
        read_hicodet(write_mat(tmp_path / "a.mat", bad))
    flipped = [dict(IMAGES[0], pairs=[([110.0, 20.0, 10.0, 220.0], BIKE, 0)])]
    with pytest.raises(AnnotationError, match=r"hoi\(1\).bboxhuman\(1\)'.*x2 < x1"):
        read_hicodet(write_mat(tmp_path / "b.mat", flipped))
    path = tmp_path / "c.mat"
    split = _mat_split(IMAGES[:1], invisible=False)
    split[0, 0]["hoi"][0, 0]["connection"] = np.array([[1, 3]], dtype=np.uint8)  # only one object box
    savemat(str(path), {"bbox_test": split})
    with pytest.raises(AnnotationError, match=r"connection\(1,2\)'.*out of range \[1, 1\]"):
        read_hicodet(path)


def test_skip_mode_reports_every_record_left_out(tmp_path: Path) -> None:
    path = _corrupt_converted(tmp_path, lambda r: r["hoi_annotation"][0].update(subject_id=99))
    with pytest.warns(UserWarning, match="skipped 1 malformed record"):
        data = load_hicodet(path, on_invalid="skip")
    assert [a.file_name for a in data.images] == [i["file_name"] for i in IMAGES[1:]]
    assert len(data.skipped) == 1 and "hoi_annotation[0].subject_id" in data.skipped[0]


def test_unknown_layout_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"images": []}))
    with pytest.raises(AnnotationError, match="not a HICO-DET layout"):
        read_hicodet(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("[{")
    with pytest.raises(AnnotationError, match="not valid JSON"):
        read_hicodet(tmp_path / "y.json")
    with pytest.raises(FileNotFoundError, match="nope.json"):
        read_hicodet(tmp_path / "nope.json")
