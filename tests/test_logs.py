"""Python logging for every command: -q / default / -v levels, libraries quieted, one handler."""

from __future__ import annotations

import io
import logging
import os

from typer.testing import CliRunner

from clhoi.logs import levels, setup_logging


def test_setup_logging_levels_and_single_handler(monkeypatch):
    monkeypatch.delenv("TRANSFORMERS_VERBOSITY", raising=False)  # restored after the test
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    log = logging.getLogger("clhoi.some.module")
    try:
        for verbosity, shown in ((-1, ["careful"]), (0, ["hello", "warning: careful"]),
                                 (1, ["INFO clhoi.some.module: hello", "DEBUG clhoi.some.module: detail",
                                      "WARNING clhoi.some.module: careful"])):
            stream = io.StringIO()
            setup_logging(verbosity, stream)
            setup_logging(verbosity, stream)  # again: still one handler
            log.info("hello")
            log.debug("detail")
            log.warning("careful")
            lines = stream.getvalue().splitlines()
            if verbosity < 0:
                assert lines == ["warning: careful"]
            else:
                assert sorted(lines) == sorted(shown)
            assert logging.getLogger("transformers").level == levels(verbosity)[1]
        setup_logging(0, io.StringIO())
        assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1" and os.environ["TRANSFORMERS_VERBOSITY"] == "warning"
        from transformers.utils import logging as hf_logging

        assert not hf_logging.is_progress_bar_enabled()  # transformers' bars stay out of our rich bars
        setup_logging(1, io.StringIO())
        assert hf_logging.is_progress_bar_enabled() and "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ
    finally:
        root = logging.getLogger("clhoi")
        for h in list(root.handlers):
            root.removeHandler(h)
        root.setLevel(logging.NOTSET)
        root.propagate = True
        for name in ("transformers", "accelerate", "huggingface_hub", "torch"):
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_cli_verbosity_sets_python_logging(monkeypatch):
    monkeypatch.delenv("TRANSFORMERS_VERBOSITY", raising=False)
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    from clhoi.cli import app

    try:
        runner = CliRunner()
        assert runner.invoke(app, ["-q", "version"]).exit_code == 0
        assert logging.getLogger("clhoi").level == logging.WARNING
        assert runner.invoke(app, ["-vv", "version"]).exit_code == 0
        assert logging.getLogger("clhoi").level == logging.DEBUG
        assert logging.getLogger("transformers").level == logging.DEBUG
    finally:
        root = logging.getLogger("clhoi")
        for h in list(root.handlers):
            root.removeHandler(h)
        root.setLevel(logging.NOTSET)
        root.propagate = True
        for name in ("transformers", "accelerate", "huggingface_hub", "torch"):
            logging.getLogger(name).setLevel(logging.NOTSET)
