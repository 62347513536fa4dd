"""Known-Object as the official code decides it: the image set comes from image-level labels.

ho-rcnn ``eval_one.m`` keeps, for class ``i``, the detections in the images where
``any(anno_im(nid, :) == 1)`` over all classes ``nid`` of the same object (``anno.mat``,
invisible HOIs and ``no_interaction`` included). The case: image b.jpg has an
*invisible* "ride bicycle" (no box of any bicycle), and a detection of "ride
bicycle" there is a false positive in the official Known-Object numbers.
"""

import json

import numpy as np
import pytest
from scipy.io import savemat
from typer.testing import CliRunner

from clhoi import vocab
from clhoi.cli import app
from clhoi.data.hicodet import load_hicodet, read_image_labels

SPACE = vocab.hicodet()
runner = CliRunner()
H1, B1 = [10.0, 10.0, 60.0, 90.0], [20.0, 50.0, 80.0, 100.0]
H2, C2 = [100.0, 20.0, 150.0, 120.0], [140.0, 60.0, 150.0, 75.0]


def cls(verb: str, obj: str) -> int:
    return SPACE.hoi.index((SPACE.verbs.index(verb), SPACE.objects.index(obj)))


RIDE, HOLD, NONE = cls("ride", "bicycle"), cls("hold", "cup"), cls("no_interaction", "bicycle")


def _boxes(boxes):
    arr = np.empty((1, len(boxes)), dtype=[(k, object) for k in ("x1", "x2", "y1", "y2")])
    for k, (x1, y1, x2, y2) in enumerate(boxes):  # the file's 1-based pixel indices
        arr[0, k] = tuple(np.array([[v + 1]], dtype=np.float64) for v in (x1, x2, y1, y2))
    return arr


def _hoi(entries):
    """entries: (class, human boxes, object boxes, invisible)."""
    hoi = np.empty((1, len(entries)), dtype=[(k, object) for k in ("id", "bboxhuman", "bboxobject", "connection", "invis")])
    for k, (c, hb, ob, invis) in enumerate(entries):
        conn = np.zeros((0, 0)) if invis else np.array([[1, 1]], dtype=np.uint8)
        hoi[0, k] = (np.array([[c + 1]], dtype=np.uint16), _boxes(hb) if hb else np.zeros((0, 0)),
                     _boxes(ob) if ob else np.zeros((0, 0)), conn, np.array([[int(invis)]], dtype=np.uint8))
    return hoi


def write_anno_bbox(path):
    """anno_bbox.mat (bbox_test): a.jpg rides a visible bicycle; b.jpg rides an invisible one and holds a cup."""
    images = [("a.jpg", [(RIDE, [H1], [B1], False)]),
              ("b.jpg", [(RIDE, [], [], True), (HOLD, [H2], [C2], False)])]
    split = np.empty((1, len(images)), dtype=[(k, object) for k in ("filename", "size", "hoi")])
    for i, (name, entries) in enumerate(images):
        size = np.empty((1, 1), dtype=[(k, object) for k in ("width", "height", "depth")])
        size[0, 0] = tuple(np.array([[v]], dtype=np.uint16) for v in (640, 480, 3))
        split[0, i] = (np.array([name]), size, _hoi(entries))
    savemat(str(path), {"bbox_test": split})
    return path


def write_anno(path, b_labels: dict[int, float]):
    """anno.mat in HICO's layout: list_test (cell), anno_test (600 x N: 1 / 0 / -1 / NaN), list_action."""
    anno = np.full((600, 2), np.nan)
    anno[RIDE, 0] = 1
    for c, v in b_labels.items():
        anno[c, 1] = v
    actions = np.empty((600, 1), dtype=[(k, object) for k in ("nname", "vname", "vname_ing")])
    for c, (v, o) in enumerate(SPACE.hoi):
        actions[c, 0] = (SPACE.objects[o], SPACE.verbs[v], SPACE.verbs[v] + "ing")
    savemat(str(path), {"list_test": np.array([["a.jpg"], ["b.jpg"]], dtype=object), "anno_test": anno,
                        "list_action": actions})
    return path


def write_converted(path):
    """The same boxes in the converted JSON layout, which cannot hold the invisible HOI."""
    def rec(name, h, o, c, obj_id):
        return {"file_name": name, "annotations": [{"bbox": h, "category_id": 1}, {"bbox": o, "category_id": obj_id}],
                "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": SPACE.hoi[c][0] + 1}]}
    bicycle, cup = (vocab.COCO_IDS[vocab.coco_index(n)] for n in ("bicycle", "cup"))
    path.write_text(json.dumps([rec("a.jpg", H1, B1, RIDE, bicycle), rec("b.jpg", H2, C2, HOLD, cup)]))
    return path


