"""What Hotpatch costs, as a dated price table and a pro-rated, cent-exact estimate.

Hotpatch on Azure Arc-enabled servers has changed price over time: free during the preview,
USD 1.50 per core per month from 2025-07-01, and no charge from 2026-05-19. Azure Edition VMs
never carried a Hotpatch charge. Budget questions span those changes ("what did last quarter
cost?"), so the prices are a table of dated periods and every estimate shows which period
priced which days, with a citation, rather than a single hard-coded rate.

Money is `decimal.Decimal` throughout and every line is rounded to the cent (half up) before
it is added, so the breakdown always adds up to the total a person would compute by hand.
Everything here is pure: no I/O and no Azure calls.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import TYPE_CHECKING, Any, NoReturn

from azhotpatch.errors import InvalidArgumentError
from azhotpatch.ids import MachineKind

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "ARC_HOTPATCH_PRICES",
    "VM_HOTPATCH_PRICES",
    "ChargeLine",
    "Estimate",
    "PricePeriod",
    "estimate",
    "price_on",
    "prices_for",
    "validate_table",
]

CURRENCY = "USD"
_CENT = Decimal("0.01")
# Wide enough that no realistic fleet loses digits before the final rounding to the cent, and
# independent of whatever decimal context the caller has set.
_MONEY_CONTEXT = Context(prec=50)
_TABLE_FIX = (
    "pass PricePeriod entries sorted by start, each ending exactly where the next one starts "
    "(end is exclusive), with a Decimal price >= 0 and only the last period open (end=None)"
)


@dataclass(frozen=True)
class PricePeriod:
    """One price in force from ``start`` up to ``end`` (exclusive; None = still in force)."""

    start: date
    end: date | None
    usd_per_core_month: Decimal
    label: str
    source: str

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)


_ARC_SOURCE = "Microsoft Learn, Hotpatch for Windows Server, pricing note"
_VM_SOURCE = "Microsoft Learn, Hotpatch for Windows Server Azure Edition"

ARC_HOTPATCH_PRICES: tuple[PricePeriod, ...] = (
    PricePeriod(date.min, date(2025, 7, 1), Decimal("0.00"), "Preview (free)", _ARC_SOURCE),
    PricePeriod(
        date(2025, 7, 1), date(2026, 5, 19), Decimal("1.50"), "Hotpatch subscription", _ARC_SOURCE
    ),
    PricePeriod(date(2026, 5, 19), None, Decimal("0.00"), "No charge", _ARC_SOURCE),
)
"""Hotpatch on Azure Arc-enabled servers, USD per core per month."""

VM_HOTPATCH_PRICES: tuple[PricePeriod, ...] = (
    PricePeriod(date.min, None, Decimal("0.00"), "Included with Azure Edition", _VM_SOURCE),
)
"""Hotpatch on Azure Edition VMs, which has always been part of the edition."""


# --- table validation -----------------------------------------------------------------------------


def validate_table(table: Sequence[PricePeriod], *, argument: str = "table") -> None:
    """Refuse a table that would price some day twice, or not at all.

    Periods must be sorted, contiguous (each ``end`` is the next ``start``), non-overlapping,
    priced with non-negative Decimals, and the last one must be open (``end=None``), so that
    every day from the first start onwards has exactly one price.
    """
    periods = _as_periods(table, argument)
    for index, period in enumerate(periods):
        _check_period(index, period, argument)
    for index, (current, following) in enumerate(itertools.pairwise(periods)):
        _check_join(index, current, following, argument)
    if periods[-1].end is not None:
        _bad_table(
            argument,
            f"the last period ends {periods[-1].end.isoformat()}, so later days have no price",
        )


def _bad_table(argument: str, problem: str) -> NoReturn:
    raise InvalidArgumentError(argument, f"malformed price table: {problem}", fix=_TABLE_FIX)


def _as_periods(table: object, argument: str) -> list[PricePeriod]:
    if isinstance(table, (str, bytes)) or not isinstance(table, Sequence):
        _bad_table(argument, f"expected a sequence of PricePeriod, got {type(table).__name__}")
    if not table:
        _bad_table(argument, "it has no periods")
    periods: list[PricePeriod] = []
    for index, item in enumerate(table):
        if not isinstance(item, PricePeriod):
            _bad_table(argument, f"item {index} is a {type(item).__name__}, not a PricePeriod")
        periods.append(item)
    return periods


def _check_period(index: int, period: PricePeriod, argument: str) -> None:
    price = period.usd_per_core_month
    if not isinstance(price, Decimal) or not price.is_finite() or price < 0:
        _bad_table(argument, f"period {index} has price {price!r}; it must be a Decimal >= 0")
    for name, day in (("start", period.start), ("end", period.end)):
        if day is not None and (isinstance(day, datetime) or not isinstance(day, date)):
            _bad_table(argument, f"period {index} {name} {day!r} is not a plain datetime.date")
    if period.end is not None and period.end <= period.start:
        _bad_table(
            argument,
            f"period {index} ends {period.end.isoformat()}, not after its start "
            f"{period.start.isoformat()}",
        )


def _check_join(index: int, current: PricePeriod, following: PricePeriod, argument: str) -> None:
    if current.end is None:
        _bad_table(argument, f"period {index} is open (end=None) but is not the last one")
    if current.end == following.start:
        return
    gap = "a gap" if current.end < following.start else "an overlap"
    _bad_table(
        argument,
        f"period {index} ends {current.end.isoformat()} but period {index + 1} starts "
        f"{following.start.isoformat()} ({gap})",
    )


validate_table(ARC_HOTPATCH_PRICES, argument="ARC_HOTPATCH_PRICES")
validate_table(VM_HOTPATCH_PRICES, argument="VM_HOTPATCH_PRICES")

_TABLES = {MachineKind.ARC: ARC_HOTPATCH_PRICES, MachineKind.VM: VM_HOTPATCH_PRICES}


# --- argument checks ------------------------------------------------------------------------------


def _check_kind(kind: object) -> MachineKind:
    try:
        return MachineKind(kind)
    except ValueError:
        raise InvalidArgumentError(
            "kind",
            f"{kind!r} is not a machine kind",
            fix="pass MachineKind.ARC (Arc-enabled server) or MachineKind.VM (Azure Edition VM)",
        ) from None


def _check_day(day: object, argument: str) -> date:
    """A datetime is a date subclass, but a time of day has no meaning for a monthly price."""
    if isinstance(day, datetime):
        raise InvalidArgumentError(
            argument,
            f"is a datetime ({day.isoformat()}), but prices apply to whole days",
            fix=f"pass a datetime.date, e.g. {argument}.date()",
        )
    if not isinstance(day, date):
        raise InvalidArgumentError(
            argument,
            f"must be a datetime.date, got {type(day).__name__} {day!r}",
            fix="pass a datetime.date, e.g. date(2025, 8, 1)",
        )
    return day


def _check_cores(cores: object) -> int:
    if isinstance(cores, bool) or not isinstance(cores, int):
        raise InvalidArgumentError(
            "cores",
            f"must be a whole number of cores, got {type(cores).__name__} {cores!r}",
            fix="pass the machine's core count as an int, e.g. cores=16",
        )
    if cores < 1:
        raise InvalidArgumentError(
            "cores",
            f"must be at least 1, got {cores}",
            fix="pass the machine's core count (1 or more), e.g. cores=16",
        )
    return cores


def _check_range(start: object, end: object) -> tuple[date, date]:
    first, stop = _check_day(start, "start"), _check_day(end, "end")
    if stop <= first:
        raise InvalidArgumentError(
            "end",
            f"{stop.isoformat()} is not after start {first.isoformat()}; the range [start, end) "
            "would be empty",
            fix="pass an end later than start (end is exclusive: a whole August is "
            "date(2025, 8, 1) to date(2025, 9, 1))",
        )
    return first, stop


# --- lookups --------------------------------------------------------------------------------------


def prices_for(kind: MachineKind) -> tuple[PricePeriod, ...]:
    """The built-in price table of the machine kind."""
    return _TABLES[_check_kind(kind)]


def price_on(
    day: date,
    *,
    kind: MachineKind = MachineKind.ARC,
    table: Sequence[PricePeriod] | None = None,
) -> PricePeriod:
    """The price period in force on ``day``; ``table`` replaces the built-in one for ``kind``."""
    periods = _resolve_table(kind, table)
    return _period_on(_check_day(day, "day"), periods, "day")


def _resolve_table(kind: object, table: Sequence[PricePeriod] | None) -> tuple[PricePeriod, ...]:
    machine = _check_kind(kind)
    if table is None:
        return _TABLES[machine]
    validate_table(table)
    return tuple(table)


def _period_on(day: date, periods: Sequence[PricePeriod], argument: str) -> PricePeriod:
    for period in periods:
        if period.covers(day):
            return period
    raise InvalidArgumentError(
        argument,
        f"{day.isoformat()} is before the first price period ({periods[0].start.isoformat()})",
        fix="pass a later date, or a table whose first period starts at date.min",
    )


# --- the estimate ---------------------------------------------------------------------------------


def _since_text(day: date) -> str:
    """``date.min`` marks a price that has applied for as long as the product has existed."""
    return "from the start" if day == date.min else f"since {day.isoformat()}"


@dataclass(frozen=True)
class ChargeLine:
    """Days inside one month and one price period, charged as a share of the monthly price."""

    start: date
    end: date
    days: int
    days_in_month: int
    cores: int
    unit_price: Decimal
    price_label: str
    price_since: date
    amount: Decimal

    def __str__(self) -> str:
        return (
            f"{self.start.isoformat()} to {self.end.isoformat()}  "
            f"{self.days}/{self.days_in_month} days x {self.cores} cores x "
            f"{self.unit_price} {CURRENCY}/core/month = {self.amount} {CURRENCY}  "
            f"({self.price_label}, {_since_text(self.price_since)})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "days": self.days,
            "days_in_month": self.days_in_month,
            "cores": self.cores,
            "unit_price": str(self.unit_price),
            "price_label": self.price_label,
            "price_since": self.price_since.isoformat(),
            "amount": str(self.amount),
        }


@dataclass(frozen=True)
class Estimate:
    """The cost of Hotpatch on ``cores`` cores over ``[start, end)``, line by line.

    ``total`` is the sum of the already-rounded line amounts, so the lines always add up to it.
    """

    cores: int
    start: date
    end: date
    kind: MachineKind
    lines: tuple[ChargeLine, ...]
    total: Decimal

    def __str__(self) -> str:
        head = (
            f"Hotpatch estimate: {self.cores} cores ({self.kind.value}), "
            f"{self.start.isoformat()} to {self.end.isoformat()} (end exclusive)"
        )
        body = [f"  {line}" for line in self.lines]
        return "\n".join([head, *body, f"  Total: {self.total} {CURRENCY}"])

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types only: Decimals as strings (no float rounding), dates as ISO text."""
        return {
            "cores": self.cores,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "kind": self.kind.value,
            "currency": CURRENCY,
            "lines": [line.as_dict() for line in self.lines],
            "total": str(self.total),
        }

    def _repr_html_(self) -> str:
        return _estimate_html(self)


