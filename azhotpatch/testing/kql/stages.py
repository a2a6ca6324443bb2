"""Phase 3: the pipeline's operators (``where``, ``project``, ``summarize``...), chained
generators over rows: ``where`` never copies the table and ``take`` stops reading as soon as it
has its rows."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from azhotpatch.testing.kql.expressions import Env, Row, RowFn
from azhotpatch.testing.kql.values import group_key, sort_key


class Stage:
    def run(self, rows: Iterator[Row], env: Env) -> Iterator[Row]:
        raise NotImplementedError


@dataclass(frozen=True)
class Where(Stage):
    predicate: RowFn

    def run(self, rows: Iterator[Row], env: Env) -> Iterator[Row]:
        predicate = self.predicate
        return (row for row in rows if predicate(row, env) is True)


@dataclass(frozen=True)
class Project(Stage):
    items: tuple[tuple[str, RowFn], ...]

    def run(self, rows: Iterator[Row], env: Env) -> Iterator[Row]:
        items = self.items
        for row in rows:
            yield {name: fn(row, env) for name, fn in items}


@dataclass(frozen=True)
class Extend(Stage):
    """Items apply in order, so a later item (and every later operator) sees earlier ones."""

    items: tuple[tuple[str, RowFn], ...]

    def run(self, rows: Iterator[Row], env: Env) -> Iterator[Row]:
        items = self.items
        for row in rows:
            extended = dict(row)
            for name, fn in items:
                extended[name] = fn(extended, env)
            yield extended


@dataclass(frozen=True)
class ProjectAway(Stage):
    names: frozenset[str]

    def run(self, rows: Iterator[Row], env: Env) -> Iterator[Row]:
        names = self.names
        for row in rows:
            yield {key: value for key, value in row.items() if key not in names}


@dataclass(frozen=True)
class Order(Stage):
    keys: tuple[tuple[RowFn, bool, bool], ...]  # (key, descending, nulls last)

    def run(self, rows: Iterator[Row], env: Env) -> Iterator[Row]:
        ordered = list(rows)
        # Stable sorts from the last key to the first give the multi-key order.
        for fn, descending, nulls_last in reversed(self.keys):
            values = [(fn(row, env), row) for row in ordered]
            present = [(sort_key(value), row) for value, row in values if value is not None]
            present.sort(key=operator.itemgetter(0), reverse=descending)
            missing = [row for value, row in values if value is None]
            sorted_rows = [row for _, row in present]
            ordered = sorted_rows + missing if nulls_last else missing + sorted_rows
        return iter(ordered)


@dataclass(frozen=True)
class Take(Stage):
    count: int

    def run(self, rows: Iterator[Row], env: Env) -> Iterator[Row]:
        return itertools.islice(rows, self.count)


@dataclass(frozen=True)
class Count(Stage):
    def run(self, rows: Iterator[Row], env: Env) -> Iterator[Row]:
        yield {"Count": sum(1 for _ in rows)}


@dataclass(frozen=True)
class Summarize(Stage):
    by: tuple[tuple[str, RowFn], ...]
    count_name: str

    def run(self, rows: Iterator[Row], env: Env) -> Iterator[Row]:
        fns = tuple(fn for _, fn in self.by)
        names = tuple(name for name, _ in self.by)
        groups: dict[tuple[Any, ...], list[Any]] = {}
        for row in rows:
            values = tuple([fn(row, env) for fn in fns])
            key = tuple([group_key(value) for value in values])
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
class Distinct(Stage):
    items: tuple[tuple[str, RowFn], ...]

    def run(self, rows: Iterator[Row], env: Env) -> Iterator[Row]:
        items = self.items
        seen: set[tuple[Any, ...]] = set()
        for row in rows:
            values = [fn(row, env) for _, fn in items]
            key = tuple([group_key(value) for value in values])
            if key not in seen:
                seen.add(key)
                yield {name: value for (name, _), value in zip(items, values, strict=True)}
