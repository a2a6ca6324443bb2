"""Where the estate stands as one self-contained HTML page, for the operations lead who asks
after Patch Tuesday which machines are current, which are behind, and why: the counts per
verdict, compliance per subscription (a bar per subscription, its machines per verdict), how
long ago each machine last installed updates, the fixes per reason, and every machine in a
table that sorts and filters in the browser.

It is drawn by the run report's pieces (`azhotpatch.fleet._report_html`): the same skeleton,
style sheet and table script from ``report_assets/``, the same Content-Security-Policy that
lets only that script run (by its SHA-256), the same charts (`azhotpatch._svg`). Nothing is
fetched, so it opens offline, from a mail attachment or a change record. This module only
fills the skeleton's placeholders with the posture's sections and its table's data, which
names its own layout (`FIELDS`, `COLUMNS`) for the script to read by name.

It holds what the posture's JSON holds (resource names, verdicts, reasons, fixes, times)
and nothing else.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from string import Template
from typing import Any, NamedTuple

from azhotpatch import __version__
from azhotpatch._files import write_atomically
from azhotpatch._svg import Bar, Stack, bar_chart, stacked_bar_chart
from azhotpatch.fleet._report_html import (
    SCRIPT,
    SKELETON,
    STYLE,
    Column,
    asset,
    script_hash,
    table_data,
)
from azhotpatch.fleet.posture import _COLORS, MachinePosture, Posture
from azhotpatch.posture_rules import Verdict

__all__ = ["render", "write"]

# Days since the last install, in bins: (the most days a bin holds, its label).
INSTALL_BINS = (
    (7, "0-7 days"),
    (14, "8-14 days"),
    (30, "15-30 days"),
    (60, "31-60 days"),
    (90, "61-90 days"),
    (180, "91-180 days"),
    (None, "over 180 days"),
)
NEVER = "never installed"
INSTALL_COLOR = "#1565c0"
NEVER_COLOR = "#9e9e9e"
FALLBACK_COLOR = "#757575"  # a verdict added later, until it is given a colour of its own


def write(posture: Posture, path: str | Path) -> Path:
    """Write the page to ``path``, whole or not at all (see `azhotpatch._files`)."""
    return write_atomically(path, render(posture).encode("utf-8"), argument="path")


def render(posture: Posture) -> str:
    """The page, as text: the report's skeleton with the posture's sections, its table's
    data, the style and the script in its placeholders."""
    script = asset(SCRIPT)
    sections = [_summary(posture), _charts(posture), _reasons(posture)]
    return Template(asset(SKELETON)).substitute(
        version=html.escape(__version__),
        title=html.escape(f"azhotpatch posture: {posture.taken:%Y-%m-%d %H:%M} UTC"),
        script_hash=script_hash(script),
        style=asset(STYLE),
        sections="\n".join(sections),
        searched="name, subscription, group, location, reason, fix",
        category="verdict",
        elsewhere="the posture's JSON and CSV (azhotpatch status -o json, --csv)",
        machine_data=table_data(machine_rows(posture)),
        script=script,
    )


def verdict_colors() -> dict[str, str]:
    """Each verdict's colour, the one the posture's other renderings use."""
    return {v.value: _COLORS.get(v, FALLBACK_COLOR) for v in Verdict}


# --- the counts -------------------------------------------------------------------------------


def _summary(posture: Posture) -> str:
    counts, colors = posture.counts, verdict_colors()
    tiles = "".join(
        f'<div class="tile" style="border-color:{colors[v.value]}" data-verdict="{v.value}">'
        f'<span class="count" style="color:{colors[v.value]}">{counts.get(v.value, 0):,}</span>'
        f'<span class="label">{v.value}</span></div>'
        for v in Verdict
    )
    facts = [
        ("machines", f"{len(posture.machines):,}"),
        ("taken", f"{posture.taken:%Y-%m-%d %H:%M} UTC"),
        ("expected", f"the {posture.expected} release"),
        ("stale after", f"{posture.stale_after.total_seconds() / 86400:g} days"),
    ]
    rows = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
    return (
        '<section id="summary"><h1>Where the estate stands</h1>'
        f'<div class="tiles">{tiles}</div><table class="facts">{rows}</table></section>'
    )


# --- the charts -------------------------------------------------------------------------------


def _charts(posture: Posture) -> str:
    return (
        '<section id="charts"><h2>Compliance</h2>'
        f"{_by_subscription(posture)}{_since_install(posture)}</section>"
    )


def _by_subscription(posture: Posture) -> str:
    colors = verdict_colors()
    stacks = [
        Stack(name, [(v.value, counts.get(v.value, 0), colors[v.value]) for v in Verdict])
        for name, counts in posture.by("subscription").items()
    ]
    svg = stacked_bar_chart(
        stacks, title="Compliance by subscription", x_label="machines, by verdict"
    )
    caption = "Each subscription's machines by verdict; the number after a bar is its machines."
    return f'<figure id="by-subscription">{svg}<figcaption>{caption}</figcaption></figure>'


def install_ages(posture: Posture) -> dict[str, int]:
    """Machines per bin of days since their last install (`INSTALL_BINS`), and never."""
    found: Counter[str] = Counter()
    for machine in posture.machines:
        found[_install_bin(machine, posture.taken)] += 1
    return {label: found.get(label, 0) for label in [*(b for _, b in INSTALL_BINS), NEVER]}


def _install_bin(machine: MachinePosture, taken: datetime) -> str:
    if machine.last_install is None:
        return NEVER
    days = max((taken - machine.last_install).days, 0)
    return next(label for most, label in INSTALL_BINS if most is None or days <= most)


def _since_install(posture: Posture) -> str:
    bars = [
        Bar(label, count, NEVER_COLOR if label == NEVER else INSTALL_COLOR, f"{count:,}")
        for label, count in install_ages(posture).items()
    ]
    svg = bar_chart(
        [("", bars)],
        title="Days since the last install",
        x_label="machines",
        label_width=110,
    )
    caption = (
        f"How long before {posture.taken:%Y-%m-%d} each machine last installed updates, "
        "as Azure recorded it; machines with no installation on record are counted apart."
    )
    return (
        f'<figure id="since-install">{svg}<figcaption>{html.escape(caption)}</figcaption></figure>'
    )


# --- the fixes, by reason ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Reason:
    verdict: str
    rule: str
    machines: int
    fix: str
    example: str


def reasons(posture: Posture) -> list[_Reason]:
    """The machines by verdict and first reason, the most common first, with the fix and
    the message of the first machine."""
    grouped: dict[tuple[str, str], list[MachinePosture]] = {}
    for machine in posture.machines:
        grouped.setdefault((machine.verdict.value, _rule(machine)), []).append(machine)
    ordered = sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))
    return [
        _Reason(verdict, rule, len(found), _fix(found[0], posture), _message(found[0]))
        for (verdict, rule), found in ordered
    ]


def _reasons(posture: Posture) -> str:
    colors = verdict_colors()
    rows = "".join(
        f'<tr data-category="{r.verdict}" data-code="{html.escape(r.rule, quote=True)}">'
        f'<td><span class="pill {r.verdict}" style="background:{colors[r.verdict]}">'
        f"{r.verdict}</span></td>"
        f'<td><button type="button" class="code" title="show these machines">'
        f"{html.escape(r.rule or '-')}</button></td>"
        f'<td class="num">{r.machines:,}</td><td>{html.escape(r.fix)}</td>'
        f'<td class="example">{html.escape(r.example)}</td></tr>'
        for r in reasons(posture)
    )
    return (
        '<section id="reasons"><h2>Fixes, by reason</h2>'
        '<table id="reasons-table"><thead><tr><th>verdict</th><th>reason</th>'
        "<th>machines</th><th>fix</th><th>for example</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def _rule(machine: MachinePosture) -> str:
    return machine.reasons[0].rule.value if machine.reasons else ""


def _message(machine: MachinePosture) -> str:
    return machine.reasons[0].message if machine.reasons else ""


def _fix(machine: MachinePosture, posture: Posture) -> str:
    fix = machine.fix
    return fix.render(posture.words) if fix is not None else ""


# --- the machines -----------------------------------------------------------------------------


class _Row(NamedTuple):
    """One machine in the table's data, its field names the names the script reads values
    by (the data carries them once, each row only its values)."""

    name: str
    subscription: int  # into the data's shared ``subscription`` list
    group: str
    location: str
    kind: str
    verdict: str
    behind: int | None
    reason: str
    message: int  # into the shared ``message`` list: the first reason's words
    fix: int  # into the shared ``fix`` list
    assessed: str
    installed: str


FIELDS = _Row._fields
COLUMNS = (
    Column("name", "machine"),
    Column("subscription", "subscription"),
    Column("group", "resource group"),
    Column("location", "location"),
    Column("kind", "kind"),
    Column("verdict", "verdict"),
    Column("behind", "releases behind", "num"),
    Column("reason", "reason", "code", title="message"),
    Column("fix", "fix"),
    Column("assessed", "last assessment"),
    Column("installed", "last install"),
)
SEARCHED = ("name", "subscription", "group", "location", "kind", "verdict", "reason", "fix")
SHARED = ("subscription", "message", "fix")


def when(moment: datetime | None) -> str:
    """A time as the table shows it (sorts as text in time order), or empty."""
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else ""


def machine_rows(posture: Posture) -> dict[str, Any]:
    """The table's data: its layout, each subscription, message and fix once (machines
    behind for one reason share them), then one short row per machine."""
    shared: dict[str, dict[str, int]] = {name: {"": 0} for name in SHARED}
    rows = [_row(machine, posture, shared) for machine in posture.machines]
    return {
        "fields": FIELDS,
        "columns": [column.data() for column in COLUMNS],
        "searched": SEARCHED,
        "category": "verdict",
        "categories": [v.value for v in Verdict],
        "colors": verdict_colors(),
        "shared": {name: list(values) for name, values in shared.items()},
        "rows": rows,
    }


def _row(machine: MachinePosture, posture: Posture, shared: dict[str, dict[str, int]]) -> _Row:
    def index(name: str, text: str) -> int:
        return shared[name].setdefault(text, len(shared[name]))

    return _Row(
        name=machine.name,
        subscription=index("subscription", machine.subscription),
        group=machine.resource_group,
        location=machine.location,
        kind=machine.kind,
        verdict=machine.verdict.value,
        behind=machine.behind,
        reason=_rule(machine),
        message=index("message", _message(machine)),
        fix=index("fix", _fix(machine, posture)),
        assessed=when(machine.last_assessment),
        installed=when(machine.last_install),
    )
