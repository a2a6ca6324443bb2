"""KQL's values and what operators do with them: conversions (``tostring``, ``toint``...),
arithmetic on numbers, datetimes and timespans, comparisons where any comparison with null is
false, sort and group keys, and how computed values leave a query (as ARG renders them).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, cast

UTC = timezone.utc
_INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

_DATETIME_TEXT = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
    r"(?:[T ]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?)?"
    r"\s*(Z|[+-][0-9]{2}:?[0-9]{2})?",
    re.ASCII | re.IGNORECASE,
)
_INT_TEXT = re.compile(r"\s*[+-]?[0-9]{1,25}\s*", re.ASCII)
_REAL_TEXT = re.compile(
    r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?\s*", re.ASCII
)
_NUMBER_TYPES = frozenset({int, float})
_TEXT_LIKE = frozenset({int, float, bool})


def parse_datetime(text: str) -> datetime | None:
    """ISO 8601 as ARG emits it (``2026-11-10T12:00:00.0000000Z``); naive means UTC."""
    match = _DATETIME_TEXT.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        value = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        ).replace(microsecond=micro, tzinfo=UTC)
        if offset and offset.upper() != "Z":
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            value = value - sign * delta
    except (ValueError, OverflowError):
        return None
    return value


def aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return aware(value)
    if type(value) is str:
        return parse_datetime(value)
    return None


def _format_real(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _format_datetime(value: datetime) -> str:
    value = aware(value).astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}0"
    return text + "Z"


def _format_timespan(value: timedelta) -> str:
    """KQL's ``[-][d.]hh:mm:ss[.fffffff]``."""
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if value.days:
        text = f"{value.days}.{text}"
    if value.microseconds:
        text += f".{value.microseconds:06d}0"
    return sign + text


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, datetime):
        return _format_datetime(value)
    if isinstance(value, timedelta):
        return _format_timespan(value)
    return str(value)


def to_string(value: Any) -> str:
    """KQL's ``tostring``: null is empty, bags and arrays are compact JSON."""
    kind = type(value)
    if kind is str:
        return cast("str", value)
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return _format_real(value)
    if isinstance(value, datetime):
        return _format_datetime(value)
    if isinstance(value, timedelta):
        return _format_timespan(value)
    if isinstance(value, (Mapping, list, tuple)):
        try:
            return json.dumps(
                value, separators=(",", ":"), ensure_ascii=False, default=_json_default
            )
        except (ValueError, TypeError, RecursionError):
            return str(value)
    return str(value)


def _to_integer(value: Any, low: int, high: int) -> int | None:
    kind = type(value)
    number: int
    if kind is int or kind is bool:
        number = int(value)
    elif kind is float:
        if not math.isfinite(value):
            return None
        number = int(value)
    elif kind is str and _INT_TEXT.fullmatch(value):
        number = int(value)
    elif kind is str and _REAL_TEXT.fullmatch(value):
        real = float(value)
        if not math.isfinite(real):
            return None
        number = int(real)
    else:
        return None
    return number if low <= number <= high else None


def to_int(value: Any) -> int | None:
    return _to_integer(value, _INT32_MIN, _INT32_MAX)


def to_long(value: Any) -> int | None:
    return _to_integer(value, _INT64_MIN, INT64_MAX)


def to_real(value: Any) -> float | None:
    kind = type(value)
    if kind is float or kind is int or kind is bool:
        return float(value)
    if kind is str and _REAL_TEXT.fullmatch(value):
        return float(value)
    return None


def to_bool(value: Any) -> bool | None:
    kind = type(value)
    if kind is bool:
        return cast("bool", value)
    if kind is str:
        return {"true": True, "false": False}.get(value.strip().lower())
    if kind is int and value in (0, 1):
        return bool(value)
    return None


def to_datetime(value: Any) -> datetime | None:
    return _as_datetime(value)


def parse_json(value: Any) -> Any:
    """Invalid JSON stays the string it was, as ``parse_json`` does in KQL."""
    if type(value) is not str:
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value


def logical_not(value: Any) -> bool | None:
    return not value if type(value) is bool else None


def is_empty(value: Any) -> bool:
    return value is None or (type(value) is str and not value)


def array_length(value: Any) -> int | None:
    return len(value) if isinstance(value, (list, tuple)) else None


def bag_keys(value: Any) -> list[str] | None:
    return list(value) if isinstance(value, Mapping) else None


def _wrap64(number: int) -> int:
    """KQL longs wrap around; Python ints would grow without bound."""
    if _INT64_MIN <= number <= INT64_MAX:
        return number
    return ((number - _INT64_MIN) % 2**64) + _INT64_MIN


