"""The teacher's prompts, as text files beside this module (paper appendix A.1).

``caption.txt`` is prompt 1, sent with the image; ``parse.txt`` is prompt 2,
sent to the language model alone, with the caption in place of ``{caption}``
(a ``str.format`` placeholder). A trailing newline of a file is not part of
the prompt.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent


def available_prompts() -> list[str]:
    """Names of the bundled prompts."""
    return sorted(p.stem for p in _HERE.glob("*.txt"))


def load_prompt(name_or_path: str, required_field: str | None = None) -> str:
    """Read a prompt by bundled name (``"caption"``) or from a ``.txt`` path.

    Args:
        name_or_path: a bundled prompt name or a path to a text file.
        required_field: a ``str.format`` field the prompt must contain
            (``"caption"`` for prompt 2).

    Raises:
        FileNotFoundError: neither a bundled name nor an existing file; the
            message lists the bundled names.
        ValueError: the required field is missing.
    """
    path = _HERE / f"{name_or_path}.txt"
    if not path.is_file():
        path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"prompt {name_or_path!r} is neither a bundled prompt ({', '.join(available_prompts())}) "
            "nor an existing .txt file"
        )
    text = path.read_text(encoding="utf-8").rstrip("\n")
    if required_field and "{" + required_field + "}" not in text:
        raise ValueError(f"prompt {path} must contain the placeholder {{{required_field}}}")
    return text
