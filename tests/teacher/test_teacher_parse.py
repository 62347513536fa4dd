"""Parsing teacher texts: answer styles, normalisation, the rule-based parser, negatives."""

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clhoi import vocab
from clhoi.structures import InteractionPair
from clhoi.teacher.normalize import normalise_object, normalise_verb, to_coco
from clhoi.teacher.parse import draw_negatives, format_pairs, image_seed, parse_caption, parse_pairs


def triples(text: str) -> list[tuple[str, str, str | None]]:
    return [(p.verb, p.object, p.coco) for p in parse_pairs(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        # the paper's own example (appendix A.1, Fig. 5)
        ("*Swing, Baseball Bat.", [("swing", "baseball bat", "baseball bat")]),
        ("*Swing, Baseball Bat.\n*Catch, Baseball.", [("swing", "baseball bat", "baseball bat"), ("catch", "baseball", "sports ball")]),
        ("*Swing, Baseball Bat. *Catch, Baseball.", [("swing", "baseball bat", "baseball bat"), ("catch", "baseball", "sports ball")]),
        ("1. ride, horse\n2. hold, cup", [("ride", "horse", "horse"), ("hold", "cup", "cup")]),
        ("- Holding: umbrella\n- kicking: ball", [("hold", "umbrella", "umbrella"), ("kick", "ball", "sports ball")]),
        ("<ride, bicycle>", [("ride", "bicycle", "bicycle")]),
        ("(hold, cup) (drink with, cup)", [("hold", "cup", "cup"), ("drink with", "cup", "cup")]),
        ("<person, riding, motorbike>", [("ride", "motorbike", "motorcycle")]),
        ("person - ride - horse", [("ride", "horse", "horse")]),
        ("ride -> horse", [("ride", "horse", "horse")]),
        ('[{"interaction": "Riding", "object": "Horses"}]', [("ride", "horse", "horse")]),
        ('{"triplets": [["person", "eat", "pizza"], ["person", "sit at", "table"]]}',
         [("eat", "pizza", "pizza"), ("sit at", "table", "dining table")]),
        ("Here are the human-object interactions:\n1. <human, interaction, object>\n2. <person, hold, umbrella>",
         [("hold", "umbrella", "umbrella")]),
        ("Interaction: swing, Object: bat", [("swing", "bat", "baseball bat")]),
        ("HOLD!!! , CUP???", [("hold", "cup", "cup")]),
        ("The man is riding a horse and holding a flag.", [("ride", "horse", "horse"), ("hold", "flag", None)]),
        ("A woman sitting on a bench reading a book.", [("sit on", "bench", "bench"), ("read", "book", "book")]),
        ("A man is talking on a cell phone", [("talk on", "cell phone", "cell phone")]),
        ("two men ride horses on the beach", [("ride", "horse", "horse")]),
        ("A girl eats a slice of pizza.", [("eat", "slice of pizza", "pizza")]),
        ("*Walking.", [("walk", "", None)]),
        ("<horse, ride>", [("ride", "horse", "horse")]),
        ("The interactions are: riding (horse), holding (reins).", [("ride", "horse", "horse"), ("hold", "rein", None)]),
        ("Triplet 1: <man, ride, horse>\nTriplet 2: <man, wear, hat>", [("ride", "horse", "horse"), ("wear", "hat", None)]),
    ],
)
def test_parse_pairs_reads_the_styles_teachers_write(text, expected):
    assert triples(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "None", "nothing", "No interactions.", "A quiet street with parked cars.",
                                  "a riding helmet", "The person is not doing anything."])
def test_texts_without_an_action_give_no_pair(text):
    assert parse_pairs(text) == []


