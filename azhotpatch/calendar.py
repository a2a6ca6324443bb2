"""The Hotpatch release calendar: which months need a reboot, and when each release lands.

Windows Server Hotpatch ships a *baseline* (the latest cumulative update, which needs a reboot)
every quarter, in January, April, July and October. The two months after each baseline are
*hotpatch* months: security fixes are applied in memory and the machine keeps running. When a
fix cannot ship as a hotpatch (a zero-day, say), Microsoft releases an *unplanned baseline* in
what would have been a hotpatch month, and that month needs a reboot too. Every release comes
on Patch Tuesday, the second Tuesday of the month.

Maintenance windows are planned around exactly these facts, so they live here as pure date
arithmetic: no I/O and no Azure calls, usable from scripts, reports and notebooks alike. Known
unplanned baselines are passed in by the caller, because only Microsoft can announce them.

This module is ``azhotpatch.calendar``; absolute imports elsewhere still reach the standard
library's ``calendar``, and this module does not need it.
"""

from __future__ import annotations

import enum
import html
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, TypeAlias

from azhotpatch.errors import InvalidArgumentError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = [
    "MonthKind",
    "MonthLike",
    "Release",
    "YearPlan",
    "current_release",
    "month_kind",
    "next_release",
    "patch_tuesday",
    "planned_kind",
    "releases",
    "year_plan",
]

MonthLike: TypeAlias = date | tuple[int, int] | str
"""A month named by any date in it, a ``(year, month)`` tuple, or a ``"YYYY-MM"`` string."""

PLANNED_BASELINE_MONTHS = frozenset({1, 4, 7, 10})
_TUESDAY = 1  # date.weekday() numbering: Monday is 0
_MONTH_TEXT = re.compile(r"\s*(\d{4})-(\d{2})\s*")
_MONTH_FORMS = "a date, a (year, month) tuple such as (2026, 3), or a 'YYYY-MM' string"
_MONTH_ABBREVIATIONS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


class MonthKind(str, enum.Enum):
    """What a month's release does to a running machine; the value is its one-letter code."""

    BASELINE = "B"
    HOTPATCH = "H"
    UNPLANNED_BASELINE = "U"

    @property
    def reboot_required(self) -> bool:
        """Baselines, planned or not, are full cumulative updates and only apply on reboot."""
        return self is not MonthKind.HOTPATCH

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    MonthKind.BASELINE: "Baseline (reboot)",
    MonthKind.HOTPATCH: "Hotpatch (no reboot)",
    MonthKind.UNPLANNED_BASELINE: "Unplanned baseline (reboot)",
}
_KIND_COLOURS = {
    MonthKind.BASELINE: "#f4b183",
    MonthKind.HOTPATCH: "#a9d18e",
    MonthKind.UNPLANNED_BASELINE: "#ff7c80",
}


# --- validation ---------------------------------------------------------------------------------


def _check_year(year: object, argument: str = "year") -> int:
    if isinstance(year, bool) or not isinstance(year, int):
        raise InvalidArgumentError(
            argument,
            f"must be an int, got {type(year).__name__} {year!r}",
            fix="pass a calendar year as an int, e.g. 2026",
        )
    if not date.min.year <= year <= date.max.year:
        raise InvalidArgumentError(
            argument,
            f"year {year} is outside the calendar ({date.min.year}..{date.max.year})",
            fix=f"pass a year between {date.min.year} and {date.max.year}",
        )
    return year


def _check_month(month: object, argument: str = "month") -> int:
    if isinstance(month, bool) or not isinstance(month, int):
        raise InvalidArgumentError(
            argument,
            f"must be an int, got {type(month).__name__} {month!r}",
            fix="pass a month number from 1 (January) to 12 (December)",
        )
    if not 1 <= month <= 12:
        raise InvalidArgumentError(
            argument,
            f"month {month} does not exist",
            fix="pass a month number from 1 (January) to 12 (December)",
        )
    return month


def _check_day(day: object, argument: str) -> date:
    """Dates only: a datetime would compare wrongly against the plain dates of the calendar."""
    if isinstance(day, datetime):
        raise InvalidArgumentError(
            argument,
            f"is a datetime ({day.isoformat()}), but the calendar works in whole days",
            fix=f"pass a datetime.date, e.g. {argument}.date()",
        )
    if not isinstance(day, date):
        raise InvalidArgumentError(
            argument,
            f"must be a datetime.date, got {type(day).__name__} {day!r}",
            fix="pass a datetime.date, e.g. date(2026, 11, 10)",
        )
    return day


