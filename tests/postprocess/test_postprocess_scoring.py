"""Eq. 17-18 scoring and the label-set restrictions of PostProcess."""

import math

import pytest
import torch
import torch.nn.functional as F

from clhoi import vocab
from clhoi.labelset import LabelSet, gerund, hoi_prompt, verb_prompt, with_article
from clhoi.postprocess import PostProcess, interaction_scores
from clhoi.structures import Detections, StudentOutput

D = 8


def _scene() -> tuple[StudentOutput, list[Detections]]:
    """Image 0: humans 0, 1 with a bicycle (2) and a cup (3); image 1: one human, no object."""
    d0 = Detections(torch.tensor([[0, 0, 10, 20], [30, 0, 40, 20], [5, 10, 25, 30], [8, 5, 12, 9.0]]),
                    torch.tensor([0.9, 0.8, 0.7, 0.6]), torch.tensor([0, 0, 1, 41]))
    d1 = Detections(torch.tensor([[0, 0, 5, 5.0]]), torch.tensor([0.5]), torch.tensor([0]))
    human = torch.tensor([0, 0, 1, 1])
    obj = torch.tensor([2, 3, 2, 3])
    out = StudentOutput(
        interaction=torch.randn(4, D),
        pair_image=torch.zeros(4, dtype=torch.long),
        human_idx=human,
        object_idx=obj,
        pair_scores=torch.stack([d0.scores[human], d0.scores[obj]], 1),
        object_labels=d0.labels[obj],
        logit_scale=torch.tensor(3.0),
    )
    return out, [d0, d1]


def test_interaction_scores_match_eq18_loop() -> None:
    inter, text, ps = torch.randn(3, D), torch.randn(5, D), torch.rand(3, 2)
    got = interaction_scores(inter, text, ps, score_lambda=0.3, logit_scale=4.0)
    for p in range(3):
        for c in range(5):
            cos = float(F.cosine_similarity(inter[p], text[c], dim=0))  # Eq. 17
            ref = (1 / (1 + math.exp(-4.0 * cos))) ** 0.7 * float(ps[p, 0] * ps[p, 1]) ** 0.3  # Eq. 18
            assert abs(float(got[p, c]) - ref) < 1e-6


def test_hicodet_predictions_only_use_classes_of_the_detected_object() -> None:
    out, dets = _scene()
    ls = LabelSet.hicodet()
    preds = PostProcess(score_lambda=0.5)(out, dets, ["a.jpg", "b.jpg"], torch.randn(600, D), ls)
    space = vocab.hicodet()
    p0 = preds[0]
    assert p0.file_name == "a.jpg" and torch.equal(p0.boxes, dets[0].boxes)
    for (_h, o), c in zip(p0.pairs.tolist(), p0.classes.tolist()):
        assert int(dets[0].labels[o]) == space.hoi_coco_object(c)
    n_bicycle, n_cup = len(space.classes_for_coco_object(1)), len(space.classes_for_coco_object(41))
    assert len(p0.classes) == 2 * (n_bicycle + n_cup)  # every allowed (pair, class), nothing else
    assert bool((p0.scores[:-1] >= p0.scores[1:]).all())  # best first
    assert len(preds[1].classes) == 0 and preds[1].pairs.shape == (0, 2)


def test_top_k_and_min_score() -> None:
    out, dets = _scene()
    ls = LabelSet.hicodet()
    text = torch.randn(600, D)
    full = PostProcess(top_k=None)(out, dets, ["a", "b"], text, ls)[0]
    top = PostProcess(top_k=3)(out, dets, ["a", "b"], text, ls)[0]
    assert torch.equal(top.scores, full.scores[:3]) and torch.equal(top.classes, full.classes[:3])
    thr = float(full.scores[5])
    kept = PostProcess(min_score=thr)(out, dets, ["a", "b"], text, ls)[0]
    assert bool((kept.scores >= thr).all()) and len(kept.scores) == int((full.scores >= thr).sum())