@pytest.fixture
def predictions(tmp_path):
    """'ride bicycle' right on a.jpg (0.5), and on b.jpg (0.9), where no bicycle box is annotated."""
    path = tmp_path / "preds.json"
    path.write_text(json.dumps([
        {"file_name": "a.jpg", "boxes": [H1, B1], "labels": [0, 1], "hoi": [[0, 1, RIDE, 0.5]]},
        {"file_name": "b.jpg", "boxes": [H2, C2], "labels": [0, 1], "hoi": [[0, 1, RIDE, 0.9]]},
    ]))
    return path


def evaluate(tmp_path, predictions, *extra):
    out = tmp_path / "m.json"
    result = runner.invoke(app, ["evaluate", "--dataset", "hicodet", "--predictions", str(predictions),
                                 "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return result.output, json.loads(out.read_text())


def test_the_mat_reader_keeps_the_invisible_hoi_per_image(tmp_path):
    data = load_hicodet(write_anno_bbox(tmp_path / "anno_bbox.mat"), tensors=False)
    assert data.invisible == 1 and data.invisible_classes == {"b.jpg": [RIDE]}
    assert [a.hoi[:, 2].tolist() for a in data.images] == [[RIDE], [HOLD]]


def test_invisible_hoi_of_anno_bbox_mat_puts_the_image_in_the_known_object_set(tmp_path, predictions):
    mat = write_anno_bbox(tmp_path / "anno_bbox.mat")
    output, m = evaluate(tmp_path, predictions, "--annotations", str(mat))
    ride = m["per_class"][RIDE]
    assert ride["ap_default"] == pytest.approx(50.0)  # FP at 0.9, then TP: precision 1/2 at every recall step
    assert ride["ap_known_object"] == pytest.approx(50.0)  # b.jpg has a bicycle (invisible): the FP stays
    assert m["known_object_rule"] == "boxes_and_invisible" and "invis" in output


def test_without_image_labels_the_box_rule_drops_that_image_and_says_so(tmp_path, predictions):
    output, m = evaluate(tmp_path, predictions, "--annotations", str(write_converted(tmp_path / "test_hico.json")))
    assert m["per_class"][RIDE]["ap_default"] == pytest.approx(50.0)
    assert m["per_class"][RIDE]["ap_known_object"] == pytest.approx(100.0)  # b.jpg has no bicycle box
    assert m["known_object_rule"] == "boxes" and "box annotations only" in output and "--image-labels" in output


@pytest.mark.parametrize("b_labels, expected", [
    ({RIDE: 1, HOLD: 1}, 50.0),            # the invisible ride is a positive image-level label
    ({NONE: 1, HOLD: 1, RIDE: 0}, 50.0),   # any class of the object counts, no_interaction included
    ({RIDE: 0, HOLD: 1}, 100.0),           # ambiguous (0) is not a positive: b.jpg has no bicycle
    ({RIDE: -1, HOLD: 1}, 100.0),
])
def test_image_labels_of_anno_mat_decide_the_known_object_images(tmp_path, predictions, b_labels, expected):
    ann = write_converted(tmp_path / "test_hico.json")
    labels = write_anno(tmp_path / "anno.mat", b_labels)
    output, m = evaluate(tmp_path, predictions, "--annotations", str(ann), "--image-labels", str(labels))
    assert m["per_class"][RIDE]["ap_default"] == pytest.approx(50.0)
    assert m["per_class"][RIDE]["ap_known_object"] == pytest.approx(expected)
    assert m["known_object_rule"] == "image_labels" and "anno.mat" in output


def test_image_labels_reader_checks_layout_and_class_order(tmp_path):
    labels = read_image_labels(write_anno(tmp_path / "anno.mat", {HOLD: 1}))
    assert labels.file_names == ["a.jpg", "b.jpg"] and labels.labels.shape == (2, 600)
    assert labels.positive_classes()["b.jpg"].tolist() == [HOLD]
    actions = np.empty((600, 1), dtype=[(k, object) for k in ("nname", "vname")])
    for c, (v, o) in enumerate(SPACE.hoi):
        actions[c, 0] = (SPACE.objects[o], SPACE.verbs[v])
    actions[[0, 1]] = actions[[1, 0]]  # two classes swapped: another class order
    savemat(str(tmp_path / "bad.mat"), {"list_test": np.array([["a.jpg"]], dtype=object),
                                         "anno_test": np.ones((600, 1)), "list_action": actions})
    with pytest.raises(ValueError, match=r"list_action\(1\).*class order"):
        read_image_labels(tmp_path / "bad.mat")


def test_image_labels_must_list_every_annotated_image(tmp_path, predictions):
    ann = write_converted(tmp_path / "test_hico.json")
    anno = np.full((600, 1), np.nan)
    savemat(str(tmp_path / "anno.mat"), {"list_test": np.array([["a.jpg"]], dtype=object), "anno_test": anno})
    result = runner.invoke(app, ["evaluate", "--dataset", "hicodet", "--predictions", str(predictions),
                                 "--annotations", str(ann), "--image-labels", str(tmp_path / "anno.mat")])
    assert result.exit_code == 2 and "b.jpg" in result.output and "image-level labels" in result.output
