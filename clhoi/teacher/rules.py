"""The rule-based parser: a caption in, ``(verb, object)`` pairs out, no LLM.

Used when no LLM parses (``teacher.parser=rules``, offline runs), as the
fallback when an LLM's answer to prompt 2 holds no pair, and for answers
written as prose. It finds action verbs by their inflection and position
(``riding``, ``rides``, ``men ride``) among a lexicon of action verbs
(HICO-DET's 117, V-COCO's 26 and common ones; see
:func:`clhoi.teacher.normalize.action_verbs`) and takes the noun phrase after
each as its object. Pure functions.
"""

from __future__ import annotations

import re

from clhoi.teacher.normalize import (
    AUXILIARIES,
    DETERMINERS,
    HUMAN_WORDS,
    PARTICLES,
    action_verbs,
    clean_words,
    fold,
    phrasal_verbs,
    verb_lemma,
)

_CLAUSES = re.compile(r"[.!?;,:\n\r\t()\[\]<>{}\"*]+")
_STOP = frozenset(
    "and or but while as who which that where when whilst then than so because if there here it them "
    "him this".split()
)
_SUBJECT = HUMAN_WORDS | {"to", "and", "who", "they", "also", "both", "all", "together"}
_MAX_OBJECT_WORDS = 4


def _is_verb(words: list[str], i: int) -> bool:
    """Whether ``words[i]`` is used as an action verb here (no POS tagger: inflection + context)."""
    w = words[i]
    lemma = verb_lemma(w)
    if lemma not in action_verbs():
        return False
    prev = words[i - 1] if i else ""
    if prev in DETERMINERS:  # "a riding helmet", "his skis", "the swing"
        return False
    if w.endswith("ing") and lemma != w:
        return True
    # bare ("men ride"), -s ("a man rides") or past forms ("she held") need a subject or auxiliary before them
    return prev in _SUBJECT or prev in AUXILIARIES


def _object_after(words: list[str], j: int) -> tuple[str, int]:
    """The noun phrase starting at ``words[j]`` (determiners skipped) and the index after it."""
    out: list[str] = []
    while j < len(words) and (words[j] in DETERMINERS or words[j].isdigit()):
        j += 1
    while j < len(words) and len(out) < _MAX_OBJECT_WORDS + 2:
        w = words[j]
        if w in _STOP or w in AUXILIARIES or (w in PARTICLES and w != "of") or _is_verb(words, j):
            break
        if w == "of" and (not out or j + 1 >= len(words)):
            break
        out.append(w)
        j += 1
    while out and out[-1] == "of":
        out.pop()
    return " ".join(out[-_MAX_OBJECT_WORDS:]), j


def caption_pairs(caption: str) -> list[tuple[str, str]]:
    """Raw ``(verb, object)`` pairs of a caption, verbs lemmatised, objects as written.

    ``"A man riding a horse and holding a flag."`` -> ``[("ride", "horse"), ("hold", "flag")]``.
    A verb without an object gives ``(verb, "")``.
    """
    pairs: list[tuple[str, str]] = []
    for clause in _CLAUSES.split(fold(caption)):
        words = clean_words(clause)
        i = 0
        while i < len(words):
            if not _is_verb(words, i):
                i += 1
                continue
            verb = verb_lemma(words[i])
            j = i + 1
            if j < len(words) and words[j] in PARTICLES:
                if f"{verb} {words[j]}" in phrasal_verbs():
                    verb = f"{verb} {words[j]}"
                j += 1
            obj, j = _object_after(words, j)
            pairs.append((verb, obj))
            i = max(j, i + 1)
    return pairs


def has_action_verb(caption: str) -> bool:
    """Whether the caption describes an action at all (appendix A.2's filter)."""
    return bool(caption_pairs(caption))

