"""Teacher-label quality on hand-made label files with known precision and recall."""

import json

import pytest
import torch

from clhoi.report import compare, label_quality, normalize_verb, report_space
from clhoi.report.quality import top_interactions
from clhoi.structures import ImageAnnotation, InteractionPair, LabelRecord
from clhoi.vocab import coco_index, hicodet, vcoco_classes


def hico_class(verb: str, obj: str) -> int:
    space = hicodet()
    v, o = space.verbs.index(verb), coco_index(obj)
    return next(c for c, (cv, co) in enumerate(space.hoi) if cv == v and space.object_to_coco[co] == o)


def annotation(name: str, hois: list[tuple[str, str]], cls=hico_class) -> ImageAnnotation:
    """One human (box 0) and one box per HOI's object; ``cls`` maps (verb, object) to a class."""
    labels = [0] + [coco_index(o) for _, o in hois]
    rows = [[0, i + 1, cls(v, o)] for i, (v, o) in enumerate(hois)]
    return ImageAnnotation(
        name, (64, 48), torch.zeros(len(labels), 4), torch.tensor(labels), torch.tensor(rows).reshape(-1, 3)
    )


def record(image: str, pairs: list[tuple[str, str, str | None]], status: str = "ok") -> LabelRecord:
    return LabelRecord(image, pairs=[InteractionPair(v, o, c) for v, o, c in pairs], teacher="hand", status=status)


def write_jsonl(path, records):
    path.write_text("".join(r.to_json() + "\n" for r in records), encoding="utf-8")


