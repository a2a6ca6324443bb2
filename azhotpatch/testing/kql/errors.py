"""The errors of the emulator's KQL, and the subset it supports (named in every error).

A query the emulator quietly answered differently from Azure would let a test pass that then
fails against the real service, so anything outside `SUPPORTED_SUBSET` is refused with a
`KqlError` saying what was found, where, and what is supported.
"""

from __future__ import annotations

from typing import Any

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
                  (columns: the by-columns, then count_; an unnamed computed by-column is
                   named after the path it reads: tostring(properties.a.b) -> properties_a_b)
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


OPERATORS_HINT = (
    "Supported operators after '|': where, project, project-away, extend, order by, sort by, "
    "take, limit, count, summarize count() [by ...], distinct."
)
EXPRESSION_HINT = (
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