def test_vcoco_agent_only_classes_give_one_triplet_per_human_without_object() -> None:
    out, dets = _scene()
    ls = LabelSet.vcoco()
    assert ls.num_classes == 29
    text = torch.randn(29, D)
    pred = PostProcess(score_lambda=0.5)(out, dets, ["a", "b"], text, ls)[0]
    agent = [c for c in range(29) if not ls.class_has_object[c]]
    scores = interaction_scores(out.interaction, text, out.pair_scores, 0.5, 3.0)
    for c in agent:
        rows = (pred.classes == c).nonzero().flatten()
        assert sorted(pred.pairs[rows, 0].tolist()) == [0, 1] and (pred.pairs[rows, 1] == -1).all()
        for r in rows.tolist():
            h = int(pred.pairs[r, 0])
            assert abs(float(pred.scores[r]) - float(scores[out.human_idx == h, c].max())) < 1e-6
    with_obj = [c for c in range(29) if ls.class_has_object[c]]
    assert int(torch.isin(pred.classes, torch.tensor(with_obj)).sum()) == 4 * len(with_obj)


def test_open_vocabulary_verbs_score_every_pair() -> None:
    out, dets = _scene()
    ls = LabelSet.verbs(["ride", "drink with"])
    assert ls.names == ("ride", "drink with") and ls.texts[0] == "a photo of a person riding"
    pred = PostProcess(top_k=None)(out, dets, ["a", "b"], torch.randn(2, D), ls)[0]
    assert sorted(set(pred.classes.tolist())) == [0, 1] and len(pred.classes) == 8


def test_logit_scale_comes_from_the_output_unless_given() -> None:
    out, dets = _scene()
    ls = LabelSet.verbs(["ride"])
    text = torch.randn(1, D)
    from_output = PostProcess(score_lambda=0.0)(out, dets, ["a", "b"], text, ls)[0]
    fixed = PostProcess(score_lambda=0.0, logit_scale=3.0)(out, dets, ["a", "b"], text, ls)[0]
    assert torch.allclose(from_output.scores, fixed.scores)
    other = PostProcess(score_lambda=0.0, logit_scale=1.0)(out, dets, ["a", "b"], text, ls)[0]
    assert not torch.allclose(from_output.scores, other.scores)


def test_wrong_text_rows_and_bad_lambda_raise() -> None:
    out, dets = _scene()
    with pytest.raises(ValueError, match="encode label_set.texts"):
        PostProcess()(out, dets, ["a", "b"], torch.randn(5, D), LabelSet.vcoco())
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        PostProcess(score_lambda=2.8)


def test_prompts() -> None:
    assert gerund("talk_on") == "talking on" and gerund("lie_on") == "lying on" and gerund("ride") == "riding"
    assert gerund("swing") == "swinging" and gerund("riding") == "riding" and gerund("bring") == "bringing"
    assert gerund("no_interaction") == "no interaction"
    assert hoi_prompt("ride", "bicycle") == "a photo of a person riding a bicycle"
    assert hoi_prompt("eat", "apple") == "a photo of a person eating an apple"
    assert hoi_prompt("no_interaction", "sports_ball") == "a photo of a person and a sports ball"
    assert verb_prompt("hold") == "a photo of a person holding"
    # a verb without an object: no dangling article ('' is in every string, so '' in 'aeiou' was True)
    assert hoi_prompt("run", "") == hoi_prompt("run", "  ") == "a photo of a person running"
    assert with_article("") == "" and with_article("egg") == "an egg" and with_article("cup") == "a cup"
    ls = LabelSet.hicodet()
    assert ls.num_classes == 600 and len(set(ls.texts)) == 600
    with pytest.raises(ValueError, match="valid: hicodet, vcoco, verbs"):
        LabelSet.by_name("coco")
    with pytest.raises(ValueError, match="at least one"):
        LabelSet.verbs([" "])


@pytest.mark.parametrize("space, train_has_object, test_has_object",
                         [("verb_object", True, True), ("verb", False, False), ("mixed", False, True)])
def test_text_space_is_one_setting_for_training_and_testing(space: str, train_has_object: bool,
                                                            test_has_object: bool) -> None:
    from clhoi.config import ExperimentConfig
    from clhoi.engine.sources import eval_label_set
    from clhoi.models.config import ModelConfig

    model = ModelConfig(text_space=space)
    assert (model.training_hoi_template is not None) == train_has_object
    texts = eval_label_set(ExperimentConfig(model=model), "hicodet").texts
    ride_bicycle = texts[LabelSet.hicodet().names.index("ride bicycle")]
    assert ride_bicycle == ("a photo of a person riding a bicycle" if test_has_object else "a photo of a person riding")
    with pytest.raises(ValueError, match="model.text_space"):
        ModelConfig(text_space="object")