def estimate(
    cores: int,
    start: date,
    end: date,
    *,
    kind: MachineKind = MachineKind.ARC,
    table: Sequence[PricePeriod] | None = None,
) -> Estimate:
    """Estimate Hotpatch charges for ``cores`` cores from ``start`` up to ``end`` (exclusive).

    The range is cut at every month boundary and every price change. Each piece costs
    ``cores * unit_price * days / days_in_month``, rounded to the cent half up, because the
    price is quoted per month and partial months are pro-rated by day. ``table`` replaces the
    built-in prices for ``kind`` (for what-if planning); it is validated like the built-ins.
    """
    count = _check_cores(cores)
    first, stop = _check_range(start, end)
    machine = _check_kind(kind)
    periods = _resolve_table(machine, table)
    lines = tuple(_charge(count, a, b, period) for a, b, period in _pieces(first, stop, periods))
    return Estimate(count, first, stop, machine, lines, _total(lines))


def _pieces(
    start: date, end: date, periods: Sequence[PricePeriod]
) -> Iterator[tuple[date, date, PricePeriod]]:
    cursor = start
    while cursor < end:
        period = _period_on(cursor, periods, "start")
        stop = min(end, _next_month_start(cursor), period.end or date.max)
        yield cursor, stop, period
        cursor = stop


