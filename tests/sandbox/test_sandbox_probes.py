"""The probe worlds hold their cue property by construction; ``clhoi probe`` runs end to end."""

import json

import pytest
from typer.testing import CliRunner

from clhoi.cli import app
from clhoi.sandbox.probe_worlds import (
    CONTEXT_MARGIN,
    PROBE_CLASSES,
    ProbeWorldSpec,
    confusable_groups,
    probe_label_space,
    probe_record,
    probe_split,
    render_probe_scene,
    sample_probe_scene,
)
from clhoi.sandbox.probes import ProbeTeacher, class_embeddings, confusable_accuracy, _ground_truth
from clhoi.sandbox.tiny_clip import probe_clip_path
from clhoi.structures import Predictions
from clhoi.vocab import hicodet

SEEDS = range(40)


def _verbs(rec):
    return [h["category_id"] for h in rec["hoi_annotation"]]


def test_probe_classes_are_hicodet_classes_with_two_per_object():
    space = hicodet()
    for name, classes in PROBE_CLASSES.items():
        for c in classes:
            assert (space.verbs.index(c.verb), space.objects.index(c.object)) in space.hoi
        assert all(len(g) == 2 for g in confusable_groups(name))
        assert probe_label_space(name).num_classes == 4


def test_appearance_boxes_classes_geometry_do_not_depend_on_the_verb():
    for seed in range(12):
        a = probe_record(sample_probe_scene("appearance", seed, cues=[0, 0]), "x.png")
        b = probe_record(sample_probe_scene("appearance", seed, cues=[1, 1]), "x.png")
        assert a["annotations"] == b["annotations"]  # boxes and detector classes identical
        assert [(h["subject_id"], h["object_id"]) for h in a["hoi_annotation"]] == \
            [(h["subject_id"], h["object_id"]) for h in b["hoi_annotation"]]
        assert a["probe"]["classes"] != b["probe"]["classes"]
        # the verb's only trace is inside the object's box
        ia = render_probe_scene(sample_probe_scene("appearance", seed, cues=[0, 0]))
        ib = render_probe_scene(sample_probe_scene("appearance", seed, cues=[1, 1]))
        diff = [(x, y) for x in range(0, ia.width, 3) for y in range(0, ia.height, 3)
                if ia.getpixel((x, y)) != ib.getpixel((x, y))]
        assert diff
        boxes = [ann["bbox"] for ann in a["annotations"][len(a["hoi_annotation"]):]]
        assert all(any(b0 - 2 <= x <= b2 and b1 - 2 <= y <= b3 for b0, b1, b2, b3 in boxes) for x, y in diff)


@pytest.mark.parametrize("margin", [CONTEXT_MARGIN, 36.0])
def test_context_union_crop_is_identical_across_the_verbs(margin):
    for seed in SEEDS:
        sa, sb = (sample_probe_scene("context", seed, cues=[c], context_margin=margin) for c in (0, 1))
        a, b = probe_record(sa, "x.png"), probe_record(sb, "x.png")
        assert a["annotations"] == b["annotations"] and a["probe"]["classes"] != b["probe"]["classes"]
        assert sa.scene != sb.scene
        ia, ib = render_probe_scene(sa), render_probe_scene(sb)
        for h in a["hoi_annotation"]:
            hb, ob = a["annotations"][h["subject_id"]]["bbox"], a["annotations"][h["object_id"]]["bbox"]
            m = margin - 2
            u = (min(hb[0], ob[0]) - 1 - m, min(hb[1], ob[1]) - 1 - m, max(hb[2], ob[2]) - 1 + m,
                 max(hb[3], ob[3]) - 1 + m)
            u = tuple(int(round(v)) for v in (max(u[0], 0), max(u[1], 0), min(u[2], 256), min(u[3], 192)))
            assert ia.crop(u).tobytes() == ib.crop(u).tobytes()
        if margin == CONTEXT_MARGIN:  # the frozen world always shows the scene outside
            assert ia.tobytes() != ib.tobytes()


def test_the_frozen_world_keeps_its_cache_key_and_the_margin_variant_gets_its_own():
    base = ProbeWorldSpec("context", 0)
    assert ProbeWorldSpec("context", 0, context_margin=CONTEXT_MARGIN).key() == base.key()
    assert ProbeWorldSpec("context", 0, context_margin=36.0).key() != base.key()


