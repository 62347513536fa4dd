"""Export to the QPIC family's and the official MATLAB evaluation's layouts, and back (round trips)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from clhoi import vocab
from clhoi.eval.export import export_predictions, from_qpic, load_any_predictions, read_matlab, to_matlab, to_qpic
from clhoi.structures import Predictions


def _preds() -> list[Predictions]:
    space = vocab.hicodet()
    ride_bike = space.hoi.index((space.verbs.index("ride"), space.objects.index("bicycle")))
    hold_bike = space.hoi.index((space.verbs.index("hold"), space.objects.index("bicycle")))
    hold_cup = space.hoi.index((space.verbs.index("hold"), space.objects.index("cup")))
    bike, cup = vocab.coco_index("bicycle"), vocab.coco_index("cup")
    a = Predictions("HICO_test2015_00000002.jpg",
                    torch.tensor([[10.0, 20.0, 50.0, 90.0], [30.0, 40.0, 120.0, 100.0], [60.5, 5.0, 80.0, 30.25]],
                                 dtype=torch.float64),
                    torch.tensor([0, bike, cup]), torch.tensor([[0, 1], [0, 1], [0, 2]]),
                    torch.tensor([ride_bike, hold_bike, hold_cup]), torch.tensor([0.9, 0.25, 0.5], dtype=torch.float64))
    b = Predictions("HICO_test2015_00000001.jpg", torch.tensor([[0.0, 0.0, 5.0, 5.0], [1.0, 1.0, 9.0, 9.0]],
                                                                dtype=torch.float64),
                    torch.tensor([0, bike]), torch.tensor([[0, 1]]), torch.tensor([ride_bike]),
                    torch.tensor([0.125], dtype=torch.float64))
    return [a, b]


def _triplets(p: Predictions) -> set:
    return {(tuple(p.boxes[h].tolist()), tuple(p.boxes[o].tolist()), int(p.labels[o]), c, round(s, 9))
            for (h, o), c, s in zip(p.pairs.tolist(), p.classes.tolist(), p.scores.tolist())}


def test_qpic_round_trip_and_layout(tmp_path):
    preds = _preds()
    [path] = export_predictions(preds, "qpic", tmp_path / "qpic.json")
    records = json.loads(path.read_text())
    first = records[0]
    assert first["sub_ids"] == [0, 0] and first["obj_ids"] == [1, 2]  # one entry per pair
    scores = np.asarray(first["verb_scores"])
    assert scores.shape == (2, 117)
    verbs = vocab.hicodet().verbs
    assert scores[0, verbs.index("ride")] == 0.9 and scores[0, verbs.index("hold")] == 0.25
    assert np.count_nonzero(scores) == 3
    back = from_qpic(records)
    assert [p.file_name for p in back] == [p.file_name for p in preds]
    for p, q in zip(preds, back):
        assert _triplets(p) == _triplets(q)


def test_qpic_refuses_class_that_does_not_fit_the_box():
    p = _preds()[1]
    p.labels = torch.tensor([0, vocab.coco_index("cup")])  # a "ride bicycle" triplet on a cup
    with pytest.raises(ValueError, match="labelled cup"):
        to_qpic([p])


def test_matlab_round_trip_and_layout(tmp_path):
    from scipy.io import loadmat

    preds = _preds()
    order = ["HICO_test2015_00000001.jpg", "HICO_test2015_00000002.jpg", "HICO_test2015_00000003.jpg"]
    paths = export_predictions(preds, "matlab", tmp_path / "mat", image_order=order)
    assert len(paths) == 80 and paths[0].name == "detections_01.mat"
    space = vocab.hicodet()
    bike = space.objects.index("bicycle")
    cells = loadmat(str(tmp_path / "mat" / f"detections_{bike + 1:02d}.mat"))["all_boxes"]
    bike_classes = [c for c, (_, o) in enumerate(space.hoi) if o == bike]
    assert cells.shape == (len(bike_classes), 3)
    ride = bike_classes.index(space.hoi.index((space.verbs.index("ride"), bike)))
    # image 2 is the second column; 1-based coordinates; score last
    assert cells[ride, 1].tolist() == [[11.0, 21.0, 51.0, 91.0, 31.0, 41.0, 121.0, 101.0, 0.9]]
    assert cells[ride, 2].size == 0  # image 3: nothing
    back = {p.file_name: p for p in read_matlab(tmp_path / "mat", order)}
    assert set(back) == {p.file_name for p in preds}
    for p in preds:
        assert _triplets(p) == _triplets(back[p.file_name])


def test_matlab_default_order_is_sorted_and_unknown_images_refused():
    cells = to_matlab(_preds())
    assert cells[0].shape[1] == 2
    with pytest.raises(ValueError, match="not in the image order"):
        to_matlab(_preds(), image_order=["HICO_test2015_00000001.jpg"])


def test_load_any_predictions_reads_json_and_jsonl(tmp_path):
    preds = _preds()
    (tmp_path / "p.json").write_text(json.dumps([p.to_dict() for p in preds]))
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(p.to_dict()) + "\n" for p in preds))
    a, b = load_any_predictions(tmp_path / "p.json"), load_any_predictions(tmp_path / "p.jsonl")
    assert [_triplets(p) for p in a] == [_triplets(p) for p in b] == [_triplets(p) for p in preds]
    (tmp_path / "bad.jsonl").write_text("{\n")
    with pytest.raises(ValueError, match="line 1"):
        load_any_predictions(tmp_path / "bad.jsonl")


def test_export_command(tmp_path):
    from typer.testing import CliRunner

    from clhoi.cli import app

    preds = _preds()
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(p.to_dict()) + "\n" for p in preds))
    runner = CliRunner()
    done = runner.invoke(app, ["export", str(tmp_path / "p.jsonl"), "--format", "qpic", "--out", str(tmp_path / "q.json")])
    assert done.exit_code == 0, done.output
    assert [r["file_name"] for r in json.loads((tmp_path / "q.json").read_text())] == [p.file_name for p in preds]
    done = runner.invoke(app, ["export", str(tmp_path / "p.jsonl"), "--format", "matlab", "--out", str(tmp_path / "m")])
    assert done.exit_code == 0 and "name order" in done.output
    assert len(read_matlab(tmp_path / "m", sorted(p.file_name for p in preds))) == 2
    bad = runner.invoke(app, ["export", str(tmp_path / "p.jsonl"), "--format", "csv", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "qpic" in bad.output  # a real choice, listed


def test_upt_vcoco_round_trip_and_layout(tmp_path):
    import pickle

    from clhoi.eval.export import coco_image_id, from_upt_vcoco

    classes = vocab.vcoco_classes()
    hold, stand, ride = classes.index(("hold", "obj")), classes.index(("stand", None)), classes.index(("ride", "instr"))
    p = Predictions("COCO_val2014_000000000042.jpg",
                    torch.tensor([[1.0, 2.0, 30.0, 60.0], [20.0, 10.0, 50.0, 40.0]], dtype=torch.float64),
                    torch.tensor([0, 40]), torch.tensor([[0, 1], [0, -1], [0, -1]]),
                    torch.tensor([hold, stand, ride]), torch.tensor([0.75, 0.5, 0.25], dtype=torch.float64))
    [path] = export_predictions([p], "upt-vcoco", tmp_path / "cache.pkl")
    with open(path, "rb") as f:
        records = pickle.load(f)
    assert len(records) == 3 and all(r["image_id"] == 42 for r in records)  # one record per triplet, as UPT
    first = records[0]
    assert first["hold_obj"] == [20.0, 10.0, 50.0, 40.0, 0.75] and first["hold_agent"] == 0.75
    assert first["ride_instr"] == [0.0, 0.0, 0.1, 0.1, 0.0] and first["walk_agent"] == 0.0  # UPT's defaults, written out
    assert np.isnan(records[2]["ride_instr"][:4]).all()  # no object: an empty role box
    [back] = from_upt_vcoco(records, {42: p.file_name})
    got = {(tuple(back.boxes[h].tolist()), tuple(back.boxes[o].tolist()) if o >= 0 else None, c, s)
           for (h, o), c, s in zip(back.pairs.tolist(), back.classes.tolist(), back.scores.tolist())}
    want = {(tuple(p.boxes[h].tolist()), tuple(p.boxes[o].tolist()) if o >= 0 else None, c, s)
            for (h, o), c, s in zip(p.pairs.tolist(), p.classes.tolist(), p.scores.tolist())}
    assert got == want
    with pytest.raises(ValueError, match="no COCO image id"):
        coco_image_id("photo.jpg")
