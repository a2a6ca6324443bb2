"""Phase 2's output: expressions compiled to closures ``fn(row, env)``.

The parser builds these once per query, so running a query interprets no syntax per row.
Constant subexpressions are folded at parse time, which is how ``in`` lists and regexes are
checked before any row is read.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from azhotpatch.testing.kql.values import (
    UTC,
    add,
    comparable,
    divide,
    equal,
    equal_ci,
    multiply,
    subtract,
    to_string,
)

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Env:
    now: datetime


RowFn = Callable[[Row, Env], Any]
_NO_ROW: Row = {}
_FOLD_ENV = Env(datetime(1970, 1, 1, tzinfo=UTC))
_Step = str | int


@dataclass(frozen=True)
class Expr:
    """An expression compiled to ``fn(row, env)``, plus what the parser still needs to know."""

    fn: RowFn
    pos: int
    depth: int = 1
    name: str | None = None  # the column name a bare path gets in project/extend/distinct
    path: tuple[str, tuple[_Step, ...]] | None = None
    # the one column path a computed expression reads (tostring(properties.a.b)): what
    # summarize by names an unnamed computed column after, as Kusto does
    reads: tuple[str, tuple[_Step, ...]] | None = None
    is_const: bool = False
    value: Any = None
    temporal: bool = False  # may hold a datetime or timespan, which leaves as text


def const(value: Any, pos: int) -> Expr:
    return Expr(
        lambda row, env: value,
        pos,
        is_const=True,
        value=value,
        temporal=isinstance(value, (datetime, timedelta)),
    )


def node(
    fn: RowFn,
    pos: int,
    children: Sequence[Expr],
    *,
    temporal: bool = False,
    pure: bool = True,
) -> Expr:
    """Fold constant subexpressions once, so `in` lists and regexes can be checked at parse."""
    if pure and all(child.is_const for child in children):
        return const(fn(_NO_ROW, _FOLD_ENV), pos)
    depth = 1 + max((child.depth for child in children), default=0)
    read = {child.path or child.reads for child in children if not child.is_const}
    reads = read.pop() if len(read) == 1 else None
    return Expr(fn, pos, depth=depth, temporal=temporal, reads=reads)


def underscored(expr: Expr) -> str | None:
    """The name Kusto gives an unnamed computed group-by column: the path it reads, its keys
    joined by '_' (``tostring(properties.osDisk.osType)`` -> ``properties_osDisk_osType``)."""
    if expr.reads is None:
        return None
    column, steps = expr.reads
    return "_".join([column, *(str(step) for step in steps)])


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


def _path_fn(column: str, steps: tuple[_Step, ...]) -> RowFn:
    if not steps:
        return lambda row, env: row.get(column)
    if len(steps) == 1:
        (key,) = steps

        def one(row: Row, env: Env) -> Any:
            value = row.get(column)
            return value.get(key) if type(value) is dict else _step(value, key)

        return one

    def walk(row: Row, env: Env) -> Any:
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


def column_expr(name: str, pos: int) -> Expr:
    return Expr(_path_fn(name, ()), pos, name=name, path=(name, ()))


def member(base: Expr, key: Expr, pos: int) -> Expr:
    static = key.is_const and (type(key.value) is str or type(key.value) is int)
    if base.path is not None and static:
        column, steps = base.path
        steps = (*steps, key.value)
        name = key.value if type(key.value) is str else base.name
        return Expr(_path_fn(column, steps), base.pos, name=name, path=(column, steps))
    base_fn, key_fn = base.fn, key.fn
    return node(lambda row, env: _step(base_fn(row, env), key_fn(row, env)), pos, [base, key])


def logical(op: str, operands: Sequence[Expr]) -> Expr:
    """n-ary ``and``/``or`` with KQL's three-valued logic; n-ary keeps long chains shallow."""
    fns = tuple(operand.fn for operand in operands)
    if op == "and":

        def fn(row: Row, env: Env) -> bool | None:
            result: bool | None = True
            for each in fns:
                value = each(row, env)
                if value is False:
                    return False
                if value is not True:
                    result = None
            return result

    else:

        def fn(row: Row, env: Env) -> bool | None:
            result: bool | None = False
            for each in fns:
                value = each(row, env)
                if value is True:
                    return True
                if value is not False:
                    result = None
            return result

    return node(fn, operands[0].pos, operands)