def _parse_month(value: object) -> tuple[int, int]:
    if isinstance(value, date):
        return value.year, value.month
    if isinstance(value, str):
        match = _MONTH_TEXT.fullmatch(value)
        if match:
            return _valid_month_pair(int(match[1]), int(match[2]), value)
    elif isinstance(value, tuple) and len(value) == 2:
        return _valid_month_pair(value[0], value[1], value)
    raise InvalidArgumentError(
        "unplanned", f"{value!r} does not name a month", fix=f"give each month as {_MONTH_FORMS}"
    )


def _valid_month_pair(year: object, month: object, given: object) -> tuple[int, int]:
    try:
        return _check_year(year, "unplanned"), _check_month(month, "unplanned")
    except InvalidArgumentError as error:
        raise InvalidArgumentError(
            "unplanned",
            f"{given!r} does not name a month: {error.problem}",
            fix=f"give each month as {_MONTH_FORMS}",
        ) from None


def _unplanned_months(unplanned: Iterable[MonthLike]) -> frozenset[tuple[int, int]]:
    """Normalise every accepted spelling to ``(year, month)``.

    A bare month (not wrapped in a list) is refused rather than iterated: iterating "2026-03"
    or (2026, 3) would silently yield characters or numbers instead of the month meant.
    """
    if isinstance(unplanned, (str, date)) or _is_month_pair(unplanned):
        raise InvalidArgumentError(
            "unplanned",
            f"{unplanned!r} is a single month, but a collection of months is expected",
            fix=f"wrap it in a list, e.g. unplanned=[{unplanned!r}]",
        )
    return frozenset(_parse_month(value) for value in unplanned)


def _is_month_pair(value: object) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(part, int) and not isinstance(part, bool) for part in value)
    )


# --- months and Patch Tuesdays ----------------------------------------------------------------


def patch_tuesday(year: int, month: int) -> date:
    """The second Tuesday of the month, the day Microsoft ships every Hotpatch release."""
    first = date(_check_year(year), _check_month(month), 1)
    first_tuesday = 1 + (_TUESDAY - first.weekday()) % 7
    return first.replace(day=first_tuesday + 7)


def planned_kind(year: int, month: int) -> MonthKind:
    """The kind Microsoft plans for the month, before any unplanned baseline is announced."""
    _check_year(year)
    if _check_month(month) in PLANNED_BASELINE_MONTHS:
        return MonthKind.BASELINE
    return MonthKind.HOTPATCH


def month_kind(year: int, month: int, *, unplanned: Iterable[MonthLike] = ()) -> MonthKind:
    """The kind of the month's release, with known unplanned baselines taken into account.

    An unplanned baseline turns a hotpatch month into `MonthKind.UNPLANNED_BASELINE`. One that
    falls in a planned baseline month leaves it `MonthKind.BASELINE`: the planned baseline
    already resets the machine to the latest cumulative update, so nothing changes for it.
    """
    return _kind(year, month, _unplanned_months(unplanned))


def _kind(year: int, month: int, unplanned: frozenset[tuple[int, int]]) -> MonthKind:
    planned = planned_kind(year, month)
    if planned is MonthKind.HOTPATCH and (year, month) in unplanned:
        return MonthKind.UNPLANNED_BASELINE
    return planned


# --- releases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """One monthly release: its month, its kind and its Patch Tuesday."""

    year: int
    month: int
    kind: MonthKind
    date: date

    @property
    def reboot_required(self) -> bool:
        return self.kind.reboot_required

    def __str__(self) -> str:
        reboot = "reboot" if self.reboot_required else "no reboot"
        return f"{self.date.isoformat()} {self.kind.value} ({reboot})"


def _release(year: int, month: int, unplanned: frozenset[tuple[int, int]]) -> Release:
    return Release(year, month, _kind(year, month, unplanned), patch_tuesday(year, month))


def _months_from(year: int, month: int) -> Iterator[tuple[int, int]]:
    """Consecutive months up to the last one the calendar can represent."""
    while year <= date.max.year:
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def next_release(
    after: date, *, unplanned: Iterable[MonthLike] = (), inclusive: bool = False
) -> Release:
    """The first release strictly after ``after``, or on it too when ``inclusive``.

    Exclusive by default so that feeding a release's date back in steps to the following one.
    """
    _check_day(after, "after")
    months = _unplanned_months(unplanned)
    for year, month in _months_from(after.year, after.month):
        tuesday = patch_tuesday(year, month)
        if tuesday > after or (inclusive and tuesday == after):
            return _release(year, month, months)
    raise InvalidArgumentError(
        "after",
        f"there is no Patch Tuesday after {after.isoformat()} within the calendar",
        fix=f"pass a date before {patch_tuesday(date.max.year, 12).isoformat()}",
    )


