"""The simulated teacher's language: captions and triplet lists written from a scene graph.

It fails the way the paper says a real VLLM teacher fails (Fig. 9, section 6):
it misses interactions (each distinct ``(verb, object)`` of an image with
probability ``miss_rate``, so image-level recall is ``1 - miss_rate``), uses
synonyms for verbs and objects, now and then names an interaction that is not
there, and never says which person does what ("Two people are riding bicycles
near a chair.").

:func:`describe` returns the caption (prompt 1's answer) and the triplet list
the teacher's language model gives for it (prompt 2's answer), in the
``*Verb, Object.`` style of the paper's Fig. 5.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from clhoi.sandbox.labels import HOI_KINDS

# verb -> (canonical lemma, gerund phrase of the caption); synonyms follow the canonical form
VERB_WORDS: dict[str, list[tuple[str, str]]] = {
    "ride": [("ride", "riding"), ("sit on", "sitting on")],
    "push": [("push", "pushing"), ("walk", "walking")],
    "walk": [("walk", "walking"), ("lead", "leading"), ("pull", "pulling")],
    "sit_on": [("sit on", "sitting on"), ("sit in", "sitting in")],
    "carry": [("carry", "carrying"), ("lift", "lifting")],
    "kick": [("kick", "kicking"), ("play with", "playing with")],
    "throw": [("throw", "throwing"), ("pitch", "pitching")],
    "hold": [("hold", "holding"), ("carry", "carrying")],
    "fly": [("fly", "flying"), ("play with", "playing with")],
    "read": [("read", "reading"), ("look at", "looking at")],
    "talk_on": [("talk on", "talking on"), ("use", "using")],
    "drink_with": [("drink with", "drinking from"), ("sip from", "sipping from")],
    "stand_under": [("stand under", "standing under"), ("hold", "holding")],
    "catch": [("catch", "catching"), ("hold", "holding")],
    "stand_on": [("stand on", "standing on")],
}

OBJECT_WORDS: dict[str, list[str]] = {
    "bicycle": ["bicycle", "bike"],
    "horse": ["horse", "pony"],
    "chair": ["chair"],
    "sports_ball": ["ball", "soccer ball", "football"],
    "kite": ["kite"],
    "book": ["book", "novel"],
    "cell_phone": ["cell phone", "phone", "cellphone", "smartphone"],
    "cup": ["cup", "mug"],
    "umbrella": ["umbrella"],
    "skateboard": ["skateboard"],
    "frisbee": ["frisbee", "flying disc"],
    "surfboard": ["surfboard", "board"],
    "snowboard": ["snowboard", "board"],
}

_ONE = ("A person", "A man", "A woman", "Someone", "A kid")
_MANY = {2: ("Two people", "Two persons", "A couple of people"), 3: ("Three people", "A group of people")}
_ALL = ("The persons in the image", "The people", "They")
_PLACES = ("in a park", "on a sunny day", "on the street", "outdoors", "on the grass", "")
_NUMBER = {1: "one", 2: "two", 3: "three", 4: "four"}


@dataclass
class Mention:
    """One interaction the teacher names.

    Attributes:
        verb: the lemma the triplet list gives (canonical or a synonym).
        gerund: the verb phrase in the caption.
        object: the object word used (canonical or a synonym).
        count: how many people the caption says do it.
        hallucinated: whether the image has no such interaction.
    """

    verb: str
    gerund: str
    object: str
    count: int = 1
    hallucinated: bool = False


@dataclass
class Description:
    """The teacher's answers for one image: caption, triplet list, and what they name."""

    caption: str
    triplets: str
    mentions: list[Mention] = field(default_factory=list)


def plural(word: str) -> str:
    last = word.split()[-1]
    if last.endswith("y") and not last.endswith(("ay", "ey", "oy")):
        return word[:-1] + "ies"
    if last.endswith(("s", "sh", "ch")):
        return word + "es"
    return word + "s"


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _object_phrase(word: str, count: int) -> str:
    return plural(word) if count > 1 else f"{_article(word)} {word}"


def _surface(rng: random.Random, verb: str, obj: str, synonym_rate: float,
             verb_words: dict[str, list[tuple[str, str]]] | None = None,
             object_words: dict[str, list[str]] | None = None) -> tuple[str, str, str]:
    forms = (verb_words or VERB_WORDS)[verb]
    lemma, gerund = rng.choice(forms[1:]) if len(forms) > 1 and rng.random() < synonym_rate else forms[0]
    words = (object_words or OBJECT_WORDS)[obj]
    word = rng.choice(words[1:]) if len(words) > 1 and rng.random() < synonym_rate else words[0]
    return lemma, gerund, word