_ORDERING: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _ordering(op: str, left: Expr, right: Expr) -> Expr:
    compare, lf, rf = _ORDERING[op], left.fn, right.fn

    def fn(row: Row, env: Env) -> bool:
        a, b = lf(row, env), rf(row, env)
        if a is None or b is None:
            return False
        pair = comparable(a, b)
        if pair is None or type(pair[0]) is bool:
            return False
        return bool(compare(pair[0], pair[1]))

    return node(fn, left.pos, [left, right])


def equality(op: str, left: Expr, right: Expr) -> Expr:
    if op in _ORDERING:
        return _ordering(op, left, right)
    insensitive = op in ("=~", "!~")
    want = op in ("==", "=~")  # != and !~ are true when the values differ, never on null
    same = equal_ci if insensitive else equal
    lf, rf = left.fn, right.fn
    if right.is_const and type(right.value) is str:
        literal: str = right.value.lower() if insensitive else right.value
        if insensitive:

            def fn(row: Row, env: Env) -> bool:
                value = lf(row, env)
                if type(value) is str:
                    return (value.lower() == literal) is want
                return same(value, literal) is want

        else:

            def fn(row: Row, env: Env) -> bool:
                value = lf(row, env)
                if type(value) is str:
                    return (value == literal) is want
                return same(value, literal) is want

    else:

        def fn(row: Row, env: Env) -> bool:
            return same(lf(row, env), rf(row, env)) is want

    return node(fn, left.pos, [left, right])


@lru_cache(maxsize=256)
def _term_pattern(needle: str, case_sensitive: bool) -> re.Pattern[str]:
    """``has`` matches whole terms: the needle may not continue an alphanumeric run."""
    before = "(?<![0-9A-Za-z])" if needle[:1].isalnum() else ""
    after = "(?![0-9A-Za-z])" if needle[-1:].isalnum() else ""
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.compile(before + re.escape(needle) + after, flags)


def _same(text: str) -> str:
    return text


STRING_TESTS: dict[str, tuple[Callable[[str], Any], Callable[[str, Any], bool]]] = {
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


def string_operator(op: str, left: Expr, right: Expr) -> Expr:
    negate = op.startswith("!")
    prepare, test = STRING_TESTS[op.lstrip("!").lower()]
    lf, rf = left.fn, right.fn
    if right.is_const and right.value is not None:
        needle = prepare(to_string(right.value))

        def fn(row: Row, env: Env) -> bool:
            value = lf(row, env)
            if value is None:
                return False
            return test(value if type(value) is str else to_string(value), needle) is not negate

    else:

        def fn(row: Row, env: Env) -> bool:
            value, other = lf(row, env), rf(row, env)
            if value is None or other is None:
                return False
            return test(to_string(value), prepare(to_string(other))) is not negate

    return node(fn, left.pos, [left, right])


def membership(op: str, left: Expr, values: Sequence[Any]) -> Expr:
    negate, insensitive = op.startswith("!"), op.endswith("~")
    same = equal_ci if insensitive else equal
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
        return any(same(value, candidate) is True for candidate in candidates)

    def fn(row: Row, env: Env) -> bool:
        value = lf(row, env)
        if type(value) is str and not others:
            return ((value.lower() if insensitive else value) in texts) is not negate
        if value is None:
            return False
        return contained(value) is not negate

    return node(fn, left.pos, [left])


def matches(left: Expr, pattern: re.Pattern[str]) -> Expr:
    lf = left.fn

    def fn(row: Row, env: Env) -> bool:
        value = lf(row, env)
        return value is not None and pattern.search(to_string(value)) is not None

    return node(fn, left.pos, [left])


ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": add,
    "-": subtract,
    "*": multiply,
    "/": divide,
}


def arithmetic(op: str, left: Expr, right: Expr) -> Expr:
    compute, lf, rf = ARITHMETIC[op], left.fn, right.fn
    return node(
        lambda row, env: compute(lf(row, env), rf(row, env)),
        left.pos,
        [left, right],
        temporal=left.temporal or right.temporal,
    )
