"""load_json_file reads with orjson when it can and gives exactly what json gives, errors included."""

import json

import pytest

from clhoi.data.errors import AnnotationError, load_json_file


@pytest.mark.parametrize("text", [
    '{"a": [1, 2.5, -0.0, 1e-400, 9007199254740993], "b": "x", "a2": {"c": null, "c": true}}',
    '[123456789012345678901, 1]',  # orjson would make a float of this int: json reads it
    '[NaN, Infinity, -Infinity]',  # not strict JSON: orjson refuses, json reads it
    '["\\ud800"]',  # a lone surrogate: orjson refuses, json reads it
    '[1E400]',
])
def test_same_values_as_json(tmp_path, text):
    path = tmp_path / "a.json"
    path.write_text(text, encoding="utf-8")
    got, want = load_json_file(str(path), "file"), json.loads(text)
    assert repr(got) == repr(want)  # also types (int / float) and -0.0


def test_same_errors_as_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"a": [1, 2,]}', encoding="utf-8")
    with pytest.raises(AnnotationError, match="not valid JSON"):
        load_json_file(str(path), "file")
    path.write_bytes(b'["\xff"]')  # not UTF-8: json's UnicodeDecodeError, as before
    with pytest.raises(UnicodeDecodeError):
        load_json_file(str(path), "file")
    with pytest.raises(FileNotFoundError):
        load_json_file(str(tmp_path / "missing.json"), "file")