def describe(
    num_people: int,
    interactions: list[tuple[str, str]],
    objects: list[str],
    rng: random.Random,
    miss_rate: float = 0.5,
    synonym_rate: float = 0.25,
    hallucination_rate: float = 0.1,
    *,
    kinds: list[tuple[str, str]] | None = None,
    verb_words: dict[str, list[tuple[str, str]]] | None = None,
    object_words: dict[str, list[str]] | None = None,
    places: tuple[str, ...] | None = None,
) -> Description:
    """Caption and triplet list for a scene.

    Args:
        num_people: people in the image.
        interactions: one ``(verb, object)`` per interacting person (sandbox names,
            e.g. ``("sit_on", "chair")``); repeated pairs are several people doing it.
        objects: categories of all objects in the image (distractors included).
        rng: the randomness (seeded by the caller).
        miss_rate: probability that a distinct ``(verb, object)`` goes unmentioned.
        synonym_rate: probability that a verb or an object is named by a synonym.
        hallucination_rate: probability of naming one interaction that is not there.
        kinds: the ``(verb, object)`` classes a hallucination is drawn from (default: the demo's).
        verb_words, object_words: the words of each verb and object (default: the demo's).
        places: where the caption may say the scene is (default: generic places, drawn at
            random; the probes pass the scene's own names, as a VLLM describing it would).
    """
    vw, ow = verb_words or VERB_WORDS, object_words or OBJECT_WORDS
    counts: dict[tuple[str, str], int] = {}
    for pair in interactions:
        counts[pair] = counts.get(pair, 0) + 1
    mentions = []
    for (verb, obj), n in counts.items():
        if rng.random() < miss_rate:
            continue
        lemma, gerund, word = _surface(rng, verb, obj, synonym_rate, vw, ow)
        mentions.append(Mention(lemma, gerund, word, n))
    if rng.random() < hallucination_rate:
        pool = kinds if kinds is not None else [(k.verb, k.object) for k in HOI_KINDS]
        absent = [vo for vo in pool if vo not in counts]
        verb, obj = rng.choice(absent)
        lemma, gerund, word = _surface(rng, verb, obj, synonym_rate, vw, ow)
        mentions.append(Mention(lemma, gerund, word, 1, hallucinated=True))
    rng.shuffle(mentions)
    mentioned = {m.object for m in mentions}
    others = [ow[o][0] for o in dict.fromkeys(objects) if ow[o][0] not in mentioned]
    caption = _caption(rng, num_people, mentions, others, places or _PLACES)
    return Description(caption, _triplets(rng, mentions), mentions)


def _caption(rng: random.Random, num_people: int, mentions: list[Mention], others: list[str],
             places: tuple[str, ...]) -> str:
    near = ""
    if others and rng.random() < 0.5:
        near = f" near {_object_phrase(rng.choice(others), 1)}"
    place = rng.choice(places)
    tail = (near + (" " + place if place else "")).rstrip()
    if not mentions:  # no action verb at all: the parser marks the image no_action
        who = _ONE[0] if num_people == 1 else f"{_NUMBER[num_people].capitalize()} people"
        things = " and ".join(_object_phrase(o, 1) for o in others[:2]) or "nothing in particular"
        return f"{who} with {things}{(' ' + place) if place else ''}."
    if len(mentions) == 1 or rng.random() < 0.5:  # one clause for everyone: who does what is lost
        n = max(num_people, sum(m.count for m in mentions)) if len(mentions) > 1 else mentions[0].count
        who = rng.choice(_ONE) if n == 1 else rng.choice(_ALL if len(mentions) > 1 else _MANY.get(n, _MANY[3]))
        be = "is" if n == 1 else "are"
        acts = [f"{m.gerund} {_object_phrase(m.object, m.count if n > 1 else 1)}" for m in mentions]
        body = acts[0] if len(acts) == 1 else ", ".join(acts[:-1]) + " and " + acts[-1]
        return f"{who} {be} {body}{tail}."
    parts = []
    for i, m in enumerate(mentions):
        if i == 0:
            who = rng.choice(_ONE) if m.count == 1 else rng.choice(_MANY.get(m.count, _MANY[3]))
        else:
            who = rng.choice(("Another person", "Someone else", "One more person")) if m.count == 1 else \
                f"{_NUMBER[m.count].capitalize()} others"
        be = "is" if m.count == 1 else "are"
        parts.append(f"{who} {be} {m.gerund} {_object_phrase(m.object, m.count)}")
    return ". ".join(parts) + f"{tail}."


def _triplets(rng: random.Random, mentions: list[Mention]) -> str:
    if not mentions:
        return "There are no human-object interactions in the sentence."
    if rng.random() < 0.7:
        return "\n".join(f"*{m.verb.capitalize()}, {m.object.title()}." for m in mentions)
    return "\n".join(f"{i + 1}. <{m.verb}, {m.object}>" for i, m in enumerate(mentions))
