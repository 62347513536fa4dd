"""The sandbox world: label space, scene graphs, HICO-DET files read by the real reader."""

from collections import Counter

import pytest

from clhoi.data.hicodet import read_hicodet
from clhoi.sandbox.labels import HOI_KINDS, hicodet_to_sandbox, sandbox_label_space, sandbox_to_hicodet
from clhoi.sandbox.scene import IMAGE_SIZE, render_scene, sample_scene
from clhoi.sandbox.world import WorldSpec, build_world, class_counts, generate_split, scene_seed
from clhoi.vocab import hicodet


def test_label_space_size_and_hicodet_subset():
    space = sandbox_label_space()
    assert len(space.verbs) >= 10 and len(space.objects) >= 8 and space.num_classes >= 20
    assert 0 < len(space.rare) < space.num_classes
    hico = hicodet()
    for c, h in enumerate(sandbox_to_hicodet()):
        assert hico.hoi_name(h) == space.hoi_name(c)
        assert hicodet_to_sandbox(h) == c
    with pytest.raises(KeyError, match="not in the sandbox"):
        hicodet_to_sandbox(0)


def test_scenes_are_reproducible_and_well_formed():
    a, b = sample_scene(123), sample_scene(123)
    assert [p.box for p in a.people] == [p.box for p in b.people]
    assert render_scene(a).tobytes() == render_scene(b).tobytes()
    assert [t.box for t in sample_scene(124).things] != [t.box for t in a.things]
    twins = distractors = 0
    for i in range(300):
        s = sample_scene(scene_seed(0, "t", i))
        assert 1 <= len(s.people) <= 3 and 1 <= len(s.things) <= 4
        assert all(0 <= p < len(s.people) and 0 <= t < len(s.things) for p, t, _ in s.interactions)
        assert len({t for _, t, _ in s.interactions}) == len(s.interactions)  # one person per object
        used = {t for _, t, _ in s.interactions}
        distractors += any(t not in used for t in range(len(s.things)))
        cats = Counter(t.category for t in s.things)
        twins += s.twin and len(s.people) >= 2 and max(cats.values()) >= 2
    assert twins >= 20 and distractors >= 100


def test_world_files_read_by_the_hicodet_reader(tmp_path):
    spec = WorldSpec(seed=3, num_train=12, num_test=6)
    world = build_world(spec, tmp_path)
    assert build_world(spec, tmp_path).root == world.root  # cached
    for split, n in (("train", 12), ("test", 6)):
        anns = read_hicodet(world.annotations(split))
        records = world.records(split)
        assert [a.file_name for a in anns] == [r["file_name"] for r in records] and len(anns) == n
        for a, _r in zip(anns, records):
            assert (world.image_root / a.file_name).is_file()
            sandbox = sorted(hicodet_to_sandbox(int(c)) for c in a.hoi[:, 2])
            scene = sample_scene(scene_seed(3, split, int(a.file_name[-10:-4])))
            assert sandbox == sorted(k for _, _, k in scene.interactions)
            assert a.boxes.min() >= 0 and float(a.boxes[:, 2].max()) <= IMAGE_SIZE[0]


def test_rare_classes_have_fewer_than_ten_training_instances_in_the_default_world():
    spec = WorldSpec()
    counts = class_counts(generate_split(spec, "train", None, spec.num_train))
    space = sandbox_label_space()
    for c, n in enumerate(counts):
        if c in space.rare:
            assert n < 10, (space.hoi_name(c), n)
        else:
            assert n >= 10, (space.hoi_name(c), n)
    assert len(HOI_KINDS) == len(counts)


def test_appearance_classes_share_pose_and_placement_and_differ_by_the_object_state():
    """read / hold book and talk_on / hold cell phone (world version 4): same pose, same box; only the state."""
    import random

    from clhoi.sandbox.scene import _place_interaction

    index = {(k.verb, k.object): i for i, k in enumerate(HOI_KINDS)}
    for a, b, states in ((("read", "book"), ("hold", "book"), ("open", "closed")),
                         (("talk_on", "cell_phone"), ("hold", "cell_phone"), ("lit", "dark")),
                         (("ride", "surfboard"), ("stand_on", "surfboard"), ("", "")),
                         (("ride", "snowboard"), ("stand_on", "snowboard"), ("", ""))):
        ka, kb = HOI_KINDS[index[a]], HOI_KINDS[index[b]]
        assert ka.pose == kb.pose and (ka.state, kb.state) == states
        for facing in (1, -1):
            fa, ba, *_ = _place_interaction(index[a], 120.0, 180.0, 80.0, facing, random.Random(0))
            fb, bb, *_ = _place_interaction(index[b], 120.0, 180.0, 80.0, facing, random.Random(0))
            assert fa.joints == fb.joints and ba == bb
    states = {}
    for i in range(400):
        s = sample_scene(scene_seed(0, "cue", i))
        for _, t, k in s.interactions:
            if HOI_KINDS[k].state:
                assert s.things[t].state == HOI_KINDS[k].state
                states[HOI_KINDS[k].verb, HOI_KINDS[k].object] = s.things[t].state
    assert len(states) == 4


def test_board_images_show_one_place_that_decides_every_board_verb():
    from clhoi.sandbox.labels import BOARDS
    from clhoi.sandbox.probe_worlds import CONTEXT_MARGIN, NEUTRAL
    from clhoi.sandbox.world import scene_record

    places = Counter()
    for i in range(400):
        s = sample_scene(scene_seed(0, "cue", i))
        boards = [k for _, t, k in s.interactions if s.things[t].category in BOARDS]
        assert all(t.category in BOARDS for t in s.things if t.category in BOARDS)
        board_things = [t for t in s.things if t.category in BOARDS]
        assert len(board_things) == len(boards)  # no board is a distractor or an idle twin's
        if not boards:
            assert s.place == "" and "scene" not in scene_record(s, "x.png")
            continue
        assert len(set(boards)) == 1 and s.place == HOI_KINDS[boards[0]].place
        assert scene_record(s, "x.png")["scene"] == s.place
        places[s.place] += 1
        if places[s.place] == 1:  # the area around each board pair is neutral; the place shows outside it
            img = render_scene(s)
            for p, t, k in s.interactions:
                if k == boards[0]:
                    a, b = s.people[p].box, s.things[t].box
                    x1, y1 = min(a[0], b[0]) - CONTEXT_MARGIN + 2, min(a[1], b[1]) - CONTEXT_MARGIN + 2
                    if x1 >= 0 and y1 >= 0:
                        assert img.getpixel((int(x1), int(y1))) == NEUTRAL
    assert set(places) == {"water", "sand", "snow", "grass"}