def _total(lines: Sequence[ChargeLine]) -> Decimal:
    with localcontext(_MONEY_CONTEXT):
        return sum((line.amount for line in lines), Decimal("0.00"))


def _charge(cores: int, start: date, end: date, period: PricePeriod) -> ChargeLine:
    days = (end - start).days
    in_month = _days_in_month(start)
    with localcontext(_MONEY_CONTEXT):
        exact = Decimal(cores) * period.usd_per_core_month * days / in_month
        amount = exact.quantize(_CENT, rounding=ROUND_HALF_UP)
    return ChargeLine(
        start=start,
        end=end,
        days=days,
        days_in_month=in_month,
        cores=cores,
        unit_price=period.usd_per_core_month,
        price_label=period.label,
        price_since=period.start,
        amount=amount,
    )


def _next_month_start(day: date) -> date:
    """The first of the following month; past the calendar's end, `date.max` stands in."""
    if day.month < 12:
        return date(day.year, day.month + 1, 1)
    if day.year < date.max.year:
        return date(day.year + 1, 1, 1)
    return date.max


def _days_in_month(day: date) -> int:
    if day.month == 12:
        return 31
    return (date(day.year, day.month + 1, 1) - timedelta(days=1)).day


_TD = "padding:2px 8px;border:1px solid #999"
_NUM = f"{_TD};text-align:right;font-family:monospace"


