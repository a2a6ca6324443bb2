"""Commands that need no Azure: ``calendar`` and ``cost``."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from azhotpatch import _validation
from azhotpatch.cli.output import emit
from azhotpatch.cli.settings import settings
from azhotpatch.errors import InvalidArgumentError


def register(app: typer.Typer) -> None:
    app.command("calendar")(show_calendar)
    app.command()(cost)


def show_calendar(
    ctx: typer.Context,
    year: Annotated[
        int | None, typer.Argument(help="default: this year", show_default=False)
    ] = None,
    unplanned: Annotated[
        list[str] | None,
        typer.Option(help="YYYY-MM of an unplanned baseline in that year (repeat)"),
    ] = None,
) -> None:
    """The Hotpatch year: baseline (B), hotpatch (H) and unplanned baseline (U) months."""
    from azhotpatch import calendar
    from azhotpatch.cli.views import CalendarPage

    shown = date.today().year if year is None else year
    plan = calendar.year_plan(shown, unplanned=unplanned or [])
    for month in unplanned or []:
        if not month.strip().startswith(f"{shown:04d}-"):
            raise InvalidArgumentError(
                "--unplanned",
                f"{month!r} is not a month of {shown}, the year shown",
                fix=f"give months of {shown}, or show their year (azhotpatch calendar "
                f"{month.strip()[:4]} --unplanned {month.strip()})",
            )
    coming = calendar.next_release(date.today(), unplanned=unplanned or [])
    emit(settings(ctx), CalendarPage(plan, coming))


def cost(
    ctx: typer.Context,
    cores: Annotated[int, typer.Option(help="cores to license")],
    start: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="YYYY-MM-DD, exclusive")],
    kind: Annotated[str, typer.Option(help="arc or vm")] = "arc",
) -> None:
    """Hotpatch cost for a date range, from the dated price table."""
    from azhotpatch import pricing

    (machine,) = _validation.kinds([kind])
    estimate = pricing.estimate(
        cores,
        _validation.iso_date(start, "--start"),
        _validation.iso_date(end, "--end"),
        kind=machine,
    )
    emit(settings(ctx), estimate)
