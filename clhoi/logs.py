"""Python ``logging`` for the command line: one set-up, driven by ``clhoi -v`` / ``clhoi -q``.

Library code logs to ``logging.getLogger(__name__)`` (the ``clhoi.*`` loggers)
and never configures logging itself; :func:`setup_logging` is called once by
the CLI's root callback. Levels:

=========  ==================  ==========================================  ==========================
verbosity  clhoi loggers       transformers / accelerate / huggingface_hub  their progress bars
=========  ==================  ==========================================  ==========================
``-q``     WARNING             ERROR                                        off
default    INFO                WARNING                                      off (our rich bars show)
``-v``     DEBUG               INFO                                         on
``-vv``    DEBUG               DEBUG                                        on
=========  ==================  ==========================================  ==========================

Imports nothing heavy: transformers is quieted through its environment
variables when it is not imported yet, and through its API when it is.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

LIBRARIES = ("transformers", "accelerate", "huggingface_hub", "torch")
"""Third-party loggers whose level follows the verbosity."""

_HANDLER_NAME = "clhoi-cli"


def levels(verbosity: int) -> tuple[int, int]:
    """``(level of the clhoi loggers, level of the third-party loggers)`` for a verbosity (-1, 0, 1, 2...)."""
    if verbosity < 0:
        return logging.WARNING, logging.ERROR
    if verbosity == 0:
        return logging.INFO, logging.WARNING
    if verbosity == 1:
        return logging.DEBUG, logging.INFO
    return logging.DEBUG, logging.DEBUG


def setup_logging(verbosity: int, stream=None) -> None:
    """Configure the ``clhoi`` logger (one stderr handler) and quiet the libraries' logs and progress bars.

    Calling it again replaces the handler it installed (so a test or a second
    command in one process gets the new verbosity, not two handlers).

    Args:
        verbosity: -1 (``-q``), 0 (default), 1 (``-v``), 2+ (``-vv``).
        stream: where the messages go (default ``sys.stderr``).
    """
    ours, theirs = levels(verbosity)
    root = logging.getLogger("clhoi")
    for h in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(h)
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    fmt = "%(levelname)s %(name)s: %(message)s" if verbosity > 0 else "%(message)s"
    handler.setFormatter(_LevelPrefix(fmt))
    root.addHandler(handler)
    root.setLevel(ours)
    root.propagate = False  # one line per message, whatever the root logger does
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(theirs)
    quiet_bars = verbosity <= 0
    # read by transformers and huggingface_hub when they are imported (later, in the command)
    os.environ["TRANSFORMERS_VERBOSITY"] = logging.getLevelName(theirs).lower()
    if quiet_bars:
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    else:
        os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    if "transformers" in sys.modules:  # already imported: use its API
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(theirs)
        with warnings.catch_warnings():  # the hub warns when its own env variable was set at its import
            warnings.simplefilter("ignore")
            (hf_logging.disable_progress_bar if quiet_bars else hf_logging.enable_progress_bar)()


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (a test runner may swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; the property wins
        pass


class _LevelPrefix(logging.Formatter):
    """Plain messages for INFO; ``warning:`` / ``error:`` in front of the others at the default verbosity."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if self._fmt == "%(message)s" and record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {text}"
        return text
