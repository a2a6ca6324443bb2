"""A fleet run's report as one self-contained HTML file that people can open and attach to a
change record: the summary, the counts per outcome and reason with each reason's fix, a
timeline of the run (machines concluded over time; requests per second per throttling bucket
against its ceiling, 429s marked), the Hotpatch calendar it ran in, and every machine in a
table that sorts and filters in the browser.

Nothing is fetched: styles, charts (SVG) and the table's script are inline, and the page's
Content-Security-Policy forbids any request, so it opens the same offline, from a mail
attachment or a change record. It holds what the JSON report holds (resource ids, outcomes,
codes, messages, Azure's request ids) and nothing else: no tokens, no continuation tokens,
no credentials.

The page's skeleton, its style and the table's script are files beside this module
(``report_assets/``, package data read with `importlib.resources`), so each is read and
checked in its own language; this module only fills the skeleton's placeholders with the
run's sections and data. The policy lets exactly one script run, the one inlined, by its
SHA-256 computed from the file as the page is rendered: markup that found its way into a
machine's message could not run a script of its own. The table's data names its fields and
columns once (`FIELDS`, `COLUMNS`) and the script reads every value by name.

Times are seconds since the run began, counting only the time its attempts ran (a run
resumed the next day is drawn without the night between). Against an emulator whose clock
runs faster they are Azure seconds, the unit the throttling limits are stated in.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, NamedTuple

from azhotpatch import __version__, calendar
from azhotpatch._files import write_atomically
from azhotpatch._svg import Line, line_chart
from azhotpatch.fleet._folding import COLORS
from azhotpatch.fleet._timeline import Timeline
from azhotpatch.fleet.report import MachineResult, Outcome, Report, problem_of

__all__ = ["Column", "render", "table_data", "write"]

UNFINISHED = "unfinished"
DISPLAY_BINS = 120  # points per timeline chart
CHARTED_BUCKETS = 4  # buckets drawn: up to this many that answered 429, and the busiest
LISTED_BUCKETS = 40


def write(report: Report, path: str | Path) -> Path:
    """Write the page to ``path``, whole or not at all (a reader never sees half a file),
    never through a path that is not a regular file (see `azhotpatch._files`)."""
    return write_atomically(path, render(report).encode("utf-8"), argument="report_html")


def render(report: Report) -> str:
    """The page, as text: the skeleton with the run's sections, the table's data, the style
    and the script put in its placeholders."""
    run_time = _RunTime(report.timeline)
    script = asset(SCRIPT)
    title = f"azhotpatch run: {' + '.join(report.actions) or 'report'}"
    return Template(asset(SKELETON)).substitute(
        version=html.escape(__version__),
        title=html.escape(title),
        script_hash=script_hash(script),
        style=asset(STYLE),
        sections="\n".join(
            [
                _summary(report, run_time),
                _reasons(report),
                _timeline_section(report, run_time),
                _calendar_section(report),
            ]
        ),
        searched="name, group, reason, request id, message",
        category="outcome",
        elsewhere="the JSON report",
        machine_data=table_data(machine_rows(report, run_time)),
        script=script,
    )


# --- the assets -------------------------------------------------------------------------------

SKELETON = "page.html"
STYLE = "page.css"
SCRIPT = "machines.js"


@functools.cache
def asset(name: str) -> str:
    """One of the page's files, from the installed package (read once per process)."""
    found = resources.files("azhotpatch.fleet") / "report_assets" / name
    return found.read_text(encoding="utf-8")


def script_hash(script: str) -> str:
    """The Content-Security-Policy source that lets ``script``, and nothing else, run."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


# --- time -------------------------------------------------------------------------------------


class _RunTime:
    """The run's own time: wall-clock moments to seconds of the run, counting only the time
    its attempts ran, times the emulator's time scale (1 against Azure)."""

    def __init__(self, timeline: Timeline | None) -> None:
        self.attempts = sorted(timeline.attempts) if timeline else []
        self.scale = timeline.time_scale if timeline else 1.0

    def __call__(self, moment: float) -> float:
        elapsed = 0.0
        for start, end in self.attempts:
            if moment <= start:
                break
            elapsed += min(moment, end) - start
        return elapsed * self.scale

    @property
    def span(self) -> float:
        return sum(end - start for start, end in self.attempts) * self.scale

    @property
    def resumptions(self) -> list[float]:
        """Where each later attempt begins, in seconds of the run."""
        return [self(start) for start, _ in self.attempts[1:]]

    @property
    def unit(self) -> str:
        return "s" if self.scale == 1 else "Azure s"

    def moment(self, when: float) -> str:
        return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- summary and reasons ----------------------------------------------------------------------


