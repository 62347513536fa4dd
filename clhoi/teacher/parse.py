"""Teacher text -> normalised ``(verb, object)`` pairs, and negative verbs (appendix A.1/A.2).

Pure functions; no model, no files. :func:`parse_pairs` reads an LLM's answer
to prompt 2 in whatever style it was written:

* the paper's ``"*Swing, Baseball Bat."`` (appendix A.1, Fig. 5),
* numbered or bulleted lists (``"1. ride, horse"``, ``"- hold: cup"``),
* tuples in brackets: ``"<ride, bicycle>"``, ``"(hold, cup)"``, ``"[person, kick, ball]"``,
* dashes and arrows: ``"person - ride - horse"``, ``"ride -> horse"``,
* JSON (a list of pairs, of ``{"verb"/"interaction": ..., "object": ...}``, or nested),
* prose (``"The man is riding a horse."``): the rule-based parser reads it.

Verbs are lemmatised, objects singularised and mapped to a COCO category
where one fits (:mod:`clhoi.teacher.normalize`).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from clhoi import vocab
from clhoi.structures import InteractionPair, LabelRecord
from clhoi.teacher.normalize import HUMAN_WORDS, action_verbs, clean_words, make_pairs, verb_lemma
from clhoi.teacher.rules import caption_pairs

_BRACKETED = re.compile(r"[<(\[{]([^<>()\[\]{}\n]{1,200})[>)\]}]")
_VERB_PAREN = re.compile(r"([A-Za-z][A-Za-z' -]{0,40}?)\s*\(([^(),;|\n]{1,60})\)")
_ITEM_SPLIT = re.compile(r"\n|;|(?:^|\s)\*+(?=\s*\w)|(?<=[.!?])\s+(?=\d{1,2}[.)]\s)")
_NUMBERING = re.compile(r"^\s*(?:\(?\d{1,3}[.):]|[-*•+·>]+|[a-z][.)])\s+")
_SEPARATORS = (",", " - ", " – ", " — ", "->", "→", "=>", "|", ":", "\t")
_LABEL = re.compile(r"^\s*(?:human|person|subject|interaction|verb|action|predicate|object|target)\s*[:=]\s*", re.I)
_VERB_KEYS = ("verb", "interaction", "action", "predicate", "relation", "relationship", "activity", "hoi")
_OBJECT_KEYS = ("object", "obj", "target", "item", "thing", "noun")
_MAX_DEPTH = 12


def parse_pairs(text: str) -> list[InteractionPair]:
    """The interaction pairs of a teacher's answer (any style, see the module docstring).

    Never raises. Structured forms are tried first (JSON, bracketed tuples,
    list items); when none yields a pair the text is read as prose by the
    rule-based parser. Pairs are normalised and de-duplicated.
    """
    if not isinstance(text, str) or not text.strip():
        return []
    for reader in (_json_pairs, _bracketed_pairs, _item_pairs):
        try:
            pairs = make_pairs(reader(text))
        except (ValueError, RecursionError):  # pragma: no cover - readers are defensive; keep the contract
            pairs = []
        if pairs:
            return pairs
    return parse_caption(text)


def parse_caption(caption: str) -> list[InteractionPair]:
    """The interaction pairs of a caption by the rule-based parser alone (no LLM).

    ``"A man riding a horse and holding a flag."`` -> ``ride horse``, ``hold flag``.
    """
    if not isinstance(caption, str):
        return []
    return make_pairs(caption_pairs(caption))


def format_pairs(pairs: Iterable[InteractionPair]) -> str:
    """Pairs in the answer style of prompt 2, one ``<verb, object>`` per line (parses back to the same pairs)."""
    return "\n".join(f"<{p.verb}, {p.object}>" for p in pairs)


# ----------------------------------------------------------------------------- readers
def _split_tuple(parts: list[str]) -> tuple[str, str] | None:
    """``(verb, object)`` from 2-3 tuple elements; a leading human element is dropped."""
    parts = [_LABEL.sub("", p).strip() for p in parts]
    parts = [p for p in parts if p]
    if len(parts) >= 3 or (len(parts) == 2 and _is_human(parts[0]) and not _is_human(parts[1])):
        if _is_human(parts[0]):
            parts = parts[1:]
    if len(parts) == 1:
        return parts[0], ""
    if len(parts) >= 2:
        if not _is_action(parts[0]) and _is_action(parts[1]):  # "<horse, ride>"
            return parts[1], parts[0]
        return parts[0], parts[1]
    return None


def _is_action(text: str) -> bool:
    words = clean_words(text)
    return bool(words) and verb_lemma(words[0]) in action_verbs()


def _is_human(text: str) -> bool:
    words = clean_words(text)
    return bool(words) and all(w in HUMAN_WORDS or w in ("a", "an", "the") for w in words)


def _json_pairs(text: str) -> list[tuple[str, str]]:
    starts = [i for i in (text.find("["), text.find("{")) if i >= 0]
    if not starts:
        return []
    start, end = min(starts), max(text.rfind("]"), text.rfind("}"))
    if end <= start:
        return []
    try:
        data = json.loads(text[start : end + 1])
    except (ValueError, RecursionError):
        return []
    out: list[tuple[str, str]] = []
    _walk_json(data, out, 0)
    return out


def _walk_json(node: Any, out: list[tuple[str, str]], depth: int) -> None:
    if depth > _MAX_DEPTH or len(out) > 256:
        return
    if isinstance(node, dict):
        lower = {str(k).lower(): v for k, v in node.items()}
        verb = next((lower[k] for k in _VERB_KEYS if isinstance(lower.get(k), str)), None)
        if verb is not None:
            obj = next((lower[k] for k in _OBJECT_KEYS if isinstance(lower.get(k), str)), "")
            out.append((verb, obj))
            return
        for value in node.values():
            _walk_json(value, out, depth + 1)
    elif isinstance(node, list):
        if node and len(node) <= 3 and all(isinstance(v, str) for v in node):
            pair = _split_tuple(list(node))
            if pair:
                out.append(pair)
            return
        for value in node:
            _walk_json(value, out, depth + 1)
    elif isinstance(node, str) and depth > 0:
        out.extend(caption_pairs(node))


def _bracketed_pairs(text: str) -> list[tuple[str, str]]:
    out = []
    for inner in _BRACKETED.findall(text):
        parts = re.split(r"[,;|]", inner)
        if 2 <= len(parts) <= 4:
            pair = _split_tuple(parts[:3])
            if pair:
                out.append(pair)
    if not out:  # "riding (horse), holding (reins)"
        for before, inner in _VERB_PAREN.findall(text):
            verb = " ".join(clean_words(before)[-2:])
            if _is_action(verb):
                out.append((verb, inner))
    return out


def _item_pairs(text: str) -> list[tuple[str, str]]:
    out = []
    for item in _ITEM_SPLIT.split(text):
        item = _NUMBERING.sub("", item or "").strip().rstrip(".!")
        if not item or item.endswith(":"):
            continue
        for sep in _SEPARATORS:
            if sep in item:
                parts = item.split(sep)
                if 2 <= len(parts) <= 4 and all(len(p.split()) <= 6 for p in parts):
                    pair = _split_tuple(parts[:3])
                    if pair:
                        out.append(pair)
                break
        else:
            words = clean_words(item)
            if len(words) == 1 and verb_lemma(words[0]) in action_verbs():  # "*Walking." / "2. stand"
                out.append((words[0], ""))
    return out


# ----------------------------------------------------------------------------- negatives
def image_seed(seed: int, image: str) -> int:
    """A per-image seed: the same for an image whatever the order, sharding or resumption."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{image}".encode()).digest()[:8], "big")


