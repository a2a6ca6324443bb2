"""Evaluate a documented subset of KQL over in-memory Azure Resource Graph rows.

The emulator answers ``POST /providers/Microsoft.ResourceGraph/resources`` from rows it holds in
memory, so it needs a KQL engine. Real KQL is a large language; automation that talks to
Resource Graph uses a small part of it: filter by type, subscription and tags, dot into
``properties``, project a few columns, sort. We implement that part with KQL's semantics and
reject everything else with a `KqlError` naming what was found, where, and what is supported: a
query the emulator quietly answers differently from Azure would let a test pass that then fails
against the real service.

`parse` compiles every expression into a Python closure once, so `Query.execute` interprets no
syntax per row. Operators are chained generators: ``where`` never copies the table and ``take``
stops reading as soon as it has its rows.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, cast

__all__ = ["SUPPORTED_SUBSET", "KqlError", "Query", "parse"]

SUPPORTED_SUBSET = """\
Supported KQL subset (Azure Resource Graph emulator):
  query       table ( '|' operator )*
  table       resources, patchassessmentresources, patchinstallationresources,
              maintenanceresources, or any other table the emulator supplies
  operators   where <predicate>  (or filter <predicate>)
              project <column> | <name> = <expr> [, ...]
                  (a bare path is named after its last key: properties.osSku -> osSku,
                   tags['env'] -> env; a computed expression needs a name)
              project-away <column> [, ...]
              extend <name> = <expr> | <path> [, ...]
                  (later items and later operators see the new columns)
              order by | sort by <expr> [asc | desc] [nulls first | nulls last] [, ...]
                  (default: desc, nulls last)
              take <n> | limit <n>
              count                              (one row: Count)
              summarize [<name> =] count() [by <column> | <name> = <expr> [, ...]]
                  (columns: the by-columns, then count_)
              distinct <column> | <name> = <expr> [, ...]
  literals    'text' "text" (escapes \\\\ \\' \\" \\n \\r \\t \\uXXXX), @'verbatim' @"verbatim",
              42, 4.2, 1e3, true, false, null, datetime(2026-11-10), datetime(2026-11-10T12:00:00Z),
              timespans 7d 1h 30m 10s 100ms
  columns     id, name, properties.a.b, tags['env'], tags["env"], properties.list[0], ['odd name'];
              column names and keys are case-sensitive; a missing path is null
  comparison  == != (case-sensitive)  =~ !~ (case-insensitive)  < <= > >=
  strings     contains !contains contains_cs !contains_cs  has !has has_cs !has_cs (whole terms)
              startswith !startswith startswith_cs !startswith_cs
              endswith !endswith endswith_cs !endswith_cs  matches regex '<regex>'
  sets        in (...) !in (...) in~ (...) !in~ (...)   (lists of literals)
  logic       and  or  not(...)  ( ... )
  arithmetic  + - * /  and unary -, on numbers, datetimes and timespans
  functions   isnull isnotnull isempty isnotempty tostring tolower toupper toint tolong
              todouble toreal tobool toboolean todatetime strlen coalesce iff iif array_length
              split strcat substring parse_json todynamic bag_keys extract ago now
  Keywords, operators, function and table names are case-insensitive. Any comparison with null
  is false (use isnull/isempty). Comments run from // to the end of the line.
  Not supported: let, join, union, lookup, mv-expand, other operators and functions."""

_UTC = timezone.utc
_MAX_DEPTH = 80
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

_OPERATORS_HINT = (
    "Supported operators after '|': where, project, project-away, extend, order by, sort by, "
    "take, limit, count, summarize count() [by ...], distinct."
)
_EXPRESSION_HINT = (
    "An expression is a literal, a column or path (properties.a.b, tags['env']), a function "
    "call, or a comparison, string, set, logical or arithmetic operator applied to those."
)


class KqlError(ValueError):
    """A query outside the supported subset, or a malformed one.

    The emulator relays ``str(e)`` to the client as Azure would relay a query error, so the text
    is self-contained: what was found, where (offset, line and column, with a caret under the
    source line), and the supported subset. ``message`` is the short first sentence alone.
    """

    def __init__(
        self,
        message: str,
        position: int | None = None,
        *,
        query: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.position = position
        self.query = query
        self.hint = hint
        super().__init__(_render_error(message, position, query, hint))

    def __reduce__(self) -> tuple[Any, ...]:
        # The emulator may run in another process; keep the fields, not just the rendered text.
        return _restore_error, (self.message, self.position, self.query, self.hint)


def _restore_error(
    message: str, position: int | None, query: str | None, hint: str | None
) -> KqlError:
    return KqlError(message, position, query=query, hint=hint)


def _render_error(message: str, position: int | None, query: str | None, hint: str | None) -> str:
    lines = [message]
    if position is not None:
        lines = [f"{message} at position {position}"]
        if query is not None:
            position = min(max(position, 0), len(query))
            start = query.rfind("\n", 0, position) + 1
            end = query.find("\n", position)
            source = query[start : len(query) if end < 0 else end].replace("\t", " ")
            column = position - start
            window = max(0, column - 60)
            line_no = query.count("\n", 0, position) + 1
            lines = [
                f"{message} at position {position} (line {line_no}, column {column + 1}):",
                "    " + source[window : window + 120],
                "    " + " " * (column - window) + "^",
            ]
    if hint:
        lines.append(hint)
    lines += ["", SUPPORTED_SUBSET]
    return "\n".join(lines)


# --- tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "ident", "literal", "op", "eof", or "error" (value: the KqlError to raise)
    text: str
    pos: int
    value: Any = None

    @property
    def end(self) -> int:
        return self.pos + len(self.text)

    def is_op(self, *ops: str) -> bool:
        return self.kind == "op" and self.text in ops

    def is_word(self, *words: str) -> bool:
        return self.kind == "ident" and self.text.lower() in words


def _describe(token: _Token) -> str:
    if token.kind == "eof":
        return "end of query"
    text = token.text if len(token.text) <= 40 else token.text[:37] + "..."
    return f"'{text}'"


_SKIP = re.compile(r"(?:\s|//[^\n]*)+")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
# Longest first, so "==" is not read as "=" twice.
_OPERATOR_TOKENS = (
    *("==", "!=", "=~", "!~", "<=", ">=", "<", ">", "="),
    *("(", ")", "[", "]", ",", ".", "|", "+", "-", "*", "/"),
)
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t", "0": "\0"}
_TIMESPAN_UNITS: dict[str, tuple[str, float]] = {
    **dict.fromkeys(("d", "day", "days"), ("days", 1)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), ("hours", 1)),
    **dict.fromkeys(("m", "min", "minute", "minutes"), ("minutes", 1)),
    **dict.fromkeys(("s", "sec", "second", "seconds"), ("seconds", 1)),
    **dict.fromkeys(("ms", "milli", "millis", "millisecond", "milliseconds"), ("milliseconds", 1)),
    **dict.fromkeys(("microsecond", "microseconds"), ("microseconds", 1)),
    **dict.fromkeys(("tick", "ticks"), ("microseconds", 0.1)),
}


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while True:
        skipped = _SKIP.match(text, i)
        if skipped:
            i = skipped.end()
        if i >= n:
            tokens.append(_Token("eof", "", n))
            return tokens
        try:
            token = _next_token(text, i)
        except KqlError as error:
            # Raised only when the parser reaches it, so an earlier problem (say a 'let' in
            # front of a ';') is the one reported.
            tokens += [_Token("error", text[i], i, error), _Token("eof", "", n)]
            return tokens
        tokens.append(token)
        i = token.end


def _next_token(text: str, i: int) -> _Token:
    char = text[i]
    if char == "@" and text[i + 1 : i + 2] in ("'", '"'):
        value, end = _scan_verbatim(text, i)
        return _Token("literal", text[i:end], i, value)
    if char in ("'", '"'):
        value, end = _scan_string(text, i)
        return _Token("literal", text[i:end], i, value)
    word = _WORD.match(text, i)
    if word:
        return _word_token(text, i, word.group())
    if char == "!" and (negated := _WORD.match(text, i + 1)):
        spelling = "!" + negated.group()
        if negated.group().lower() == "in" and text[negated.end() : negated.end() + 1] == "~":
            spelling += "~"
        return _Token("ident", spelling, i)
    if char.isascii() and char.isdigit():
        return _number_token(text, i)
    for op in _OPERATOR_TOKENS:
        if text.startswith(op, i):
            return _Token("op", op, i)
    hint = "Multiple statements and 'let' are not supported." if char == ";" else None
    raise KqlError(f"unexpected character {char!r}", i, query=text, hint=hint)


def _word_token(text: str, i: int, word: str) -> _Token:
    end = i + len(word)
    lower = word.lower()
    if lower == "in" and text[end : end + 1] == "~":
        return _Token("ident", word + "~", i)
    if lower == "datetime":
        paren = _SKIP.match(text, end)
        open_at = paren.end() if paren else end
        if text[open_at : open_at + 1] == "(":
            return _datetime_token(text, i, open_at)
    return _Token("ident", word, i)


def _datetime_token(text: str, i: int, open_at: int) -> _Token:
    close = text.find(")", open_at)
    if close < 0:
        raise KqlError("unterminated datetime( literal: no ')'", i, query=text)
    content = text[open_at + 1 : close].strip()
    value = None if content.lower() == "null" else _parse_datetime(content)
    if value is None and content.lower() != "null":
        raise KqlError(
            f"malformed datetime literal {content!r}",
            i,
            query=text,
            hint="Write datetime(2026-11-10), datetime(2026-11-10T12:00:00Z) or datetime(null).",
        )
    return _Token("literal", text[i : close + 1], i, value)


def _number_token(text: str, i: int) -> _Token:
    match = _NUMBER.match(text, i)
    assert match is not None
    digits, end = match.group(), match.end()
    unit = _WORD.match(text, end)
    if unit:
        return _timespan_token(text, i, digits, unit.group())
    if "." in digits or "e" in digits.lower():
        real = float(digits)
        if not math.isfinite(real):
            raise KqlError(f"number {digits} is out of range", i, query=text)
        return _Token("literal", digits, i, real)
    integer = int(digits) if len(digits) <= 19 else _INT64_MAX + 1
    if integer > _INT64_MAX:
        raise KqlError(f"integer {digits[:30]} is out of range (64-bit)", i, query=text)
    return _Token("literal", digits, i, integer)


def _timespan_token(text: str, i: int, digits: str, unit: str) -> _Token:
    spelling = digits + unit
    known = _TIMESPAN_UNITS.get(unit.lower())
    if known is None:
        raise KqlError(
            f"malformed number or timespan {spelling!r}",
            i,
            query=text,
            hint="A timespan is a number followed by d, h, m, s or ms, e.g. 7d or 30m.",
        )
    unit_name, scale = known
    try:
        value = timedelta(**{unit_name: float(digits) * scale})
    except OverflowError:
        raise KqlError(f"timespan {spelling!r} is out of range", i, query=text) from None
    return _Token("literal", spelling, i, value)


def _scan_string(text: str, i: int) -> tuple[str, int]:
    quote, j, out = text[i], i + 1, list[str]()
    while j < len(text):
        char = text[j]
        if char == quote:
            return "".join(out), j + 1
        if char != "\\":
            out.append(char)
            j += 1
            continue
        escape = text[j + 1 : j + 2]
        if escape in _ESCAPES and escape:
            out.append(_ESCAPES[escape])
            j += 2
        elif escape == "u" and _HEX4.fullmatch(text[j + 2 : j + 6]):
            out.append(chr(int(text[j + 2 : j + 6], 16)))
            j += 6
        elif escape:
            raise KqlError(
                f"unknown escape sequence '\\{escape}' in a string",
                j,
                query=text,
                hint="Use \\\\ for a backslash, or a verbatim string: @'C:\\path' or @'\\d+'.",
            )
        else:
            break
    raise KqlError("unterminated string literal", i, query=text)


def _scan_verbatim(text: str, i: int) -> tuple[str, int]:
    """``@'...'``: no escapes; a doubled quote stands for one quote, as in KQL."""
    quote, j, out = text[i + 1], i + 2, list[str]()
    while j < len(text):
        if text[j] != quote:
            out.append(text[j])
            j += 1
        elif text[j + 1 : j + 2] == quote:
            out.append(quote)
            j += 2
        else:
            return "".join(out), j + 1
    raise KqlError("unterminated verbatim string literal", i, query=text)


# --- values -----------------------------------------------------------------------------------

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


def _parse_datetime(text: str) -> datetime | None:
    """ISO 8601 as ARG emits it (``2026-11-10T12:00:00.0000000Z``); naive means UTC."""
    match = _DATETIME_TEXT.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        value = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        ).replace(microsecond=micro, tzinfo=_UTC)
        if offset and offset.upper() != "Z":
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            value = value - sign * delta
    except (ValueError, OverflowError):
        return None
    return value


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=_UTC) if value.tzinfo is None else value


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return _aware(value)
    if type(value) is str:
        return _parse_datetime(value)
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
    value = _aware(value).astimezone(_UTC)
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


def _to_string(value: Any) -> str:
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


def _to_int(value: Any) -> int | None:
    return _to_integer(value, _INT32_MIN, _INT32_MAX)


def _to_long(value: Any) -> int | None:
    return _to_integer(value, _INT64_MIN, _INT64_MAX)


def _to_real(value: Any) -> float | None:
    kind = type(value)
    if kind is float or kind is int or kind is bool:
        return float(value)
    if kind is str and _REAL_TEXT.fullmatch(value):
        return float(value)
    return None


def _to_bool(value: Any) -> bool | None:
    kind = type(value)
    if kind is bool:
        return cast("bool", value)
    if kind is str:
        return {"true": True, "false": False}.get(value.strip().lower())
    if kind is int and value in (0, 1):
        return bool(value)
    return None


def _to_datetime(value: Any) -> datetime | None:
    return _as_datetime(value)


def _parse_json(value: Any) -> Any:
    """Invalid JSON stays the string it was, as ``parse_json`` does in KQL."""
    if type(value) is not str:
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value


def _not(value: Any) -> bool | None:
    return not value if type(value) is bool else None


def _is_empty(value: Any) -> bool:
    return value is None or (type(value) is str and not value)


def _array_length(value: Any) -> int | None:
    return len(value) if isinstance(value, (list, tuple)) else None


def _bag_keys(value: Any) -> list[str] | None:
    return list(value) if isinstance(value, Mapping) else None


def _wrap64(number: int) -> int:
    """KQL longs wrap around; Python ints would grow without bound."""
    if _INT64_MIN <= number <= _INT64_MAX:
        return number
    return ((number - _INT64_MIN) % 2**64) + _INT64_MIN


def _is_number(value: Any) -> bool:
    return type(value) in _NUMBER_TYPES


def _number_result(value: int | float) -> int | float:
    return _wrap64(value) if type(value) is int else value


def _add(a: Any, b: Any) -> Any:
    try:
        if _is_number(a) and _is_number(b):
            return _number_result(a + b)
        if isinstance(a, datetime) and isinstance(b, timedelta):
            return _aware(a) + b
        if isinstance(a, timedelta) and isinstance(b, datetime):
            return _aware(b) + a
        if isinstance(a, timedelta) and isinstance(b, timedelta):
            return a + b
    except OverflowError:
        return None
    return None


def _subtract(a: Any, b: Any) -> Any:
    try:
        if _is_number(a) and _is_number(b):
            return _number_result(a - b)
        if isinstance(a, datetime) and isinstance(b, timedelta):
            return _aware(a) - b
        if isinstance(a, datetime) and isinstance(b, datetime):
            return _aware(a) - _aware(b)
        if isinstance(a, timedelta) and isinstance(b, timedelta):
            return a - b
    except OverflowError:
        return None
    return None


def _multiply(a: Any, b: Any) -> Any:
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


def _divide(a: Any, b: Any) -> Any:
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


def _negative(value: Any) -> Any:
    if _is_number(value):
        return _number_result(-value)
    if isinstance(value, timedelta):
        try:
            return -value
        except OverflowError:
            return None
    return None


def _comparable(a: Any, b: Any) -> tuple[Any, Any] | None:
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


def _equal(a: Any, b: Any) -> bool | None:
    """``==``; None when either side is null, which every comparison treats as false."""
    if a is None or b is None:
        return None
    pair = _comparable(a, b)
    if pair is not None:
        return bool(pair[0] == pair[1])
    ta, tb = type(a), type(b)
    # A dynamic number or bool against a string compares as text, as KQL converts dynamic.
    if ta is str and tb in _TEXT_LIKE:
        return bool(a == _to_string(b))
    if tb is str and ta in _TEXT_LIKE:
        return bool(_to_string(a) == b)
    return ta is tb and bool(a == b)


def _equal_ci(a: Any, b: Any) -> bool | None:
    """``=~`` is a string operator: both sides compare as lower-cased text."""
    if a is None or b is None:
        return None
    if isinstance(a, datetime) or isinstance(b, datetime):
        return _equal(a, b)
    return _to_string(a).lower() == _to_string(b).lower()


def _sort_key(value: Any) -> tuple[int, Any]:
    kind = type(value)
    if kind is bool:
        return 0, value
    if kind is int or kind is float:
        return 1, value
    if isinstance(value, datetime):
        return 2, _aware(value)
    if isinstance(value, timedelta):
        return 3, value
    if kind is str:
        return 4, value
    return 5, _to_string(value)


def _group_key(value: Any) -> Any:
    """A hashable key that keeps 1, 1.0, true and "1" apart, and handles bags and arrays."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if isinstance(value, (Mapping, list, tuple)):
        return ("json", _to_string(value))
    if isinstance(value, datetime):
        return ("datetime", _aware(value))
    try:
        hash(value)
    except TypeError:
        return ("text", _to_string(value))
    return (kind.__name__, value)


def _output_value(value: Any) -> Any:
    """Datetimes and timespans leave as KQL renders them, so results are ready for JSON."""
    if isinstance(value, datetime):
        return _format_datetime(value)
    if isinstance(value, timedelta):
        return _format_timespan(value)
    return value


# --- compiled expressions ---------------------------------------------------------------------

Row = Mapping[str, Any]


@dataclass(frozen=True)
class _Env:
    now: datetime


_RowFn = Callable[[Row, _Env], Any]
_NO_ROW: Row = {}
_FOLD_ENV = _Env(datetime(1970, 1, 1, tzinfo=_UTC))
_Step = str | int


@dataclass(frozen=True)
class _Expr:
    """An expression compiled to ``fn(row, env)``, plus what the parser still needs to know."""

    fn: _RowFn
    pos: int
    depth: int = 1
    name: str | None = None  # the column name a bare path gets in project/extend/distinct
    path: tuple[str, tuple[_Step, ...]] | None = None
    is_const: bool = False
    value: Any = None
    temporal: bool = False  # may hold a datetime or timespan, which leaves as text


def _const(value: Any, pos: int) -> _Expr:
    return _Expr(
        lambda row, env: value,
        pos,
        is_const=True,
        value=value,
        temporal=isinstance(value, (datetime, timedelta)),
    )


def _node(
    fn: _RowFn,
    pos: int,
    children: Sequence[_Expr],
    *,
    temporal: bool = False,
    pure: bool = True,
) -> _Expr:
    """Fold constant subexpressions once, so `in` lists and regexes can be checked at parse."""
    if pure and all(child.is_const for child in children):
        return _const(fn(_NO_ROW, _FOLD_ENV), pos)
    depth = 1 + max((child.depth for child in children), default=0)
    return _Expr(fn, pos, depth=depth, temporal=temporal)


def _step(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        return value.get(key) if type(key) is str else None
    if isinstance(value, (list, tuple)):
        if type(key) is int and -len(value) <= key < len(value):
            return value[key]
        return None
    if isinstance(value, Mapping) and type(key) is str:
        return value.get(key)
    return None


def _path_fn(column: str, steps: tuple[_Step, ...]) -> _RowFn:
    if not steps:
        return lambda row, env: row.get(column)
    if len(steps) == 1:
        (key,) = steps

        def one(row: Row, env: _Env) -> Any:
            value = row.get(column)
            return value.get(key) if type(value) is dict else _step(value, key)

        return one

    def walk(row: Row, env: _Env) -> Any:
        value = row.get(column)
        for key in steps:
            if type(value) is dict and type(key) is str:
                value = value.get(key)
            elif value is None:
                return None
            else:
                value = _step(value, key)
        return value

    return walk


def _column(name: str, pos: int) -> _Expr:
    return _Expr(_path_fn(name, ()), pos, name=name, path=(name, ()))


def _member(base: _Expr, key: _Expr, pos: int) -> _Expr:
    static = key.is_const and (type(key.value) is str or type(key.value) is int)
    if base.path is not None and static:
        column, steps = base.path
        steps = (*steps, key.value)
        name = key.value if type(key.value) is str else base.name
        return _Expr(_path_fn(column, steps), base.pos, name=name, path=(column, steps))
    base_fn, key_fn = base.fn, key.fn
    return _node(lambda row, env: _step(base_fn(row, env), key_fn(row, env)), pos, [base, key])


def _logical(op: str, operands: Sequence[_Expr]) -> _Expr:
    """n-ary ``and``/``or`` with KQL's three-valued logic; n-ary keeps long chains shallow."""
    fns = tuple(operand.fn for operand in operands)
    if op == "and":

        def fn(row: Row, env: _Env) -> bool | None:
            result: bool | None = True
            for each in fns:
                value = each(row, env)
                if value is False:
                    return False
                if value is not True:
                    result = None
            return result

    else:

        def fn(row: Row, env: _Env) -> bool | None:
            result: bool | None = False
            for each in fns:
                value = each(row, env)
                if value is True:
                    return True
                if value is not False:
                    result = None
            return result

    return _node(fn, operands[0].pos, operands)


_ORDERING: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _ordering(op: str, left: _Expr, right: _Expr) -> _Expr:
    compare, lf, rf = _ORDERING[op], left.fn, right.fn

    def fn(row: Row, env: _Env) -> bool:
        a, b = lf(row, env), rf(row, env)
        if a is None or b is None:
            return False
        pair = _comparable(a, b)
        if pair is None or type(pair[0]) is bool:
            return False
        return bool(compare(pair[0], pair[1]))

    return _node(fn, left.pos, [left, right])


def _equality(op: str, left: _Expr, right: _Expr) -> _Expr:
    if op in _ORDERING:
        return _ordering(op, left, right)
    insensitive = op in ("=~", "!~")
    want = op in ("==", "=~")  # != and !~ are true when the values differ, never on null
    equal = _equal_ci if insensitive else _equal
    lf, rf = left.fn, right.fn
    if right.is_const and type(right.value) is str:
        literal: str = right.value.lower() if insensitive else right.value
        if insensitive:

            def fn(row: Row, env: _Env) -> bool:
                value = lf(row, env)
                if type(value) is str:
                    return (value.lower() == literal) is want
                return equal(value, literal) is want

        else:

            def fn(row: Row, env: _Env) -> bool:
                value = lf(row, env)
                if type(value) is str:
                    return (value == literal) is want
                return equal(value, literal) is want

    else:

        def fn(row: Row, env: _Env) -> bool:
            return equal(lf(row, env), rf(row, env)) is want

    return _node(fn, left.pos, [left, right])


@lru_cache(maxsize=256)
def _term_pattern(needle: str, case_sensitive: bool) -> re.Pattern[str]:
    """``has`` matches whole terms: the needle may not continue an alphanumeric run."""
    before = "(?<![0-9A-Za-z])" if needle[:1].isalnum() else ""
    after = "(?![0-9A-Za-z])" if needle[-1:].isalnum() else ""
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.compile(before + re.escape(needle) + after, flags)


def _same(text: str) -> str:
    return text


_STRING_TESTS: dict[str, tuple[Callable[[str], Any], Callable[[str, Any], bool]]] = {
    "contains": (str.lower, lambda text, needle: needle in text.lower()),
    "contains_cs": (_same, lambda text, needle: needle in text),
    "has": (
        lambda needle: _term_pattern(needle, False),
        lambda text, pattern: pattern.search(text) is not None,
    ),
    "has_cs": (
        lambda needle: _term_pattern(needle, True),
        lambda text, pattern: pattern.search(text) is not None,
    ),
    "startswith": (str.lower, lambda text, needle: text.lower().startswith(needle)),
    "startswith_cs": (_same, str.startswith),
    "endswith": (str.lower, lambda text, needle: text.lower().endswith(needle)),
    "endswith_cs": (_same, str.endswith),
}


def _string_operator(op: str, left: _Expr, right: _Expr) -> _Expr:
    negate = op.startswith("!")
    prepare, test = _STRING_TESTS[op.lstrip("!").lower()]
    lf, rf = left.fn, right.fn
    if right.is_const and right.value is not None:
        needle = prepare(_to_string(right.value))

        def fn(row: Row, env: _Env) -> bool:
            value = lf(row, env)
            if value is None:
                return False
            return test(value if type(value) is str else _to_string(value), needle) is not negate

    else:

        def fn(row: Row, env: _Env) -> bool:
            value, other = lf(row, env), rf(row, env)
            if value is None or other is None:
                return False
            return test(_to_string(value), prepare(_to_string(other))) is not negate

    return _node(fn, left.pos, [left, right])


def _membership(op: str, left: _Expr, values: Sequence[Any]) -> _Expr:
    negate, insensitive = op.startswith("!"), op.endswith("~")
    equal = _equal_ci if insensitive else _equal
    texts = frozenset(
        (value.lower() if insensitive else value) for value in values if type(value) is str
    )
    others = tuple(value for value in values if type(value) is not str and value is not None)
    everything = tuple(value for value in values if value is not None)
    lf = left.fn

    def contained(value: Any) -> bool:
        if type(value) is str:
            if (value.lower() if insensitive else value) in texts:
                return True
            candidates = others
        else:
            candidates = everything
        return any(equal(value, candidate) is True for candidate in candidates)

    def fn(row: Row, env: _Env) -> bool:
        value = lf(row, env)
        if type(value) is str and not others:
            return ((value.lower() if insensitive else value) in texts) is not negate
        if value is None:
            return False
        return contained(value) is not negate

    return _node(fn, left.pos, [left])


def _matches(left: _Expr, pattern: re.Pattern[str]) -> _Expr:
    lf = left.fn

    def fn(row: Row, env: _Env) -> bool:
        value = lf(row, env)
        return value is not None and pattern.search(_to_string(value)) is not None

    return _node(fn, left.pos, [left])


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": _add,
    "-": _subtract,
    "*": _multiply,
    "/": _divide,
}


def _arithmetic(op: str, left: _Expr, right: _Expr) -> _Expr:
    compute, lf, rf = _ARITHMETIC[op], left.fn, right.fn
    return _node(
        lambda row, env: compute(lf(row, env), rf(row, env)),
        left.pos,
        [left, right],
        temporal=left.temporal or right.temporal,
    )


# --- functions --------------------------------------------------------------------------------

_Builder = Callable[["_Parser", list[_Expr], _Token], _Expr]


@dataclass(frozen=True)
class _Function:
    min_args: int
    max_args: int
    build: _Builder


def _scalar(convert: Callable[[Any], Any], *, temporal: bool = False) -> _Function:
    def build(parser: _Parser, args: list[_Expr], token: _Token) -> _Expr:
        arg_fn = args[0].fn
        return _node(lambda row, env: convert(arg_fn(row, env)), token.pos, args, temporal=temporal)

    return _Function(1, 1, build)


def _build_coalesce(parser: _Parser, args: list[_Expr], token: _Token) -> _Expr:
    fns = tuple(arg.fn for arg in args)

    def fn(row: Row, env: _Env) -> Any:
        for each in fns:
            value = each(row, env)
            if value is not None and value != "":
                return value
        return None

    return _node(fn, token.pos, args, temporal=any(arg.temporal for arg in args))


def _build_iff(parser: _Parser, args: list[_Expr], token: _Token) -> _Expr:
    condition, then, otherwise = (arg.fn for arg in args)

    def fn(row: Row, env: _Env) -> Any:
        return then(row, env) if condition(row, env) is True else otherwise(row, env)

    return _node(fn, token.pos, args, temporal=args[1].temporal or args[2].temporal)


def _build_split(parser: _Parser, args: list[_Expr], token: _Token) -> _Expr:
    text_fn, delimiter_fn = args[0].fn, args[1].fn

    def fn(row: Row, env: _Env) -> list[str]:
        text, delimiter = _to_string(text_fn(row, env)), _to_string(delimiter_fn(row, env))
        return text.split(delimiter) if delimiter else [text]

    return _node(fn, token.pos, args)


def _build_strcat(parser: _Parser, args: list[_Expr], token: _Token) -> _Expr:
    fns = tuple(arg.fn for arg in args)
    return _node(
        lambda row, env: "".join([_to_string(each(row, env)) for each in fns]), token.pos, args
    )


def _build_substring(parser: _Parser, args: list[_Expr], token: _Token) -> _Expr:
    text_fn, start_fn = args[0].fn, args[1].fn
    length_fn = args[2].fn if len(args) == 3 else None

    def fn(row: Row, env: _Env) -> str | None:
        text, start = _to_string(text_fn(row, env)), start_fn(row, env)
        if type(start) is not int:
            return None
        start = max(start, 0)
        if length_fn is None:
            return text[start:]
        length = length_fn(row, env)
        if type(length) is not int:
            return None
        return text[start : start + max(length, 0)]

    return _node(fn, token.pos, args)


def _build_extract(parser: _Parser, args: list[_Expr], token: _Token) -> _Expr:
    regex, group, source = args
    if not (regex.is_const and type(regex.value) is str):
        raise parser.error("extract() needs a string literal regex first", regex.pos)
    pattern = parser.compile_regex(regex.value, regex.pos)
    if not (group.is_const and type(group.value) is int and 0 <= group.value <= pattern.groups):
        raise parser.error(
            f"extract() needs a capture group number from 0 to {pattern.groups} second",
            group.pos,
        )
    index, source_fn = group.value, source.fn

    def fn(row: Row, env: _Env) -> str | None:
        value = source_fn(row, env)
        if value is None:
            return None
        match = pattern.search(_to_string(value))
        return None if match is None else match.group(index)

    return _node(fn, token.pos, [source])


def _build_ago(parser: _Parser, args: list[_Expr], token: _Token) -> _Expr:
    (span,) = args
    if span.is_const and not isinstance(span.value, timedelta):
        raise parser.error(
            "ago() takes a timespan", span.pos, hint="For example ago(7d), ago(12h) or ago(30m)."
        )
    span_fn = span.fn

    def fn(row: Row, env: _Env) -> datetime | None:
        value = span_fn(row, env)
        if not isinstance(value, timedelta):
            return None
        try:
            return env.now - value
        except OverflowError:
            return None

    return _node(fn, token.pos, args, temporal=True, pure=False)


def _build_now(parser: _Parser, args: list[_Expr], token: _Token) -> _Expr:
    return _node(lambda row, env: env.now, token.pos, args, temporal=True, pure=False)


_FUNCTIONS: dict[str, _Function] = {
    "isnull": _scalar(lambda value: value is None),
    "isnotnull": _scalar(lambda value: value is not None),
    "isempty": _scalar(_is_empty),
    "isnotempty": _scalar(lambda value: not _is_empty(value)),
    "not": _scalar(_not),
    "tostring": _scalar(_to_string),
    "tolower": _scalar(lambda value: _to_string(value).lower()),
    "toupper": _scalar(lambda value: _to_string(value).upper()),
    "toint": _scalar(_to_int),
    "tolong": _scalar(_to_long),
    "todouble": _scalar(_to_real),
    "toreal": _scalar(_to_real),
    "tobool": _scalar(_to_bool),
    "toboolean": _scalar(_to_bool),
    "todatetime": _scalar(_to_datetime, temporal=True),
    "strlen": _scalar(lambda value: len(_to_string(value))),
    "array_length": _scalar(_array_length),
    "bag_keys": _scalar(_bag_keys),
    "parse_json": _scalar(_parse_json),
    "todynamic": _scalar(_parse_json),
    "coalesce": _Function(2, 64, _build_coalesce),
    "iff": _Function(3, 3, _build_iff),
    "iif": _Function(3, 3, _build_iff),
    "split": _Function(2, 2, _build_split),
    "strcat": _Function(1, 64, _build_strcat),
    "substring": _Function(2, 3, _build_substring),
    "extract": _Function(3, 3, _build_extract),
    "ago": _Function(1, 1, _build_ago),
    "now": _Function(0, 0, _build_now),
}
_FUNCTIONS_HINT = "Supported functions: " + ", ".join(sorted(_FUNCTIONS)) + "."
_AGGREGATIONS = frozenset(
    {"count", "countif", "dcount", "sum", "avg", "min", "max", "make_list", "make_set", "any"}
)


# --- pipeline ---------------------------------------------------------------------------------


class _Stage:
    def run(self, rows: Iterator[Row], env: _Env) -> Iterator[Row]:
        raise NotImplementedError


@dataclass(frozen=True)
class _Where(_Stage):
    predicate: _RowFn

    def run(self, rows: Iterator[Row], env: _Env) -> Iterator[Row]:
        predicate = self.predicate
        return (row for row in rows if predicate(row, env) is True)


@dataclass(frozen=True)
class _Project(_Stage):
    items: tuple[tuple[str, _RowFn], ...]

    def run(self, rows: Iterator[Row], env: _Env) -> Iterator[Row]:
        items = self.items
        for row in rows:
            yield {name: fn(row, env) for name, fn in items}


@dataclass(frozen=True)
class _Extend(_Stage):
    """Items apply in order, so a later item (and every later operator) sees earlier ones."""

    items: tuple[tuple[str, _RowFn], ...]

    def run(self, rows: Iterator[Row], env: _Env) -> Iterator[Row]:
        items = self.items
        for row in rows:
            extended = dict(row)
            for name, fn in items:
                extended[name] = fn(extended, env)
            yield extended


@dataclass(frozen=True)
class _ProjectAway(_Stage):
    names: frozenset[str]

    def run(self, rows: Iterator[Row], env: _Env) -> Iterator[Row]:
        names = self.names
        for row in rows:
            yield {key: value for key, value in row.items() if key not in names}


@dataclass(frozen=True)
class _Order(_Stage):
    keys: tuple[tuple[_RowFn, bool, bool], ...]  # (key, descending, nulls last)

    def run(self, rows: Iterator[Row], env: _Env) -> Iterator[Row]:
        ordered = list(rows)
        # Stable sorts from the last key to the first give the multi-key order.
        for fn, descending, nulls_last in reversed(self.keys):
            values = [(fn(row, env), row) for row in ordered]
            present = [(_sort_key(value), row) for value, row in values if value is not None]
            present.sort(key=operator.itemgetter(0), reverse=descending)
            missing = [row for value, row in values if value is None]
            sorted_rows = [row for _, row in present]
            ordered = sorted_rows + missing if nulls_last else missing + sorted_rows
        return iter(ordered)


@dataclass(frozen=True)
class _Take(_Stage):
    count: int

    def run(self, rows: Iterator[Row], env: _Env) -> Iterator[Row]:
        return itertools.islice(rows, self.count)


@dataclass(frozen=True)
class _Count(_Stage):
    def run(self, rows: Iterator[Row], env: _Env) -> Iterator[Row]:
        yield {"Count": sum(1 for _ in rows)}


@dataclass(frozen=True)
class _Summarize(_Stage):
    by: tuple[tuple[str, _RowFn], ...]
    count_name: str

    def run(self, rows: Iterator[Row], env: _Env) -> Iterator[Row]:
        fns = tuple(fn for _, fn in self.by)
        names = tuple(name for name, _ in self.by)
        groups: dict[tuple[Any, ...], list[Any]] = {}
        for row in rows:
            values = tuple([fn(row, env) for fn in fns])
            key = tuple([_group_key(value) for value in values])
            entry = groups.get(key)
            if entry is None:
                groups[key] = [values, 1]
            else:
                entry[1] += 1
        if not fns and not groups:
            yield {self.count_name: 0}  # without by, KQL counts an empty table as one row of 0
        for values, count in groups.values():
            result = dict(zip(names, values, strict=True))
            result[self.count_name] = count
            yield result


@dataclass(frozen=True)
class _Distinct(_Stage):
    items: tuple[tuple[str, _RowFn], ...]

    def run(self, rows: Iterator[Row], env: _Env) -> Iterator[Row]:
        items = self.items
        seen: set[tuple[Any, ...]] = set()
        for row in rows:
            values = [fn(row, env) for _, fn in items]
            key = tuple([_group_key(value) for value in values])
            if key not in seen:
                seen.add(key)
                yield {name: value for (name, _), value in zip(items, values, strict=True)}


@dataclass(frozen=True)
class Query:
    """A parsed query: immutable, safe to cache by its text and to run many times.

    ``table`` is the lower-cased source table. Equality and hashing use the text alone.
    """

    table: str
    text: str = field(repr=False)
    stages: tuple[_Stage, ...] = field(repr=False, compare=False)
    table_position: int = field(default=0, repr=False, compare=False)
    known_columns: tuple[str, ...] | None = field(default=None, repr=False, compare=False)
    temporal_columns: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    fresh_rows: bool = field(default=False, repr=False, compare=False)

    @property
    def columns(self) -> list[str]:
        """Output columns in order when the pipeline fixes them (project, summarize, distinct,
        count, and extend after those); an empty list means "whatever the rows carry"."""
        return list(self.known_columns) if self.known_columns is not None else []

    def execute(
        self,
        tables: Mapping[str, Iterable[Mapping[str, Any]]],
        *,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Run over the named tables (keys lower-case). Unknown table -> KqlError.

        ``now`` anchors ``ago()`` and ``now()`` (default: the current UTC time; naive means UTC)
        so tests can pin time. Rows come back as new dicts, ready for JSON: datetimes and
        timespans computed by the query are rendered as KQL renders them.
        """
        env = _Env(datetime.now(_UTC) if now is None else _aware(now))
        rows: Iterator[Row] = iter(self._source(tables))
        for stage in self.stages:
            rows = stage.run(rows, env)
        if self.fresh_rows:
            result = cast("list[dict[str, Any]]", list(rows))
        else:
            result = [dict(row) for row in rows]
        for name in self.temporal_columns:
            for row in result:
                if name in row:
                    row[name] = _output_value(row[name])
        return result

    def _source(self, tables: Mapping[str, Iterable[Mapping[str, Any]]]) -> Iterable[Row]:
        if self.table in tables:
            return tables[self.table]
        for name, rows in tables.items():
            if name.lower() == self.table:
                return rows
        available = ", ".join(sorted(tables)) or "none"
        raise KqlError(
            f"unknown table '{self.table}'",
            self.table_position,
            query=self.text,
            hint=f"Tables available: {available}.",
        )


# --- parser -----------------------------------------------------------------------------------

_BP_OR, _BP_AND, _BP_COMPARE, _BP_ADD, _BP_MULTIPLY, _BP_UNARY = 10, 20, 30, 40, 50, 60
_COMPARISONS = ("==", "!=", "=~", "!~", "<", "<=", ">", ">=")
_SET_OPERATORS = ("in", "!in", "in~", "!in~")
_STRING_OPERATORS = tuple(prefix + name for name in _STRING_TESTS for prefix in ("", "!"))
_INFIX: dict[str, int] = {
    "or": _BP_OR,
    "and": _BP_AND,
    **dict.fromkeys(_COMPARISONS, _BP_COMPARE),
    **dict.fromkeys(_SET_OPERATORS, _BP_COMPARE),
    **dict.fromkeys(_STRING_OPERATORS, _BP_COMPARE),
    "matches": _BP_COMPARE,
    "+": _BP_ADD,
    "-": _BP_ADD,
    "*": _BP_MULTIPLY,
    "/": _BP_MULTIPLY,
}
# Real KQL operators outside the subset, named as such rather than as "unexpected" tokens.
_UNSUPPORTED_INFIX = frozenset(
    {
        "between",
        "has_any",
        "has_all",
        "hasprefix",
        "hasprefix_cs",
        "hassuffix",
        "hassuffix_cs",
        "notcontains",
        "notcontainscs",
        "notbetween",
    }
)
_UNSUPPORTED_OPERATORS = {
    "mv-expand": "arrays are not expanded into rows by the emulator; expand them in your code",
    "mv-apply": "arrays are not expanded into rows by the emulator; expand them in your code",
    "join": "the emulator runs single-table queries; query each table and join in your code",
    "union": "the emulator runs single-table queries; query each table separately",
    "lookup": "the emulator runs single-table queries; query each table and join in your code",
}
_UNSUPPORTED_STATEMENTS = frozenset(
    {"let", "union", "join", "print", "range", "datatable", "search", "find", "evaluate", "set"}
)


class _Parser:
    """Recursive descent for the pipeline, Pratt (binding powers) for expressions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0
        self.columns: tuple[str, ...] | None = None
        self.temporal: frozenset[str] = frozenset()
        self.fresh = False

    # token helpers

    def peek(self, ahead: int = 0) -> _Token:
        token = self.tokens[min(self.index + ahead, len(self.tokens) - 1)]
        if token.kind == "error" and ahead == 0:
            raise cast("KqlError", token.value)
        return token

    def advance(self) -> _Token:
        token = self.peek()
        if token.kind != "eof":
            self.index += 1
        return token

    def accept_op(self, op: str) -> bool:
        if self.peek().is_op(op):
            self.advance()
            return True
        return False

    def error(self, message: str, pos: int, hint: str | None = None) -> KqlError:
        return KqlError(message, pos, query=self.text, hint=hint)

    def unexpected(self, token: _Token, expected: str, hint: str | None = None) -> KqlError:
        return self.error(f"expected {expected}, found {_describe(token)}", token.pos, hint)

    def expect_op(self, op: str, expected: str) -> _Token:
        token = self.peek()
        if not token.is_op(op):
            raise self.unexpected(token, expected)
        return self.advance()

    def close_paren(self, opened: _Token, what: str) -> None:
        token = self.peek()
        if not token.is_op(")"):
            raise self.error(
                f"unbalanced parentheses: expected ')' to close the '(' of {what} (opened at "
                f"position {opened.pos}), found {_describe(token)}",
                token.pos,
            )
        self.advance()

    def compile_regex(self, pattern: str, pos: int) -> re.Pattern[str]:
        try:
            return re.compile(pattern)
        except (re.error, RecursionError, OverflowError, ValueError) as error:
            raise self.error(f"invalid regular expression {pattern!r}: {error}", pos) from None

    # query and operators

    def parse_query(self) -> Query:
        first = self.peek()
        if first.kind == "eof":
            raise self.error("empty query: expected a table name such as 'resources'", first.pos)
        if first.kind != "ident" or first.text.startswith("!"):
            raise self.unexpected(first, "a table name such as 'resources'")
        if first.text.lower() in _UNSUPPORTED_STATEMENTS:
            raise self.error(
                f"unsupported statement '{first.text}'",
                first.pos,
                hint="A query is one table name followed by '|' operators.",
            )
        self.advance()
        stages: list[_Stage] = []
        while (token := self.peek()).kind != "eof":
            if token.is_op(")"):
                raise self.error("unbalanced parentheses: ')' has no matching '('", token.pos)
            if not token.is_op("|"):
                raise self.unexpected(token, "'|' or end of query")
            self.advance()
            stages.append(self.parse_operator())
        return Query(
            table=first.text.lower(),
            text=self.text,
            stages=tuple(stages),
            table_position=first.pos,
            known_columns=self.columns,
            temporal_columns=self.temporal,
            fresh_rows=self.fresh,
        )

    def operator_name(self) -> tuple[str, _Token]:
        """Operator names such as ``project-away`` arrive as word, '-', word with no spaces."""
        first = self.peek()
        if first.kind != "ident" or first.text.startswith("!"):
            raise self.unexpected(first, "an operator after '|'", _OPERATORS_HINT)
        self.advance()
        name, end = first.text, first.end
        while (dash := self.peek()).is_op("-") and dash.pos == end:
            word = self.peek(1)
            if word.kind != "ident" or word.pos != dash.end:
                break
            self.advance()
            self.advance()
            name, end = f"{name}-{word.text}", word.end
        return name, first

    def parse_operator(self) -> _Stage:
        name, token = self.operator_name()
        parsers: dict[str, Callable[[_Token], _Stage]] = {
            "where": self.parse_where,
            "filter": self.parse_where,
            "project": self.parse_project,
            "project-away": self.parse_project_away,
            "extend": self.parse_extend,
            "order": self.parse_order,
            "sort": self.parse_order,
            "take": self.parse_take,
            "limit": self.parse_take,
            "count": self.parse_count,
            "summarize": self.parse_summarize,
            "distinct": self.parse_distinct,
        }
        parse_one = parsers.get(name.lower())
        if parse_one is None:
            reason = _UNSUPPORTED_OPERATORS.get(name.lower())
            detail = f" ({reason})" if reason else ""
            raise self.error(f"unsupported operator '{name}'{detail}", token.pos, _OPERATORS_HINT)
        return parse_one(token)

    def parse_where(self, token: _Token) -> _Stage:
        return _Where(self.parse_expr().fn)

    def parse_project(self, token: _Token) -> _Stage:
        items = self.named_items("project", unique=True)
        self.columns = tuple(name for name, _ in items)
        self.temporal = frozenset(name for name, expr in items if expr.temporal)
        self.fresh = True
        return _Project(tuple((name, expr.fn) for name, expr in items))

    def parse_extend(self, token: _Token) -> _Stage:
        items = self.named_items("extend", unique=False, sequential=True)
        names = [name for name, _ in items]
        if self.columns is not None:
            self.columns = (
                *self.columns,
                *(n for n in dict.fromkeys(names) if n not in self.columns),
            )
        self.fresh = True
        return _Extend(tuple((name, expr.fn) for name, expr in items))

    def parse_project_away(self, token: _Token) -> _Stage:
        names: list[str] = []
        while True:
            column = self.parse_expr()
            if column.path is None or column.path[1]:
                raise self.error(
                    "project-away takes column names, not paths or expressions", column.pos
                )
            names.append(column.path[0])
            if not self.accept_op(","):
                break
        if self.columns is not None:
            self.columns = tuple(name for name in self.columns if name not in names)
        self.temporal = self.temporal - set(names)
        self.fresh = True
        return _ProjectAway(frozenset(names))

    def parse_order(self, token: _Token) -> _Stage:
        if not self.peek().is_word("by"):
            raise self.unexpected(self.peek(), f"'by' after '{token.text}'")
        self.advance()
        keys: list[tuple[_RowFn, bool, bool]] = []
        while True:
            key = self.parse_expr()
            descending, nulls_last = True, True
            if self.peek().is_word("asc", "desc"):
                descending = self.advance().text.lower() == "desc"
            if self.peek().is_word("nulls"):
                self.advance()
                if not self.peek().is_word("first", "last"):
                    raise self.unexpected(self.peek(), "'first' or 'last' after 'nulls'")
                nulls_last = self.advance().text.lower() == "last"
            keys.append((key.fn, descending, nulls_last))
            if not self.accept_op(","):
                return _Order(tuple(keys))

    def parse_take(self, token: _Token) -> _Stage:
        count = self.peek()
        if count.kind != "literal" or type(count.value) is not int:
            raise self.unexpected(count, f"a non-negative integer after '{token.text}'")
        self.advance()
        return _Take(count.value)

    def parse_count(self, token: _Token) -> _Stage:
        self.columns, self.temporal, self.fresh = ("Count",), frozenset(), True
        return _Count()

    def parse_summarize(self, token: _Token) -> _Stage:
        count_name = "count_"
        if self.peek().kind == "ident" and self.peek(1).is_op("="):
            count_name = self.advance().text
            self.advance()
        aggregation = self.peek()
        if not (aggregation.is_word("count") and self.peek(1).is_op("(")):
            described = _describe(aggregation)
            if aggregation.kind == "ident" and self.peek(1).is_op("("):
                described = f"'{aggregation.text}()'"
            raise self.error(
                f"unsupported aggregation {described}",
                aggregation.pos,
                hint="summarize supports a single count(), optionally named and grouped: "
                "summarize count() by type, location.",
            )
        self.advance()
        opened = self.advance()
        self.close_paren(opened, "count()")
        if self.peek().is_op(","):
            raise self.error(
                "summarize supports a single count() aggregation", self.peek().pos, _OPERATORS_HINT
            )
        by: list[tuple[str, _Expr]] = []
        if self.peek().is_word("by"):
            self.advance()
            by = self.named_items("summarize by", unique=True)
        if count_name in {name for name, _ in by}:
            raise self.error(f"duplicate column name '{count_name}' in summarize", aggregation.pos)
        self.columns = (*(name for name, _ in by), count_name)
        self.temporal = frozenset(name for name, expr in by if expr.temporal)
        self.fresh = True
        return _Summarize(tuple((name, expr.fn) for name, expr in by), count_name)

    def parse_distinct(self, token: _Token) -> _Stage:
        items = self.named_items("distinct", unique=True)
        self.columns = tuple(name for name, _ in items)
        self.temporal = frozenset(name for name, expr in items if expr.temporal)
        self.fresh = True
        return _Distinct(tuple((name, expr.fn) for name, expr in items))

    def named_items(
        self, operator_name: str, *, unique: bool, sequential: bool = False
    ) -> list[tuple[str, _Expr]]:
        """``name = expr`` or a bare path, which takes its last key as the name.

        ``sequential`` items (extend) see the columns made by the items before them.
        """
        items: list[tuple[str, _Expr]] = []
        seen: set[str] = set()
        while True:
            start = self.peek()
            name = self.assigned_name()
            expr = self.parse_expr()
            if name is None:
                name = expr.name
            if name is None:
                raise self.error(
                    f"{operator_name} needs a name for a computed column: write name = <expr>",
                    expr.pos,
                )
            if unique and name in seen:
                raise self.error(
                    f"duplicate column name '{name}' in {operator_name}",
                    start.pos,
                    hint="Give one of them another name: other = <expr>.",
                )
            seen.add(name)
            items.append((name, expr))
            if sequential:
                temporal = self.temporal - {name}
                self.temporal = temporal | {name} if expr.temporal else temporal
            if not self.accept_op(","):
                return items

    def assigned_name(self) -> str | None:
        first = self.peek()
        if first.kind == "ident" and not first.text.startswith("!") and self.peek(1).is_op("="):
            self.advance()
            self.advance()
            return first.text
        bracketed = (
            first.is_op("[")
            and self.peek(1).kind == "literal"
            and type(self.peek(1).value) is str
            and self.peek(2).is_op("]")
            and self.peek(3).is_op("=")
        )
        if bracketed:
            name = cast("str", self.peek(1).value)
            for _ in range(4):
                self.advance()
            return name
        return None

    # expressions

    def check_depth(self, expr: _Expr) -> _Expr:
        if expr.depth > _MAX_DEPTH:
            raise self.error(
                f"expression nested too deeply (more than {_MAX_DEPTH} levels)", expr.pos
            )
        return expr

    def parse_expr(self, min_bp: int = 0) -> _Expr:
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                raise self.error(
                    f"expression nested too deeply (more than {_MAX_DEPTH} levels)",
                    self.peek().pos,
                )
            left = self.parse_unary()
            while True:
                token = self.peek()
                key = token.text if token.kind == "op" else token.text.lower()
                bp = _INFIX.get(key) if token.kind in ("op", "ident") else None
                if bp is None:
                    self.reject_unsupported_infix(token)
                    return left
                if bp <= min_bp:
                    return left
                self.advance()
                left = self.check_depth(self.parse_infix(key, token, left, bp))
        finally:
            self.depth -= 1

    def reject_unsupported_infix(self, token: _Token) -> None:
        if token.kind != "ident":
            return
        word = token.text.lower()
        if word in _UNSUPPORTED_INFIX or word.startswith("!") or word == "not":
            raise self.error(
                f"unsupported operator '{token.text}'",
                token.pos,
                hint="Supported: == != =~ !~ < <= > >= in !in in~ !in~ "
                + " ".join(_STRING_OPERATORS)
                + " matches regex, and, or, + - * /.",
            )

    def parse_infix(self, key: str, token: _Token, left: _Expr, bp: int) -> _Expr:
        if key in ("and", "or"):
            operands = [left, self.parse_expr(bp)]
            while self.peek().is_word(key):
                self.advance()
                operands.append(self.parse_expr(bp))
            return _logical(key, operands)
        if key in _SET_OPERATORS:
            return _membership(key, left, self.literal_list(token))
        if key == "matches":
            if not self.peek().is_word("regex"):
                raise self.unexpected(self.peek(), "'regex' after 'matches'")
            self.advance()
            pattern = self.parse_expr(bp)
            if not (pattern.is_const and type(pattern.value) is str):
                raise self.error("matches regex needs a string literal", pattern.pos)
            return _matches(left, self.compile_regex(pattern.value, pattern.pos))
        right = self.parse_expr(bp)
        if key in _ARITHMETIC:
            return _arithmetic(key, left, right)
        if key in _COMPARISONS:
            return _equality(key, left, right)
        return _string_operator(key, left, right)

    def literal_list(self, operator_token: _Token) -> list[Any]:
        opened = self.peek()
        if not opened.is_op("("):
            raise self.unexpected(
                opened, f"'(' and a list of literals after '{operator_token.text}'"
            )
        self.advance()
        values: list[Any] = []
        while not self.peek().is_op(")"):
            item = self.parse_expr()
            if not item.is_const:
                raise self.error(
                    f"'{operator_token.text}' takes a list of literals; this item is not a literal",
                    item.pos,
                )
            values.append(item.value)
            if not self.accept_op(","):
                break
        self.close_paren(opened, f"'{operator_token.text}'")
        return values

    def parse_unary(self) -> _Expr:
        token = self.peek()
        if token.is_op("-"):
            self.advance()
            operand = self.parse_expr(_BP_UNARY)
            operand_fn = operand.fn
            return self.check_depth(
                _node(
                    lambda row, env: _negative(operand_fn(row, env)),
                    token.pos,
                    [operand],
                    temporal=operand.temporal,
                )
            )
        return self.parse_postfix(self.parse_primary())

    def parse_primary(self) -> _Expr:
        token = self.advance()
        if token.kind == "literal":
            return _const(token.value, token.pos)
        if token.is_op("("):
            inner = self.parse_expr()
            self.close_paren(token, "this group")
            return inner
        if token.is_op("["):
            name = self.advance()
            if name.kind != "literal" or type(name.value) is not str:
                raise self.unexpected(name, "a quoted column name after '['")
            self.expect_op("]", "']' after the quoted column name")
            return self.column(name.value, token.pos)
        if token.kind == "ident" and not token.text.startswith("!"):
            return self.parse_word(token)
        raise self.unexpected(token, "an expression", _EXPRESSION_HINT)

    def parse_word(self, token: _Token) -> _Expr:
        word = token.text.lower()
        if self.peek().is_op("("):
            return self.parse_call(token)
        if word in ("true", "false"):
            return _const(word == "true", token.pos)
        if word == "null":
            return _const(None, token.pos)
        if word == "not":
            raise self.error("not needs parentheses: write not(<expr>)", token.pos)
        return self.column(token.text, token.pos)

    def column(self, name: str, pos: int) -> _Expr:
        """A column an earlier extend filled with datetimes stays marked for rendering."""
        expr = _column(name, pos)
        return dataclasses.replace(expr, temporal=True) if name in self.temporal else expr

    def parse_postfix(self, expr: _Expr) -> _Expr:
        while True:
            token = self.peek()
            if token.is_op("."):
                self.advance()
                key = self.advance()
                if key.kind != "ident" or key.text.startswith("!"):
                    raise self.unexpected(key, "a property name after '.'")
                expr = _member(expr, _const(key.text, key.pos), token.pos)
            elif token.is_op("["):
                self.advance()
                index = self.parse_expr()
                self.expect_op("]", "']' to close '['")
                expr = _member(expr, index, token.pos)
            else:
                return expr
            self.check_depth(expr)

    def parse_call(self, token: _Token) -> _Expr:
        name = token.text
        function = _FUNCTIONS.get(name.lower())
        if function is None:
            where = (
                " (aggregations are only valid in summarize)"
                if name.lower() in _AGGREGATIONS
                else ""
            )
            raise self.error(f"unknown function '{name}()'{where}", token.pos, _FUNCTIONS_HINT)
        opened = self.advance()
        args: list[_Expr] = []
        while not self.peek().is_op(")"):
            args.append(self.parse_expr())
            if not self.accept_op(","):
                break
        self.close_paren(opened, f"{name}()")
        low, high = function.min_args, function.max_args
        if not low <= len(args) <= high:
            expected = str(low) if low == high else f"{low} to {high}"
            raise self.error(
                f"{name}() takes {expected} argument{'s' if high != 1 else ''}, got {len(args)}",
                token.pos,
            )
        return self.check_depth(function.build(self, args, token))


def parse(query: str) -> Query:
    """Parse and compile a query once; run the result with `Query.execute` as often as needed.

    Raises KqlError for anything outside `SUPPORTED_SUBSET`, and never anything else.
    """
    try:
        return _Parser(query).parse_query()
    except RecursionError:
        raise KqlError("query nested too deeply to parse", None, query=query) from None
