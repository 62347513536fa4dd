"""Captions from a file instead of a VLLM (the paper's Table 3 weak setting: COCO captions).

Three file forms are read:

* JSON lines, one ``{"image": "<key>", "caption": "..."}`` (or ``"captions": [...]``) per line;
* a JSON object ``{"<key>": "caption" or ["caption", ...]}``;
* a COCO captions file (``captions_train2014.json``: ``images`` + ``annotations``).

An image is found by its key (path relative to the image root) or, failing
that, by its file name. Several captions of one image are joined into one
text, each a sentence. Prompt 2 still parses them: with ``teacher.parser``
``same`` the rule-based parser does, or name an LLM backend.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from clhoi.teacher.client import RuleParser, TeacherImage


def _join(captions: Sequence[str]) -> str:
    sentences = []
    for c in dict.fromkeys(c.strip() for c in captions if isinstance(c, str) and c.strip()):
        sentences.append(c if c[-1] in ".!?" else c + ".")
    return " ".join(sentences)


def load_captions(path: str | Path) -> dict[str, str]:
    """``image key or file name -> caption`` from any of the supported file forms.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is none of the forms; the message says which it expected.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"captions file {path} does not exist (teacher.captions_file)")
    text = path.read_text(encoding="utf-8")
    found: dict[str, list[str]] = {}
    data: Any = None
    try:
        data = None if path.suffix == ".jsonl" else json.loads(text)
    except ValueError:
        pass
    if isinstance(data, dict) and "image" in data and ("caption" in data or "captions" in data):
        data = None  # a JSON-lines file of one line
    if data is None:
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                key = row["image"]
                caps = row["captions"] if "captions" in row else [row["caption"]]
            except (ValueError, KeyError, TypeError):
                raise ValueError(
                    f"{path}:{lineno}: expected a JSON line {{\"image\": ..., \"caption\": ...}}, "
                    "a JSON object {image: caption}, or a COCO captions file"
                ) from None
            found.setdefault(str(key), []).extend(caps if isinstance(caps, list) else [caps])
    if isinstance(data, dict) and "annotations" in data and "images" in data:
        names = {img["id"]: img["file_name"] for img in data["images"]}
        for ann in data["annotations"]:
            if ann.get("image_id") in names:
                found.setdefault(names[ann["image_id"]], []).append(ann.get("caption", ""))
    elif isinstance(data, dict):
        for key, caps in data.items():
            found[str(key)] = caps if isinstance(caps, list) else [caps]
    elif data is not None:
        raise ValueError(f"{path}: a JSON {type(data).__name__}; expected an object or JSON lines")
    return {k: _join(v) for k, v in found.items()}


class CaptionsFileClient:
    """A teacher whose captions come from a file; parsing is rule-based (see module docstring).

    Args:
        captions: image key or file name -> caption.
        source: the file's name, for the teacher id ``captions:<source>``.
    """

    needs_pixels = False

    def __init__(self, captions: dict[str, str], source: str = "") -> None:
        self.captions = captions
        self.name = f"captions:{source}"
        self._source = source
        self._rules = RuleParser()

    @classmethod
    def from_file(cls, path: str | Path) -> "CaptionsFileClient":
        return cls(load_captions(path), Path(path).name)

    def caption(self, images: Sequence[TeacherImage], prompt: str) -> list[str | Exception]:
        out: list[str | Exception] = []
        for item in images:
            caption = self.captions.get(item.key)
            if caption is None:
                caption = self.captions.get(PurePosixPath(item.key).name)
            out.append(caption if caption is not None else LookupError(f"no caption for {item.key} in {self._source}"))
        return out

    def parse(self, captions: Sequence[str], prompt: str) -> list[str | Exception]:
        return self._rules.parse(captions, prompt)
