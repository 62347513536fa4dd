"""The verbosity the command line asked for (``clhoi -v`` / ``clhoi -q``), importable without heavy imports.

``level`` is 0 by default, 1, 2, ... for each ``-v`` and -1 for ``-q``. The CLI
sets it once, in its root callback, before any command runs; anything (logging
set-up, progress output) reads it with :func:`get_level`. With ``-v`` the CLI
also prints the traceback of an internal error (a bug); without it a bug is one
line asking for ``-v``.
"""

from __future__ import annotations

QUIET = -1
NORMAL = 0
VERBOSE = 1

level: int = NORMAL


def set_level(value: int) -> None:
    """Set the verbosity: -1 quiet, 0 normal, 1+ verbose."""
    global level
    level = int(value)


def get_level() -> int:
    """The verbosity set by :func:`set_level` (0 until the CLI sets it)."""
    return level