def _summary(report: Report, run_time: _RunTime) -> str:
    counts = report.counts
    unfinished = len(report.unfinished)
    cards = [(outcome.value, counts.get(outcome.value, 0)) for outcome in Outcome]
    if unfinished:
        cards.append((UNFINISHED, unfinished))
    tiles = "".join(
        f'<div class="tile" style="border-color:{COLORS[name]}" data-outcome="{name}">'
        f'<span class="count" style="color:{COLORS[name]}">{count:,}</span>'
        f'<span class="label">{name}</span></div>'
        for name, count in cards
    )
    when = ""
    if report.timeline and report.timeline.attempts:
        timeline = report.timeline
        when = f"{run_time.moment(timeline.started)} to {run_time.moment(timeline.ended)}"
    facts = [
        ("actions", " + ".join(report.actions)),
        ("machines", f"{len(report.machines) + unfinished:,}"),
        ("ran", when),
        ("took", _took(report, run_time)),
        (
            "requests",
            f"{report.requests:,}; throttled (429) {report.throttled:,}; "
            f"transport errors {report.transport_errors:,}",
        ),
    ]
    if run_time.scale != 1:
        facts.append(("clock", f"an emulator running {run_time.scale:g} times faster than Azure"))
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts if v
    )
    note = (
        f'<p class="note">{unfinished:,} machines were begun but not concluded when the '
        "journal was last written: run again with the same journal to resume them.</p>"
        if unfinished
        else ""
    )
    return (
        f'<section id="summary"><h1>Hotpatch run report</h1><div class="tiles">{tiles}</div>'
        f'<table class="facts">{rows}</table>{note}</section>'
    )


def _took(report: Report, run_time: _RunTime) -> str:
    took = f"{report.elapsed:,.1f} s"
    if run_time.scale != 1:
        took += f" ({report.elapsed * run_time.scale:,.0f} Azure s)"
    return took + (" over several attempts (resumed)" if report.resumed else "")


@dataclass(frozen=True)
class _Reason:
    outcome: str
    code: str
    machines: int
    fix: str
    example: str


def reasons(report: Report) -> list[_Reason]:
    """The machines that did not succeed, and those another run or the platform patched, by
    outcome and code (`Report.by_reason`), with the fix and the problem of the first."""
    return [
        _Reason(outcome.value, code, len(found), _fix(found[0], report), problem_of(found[0]))
        for outcome, code, found in report.by_reason()
    ]


def _fix(machine: MachineResult, report: Report) -> str:
    return machine.fix.render(report.words) if machine.fix is not None else ""