def draw_negatives(
    positives: Iterable[str],
    rng: random.Random | int,
    k: int = 2,
    dictionary: Iterable[str] | None = None,
) -> list[str]:
    """``k`` negative verbs from the verb dictionary, none of them a positive (appendix A.2).

    A dictionary verb counts as positive when it equals a positive verb or its
    head word (``"play"`` for ``"play with"``). Fewer than ``k`` come back only
    when the dictionary runs out.

    Args:
        positives: the image's positive verbs (normalised).
        rng: a ``random.Random`` or a seed (see :func:`image_seed`).
        k: how many to draw (the paper: 2).
        dictionary: the verbs to draw from; default :func:`clhoi.vocab.negative_verbs`.
    """
    rng = rng if isinstance(rng, random.Random) else random.Random(rng)
    banned = _banned(positives)
    pool = [v for v in (dictionary if dictionary is not None else vocab.negative_verbs()) if v not in banned]
    pool = list(dict.fromkeys(pool))
    return rng.sample(pool, min(k, len(pool)))


def _banned(positives: Iterable[str]) -> set[str]:
    banned: set[str] = set()
    for verb in positives:
        banned.add(verb)
        words = verb.split()
        if words:
            banned.update((words[0], verb_lemma(words[0])))
    return banned


def add_object_negatives(records: Sequence[LabelRecord], k: int, seed: int = 0) -> list[LabelRecord]:
    """Records whose negatives gain up to ``k`` verbs the teacher used with the same objects elsewhere.

    For each ``ok`` record, the pool is every verb that any ``ok`` record of ``records`` pairs
    with one of this record's objects (COCO name, else the raw object), less this record's
    positives (and their head words, as :func:`draw_negatives`) and its negatives. ``k`` of them
    are drawn with a per-image seed (:func:`image_seed` of ``seed`` and the image), so order
    and sharding change nothing. Other records come back unchanged. Not in the paper: a hard
    negative for L_I2T ("hold" for an image where the teacher says "read book"), because two
    verbs drawn from 75 rarely name the verbs an object is confused with.
    """
    if k <= 0:
        return list(records)
    by_object: dict[str, set[str]] = {}
    for rec in records:
        if rec.status == "ok":
            for p in rec.pairs:
                by_object.setdefault(p.coco or p.object, set()).add(p.verb)
    out = []
    for rec in records:
        if rec.status != "ok" or not rec.pairs:
            out.append(rec)
            continue
        skip = _banned(rec.verbs) | set(rec.negatives)
        pool = sorted({v for p in rec.pairs for v in by_object.get(p.coco or p.object, ())} - skip)
        rng = random.Random(image_seed(seed, "object-negatives:" + rec.image))
        extra = rng.sample(pool, min(k, len(pool)))
        out.append(replace(rec, negatives=list(rec.negatives) + extra) if extra else rec)
    return out