def test_geometry_pose_and_object_look_do_not_depend_on_the_verb():
    for seed in SEEDS:
        sa, sb = (sample_probe_scene("geometry", seed, cues=[c, c]) for c in (0, 1))
        for pa, pb in zip(sa.people, sb.people):
            rel = lambda f: {k: (round(x - f.hip[0], 6), round(y - f.hip[1], 6)) for k, (x, y) in f.joints.items()}
            assert rel(pa.figure) == rel(pb.figure) and pa.colors == pb.colors
        for ta, tb in zip(sa.things, sb.things):
            assert ta.category == tb.category and ta.color == tb.color
            assert ta.box[2] - ta.box[0] == pytest.approx(tb.box[2] - tb.box[0])
        assert sa.scene == sb.scene
        ha = [p.figure.hip for p in sa.people]
        hb = [p.figure.hip for p in sb.people]
        assert ha != hb  # only where the person is changes


def test_cues_are_balanced_and_teacher_names_the_scene(tmp_path):
    spec = ProbeWorldSpec("context", 0, 60, 10)
    scenes = probe_split(spec, "train", 60)
    counts = [0, 0, 0, 0]
    for s in scenes:
        for _, _, k in s.interactions:
            counts[k] += 1
    assert min(counts) >= 8
    recs = [probe_record(s, f"train/{i:06d}.png") for i, s in enumerate(scenes)]
    for r in recs:
        r["probe"]["name"] = "context"
    teacher = ProbeTeacher(recs, seed=0)
    words = {"water": ("wave", "sea", "ocean"), "sand": ("beach", "sand"), "snow": ("snow",),
             "grass": ("grass", "park", "lawn")}
    mentioned = 0
    for r in recs:
        cap = teacher.describe(r["file_name"]).caption
        assert any(w in cap for w in words[r["probe"]["scene"]]), cap
        mentioned += any(v in cap for v in ("riding", "standing on", "sitting on"))
    assert 0.3 * len(recs) < mentioned < 0.9 * len(recs)  # the demo teacher's misses


def test_confusable_accuracy_counts_the_group_top1_on_matched_pairs():
    import torch

    rec = probe_record(sample_probe_scene("context", 3, cues=[0]), "t.png")
    rec["probe"]["name"] = "context"
    gt = _ground_truth([rec])[0]
    n = len(gt.hoi)
    pairs = gt.hoi[:, :2]
    right = gt.hoi[:, 2]
    wrong = right + torch.where(right % 2 == 0, 1, -1)
    pred = Predictions("t.png", gt.boxes.clone(), gt.labels.clone(), torch.cat([pairs, pairs]),
                       torch.cat([right, wrong]), torch.cat([torch.full((n,), 0.9), torch.full((n,), 0.1)]))
    groups = confusable_groups("context")
    assert confusable_accuracy([pred], [gt], groups) == (1.0, n, n)
    flipped = Predictions("t.png", pred.boxes, pred.labels, pred.pairs, pred.classes, 1 - pred.scores)
    assert confusable_accuracy([flipped], [gt], groups) == (0.0, n, n)
    far = Predictions("t.png", pred.boxes + 80, pred.labels, pred.pairs, pred.classes, pred.scores)
    acc, matched, total = confusable_accuracy([far], [gt], groups)
    assert matched == 0 and total == n


def test_probe_clip_and_demo_clip_know_the_probe_words():
    from clhoi.models.encoders import load_clip
    from clhoi.sandbox.tiny_clip import shipped_clip_path

    words = ("surfboard", "snowboard", "wave", "sand", "snow", "standing")
    _, probe_tok, _ = load_clip(str(probe_clip_path()))
    _, demo_tok, _ = load_clip(str(shipped_clip_path()))
    assert all(f"{w}</w>" in probe_tok.get_vocab() for w in words)
    # the demo world (version 4) has the context probe's boards and places, so its CLIP knows them as well
    assert all(f"{w}</w>" in demo_tok.get_vocab() for w in words)


def test_probe_clip_pairs_show_the_context_cue_on_the_whole_image():
    import random

    from clhoi.sandbox.clip_training import probe_scene_pairs
    from clhoi.sandbox.probe_worlds import PLACES, ProbeWorldSpec, probe_split, render_probe_scene

    for name in ("context", "appearance"):
        scene = probe_split(ProbeWorldSpec(name, 0), "clip", 1)[0]
        img = render_probe_scene(scene)
        pairs = probe_scene_pairs(scene, img, random.Random(0))
        assert pairs[0][0] is img and any(place in pairs[0][1] for place in PLACES[scene.scene])  # caption names it
        hoi = pairs[1:1 + len(scene.interactions)]
        # context: the scene is outside the union box, so the HOI text goes with the whole image
        assert all((view is img) == (name == "context") for view, _ in hoi)


