import pytest

from clhoi import vocab
from clhoi.config import ConfigError, ExperimentConfig, apply_overrides, load_config, save_config


def test_hicodet_label_space_matches_official_counts():
    h = vocab.hicodet()
    assert (len(h.verbs), len(h.objects), h.num_classes) == (117, 80, 600)
    assert (len(h.rare), len(h.non_rare)) == (138, 462)
    assert h.hoi_name(0) == "board airplane"
    assert sorted(set(h.object_to_coco)) == list(range(80))
    # every object has at least one valid verb; "no_interaction" exists for every object
    nointer = h.verbs.index("no_interaction")
    for o in range(80):
        assert nointer in [h.hoi[c][0] for c in h.classes_for_coco_object(h.object_to_coco[o])]


def test_coco_and_vcoco_and_negatives():
    assert len(vocab.COCO_CLASSES) == 80 and vocab.COCO_CLASSES[0] == "person"
    assert vocab.COCO_IDS[-1] == 90 and vocab.coco_index("sports_ball") == 32
    with pytest.raises(KeyError, match="valid"):
        vocab.coco_index("unicorn")
    acts = vocab.vcoco_actions()
    assert len(acts) == 26
    assert {a.name for a in acts if not a.object_roles} == {"stand", "walk", "run", "smile"}
    assert {a.name for a in acts if len(a.object_roles) == 2} == {"hit", "eat", "cut"}
    neg = set(vocab.negative_verbs())
    assert not neg & set(vocab.hicodet().verbs)


def test_config_overrides_and_unknown_keys(tmp_path):
    cfg = apply_overrides(ExperimentConfig(), ["train.lr=3e-4", "model.use_vlt=false", "model.use_context=false"])
    assert cfg.train.lr == 3e-4 and cfg.model.use_vlt is False
    with pytest.raises(ConfigError, match="valid keys"):
        apply_overrides(cfg, ["train.learning_rate=1"])
    p = tmp_path / "c.yaml"
    save_config(cfg, p)
    assert load_config(p) == cfg
    p.write_text("model:\n  hidden_dimm: 3\n")
    with pytest.raises(ConfigError, match="hidden_dim"):
        load_config(p)
    p.write_text("train:\n  epochs: five\n")
    with pytest.raises(ConfigError, match="integer"):
        load_config(p)


def test_vcoco_29_classes():
    classes = vocab.vcoco_classes()
    assert len(classes) == 29
    assert classes[:3] == (("hold", "obj"), ("stand", None), ("sit", "instr"))
    assert classes.index(("hit", "instr")) + 1 == classes.index(("hit", "obj"))