def _reasons(report: Report) -> str:
    found = reasons(report)
    if not found:
        return '<section id="reasons"><h2>Reasons</h2><p>Every machine succeeded.</p></section>'
    rows = "".join(
        f'<tr data-category="{r.outcome}" data-code="{html.escape(r.code, quote=True)}">'
        f'<td><span class="pill {r.outcome}" style="background:{COLORS[r.outcome]}">'
        f"{r.outcome}</span></td>"
        f'<td><button type="button" class="code" title="show these machines">'
        f"{html.escape(r.code or '-')}</button></td>"
        f'<td class="num">{r.machines:,}</td><td>{html.escape(r.fix)}</td>'
        f'<td class="example">{html.escape(r.example)}</td></tr>'
        for r in found
    )
    return (
        '<section id="reasons"><h2>Why machines did not succeed, and who else patched</h2>'
        '<table id="reasons-table"><thead><tr><th>outcome</th><th>reason</th>'
        "<th>machines</th><th>fix</th><th>for example</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


# --- the timeline -----------------------------------------------------------------------------


def _timeline_section(report: Report, run_time: _RunTime) -> str:
    timeline = report.timeline
    if timeline is None or not timeline.attempts:
        return ""
    parts = [_concluded_chart(report, timeline, run_time)]
    buckets = _bucket_series(timeline, run_time)
    if buckets:
        charted = _charted(buckets)
        parts += [_bucket_chart(b, run_time) for b in charted]
        parts.append(_bucket_table(buckets))
    else:
        parts.append("<p>No requests per bucket were recorded for this run.</p>")
    return '<section id="timeline"><h2>Timeline</h2>' + "".join(parts) + "</section>"


def _concluded_chart(report: Report, timeline: Timeline, run_time: _RunTime) -> str:
    outcomes = {m.resource.lower(): m.outcome.value for m in report.machines}
    moments = sorted(
        (run_time(when), outcomes.get(resource, "")) for resource, when in timeline.finished.items()
    )
    span = max(run_time.span, moments[-1][0] if moments else 0.0)
    totals: Counter[str] = Counter()
    series: dict[str, list[tuple[float, float]]] = defaultdict(lambda: [(0.0, 0.0)])
    for x, outcome in moments:
        totals[outcome] += 1
        totals["all"] += 1
        series[outcome].append((x, totals[outcome]))
        series["all"].append((x, totals["all"]))
    lines = [
        Line(name if name != "all" else "all concluded", [*points, (span, points[-1][1])], color)
        for name, color in [("all", "#37474f"), *COLORS.items()]
        if (points := series.get(name))
    ]
    earlier = len(report.machines) - len(moments)
    caption = "Machines concluded (their outcome known) over the run."
    if earlier > 0:
        caption += f" {earlier:,} machines concluded in an earlier part of the run are not drawn."
    svg = line_chart(
        lines,
        title="Machines concluded over time",
        x_label=f"seconds since the run began ({run_time.unit})",
        y_label="machines",
        x_max=span,
        dividers=[(x, "resumed") for x in run_time.resumptions],
    )
    return f'<figure id="concluded">{svg}<figcaption>{html.escape(caption)}</figcaption></figure>'


@dataclass
class _Bucket:
    name: str
    rates: list[float]  # requests per second (of the run's own time) in each display bin
    throttled_at: list[float]
    requests: int
    throttled: int
    ceiling: float | None  # sustained requests per second the limits allow
    burst: float | None
    width: float  # seconds per display bin

    @property
    def peak(self) -> float:
        return max(self.rates, default=0.0)

    @property
    def used(self) -> float:
        """The share of what the bucket allowed over the run (its burst, and its refill
        for the run's length) that the run spent: near 1, the bucket set the pace."""
        if not self.ceiling:
            return 0.0
        allowed = (self.burst or 0.0) + self.ceiling * self.width * len(self.rates)
        return self.requests / allowed if allowed else 0.0


def _bucket_series(timeline: Timeline, run_time: _RunTime) -> list[_Bucket]:
    span = max(run_time.span, 1e-9)
    widest = max((row.width * run_time.scale for row in timeline.traffic), default=0.0)
    width = max(span / DISPLAY_BINS, widest)
    bins = int(span / width) + 1
    counts: dict[str, list[int]] = {}
    throttled: dict[str, list[float]] = defaultdict(list)
    totals: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for row in timeline.traffic:
        x = run_time(row.at + row.width / 2)
        index = min(int(x / width), bins - 1)
        counts.setdefault(row.bucket, [0] * bins)[index] += row.requests
        totals[row.bucket] += row.requests
        if row.throttled:
            refused[row.bucket] += row.throttled
            throttled[row.bucket].append(x)
    found = []
    for name, per_bin in counts.items():
        ceiling = timeline.ceilings.get(name)
        found.append(
            _Bucket(
                name,
                [count / width for count in per_bin],
                throttled[name],
                totals[name],
                refused[name],
                ceiling.per_second / run_time.scale if ceiling else None,
                ceiling.capacity if ceiling else None,
                width,
            )
        )
    return sorted(found, key=lambda b: (-b.throttled, -b.used, -b.requests, b.name))


def _charted(buckets: Sequence[_Bucket]) -> list[_Bucket]:
    """The buckets drawn: those that answered the most 429s, and the busiest of the rest
    (the table lists them all)."""
    refused = [b for b in buckets if b.throttled][:CHARTED_BUCKETS]
    rest = [b for b in buckets if not b.throttled][:CHARTED_BUCKETS]
    return [*refused, *rest][: max(CHARTED_BUCKETS, len(refused) + 2)]


def bucket_label(name: str) -> str:
    """A bucket's name in words (see `azhotpatch._azure.traffic.bucket_name`)."""
    parts = name.split("/")
    if parts[0] == "arm" and len(parts) == 3:
        return f"ARM {parts[2]}, subscription {parts[1][:8]}"
    if parts[0] == "compute" and len(parts) == 4:
        return f"Compute {parts[1]}, subscription {parts[2][:8]}, {parts[3]}"
    if parts[0] == "graph":
        return "Resource Graph queries"
    return name


def _bucket_chart(bucket: _Bucket, run_time: _RunTime) -> str:
    points = [(i * bucket.width, rate) for i, rate in enumerate(bucket.rates)]
    points.append((len(bucket.rates) * bucket.width, bucket.rates[-1] if bucket.rates else 0.0))
    span = points[-1][0]
    lines = [Line("requests per second", points, "#1565c0")]
    if bucket.ceiling:
        lines.append(
            Line(
                f"ceiling {bucket.ceiling:.3g}/s",
                [(0.0, bucket.ceiling), (span, bucket.ceiling)],
                "#c62828",
                dashed=True,
            )
        )
    label = bucket_label(bucket.name)
    svg = line_chart(
        lines,
        title=f"Requests per second: {label}",
        x_label=f"seconds since the run began ({run_time.unit})",
        y_label="requests / s",
        x_max=span,
        y_max=(bucket.ceiling or 0.0) * 1.1,
        marks=bucket.throttled_at,
        mark_label="429",
        dividers=[(x, "resumed") for x in run_time.resumptions],
        height=200,
    )
    burst = (
        f" A full bucket also lets a burst of {bucket.burst:g} requests through above it."
        if bucket.burst
        else ""
    )
    caption = (
        f"{label}: {bucket.requests:,} requests, {bucket.throttled:,} answered 429; "
        f"the dashed line is the rate the bucket refills at.{burst}"
    )
    return (
        f'<figure class="bucket" data-bucket="{html.escape(bucket.name, quote=True)}">{svg}'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _bucket_table(buckets: Sequence[_Bucket]) -> str:
    rows = "".join(
        f'<tr><td title="{html.escape(b.name, quote=True)}">{html.escape(bucket_label(b.name))}'
        f'</td><td class="num">{b.requests:,}</td><td class="num">{b.peak:,.1f}</td>'
        f'<td class="num">{_ceiling(b)}</td><td class="num">{b.used:.0%}</td>'
        f'<td class="num">{b.throttled:,}</td></tr>'
        for b in buckets[:LISTED_BUCKETS]
    )
    more = (
        f"<p>... and {len(buckets) - LISTED_BUCKETS:,} quieter buckets.</p>"
        if len(buckets) > LISTED_BUCKETS
        else ""
    )
    return (
        "<details><summary>Every throttling bucket the run drew from "
        f"({len(buckets):,})</summary><table><thead><tr><th>bucket</th><th>requests</th>"
        "<th>peak / s</th><th>ceiling / s</th><th>used of what it allowed</th><th>429s</th>"
        "</tr>"
        f"</thead><tbody>{rows}</tbody></table>{more}"
        "<p>Compute's per-machine buckets are not drawn: each machine's is far below its "
        "subscription's.</p></details>"
    )


def _ceiling(bucket: _Bucket) -> str:
    return f"{bucket.ceiling:,.2f}" if bucket.ceiling else "-"


# --- the calendar -----------------------------------------------------------------------------


def _calendar_section(report: Report) -> str:
    today = report.timeline.today if report.timeline else None
    if today is None and not report.calendar:
        return ""
    year = calendar.year_plan(today.year)._repr_html_() if today else ""
    note = f"<p>{html.escape(report.calendar)}</p>" if report.calendar else ""
    return f'<section id="calendar"><h2>Calendar</h2>{note}{year}</section>'


# --- the machines -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of a machines table: the field it shows, its heading, its cells' class
    (``num`` aligns numbers) and the field shown as a cell's tooltip."""

    key: str
    label: str
    cell_class: str = ""
    title: str = ""

    def data(self) -> dict[str, str]:
        """The column as the table's script reads it."""
        found = {"key": self.key, "label": self.label}
        if self.cell_class:
            found["class"] = self.cell_class
        if self.title:
            found["title"] = self.title
        return found


class _Row(NamedTuple):
    """One machine in the table's data. Its field names are the names the script reads
    values by: the data carries them once (``fields``), each row only its values."""

    name: str
    subscription: int  # into the data's ``subscriptions``
    group: str
    kind: str
    outcome: str
    code: str
    azure: str
    request: str
    at: float | None  # seconds of the run when the machine concluded
    steps: str
    message: int  # into the data's ``messages``


FIELDS = _Row._fields
COLUMNS = (  # the table's columns, in order: (field, heading, cell class, tooltip field)
    Column("name", "machine", title="subscription"),
    Column("group", "resource group"),
    Column("kind", "kind"),
    Column("outcome", "outcome"),
    Column("code", "reason", "code"),
    Column("azure", "Azure code"),
    Column("request", "request id"),
    Column("at", "concluded at", "num"),
    Column("steps", "steps"),
    Column("message", "message", "message"),
)
SEARCHED = (  # the fields the table's text filter searches
    "name",
    "subscription",
    "group",
    "kind",
    "outcome",
    "code",
    "azure",
    "request",
    "message",
)


def machine_rows(report: Report, run_time: _RunTime) -> dict[str, Any]:
    """The table's data: its fields and columns, each subscription and each message once
    (machines skipped for one reason mostly share their message), then one short row per
    machine."""
    finished = report.timeline.finished if report.timeline else {}
    subscriptions: dict[str, int] = {}
    messages: dict[str, int] = {"": 0}
    rows: list[_Row] = []
    for machine in report.machines:
        subscription, group, name = _parts(machine.resource)
        when = finished.get(machine.resource.lower())
        steps = ", ".join(
            f"{s.action} {s.seconds * run_time.scale:,.1f}" if s.seconds is not None else s.action
            for s in machine.steps
        )
        rows.append(
            _Row(
                name=name,
                subscription=subscriptions.setdefault(subscription, len(subscriptions)),
                group=group,
                kind=machine.kind,
                outcome=machine.outcome.value,
                code=machine.code or "",
                azure=machine.azure_code or "",
                request=machine.request_id or "",
                at=round(run_time(when), 1) if when is not None else None,
                steps=steps,
                message=messages.setdefault(problem_of(machine), len(messages)),
            )
        )
    for resource in report.unfinished:
        subscription, group, name = _parts(resource)
        index = subscriptions.setdefault(subscription, len(subscriptions))
        rows.append(_Row(name, index, group, "", UNFINISHED, "", "", "", None, "", 0))
    return {
        "fields": FIELDS,
        "columns": [column.data() for column in COLUMNS],
        "searched": SEARCHED,
        "category": "outcome",
        "categories": [*(o.value for o in Outcome), UNFINISHED],
        "colors": COLORS,
        "shared": {"subscription": list(subscriptions), "message": list(messages)},
        "rows": rows,
    }


def _parts(resource: str) -> tuple[str, str, str]:
    """(subscription, resource group, name) of a resource id."""
    parts = resource.split("/")
    if len(parts) >= 9 and parts[1].lower() == "subscriptions":
        return parts[2], parts[4], parts[-1]
    return "", "", resource


def table_data(data: dict[str, Any]) -> str:
    """The table's data as JSON that cannot end the script element it is written in."""
    text = json.dumps(data, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