def test_probe_cli_smoke(tmp_path):
    out = tmp_path / "probe"
    res = CliRunner().invoke(app, ["probe", "appearance", "--output", str(out), "--cache-dir", str(tmp_path / "c"),
                                   "--seeds", "1", "--train-images", "12", "--test-images", "6", "--epochs", "1",
                                   "--max-steps", "1", "--row", "+ spatial + visual", "--row", "+ spatial"])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "results.json").read_text())
    assert list(data["table"]) == ["+ spatial", "+ spatial + visual"]
    assert data["settings"]["clip"] == str(probe_clip_path()) and data["settings"]["visual_feature_layer"] == 0
    assert set(data["table"]["+ spatial"]) == {"full", "accuracy", "accuracy_hoi_prompts"}
    assert data["acceptance"]["link_helps"]["rows"] == ["+ spatial + visual", "+ spatial"]
    for row in data["table"].values():
        assert 0 <= row["full"][0] <= 100 and 0 <= row["accuracy"][0] <= 100
    assert "confusable acc" in res.output
    bad = CliRunner().invoke(app, ["probe", "colour"])
    assert bad.exit_code != 0 and "unknown probe" in bad.output
    bad = CliRunner().invoke(app, ["probe", "context", "--row", "+ magic"])
    assert bad.exit_code != 0 and "unknown --row" in bad.output
    bad = CliRunner().invoke(app, ["probe", "context", "--box-embeddings", "pixels"])
    assert bad.exit_code != 0 and "unknown --box-embeddings" in bad.output
    bad = CliRunner().invoke(app, ["probe", "context", "--visual-layer", "last"])
    assert bad.exit_code != 0 and "--visual-layer must be" in bad.output
    bad = CliRunner().invoke(app, ["probe", "context", "--visual-guidance", "crop"])
    assert bad.exit_code != 0 and "unknown --visual-guidance" in bad.output


def test_class_embeddings_carry_the_detector_class_and_nothing_else():
    import torch

    from clhoi.structures import Detections

    def dets(boxes, labels):
        return Detections(boxes=torch.tensor(boxes, dtype=torch.float32), scores=torch.full((len(labels),), 0.9),
                          labels=torch.tensor(labels), embeddings=None, image_size=(192, 256))

    src = {"a.png": dets([[0, 0, 10, 10], [50, 50, 90, 120]], [0, 73]),
           "b.png": dets([[100, 20, 180, 150], [5, 5, 30, 30]], [0, 73]),
           "c.png": Detections.empty(image_size=(192, 256))}
    out = class_embeddings(src, 64, seed=3)
    a, b = out["a.png"].embeddings, out["b.png"].embeddings
    assert a.shape == (2, 64) and out["c.png"].embeddings is None
    assert torch.equal(out["a.png"].boxes, src["a.png"].boxes) and torch.equal(out["a.png"].labels, src["a.png"].labels)
    # same class, other box and image: the same vector up to the small noise; other class: far
    assert float((a[0] - b[0]).norm()) < 0.3 * float((a[0] - a[1]).norm())
    assert float((a[1] - b[1]).norm()) < 0.3 * float((a[0] - a[1]).norm())
    assert not torch.equal(a[0], b[0])  # per-detection noise
    again = class_embeddings(src, 64, seed=3)
    assert torch.equal(again["a.png"].embeddings, a)
    assert not torch.equal(class_embeddings(src, 64, seed=4)["a.png"].embeddings, a)


def test_probe_detector_draws_from_the_frozen_object_list_not_the_demo_s():
    from clhoi.sandbox.detector import DetectorNoise, simulate_split
    from clhoi.sandbox.probes import DETECTOR_OBJECTS
    from clhoi.vocab import COCO_IDS, PERSON, coco_index

    # the demo world's objects when the probes were frozen (world version 3), in draw order
    assert DETECTOR_OBJECTS == ("bicycle", "horse", "chair", "sports_ball", "kite", "book", "cell_phone", "cup",
                                "umbrella", "skateboard", "frisbee")
    rec = {"file_name": "x.png", "width": 256, "height": 192,
           "annotations": [{"bbox": [10 + 20 * i, 10, 40 + 20 * i, 60], "category_id": COCO_IDS[coco_index("surfboard")]}
                           for i in range(8)]}
    noise = DetectorNoise(miss_person=0.0, miss_object=0.0, confusion=1.0, false_positives=3.0, duplicate=0.0)
    records = [dict(rec, file_name=f"{i}.png") for i in range(30)]
    for objects in (DETECTOR_OBJECTS, ("surfboard", "kite")):
        dets = simulate_split(records, 0, noise, objects=objects)
        labels = {int(v) for d in dets.values() for v in d.labels}
        assert labels == {coco_index(o) for o in objects} | {PERSON}  # every confusion and false positive from it
