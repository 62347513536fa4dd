"""The error every annotation reader raises, and the field checks that raise it.

A malformed annotation file fails loudly with a message that names the file,
the record (index and, when known, the image file name) and the field, so a
user can open the file at the right place. Readers never drop a record
silently.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path
from typing import Any


class AnnotationError(ValueError):
    """A malformed annotation file.

    Attributes:
        path: the file read.
        record: which record, e.g. ``"#12 (HICO_test2015_00000013.jpg)"``.
        field: the field at fault, as a path into the record
            (``"hoi_annotation[3].object_id"``).
        problem: what is wrong with it.
    """

    def __init__(self, path: str, record: str, field: str, problem: str) -> None:
        self.path, self.record, self.field, self.problem = str(path), record, field, problem
        super().__init__(f"{path}: record {record}: field '{field}': {problem}")


def record_name(index: int, file_name: Any = None) -> str:
    """How messages name a record: ``"#index (file_name)"``."""
    return f"#{index} ({file_name})" if isinstance(file_name, str) and file_name else f"#{index}"


def check_int(value: Any, path: str, record: str, field: str, low: int, high: int) -> int:
    """``value`` (Python or NumPy number) as an int in ``[low, high]``; bools and fractions are refused."""
    if type(value) is int and low <= value <= high:  # the common case, fast
        return value
    integral = isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and float(value).is_integer())
    if isinstance(value, bool) or not integral:
        raise AnnotationError(path, record, field, f"expected an integer, got {value!r}")
    value = int(value)
    if not low <= value <= high:
        raise AnnotationError(path, record, field, f"{value} is out of range [{low}, {high}]")
    return value


def check_list(value: Any, path: str, record: str, field: str) -> list:
    """``value`` when it is a list; otherwise an error naming the field."""
    if not isinstance(value, list):
        raise AnnotationError(path, record, field, f"expected a list, got {type(value).__name__}")
    return value


def check_xyxy(value: Any, path: str, record: str, field: str) -> tuple[float, float, float, float]:
    """A finite ``[x1, y1, x2, y2]`` box with ``x2 >= x1`` and ``y2 >= y1``."""
    if type(value) is list and len(value) == 4 and all(type(v) is float or type(v) is int for v in value):
        box = (float(value[0]), float(value[1]), float(value[2]), float(value[3]))  # fast path for JSON numbers
        if box[2] >= box[0] and box[3] >= box[1] and all(math.isfinite(v) for v in box):
            return box
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise AnnotationError(path, record, field, f"expected a box [x1, y1, x2, y2], got {value!r}")
    try:
        box = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise AnnotationError(path, record, field, f"box has a non-numeric coordinate: {value!r}") from None
    if not all(math.isfinite(v) for v in box):
        raise AnnotationError(path, record, field, f"box has a non-finite coordinate: {value!r}")
    if box[2] < box[0] or box[3] < box[1]:
        raise AnnotationError(path, record, field, f"box {list(box)} has x2 < x1 or y2 < y1")
    return box  # type: ignore[return-value]


def require(record: dict, key: str, path: str, name: str, prefix: str = "") -> Any:
    """``record[key]``, or an error naming the missing field."""
    if not isinstance(record, dict):
        raise AnnotationError(path, name, prefix.rstrip(".") or "<record>", f"expected an object, got {type(record).__name__}")
    if key not in record:
        raise AnnotationError(path, name, prefix + key, f"missing (the record has {sorted(record)})")
    return record[key]


_DIGITS_AS_ZERO = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))
_NINETEEN_DIGITS = b"0" * 19


def load_json_file(path: str, what: str) -> Any:
    """Parse the JSON annotation file ``path`` (``what`` names it in errors).

    Raises:
        FileNotFoundError: the file does not exist.
        AnnotationError: it is not valid JSON.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:  # orjson: several times faster; anything it refuses is read again by json, for json's result or message
        import orjson

        with open(path, "rb") as f:
            raw = f.read()
        if _NINETEEN_DIGITS not in raw.translate(_DIGITS_AS_ZERO):  # orjson makes a float of an int >= 2**64
            return orjson.loads(raw)
    except (ImportError, ValueError):
        pass
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise AnnotationError(path, "<file>", "<json>", f"not valid JSON ({e})") from None
