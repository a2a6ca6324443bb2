"""Phase 1: text to tokens.

Literals are scanned into their values here (strings with their escapes, datetimes,
timespans, numbers in KQL's ranges). A malformed literal becomes an ``error`` token, raised
only when the parser reaches it, so an earlier problem is the one reported.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from azhotpatch.testing.kql.errors import KqlError
from azhotpatch.testing.kql.values import INT64_MAX, parse_datetime


@dataclass(frozen=True)
class Token:
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


def describe(token: Token) -> str:
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


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while True:
        skipped = _SKIP.match(text, i)
        if skipped:
            i = skipped.end()
        if i >= n:
            tokens.append(Token("eof", "", n))
            return tokens
        try:
            token = _next_token(text, i)
        except KqlError as error:
            # Raised only when the parser reaches it, so an earlier problem (say a 'let' in
            # front of a ';') is the one reported.
            tokens += [Token("error", text[i], i, error), Token("eof", "", n)]
            return tokens
        tokens.append(token)
        i = token.end


def _next_token(text: str, i: int) -> Token:
    char = text[i]
    if char == "@" and text[i + 1 : i + 2] in ("'", '"'):
        value, end = _scan_verbatim(text, i)
        return Token("literal", text[i:end], i, value)
    if char in ("'", '"'):
        value, end = _scan_string(text, i)
        return Token("literal", text[i:end], i, value)
    word = _WORD.match(text, i)
    if word:
        return _word_token(text, i, word.group())
    if char == "!" and (negated := _WORD.match(text, i + 1)):
        spelling = "!" + negated.group()
        if negated.group().lower() == "in" and text[negated.end() : negated.end() + 1] == "~":
            spelling += "~"
        return Token("ident", spelling, i)
    if char.isascii() and char.isdigit():
        return _number_token(text, i)
    for op in _OPERATOR_TOKENS:
        if text.startswith(op, i):
            return Token("op", op, i)
    hint = "Multiple statements and 'let' are not supported." if char == ";" else None
    raise KqlError(f"unexpected character {char!r}", i, query=text, hint=hint)


def _word_token(text: str, i: int, word: str) -> Token:
    end = i + len(word)
    lower = word.lower()
    if lower == "in" and text[end : end + 1] == "~":
        return Token("ident", word + "~", i)
    if lower == "datetime":
        paren = _SKIP.match(text, end)
        open_at = paren.end() if paren else end
        if text[open_at : open_at + 1] == "(":
            return _datetime_token(text, i, open_at)
    return Token("ident", word, i)


def _datetime_token(text: str, i: int, open_at: int) -> Token:
    close = text.find(")", open_at)
    if close < 0:
        raise KqlError("unterminated datetime( literal: no ')'", i, query=text)
    content = text[open_at + 1 : close].strip()
    value = None if content.lower() == "null" else parse_datetime(content)
    if value is None and content.lower() != "null":
        raise KqlError(
            f"malformed datetime literal {content!r}",
            i,
            query=text,
            hint="Write datetime(2026-11-10), datetime(2026-11-10T12:00:00Z) or datetime(null).",
        )
    return Token("literal", text[i : close + 1], i, value)


def _number_token(text: str, i: int) -> Token:
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
        return Token("literal", digits, i, real)
    integer = int(digits) if len(digits) <= 19 else INT64_MAX + 1
    if integer > INT64_MAX:
        raise KqlError(f"integer {digits[:30]} is out of range (64-bit)", i, query=text)
    return Token("literal", digits, i, integer)


def _timespan_token(text: str, i: int, digits: str, unit: str) -> Token:
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
    return Token("literal", spelling, i, value)


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