def _is_number(value: Any) -> bool:
    return type(value) in _NUMBER_TYPES


def _number_result(value: int | float) -> int | float:
    return _wrap64(value) if type(value) is int else value


def add(a: Any, b: Any) -> Any:
    try:
        if _is_number(a) and _is_number(b):
            return _number_result(a + b)
        if isinstance(a, datetime) and isinstance(b, timedelta):
            return aware(a) + b
        if isinstance(a, timedelta) and isinstance(b, datetime):
            return aware(b) + a
        if isinstance(a, timedelta) and isinstance(b, timedelta):
            return a + b
    except OverflowError:
        return None
    return None


def subtract(a: Any, b: Any) -> Any:
    try:
        if _is_number(a) and _is_number(b):
            return _number_result(a - b)
        if isinstance(a, datetime) and isinstance(b, timedelta):
            return aware(a) - b
        if isinstance(a, datetime) and isinstance(b, datetime):
            return aware(a) - aware(b)
        if isinstance(a, timedelta) and isinstance(b, timedelta):
            return a - b
    except OverflowError:
        return None
    return None


def multiply(a: Any, b: Any) -> Any:
    try:
        if _is_number(a) and _is_number(b):
            return _number_result(a * b)
        if isinstance(a, timedelta) and _is_number(b):
            return a * b
        if _is_number(a) and isinstance(b, timedelta):
            return b * a
    except (OverflowError, ValueError):
        return None
    return None


def divide(a: Any, b: Any) -> Any:
    try:
        if type(a) is int and type(b) is int:
            quotient = abs(a) // abs(b)  # KQL truncates integer division toward zero
            return _wrap64(quotient if (a < 0) == (b < 0) else -quotient)
        if _is_number(a) and _is_number(b):
            return a / b
        if isinstance(a, timedelta) and (_is_number(b) or isinstance(b, timedelta)):
            return a / b
    except (ZeroDivisionError, OverflowError, ValueError):
        return None
    return None


def negative(value: Any) -> Any:
    if _is_number(value):
        return _number_result(-value)
    if isinstance(value, timedelta):
        try:
            return -value
        except OverflowError:
            return None
    return None


def comparable(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Both non-null values as one orderable kind, or None when KQL would not compare them."""
    ta, tb = type(a), type(b)
    if ta is tb and (ta is str or ta is int or ta is float or ta is bool or ta is timedelta):
        return a, b
    if ta in _NUMBER_TYPES and tb in _NUMBER_TYPES:
        return a, b
    if isinstance(a, datetime) or isinstance(b, datetime):
        da, db = _as_datetime(a), _as_datetime(b)
        return None if da is None or db is None else (da, db)
    return None


def equal(a: Any, b: Any) -> bool | None:
    """``==``; None when either side is null, which every comparison treats as false."""
    if a is None or b is None:
        return None
    pair = comparable(a, b)
    if pair is not None:
        return bool(pair[0] == pair[1])
    ta, tb = type(a), type(b)
    # A dynamic number or bool against a string compares as text, as KQL converts dynamic.
    if ta is str and tb in _TEXT_LIKE:
        return bool(a == to_string(b))
    if tb is str and ta in _TEXT_LIKE:
        return bool(to_string(a) == b)
    return ta is tb and bool(a == b)


def equal_ci(a: Any, b: Any) -> bool | None:
    """``=~`` is a string operator: both sides compare as lower-cased text."""
    if a is None or b is None:
        return None
    if isinstance(a, datetime) or isinstance(b, datetime):
        return equal(a, b)
    return to_string(a).lower() == to_string(b).lower()


def sort_key(value: Any) -> tuple[int, Any]:
    kind = type(value)
    if kind is bool:
        return 0, value
    if kind is int or kind is float:
        return 1, value
    if isinstance(value, datetime):
        return 2, aware(value)
    if isinstance(value, timedelta):
        return 3, value
    if kind is str:
        return 4, value
    return 5, to_string(value)


def group_key(value: Any) -> Any:
    """A hashable key that keeps 1, 1.0, true and "1" apart, and handles bags and arrays."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if isinstance(value, (Mapping, list, tuple)):
        return ("json", to_string(value))
    if isinstance(value, datetime):
        return ("datetime", aware(value))
    try:
        hash(value)
    except TypeError:
        return ("text", to_string(value))
    return (kind.__name__, value)


def output_value(value: Any) -> Any:
    """Datetimes and timespans leave as KQL renders them, so results are ready for JSON."""
    if isinstance(value, datetime):
        return _format_datetime(value)
    if isinstance(value, timedelta):
        return _format_timespan(value)
    return value
