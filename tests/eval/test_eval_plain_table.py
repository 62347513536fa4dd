"""`clhoi evaluate` prints the HICO-DET and V-COCO tables without rich when it can: the very text rich prints."""

import io
import sys

import numpy as np
import pytest
from rich.console import Console

from clhoi.eval.hicodet import HICODetResult, SettingResult
from clhoi.eval.run import _centred_lines
from clhoi.eval.vcoco import VCOCOResult
from clhoi.eval.run import metrics_table, plain_metrics_text


class Stream(io.StringIO):
    def __init__(self, tty=False, encoding="utf-8"):
        super().__init__()
        self._tty, self._encoding = tty, encoding

    def isatty(self):
        return self._tty

    @property
    def encoding(self):
        return self._encoding


def _result(rng, images, triplets):
    def setting():
        v = rng.choice([0.0, 1.0, rng.random(), rng.random() / 10, 0.99999, 0.004999], 3)
        return SettingResult(np.zeros(1), np.zeros(1), v[0], v[1], v[2], v[0])

    return HICODetResult(setting(), setting(), np.zeros(600, int), np.zeros(600, bool), ("x",) * 600, images, triplets)


def _rich(result, width):
    out = Stream()
    Console(file=out, width=width).print(metrics_table(result))
    return out.getvalue()


def _plain_terminal(monkeypatch, width):
    """A pipe of ``width`` columns, no forced colours: where the plain text may stand in for rich."""
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)


@pytest.mark.parametrize("width", [20, 42, 43, 44, 80, 200])
def test_the_plain_text_is_what_rich_prints(monkeypatch, width):
    _plain_terminal(monkeypatch, width)
    rng = np.random.default_rng(width)
    seen = 0
    for images, triplets in ((9658, 954600), (1, 0), (12, 3), (9658, 10**9), (10**6, 10**9), (10**12, 10**12)):
        result = _result(rng, images, triplets)
        text = plain_metrics_text(result, Stream())
        if text is not None:
            seen += 1
            assert text == _rich(result, width)
    if width >= 60:
        assert seen >= 4  # the usual results are printed without rich
    if width <= 20:
        assert seen == 0  # too narrow: rich wraps the table


def test_terminals_colours_and_other_encodings_are_left_to_rich(monkeypatch):
    result = _result(np.random.default_rng(0), 9658, 954600)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    assert plain_metrics_text(result, Stream()) is not None
    assert plain_metrics_text(result, Stream(tty=True)) is None
    assert plain_metrics_text(result, Stream(encoding="latin-1")) is None
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert plain_metrics_text(result, Stream()) is None
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert plain_metrics_text(result, Stream()) is None
    assert plain_metrics_text(object(), Stream()) is None  # not a result of ours: rich prints it


def _vcoco(rng, images, records):
    v = rng.choice([0.0, 1.0, rng.random(), rng.random() / 10, 0.99999, 0.004999, np.nan], 3)
    return VCOCOResult(np.zeros(26), np.zeros(29), np.zeros(29), np.zeros(26, int), v[0], v[1], v[2], images, records)


@pytest.mark.parametrize("width", [20, 27, 28, 29, 30, 31, 35, 44, 80, 200])
def test_the_plain_v_coco_text_is_what_rich_prints(monkeypatch, width):
    _plain_terminal(monkeypatch, width)
    rng = np.random.default_rng(width)
    seen = 0
    for images, records in ((1000, 9888), (4946, 1), (1, 0), (12, 3 * 10**6), (10**30, 10**30), (10**40, 10**5)):
        for _ in range(3):
            result = _vcoco(rng, images, records)
            text = plain_metrics_text(result, Stream())
            if text is not None:
                seen += 1
                assert text == _rich(result, width)
    if width >= 31:  # the widest table (an AP of 100.00)
        assert seen >= 12  # wrapped captions included: the usual results are printed without rich
    if width <= 27:  # narrower than any V-COCO table (three APs of 'nan': 28 columns): rich wraps it
        assert seen == 0


@pytest.mark.parametrize("width", [1, 5, 8, 9, 10, 13, 30, 61, 80])
def test_centred_lines_wrap_as_rich_does(width):
    from rich.console import Console
    from rich.text import Text

    for text in ("1000 images, 9888 predictions (triplets or detection records)", "a bb ccc dddd eeeee ffffff",
                 "V-COCO AP (%)", "x", "ab cd"):
        lines = _centred_lines(text, width)
        if lines is None:
            assert max(map(len, text.split(" "))) > width
            continue
        out = Stream()
        Console(file=out, width=width).print(Text(text), justify="center")  # as rich prints a table's caption
        assert "\n".join(lines) + "\n" == out.getvalue()
    assert _centred_lines("two  spaces", 80) is None and _centred_lines(" lead", 80) is None
    assert _centred_lines("caf\u00e9", 80) is None