def read_jsonl(path):
    return [LabelRecord.from_dict(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def hico_case():
    gt = [
        annotation("img1.jpg", [("ride", "bicycle"), ("ride", "bicycle"), ("hold", "bicycle"),
                                ("sit_on", "bicycle"), ("straddle", "bicycle")]),
        annotation("img2.jpg", [("talk_on", "cell phone"), ("no_interaction", "cell phone")]),
        annotation("img3.jpg", [("kick", "sports ball")]),
        annotation("img4.jpg", []),
        annotation("img6.jpg", [("ride", "horse")]),
    ]
    labels = [
        record("train/img1.jpg", [("ride", "bike", "bicycle"), ("hold", "bicycle", "bicycle"),
                                  ("wash", "car", "car"), ("pedal", "bicycle", "bicycle"),
                                  ("ride", "unicorn", None), ("ride", "bicycle", "bicycle")]),
        record("img2.jpg", [("Talk on", "phone", "cell phone")]),
        record("img3.jpg", [], status="no_action"),
        record("img4.jpg", [("ride", "horse", "horse")]),
        record("img5.jpg", [("ride", "horse", "horse")]),
    ]
    return gt, labels


def test_known_precision_recall_from_a_label_file(tmp_path, hico_case):
    gt, labels = hico_case
    path = tmp_path / "labels.jsonl"
    write_jsonl(path, labels)
    q = label_quality(read_jsonl(path), gt, report_space("hicodet"), "hand")
    # in-space teacher interactions: ride/hold bicycle, wash car, talk on cell phone, ride horse (img4)
    assert (q.overall.predicted, q.overall.matched) == (5, 3)
    # ground truth: 4 on img1 (ride counted once per image), talk on (no_interaction ignored), kick
    assert (q.overall.gt, q.overall.found) == (6, 3)
    assert q.overall.precision == pytest.approx(0.6)
    assert q.overall.recall == pytest.approx(0.5)
    assert q.overall.f1 == pytest.approx(2 * 0.6 * 0.5 / 1.1)
    assert (q.num_images, q.records_without_gt, q.images_without_labels) == (4, 1, 1)
    assert q.no_action_share == pytest.approx(0.25)
    assert dict(q.open_vocab) == {"pedal": 1}
    assert dict(q.unmapped_objects) == {"unicorn": 1}
    assert q.pairs_total == 3 + 2 + 1 + 1
    assert q.open_vocab_share == pytest.approx(1 / 7)


def test_per_verb_per_object_and_error_lists(hico_case):
    gt, labels = hico_case
    q = label_quality(labels, gt, report_space("hicodet"))
    ride = q.per_verb["ride"]
    assert (ride.predicted, ride.matched, ride.gt, ride.found) == (2, 1, 1, 1)
    assert q.per_verb["talk on"].recall == 1.0
    assert q.per_verb["kick"].recall == 0.0 and q.per_verb["kick"].precision is None
    bicycle = q.per_object["bicycle"]
    assert (bicycle.precision, bicycle.recall) == (1.0, 0.5)
    assert q.hallucinated == {("wash", coco_index("car")): 1, ("ride", coco_index("horse")): 1}
    bike = coco_index("bicycle")
    assert set(q.missed) == {("sit on", bike), ("straddle", bike), ("kick", coco_index("sports ball"))}
    assert q.gt_instances[("ride", coco_index("bicycle"))] == 2
    assert q.gt_images[("ride", coco_index("bicycle"))] == 1
    out = q.to_dict(top_k=2)
    assert len(out["missed"]) == 2 and out["hallucinated"][0]["count"] == 1
    assert out["status"] == {"ok": 3, "no_action": 1, "error": 0}
    assert json.loads(json.dumps(out)) == out


def test_perfect_and_empty_teachers(hico_case):
    gt, _ = hico_case
    space = hicodet()
    perfect = []
    for ann in gt:
        pairs = [(space.verbs[space.hoi[c][0]], n, n) for c, n in
                 ((c, space.objects[space.hoi[c][1]].replace("_", " ")) for c in ann.hoi[:, 2].tolist())
                 if space.verbs[space.hoi[c][0]] != "no_interaction"]
        perfect.append(record(ann.file_name, pairs))
    q = label_quality(perfect, gt, report_space("hicodet"))
    assert q.overall.precision == 1.0 and q.overall.recall == 1.0 and not q.missed
    silent = label_quality([record(a.file_name, [], "no_action") for a in gt], gt, report_space("hicodet"))
    assert silent.overall.recall == 0.0 and silent.overall.precision is None and silent.no_action_share == 1.0


def test_later_record_of_an_image_wins(hico_case):
    gt, _ = hico_case
    recs = [record("img3.jpg", [], "error"), record("img3.jpg", [("kick", "ball", "sports ball")])]
    q = label_quality(recs, gt, report_space("hicodet"))
    assert q.num_images == 1 and q.overall.recall == 1.0 and q.status["ok"] == 1


def test_vcoco_synonyms_and_object_free_classes():
    classes = vcoco_classes()

    def cls(verb: str, obj: str) -> int:
        if verb in ("walk", "smile"):
            return classes.index((verb, None))
        return next(i for i, (a, r) in enumerate(classes) if a == verb and r is not None)

    ann = annotation("v.jpg", [("talk_on_phone", "cell phone"), ("lay", "bed"), ("hold", "cup")], cls)
    walk = ImageAnnotation("v.jpg", (1, 1), torch.zeros(4, 4), torch.tensor([0] + [coco_index(o) for o in ("cell phone", "bed", "cup")]),
                           torch.cat([ann.hoi, torch.tensor([[0, -1, cls("walk", "")]])]))
    labels = [record("v.jpg", [("talk on", "phone", "cell phone"), ("lie", "bed", "bed"),
                                ("walk", "dog", "dog"), ("hold", "knife", "knife")])]
    q = label_quality(labels, [walk], report_space("vcoco"))
    assert (q.overall.gt, q.overall.found) == (4, 3)  # hold cup missed
    assert (q.overall.predicted, q.overall.matched) == (4, 3)  # hold knife hallucinated
    assert q.per_object["(none)"].recall == 1.0
    assert q.hallucinated == {("hold", coco_index("knife")): 1}


def test_normalize_verb():
    assert normalize_verb("Talk_on") == "talk on"
    assert normalize_verb("  hop-on! ") == "hop on"


def test_comparison_table_and_top_interactions(hico_case):
    gt, labels = hico_case
    report = compare([("teacher a", labels), ("teacher b", labels[:2])], gt, "hicodet", top_n=3)
    a, b = report.qualities
    assert a.summary()["precision"] == pytest.approx(0.6)
    assert b.num_images == 2 and b.overall.recall == pytest.approx(3 / 5)
    lines = report.table().splitlines()
    assert lines[2].startswith("teacher a") and "60.0" in lines[2] and "50.0" in lines[2]
    assert lines[3].startswith("teacher b") and "60.0" in lines[3]
    assert len(report.top) == 3 and report.top == top_interactions(a, 3)
    rows = report.top_rows()
    assert all(r["gt_images"] == 1 for r in rows)
    d = report.to_dict()
    assert [row["name"] for row in d["comparison"]] == ["teacher a", "teacher b"]
    assert d["provenance"]["code"]["clhoi"]


def test_out_of_range_class_is_a_clear_error():
    ann = ImageAnnotation("x.jpg", (1, 1), torch.zeros(2, 4), torch.tensor([0, 1]), torch.tensor([[0, 1, 600]]))
    with pytest.raises(ValueError, match="outside the hicodet space of 600"):
        label_quality([record("x.jpg", [])], [ann], report_space("hicodet"))


def test_records_align_with_annotations_by_path_not_base_name():
    gt = [annotation(n, [("kick", "sports ball")]) for n in ("test/0001.png", "a/dup.png", "b/dup.png", "x.jpg")]
    recs = [record("train/0001.png", []), record("dup.png", []), record("images/test/0001.png", []),
            record("test2015/x.jpg", [])]
    q = label_quality(recs, gt, report_space("hicodet"))
    # images/test/0001.png -> test/0001.png; test2015/x.jpg -> x.jpg; train/0001.png and the ambiguous dup.png: none
    assert (q.num_images, q.records_without_gt, q.images_without_labels) == (2, 2, 2)
    short = label_quality([record("0001.png", [])], gt[:1], report_space("hicodet"))
    assert short.num_images == 1  # a record without the annotation's leading folder
