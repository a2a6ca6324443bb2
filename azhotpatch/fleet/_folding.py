"""Machines grouped by what happened to them, counts first, each group's machines folded
under it: how plans and reports render in notebooks and in the terminal, so that sixty
machines skipped for three reasons read as three lines, not sixty rows.

Inline styles only, so the HTML looks the same in any notebook or page.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["COLORS", "Group", "html_groups", "text_groups"]

COLORS = {  # per outcome, in every rendering
    "succeeded": "#2e7d32",
    "skipped": "#b26a00",
    "failed": "#c62828",
    "unfinished": "#6a1b9a",
}

_CELL = "padding:2px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #ddd"
SHOWN = 200  # machines listed under a group in HTML; the JSON and CSV exports list all


@dataclass(frozen=True)
class Group:
    """Machines that share a fate: ``title`` (e.g. ``skip ImageNotSupported``), what to do
    about it, and a row per machine under ``headers``."""

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    fix: str = ""
    note: str = ""  # e.g. what enrollment will change on the machines that run
    color: str = "#555"


def _cells(values: Sequence[str], tag: str = "td") -> str:
    return "".join(f'<{tag} style="{_CELL}">{html.escape(v)}</{tag}>' for v in values)


def html_groups(summary: str, groups: Sequence[Group]) -> str:
    """The summary, a table of the groups with their counts and fixes, then each group's
    machines folded under its title."""
    counts = "".join(
        f'<tr><td style="{_CELL};color:{g.color};font-weight:600">{html.escape(g.title)}</td>'
        f'<td style="{_CELL};text-align:right">{len(g.rows):,}</td>'
        f"{_cells([g.fix or g.note])}</tr>"
        for g in groups
    )
    folded = "".join(_folded(group) for group in groups)
    text = html.escape(summary).replace("\n", "<br>")
    return (
        f"<p>{text}</p><table><tr>{_cells(['', 'machines', 'fix or change'], 'th')}</tr>"
        f"{counts}</table>{folded}"
    )


def _folded(group: Group) -> str:
    rows = "".join(f"<tr>{_cells(row)}</tr>" for row in group.rows[:SHOWN])
    more = len(group.rows) - SHOWN
    tail = (
        f"<p>... and {more:,} more (the JSON and CSV exports list every one)</p>"
        if more > 0
        else ""
    )
    return (
        f'<details><summary style="color:{group.color}">{html.escape(group.title)}: '
        f"{_machines(len(group.rows))}</summary><table><tr>{_cells(group.headers, 'th')}</tr>"
        f"{rows}</table>{tail}</details>"
    )


def text_groups(groups: Sequence[Group], limit: int | None = 10) -> str:
    """Each group's title and count, its fix, and up to ``limit`` of its machines (all with
    None) in padded columns."""
    lines: list[str] = []
    for group in groups:
        lines.append(f"{group.title}: {_machines(len(group.rows))}")
        if group.fix:
            lines.append(f"  fix: {group.fix}")
        if group.note:
            lines.append(f"  {group.note}")
        shown = list(group.rows[:limit])
        if shown:
            widths = [max(len(r[c]) for r in [group.headers, *shown]) for c in range(len(shown[0]))]
            lines += [
                "  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
                for row in [group.headers, *shown]
            ]
        if len(group.rows) > len(shown):
            lines.append(f"  ... and {len(group.rows) - len(shown):,} more")
    return "\n".join(lines)


def _machines(count: int) -> str:
    return f"{count:,} machine{'' if count == 1 else 's'}"