def current_release(today: date, *, unplanned: Iterable[MonthLike] = ()) -> Release:
    """The release in force on ``today``: the latest whose Patch Tuesday is on or before it
    (a machine patched since that day has had the chance to take it)."""
    _check_day(today, "today")
    months = _unplanned_months(unplanned)
    this = patch_tuesday(today.year, today.month)
    if this <= today:
        return _release(today.year, today.month, months)
    if today.year == date.min.year and today.month == 1:
        raise InvalidArgumentError(
            "today",
            f"there is no Patch Tuesday on or before {today.isoformat()} within the calendar",
            fix=f"pass a date on or after {this.isoformat()}",
        )
    year, month = (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)
    return _release(year, month, months)


def releases(start: date, end: date, *, unplanned: Iterable[MonthLike] = ()) -> Iterator[Release]:
    """Every release whose Patch Tuesday falls in ``[start, end)``, in order.

    Arguments are checked at the call, not on first iteration, so mistakes surface where
    they are made.
    """
    _check_day(start, "start")
    _check_day(end, "end")
    if end < start:
        raise InvalidArgumentError(
            "end",
            f"{end.isoformat()} is before start {start.isoformat()}",
            fix="pass an end on or after start (the range is [start, end))",
        )
    return _releases_between(start, end, _unplanned_months(unplanned))


def _releases_between(
    start: date, end: date, unplanned: frozenset[tuple[int, int]]
) -> Iterator[Release]:
    for year, month in _months_from(start.year, start.month):
        tuesday = patch_tuesday(year, month)
        if tuesday >= end:
            return
        if tuesday >= start:
            yield _release(year, month, unplanned)


# --- a year at a glance -------------------------------------------------------------------------


@dataclass(frozen=True)
class YearPlan:
    """The twelve releases of one year, for planning maintenance windows at a glance."""

    year: int
    months: tuple[Release, ...]

    @property
    def reboot_months(self) -> int:
        return sum(1 for release in self.months if release.reboot_required)

    @property
    def hotpatch_months(self) -> int:
        return len(self.months) - self.reboot_months

    def render_text(self) -> str:
        """One line, e.g. ``2026  B H H B H H B H H B H H``: short enough for logs and CLIs."""
        return f"{self.year}  " + " ".join(release.kind.value for release in self.months)

    def __str__(self) -> str:
        return self.render_text()

    def _repr_html_(self) -> str:
        return _year_plan_html(self)


def year_plan(year: int, *, unplanned: Iterable[MonthLike] = ()) -> YearPlan:
    """The year's twelve releases. Unplanned months outside ``year`` are ignored for it, so
    one list of known unplanned baselines can be reused for every year."""
    _check_year(year)
    months = _unplanned_months(unplanned)
    return YearPlan(year, tuple(_release(year, month, months) for month in range(1, 13)))


_CELL = "padding:4px 6px;border:1px solid #999;text-align:center;font-family:monospace"


def _year_plan_html(plan: YearPlan) -> str:
    """A self-contained table: inline styles only, so it renders the same in any notebook."""
    heads = "".join(
        f'<th style="{_CELL}">{html.escape(_MONTH_ABBREVIATIONS[r.month - 1])}</th>'
        for r in plan.months
    )
    cells = "".join(_release_cell(release) for release in plan.months)
    caption = html.escape(
        f"Hotpatch {plan.year}: {plan.reboot_months} reboot months, "
        f"{plan.hotpatch_months} hotpatch months"
    )
    return (
        f'<table style="border-collapse:collapse"><caption>{caption}</caption>'
        f"<tr>{heads}</tr><tr>{cells}</tr></table>{_legend_html()}"
    )


def _release_cell(release: Release) -> str:
    colour = _KIND_COLOURS[release.kind]
    title = html.escape(release.kind.label, quote=True)
    letter = html.escape(release.kind.value)
    day = html.escape(release.date.isoformat())
    return (
        f'<td style="{_CELL};background:{colour}" title="{title}">'
        f"<b>{letter}</b><br><small>{day}</small></td>"
    )


def _legend_html() -> str:
    items = "".join(
        f'<span style="background:{_KIND_COLOURS[kind]};padding:2px 6px;margin-right:8px">'
        f"{html.escape(kind.value)} = {html.escape(kind.label)}</span>"
        for kind in MonthKind
    )
    return f'<div style="margin-top:4px;font-size:small">{items}</div>'