def _estimate_html(result: Estimate) -> str:
    """A self-contained table with inline styles, so it renders the same in any notebook."""
    headers = ("From", "To (excl.)", "Days", "Cores", f"{CURRENCY}/core/month", "Price", "Amount")
    head = "".join(f'<th style="{_TD}">{html.escape(text)}</th>' for text in headers)
    rows = "".join(_line_html(line) for line in result.lines)
    caption = html.escape(
        f"Hotpatch estimate: {result.cores} cores ({result.kind.value}), "
        f"{result.start.isoformat()} to {result.end.isoformat()}"
    )
    total = (
        f'<tr><th colspan="6" style="{_TD};text-align:right">Total</th>'
        f'<th style="{_NUM}">{html.escape(f"{result.total} {CURRENCY}")}</th></tr>'
    )
    return (
        f'<table style="border-collapse:collapse"><caption>{caption}</caption>'
        f"<tr>{head}</tr>{rows}{total}</table>"
    )


def _line_html(line: ChargeLine) -> str:
    price = f"{line.price_label} ({_since_text(line.price_since)})"
    cells = (
        (_TD, line.start.isoformat()),
        (_TD, line.end.isoformat()),
        (_NUM, f"{line.days}/{line.days_in_month}"),
        (_NUM, str(line.cores)),
        (_NUM, str(line.unit_price)),
        (_TD, price),
        (_NUM, str(line.amount)),
    )
    return "<tr>" + "".join(f'<td style="{s}">{html.escape(t)}</td>' for s, t in cells) + "</tr>"
