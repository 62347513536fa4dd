"""The teacher interface (:class:`VlmClient`), its deterministic stub and the rule parser.

A teacher does two things (paper appendix A.1): it *captions* images with
prompt 1, and it *parses* captions into interaction pairs with prompt 2,
answering in text. Everything after that (normalisation, negatives, the
store) is the run's job, so a backend is only these two calls.

This module is the protocol: it imports none of the backends (they import
it). Which class a config's ``backend`` names is chosen in
:mod:`clhoi.teacher.backends`.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from clhoi import vocab
from clhoi.teacher.parse import format_pairs, parse_caption

if TYPE_CHECKING:
    from PIL import Image


class TeacherFatalError(RuntimeError):
    """The teacher cannot work at all (wrong URL, rejected key, missing model); the run stops."""


@dataclass
class TeacherImage:
    """One image handed to :meth:`VlmClient.caption`.

    Attributes:
        key: the image path relative to the image root (the label record's key).
        path: the image file.
        image: the decoded RGB image when the client ``needs_pixels``, else ``None``.
    """

    key: str
    path: Path
    image: "Image.Image | None" = None


@runtime_checkable
class VlmClient(Protocol):
    """A teacher: captions images (prompt 1) and parses captions (prompt 2).

    Both calls take a batch and return one item per input, in order. An item
    may be an ``Exception`` instead of a string: that image failed (a request
    that kept failing, say); the run records it as ``status="error"`` with the
    exception text as reason and goes on. Raising (rather than returning)
    fails the whole batch the same way; raise :class:`TeacherFatalError` to
    stop the run. Clients need not be thread-safe unless ``max_workers > 1``.

    Attributes:
        name: teacher id written to every record (model id, ``captions:<file>``, ...).
        needs_pixels: whether :meth:`caption` reads ``TeacherImage.image``
            (else the run leaves it ``None`` and skips decoding).
        max_workers: batches the run may have in flight at once (optional
            attribute, default 1; an HTTP client sets more).
    """

    name: str
    needs_pixels: bool

    def caption(self, images: Sequence[TeacherImage], prompt: str) -> list[str | Exception]:
        """Context captions, answering ``prompt`` about each image."""
        ...

    def parse(self, captions: Sequence[str], prompt: str) -> list[str | Exception]:
        """Answers to ``prompt`` (with ``{caption}`` filled in by :func:`render_parse_prompt`) for each caption."""
        ...


def render_parse_prompt(template: str, caption: str) -> str:
    """Prompt 2 for one caption (the ``{caption}`` placeholder replaced, other braces left alone)."""
    return template.replace("{caption}", caption.strip())


class RuleParser:
    """Parses captions with the rule-based parser (no LLM); cannot caption.

    Its answers are the pairs in prompt 2's answer style (``<ride, horse>`` lines),
    so the record's ``raw["parse"]`` shows what the rules found.
    """

    name = "rules"
    needs_pixels = False

    def caption(self, images: Sequence[TeacherImage], prompt: str) -> list[str | Exception]:
        raise TeacherFatalError("the rule-based parser cannot caption images; pick a caption backend")

    def parse(self, captions: Sequence[str], prompt: str) -> list[str | Exception]:
        return [format_pairs(parse_caption(c)) for c in captions]


class StubClient:
    """A deterministic fake teacher for tests, demos and dry pipelines.

    Captions come from ``captions`` (a mapping or a function of the image key)
    or, by default, from a hash of the key: a person doing one of HICO-DET's
    interactions (``"A person is riding a horse."``), and for about one key in
    ten a caption without an action. Parsing answers with the rule-based
    parser in the paper's ``*verb, object.`` style.

    Args:
        captions: image key -> caption, or a function of the key.
        fail: image keys whose caption fails (returned as an exception).
        needs_pixels: ask the run to decode images (to exercise that path).
    """

    def __init__(
        self,
        captions: Mapping[str, str] | Callable[[str], str] | None = None,
        fail: Sequence[str] = (),
        needs_pixels: bool = False,
    ) -> None:
        self.name = "stub"
        self.needs_pixels = needs_pixels
        self._captions = captions
        self._fail = set(fail)

    def caption(self, images: Sequence[TeacherImage], prompt: str) -> list[str | Exception]:
        out: list[str | Exception] = []
        for item in images:
            if item.key in self._fail:
                out.append(RuntimeError(f"stub teacher failed on {item.key}"))
            elif callable(self._captions):
                out.append(self._captions(item.key))
            elif self._captions is not None:
                out.append(self._captions.get(item.key, "An empty room."))
            else:
                out.append(stub_caption(item.key))
        return out

    def parse(self, captions: Sequence[str], prompt: str) -> list[str | Exception]:
        return [" ".join(f"*{p.verb.capitalize()}, {p.object}." for p in parse_caption(c)) for c in captions]


_DOUBLING = frozenset(
    "cut hit sit stop run swim pet hug hop grab tag zip drag flip set stab stir spin sip rub dig skip chop drop "
    "clap tap pat trim jog".split()
)


def _ing(verb: str) -> str:
    """``ride`` -> ``riding``: enough English for the stub's captions (no lemminflect table to load)."""
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    return verb + verb[-1] + "ing" if verb in _DOUBLING else verb + "ing"


def stub_caption(key: str) -> str:
    """The :class:`StubClient`'s default caption of an image key (deterministic)."""
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")
    if h % 10 == 0:
        return "A quiet street with parked cars."
    space = vocab.hicodet()
    verb, obj = space.hoi[h % space.num_classes]
    verb_words = space.verbs[verb].split("_")
    if verb_words[0] == "no":
        return f"A person next to a {space.objects[obj].replace('_', ' ')}."
    verb_words[0] = _ing(verb_words[0])
    return f"A person is {' '.join(verb_words)} a {space.objects[obj].replace('_', ' ')}."
