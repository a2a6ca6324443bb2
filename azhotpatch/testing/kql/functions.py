"""The scalar functions of the subset (``tolower``, ``iff``, ``extract``, ``ago``...), each a
builder that compiles a call's arguments into one expression."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from azhotpatch.testing.kql.errors import KqlError
from azhotpatch.testing.kql.expressions import Env, Expr, Row, node
from azhotpatch.testing.kql.lexer import Token
from azhotpatch.testing.kql.values import (
    array_length,
    bag_keys,
    is_empty,
    logical_not,
    parse_json,
    to_bool,
    to_datetime,
    to_int,
    to_long,
    to_real,
    to_string,
)


class CallSite(Protocol):
    """What a builder needs from the parser: errors that point into the query, and regexes
    compiled with those errors."""

    def error(self, message: str, pos: int, hint: str | None = None) -> KqlError: ...

    def compile_regex(self, pattern: str, pos: int) -> re.Pattern[str]: ...


_Builder = Callable[[CallSite, list[Expr], Token], Expr]


@dataclass(frozen=True)
class _Function:
    min_args: int
    max_args: int
    build: _Builder


def _scalar(convert: Callable[[Any], Any], *, temporal: bool = False) -> _Function:
    def build(parser: CallSite, args: list[Expr], token: Token) -> Expr:
        arg_fn = args[0].fn
        return node(lambda row, env: convert(arg_fn(row, env)), token.pos, args, temporal=temporal)

    return _Function(1, 1, build)


def _build_coalesce(parser: CallSite, args: list[Expr], token: Token) -> Expr:
    fns = tuple(arg.fn for arg in args)

    def fn(row: Row, env: Env) -> Any:
        for each in fns:
            value = each(row, env)
            if value is not None and value != "":
                return value
        return None

    return node(fn, token.pos, args, temporal=any(arg.temporal for arg in args))


def _build_iff(parser: CallSite, args: list[Expr], token: Token) -> Expr:
    condition, then, otherwise = (arg.fn for arg in args)

    def fn(row: Row, env: Env) -> Any:
        return then(row, env) if condition(row, env) is True else otherwise(row, env)

    return node(fn, token.pos, args, temporal=args[1].temporal or args[2].temporal)


def _build_split(parser: CallSite, args: list[Expr], token: Token) -> Expr:
    text_fn, delimiter_fn = args[0].fn, args[1].fn

    def fn(row: Row, env: Env) -> list[str]:
        text, delimiter = to_string(text_fn(row, env)), to_string(delimiter_fn(row, env))
        return text.split(delimiter) if delimiter else [text]

    return node(fn, token.pos, args)


def _build_strcat(parser: CallSite, args: list[Expr], token: Token) -> Expr:
    fns = tuple(arg.fn for arg in args)
    return node(
        lambda row, env: "".join([to_string(each(row, env)) for each in fns]), token.pos, args
    )


def _build_substring(parser: CallSite, args: list[Expr], token: Token) -> Expr:
    text_fn, start_fn = args[0].fn, args[1].fn
    length_fn = args[2].fn if len(args) == 3 else None

    def fn(row: Row, env: Env) -> str | None:
        text, start = to_string(text_fn(row, env)), start_fn(row, env)
        if type(start) is not int:
            return None
        start = max(start, 0)
        if length_fn is None:
            return text[start:]
        length = length_fn(row, env)
        if type(length) is not int:
            return None
        return text[start : start + max(length, 0)]

    return node(fn, token.pos, args)


def _build_extract(parser: CallSite, args: list[Expr], token: Token) -> Expr:
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

    def fn(row: Row, env: Env) -> str | None:
        value = source_fn(row, env)
        if value is None:
            return None
        match = pattern.search(to_string(value))
        return None if match is None else match.group(index)

    return node(fn, token.pos, [source])


def _build_ago(parser: CallSite, args: list[Expr], token: Token) -> Expr:
    (span,) = args
    if span.is_const and not isinstance(span.value, timedelta):
        raise parser.error(
            "ago() takes a timespan", span.pos, hint="For example ago(7d), ago(12h) or ago(30m)."
        )
    span_fn = span.fn

    def fn(row: Row, env: Env) -> datetime | None:
        value = span_fn(row, env)
        if not isinstance(value, timedelta):
            return None
        try:
            return env.now - value
        except OverflowError:
            return None

    return node(fn, token.pos, args, temporal=True, pure=False)


def _build_now(parser: CallSite, args: list[Expr], token: Token) -> Expr:
    return node(lambda row, env: env.now, token.pos, args, temporal=True, pure=False)


FUNCTIONS: dict[str, _Function] = {
    "isnull": _scalar(lambda value: value is None),
    "isnotnull": _scalar(lambda value: value is not None),
    "isempty": _scalar(is_empty),
    "isnotempty": _scalar(lambda value: not is_empty(value)),
    "not": _scalar(logical_not),
    "tostring": _scalar(to_string),
    "tolower": _scalar(lambda value: to_string(value).lower()),
    "toupper": _scalar(lambda value: to_string(value).upper()),
    "toint": _scalar(to_int),
    "tolong": _scalar(to_long),
    "todouble": _scalar(to_real),
    "toreal": _scalar(to_real),
    "tobool": _scalar(to_bool),
    "toboolean": _scalar(to_bool),
    "todatetime": _scalar(to_datetime, temporal=True),
    "strlen": _scalar(lambda value: len(to_string(value))),
    "array_length": _scalar(array_length),
    "bag_keys": _scalar(bag_keys),
    "parse_json": _scalar(parse_json),
    "todynamic": _scalar(parse_json),
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
FUNCTIONS_HINT = "Supported functions: " + ", ".join(sorted(FUNCTIONS)) + "."
AGGREGATIONS = frozenset(
    {"count", "countif", "dcount", "sum", "avg", "min", "max", "make_list", "make_set", "any"}
)