def test_normalisation_lemmas_singulars_and_coco():
    assert normalise_verb("Is Riding") == "ride"
    assert normalise_verb("sitting on") == "sit on"
    assert normalise_verb("riding on") == "ride"  # "ride on" is not a verb of its own
    assert normalise_object("Two Baseball Bats.") == "baseball bat"
    assert normalise_object("knives") == "knife"
    assert normalise_object("skis") == "skis"  # COCO's plural stays
    assert to_coco("red bicycle") == "bicycle"
    assert to_coco("mobile phone") == "cell phone"
    assert to_coco("woman") == "person"
    assert to_coco("flag") is None
    # the raw (singular) name is kept beside the category
    assert parse_pairs("<hug, Teddy>") == [InteractionPair("hug", "teddy", "teddy bear")]


def test_duplicates_are_dropped_and_format_round_trips():
    pairs = parse_pairs("1. ride, horse\n2. Riding, Horses\n3. feed, horse")
    assert [(p.verb, p.object) for p in pairs] == [("ride", "horse"), ("feed", "horse")]
    assert parse_pairs(format_pairs(pairs)) == pairs


def test_rule_parser_needs_a_verb_not_a_noun_that_looks_like_one():
    assert parse_caption("A man holding skis.") == [InteractionPair("hold", "skis", "skis")]
    assert parse_caption("A skateboard on the ground.") == []
    assert parse_caption("A man skateboarding down a ramp.")[0].verb == "skateboard"


_NORMALISED = re.compile(r"^[a-z0-9'-]+( [a-z0-9'-]+)*$")


def _check_normalised(pairs: list[InteractionPair]) -> None:
    for p in pairs:
        assert isinstance(p, InteractionPair)
        assert _NORMALISED.match(p.verb), p
        assert p.object == "" or _NORMALISED.match(p.object), p
        assert p.coco is None or p.coco in vocab.COCO_CLASSES
        assert p.coco is None or p.object
    assert len({(p.verb, p.object) for p in pairs}) == len(pairs)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_parse_never_raises_and_normalises(text):
    _check_normalised(parse_pairs(text))
    _check_normalised(parse_caption(text))


_WORD = st.sampled_from(["ride", "Riding", "hold", "horse", "Cup", "person", "a", "the", "<", ">", "(", ")", "[", "]",
                         "{", "}", ",", ":", "-", "->", "*", "1.", "\n", '"', "interaction", "object", "é", "  ", "of"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_WORD, max_size=40).map(" ".join))
def test_fuzz_structured_looking_text(text):
    _check_normalised(parse_pairs(text))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["ride", "hold", "kick", "eat", "carry"]),
                       st.sampled_from(["horse", "cup", "ball", "pizza", "bicycle"])), min_size=1, max_size=4),
    st.sampled_from(["*{v}, {o}.", "<{v}, {o}>", "({v}, {o})", "- {v}: {o}", "person - {v} - {o}", "{v} -> {o}"]),
    st.sampled_from(["\n", "\n\n", "; "]),
)
def test_fuzz_generated_lists_recover_every_pair(pairs, style, sep):
    text = sep.join(f"{i + 1}. " + style.format(v=v.upper(), o=o.title()) for i, (v, o) in enumerate(pairs))
    got = {(p.verb, p.object) for p in parse_pairs(text)}
    assert got == set(pairs)


def test_negatives_never_positive_reproducible_and_two():
    dictionary = vocab.negative_verbs()
    assert len(dictionary) == 75  # Fig. 6 as printed (the text says 77)
    for seed in range(200):
        positives = random.Random(seed).sample(list(dictionary), 5) + ["play with"]
        neg = draw_negatives(positives, seed)
        assert len(neg) == 2 and len(set(neg)) == 2
        assert not set(neg) & set(positives) and "play" not in neg
        assert set(neg) <= set(dictionary)
        assert neg == draw_negatives(positives, random.Random(seed))
    assert draw_negatives(["have"], 0, k=5, dictionary=["have", "do"]) == ["do"]
    assert image_seed(0, "a.jpg") == image_seed(0, "a.jpg") != image_seed(1, "a.jpg")
