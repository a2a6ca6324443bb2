"""Phase 4: running a parsed query over the tables it names."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from azhotpatch.testing.kql.errors import KqlError
from azhotpatch.testing.kql.expressions import Env, Row
from azhotpatch.testing.kql.stages import Stage
from azhotpatch.testing.kql.values import UTC, aware, output_value


@dataclass(frozen=True)
class Query:
    """A parsed query: immutable, safe to cache by its text and to run many times.

    ``table`` is the lower-cased source table. Equality and hashing use the text alone.
    """

    table: str
    text: str = field(repr=False)
    stages: tuple[Stage, ...] = field(repr=False, compare=False)
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
        env = Env(datetime.now(UTC) if now is None else aware(now))
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
                    row[name] = output_value(row[name])
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
