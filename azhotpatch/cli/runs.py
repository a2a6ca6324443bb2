"""The commands that plan, run and schedule a fleet (``plan``, ``run``, ``schedule``), and the
fleet run the machine commands fall back to when given several machines, a filter or a
journal."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from azhotpatch import _validation
from azhotpatch.cli import signals
from azhotpatch.cli.connect import Connection, connect, emulated
from azhotpatch.cli.errors import COMMAND_LINE
from azhotpatch.cli.options import (
    CONCURRENCY,
    HTML,
    IDS,
    INSTALL_AGAIN,
    JOURNAL,
    NO_FILTER,
    RELEASED,
    FleetFilter,
    Machines,
    machines,
    with_fleet_filter,
)
from azhotpatch.cli.output import emit, show
from azhotpatch.cli.settings import GlobalOptions, settings
from azhotpatch.errors import InvalidArgumentError, JournalStorageError, StorageError

if TYPE_CHECKING:
    from azhotpatch.fleet.report import Report
    from azhotpatch.models import InstallOptions

ACTIONS = Annotated[str, typer.Option(help="comma-separated: enable or disable, assess, install")]


def register(app: typer.Typer) -> None:
    app.command()(plan)
    app.command()(run)
    app.command()(schedule)


def run_options(journal: str | None, concurrency: int | None, released: str | None = None) -> None:
    """Check a fleet run's own options before anything is sent (the inventory comes first)."""
    if journal is not None:
        _validation.journal_path(journal)
    if concurrency is not None:
        _validation.count(concurrency, "--concurrency", minimum=1)
    _validation.released(released, "--released")


def run_fleet(
    settings: GlobalOptions,
    connection: Connection,
    actions: Sequence[str],
    targets: Machines,
    *,
    journal: str | None,
    concurrency: int | None,
    install: InstallOptions | None = None,
    retry_failed: bool = False,
    remediate: bool = False,
    reboot: str | None = None,
    html: str | None = None,
    install_again: bool = False,
    released: str | None = None,
) -> Report:
    """Plan, show the plan, run it with a progress bar (stderr), and return the report. The
    run plans itself, so that a journal is checked against what is asked before the plan's
    first request; the bar starts with the plan, so that input the run refuses is one line
    of error, with no bar above it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from azhotpatch.cli.output import console
    from azhotpatch.fleet.plan import Plan

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(stderr=True),
        disable=settings.json,
    )
    task = progress.add_task(" + ".join(actions), total=None)

    def planned(plan: Plan) -> None:
        if not settings.json:
            show(plan.summary())
        progress.update(task, total=len(plan.items))
        progress.start()

    signals.running_fleet(journal)
    try:
        try:
            report = connection.client.run(
                actions=list(actions),
                install=install,
                journal=journal,
                retry_failed=retry_failed,
                concurrency=concurrency,
                remediate=remediate,
                reboot=reboot,
                install_again=install_again,
                released=released,
                on_plan=planned,
                progress=lambda event: progress.update(task, completed=event.done),
                **targets.keywords(connection.subscriptions),
            )
        finally:
            if progress.live.is_started:  # stopping a bar never drawn would print a blank line
                progress.stop()
    except JournalStorageError as error:  # the run stopped: what each machine reached
        if error.report is not None:
            if html is not None:
                with contextlib.suppress(StorageError):  # the error says what matters more
                    worded(error.report).write_html(html)
            emit(settings, worded(error.report))
        raise
    if html is not None:
        from azhotpatch.fleet._history import write_html

        write_html(worded(report), html, journal)
    return report


def worded(report: Report) -> Report:
    """The report with its messages and fixes in the command line's words."""
    return report.in_words(COMMAND_LINE)


def finish(settings: GlobalOptions, report: Report) -> NoReturn:
    emit(settings, worded(report))
    raise typer.Exit(int(report.exit_code))


def _actions(text: str) -> list[str]:
    from azhotpatch.fleet.plan import parse_actions

    return [a.value for a in parse_actions([part.strip() for part in text.split(",")])]


@with_fleet_filter
def plan(
    ctx: typer.Context,
    ids: IDS = None,
    actions: ACTIONS = "enable,assess,install",
    csv: Annotated[bool, typer.Option("--csv", help="CSV instead of a table")] = False,
    fleet: FleetFilter = NO_FILTER,
) -> None:
    """What a run would do, machine by machine, and why; changes nothing."""
    chosen_settings = settings(ctx)
    targets = machines(ids, fleet, emulated=emulated(chosen_settings))
    steps = _actions(actions)
    with connect(chosen_settings) as connection:
        the_plan = connection.client.plan(
            actions=steps, **targets.keywords(connection.subscriptions)
        ).in_words(COMMAND_LINE)
    if csv:
        show(the_plan.to_csv())
        return
    emit(chosen_settings, the_plan)


@with_fleet_filter
def run(
    ctx: typer.Context,
    ids: IDS = None,
    actions: ACTIONS = "enable,assess,install",
    journal: JOURNAL = None,
    concurrency: CONCURRENCY = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="with --journal: attempt the machines that ended failed again, from the "
            "step that failed, reading Azure's state first",
        ),
    ] = False,
    remediate: Annotated[
        bool,
        typer.Option(
            "--remediate",
            help="first fix VBS/CHPE on Arc machines blocked by them (Run Command)",
        ),
    ] = False,
    reboot: Annotated[
        str | None,
        typer.Option(
            help="with --remediate, when restarts may happen: now, baseline or an ISO 8601 "
            "time; default: never",
            show_default=False,
        ),
    ] = None,
    html: HTML = None,
    install_again: INSTALL_AGAIN = False,
    released: RELEASED = None,
    fleet: FleetFilter = NO_FILTER,
) -> None:
    """Plan and run a fleet: enable, assess and install, paced to Azure's limits. No install
    is sent where another run, a person or the platform already installed the current
    release (or is installing): that install's result is the machine's."""
    chosen_settings = settings(ctx)
    targets = machines(ids, fleet, emulated=emulated(chosen_settings))
    steps = _actions(actions)
    if html is not None:  # the command line writes the page, in its own words
        _validation.output_file(html, "--html", "report.html")
    # the rest (journal, concurrency, retry, restarts, release day) the run checks before
    # any request; its errors name the options as typed (`azhotpatch.cli.errors`)
    with connect(chosen_settings) as connection:
        report = run_fleet(
            chosen_settings,
            connection,
            steps,
            targets,
            journal=journal,
            concurrency=concurrency,
            retry_failed=retry_failed,
            remediate=remediate,
            reboot=reboot,
            html=html,
            install_again=install_again,
            released=released,
        )
    finish(chosen_settings, report)


# The maintenance window lengths Azure allows for guest patching.
_WINDOW_MINUTES = "minutes, 90-235"


@with_fleet_filter
def schedule(
    ctx: typer.Context,
    ids: IDS = None,
    config_group: Annotated[
        str | None,
        typer.Option(
            help="resource group id for the maintenance configurations "
            "(/subscriptions/<id>/resourceGroups/<name>)",
            show_default=False,
        ),
    ] = None,
    config_location: Annotated[
        str | None, typer.Option(help="region for the configurations", show_default=False)
    ] = None,
    mode: Annotated[str, typer.Option(help="split (baseline + hotpatch months) or single")] = (
        "split"
    ),
    time_zone: Annotated[
        str, typer.Option(help="Windows time zone id or its IANA zone, e.g. 'UTC'")
    ] = "UTC",
    start_time: Annotated[str, typer.Option(help="window start, HH:MM local")] = "03:00",
    days_after_patch_tuesday: Annotated[int, typer.Option(help="0-6")] = 1,
    hotpatch_window: Annotated[int, typer.Option(help=_WINDOW_MINUTES)] = 120,
    baseline_window: Annotated[int, typer.Option(help=_WINDOW_MINUTES)] = 210,
    assign_by: Annotated[str, typer.Option(help="machines or dynamic")] = "machines",
    conflicts: Annotated[str, typer.Option(help="skip, fix or assign")] = "skip",
    dry_run: Annotated[bool, typer.Option(help="show what would change; write nothing")] = False,
    fleet: FleetFilter = NO_FILTER,
) -> None:
    """Put machines on Azure Update Manager schedules that follow the Hotpatch calendar."""
    from azhotpatch.ids import parse_resource_group
    from azhotpatch.schedule import MAX_WINDOW, MIN_WINDOW

    chosen_settings = settings(ctx)
    targets = machines(ids, fleet, emulated=emulated(chosen_settings))
    embedded = chosen_settings.emulator is not None
    group = str(parse_resource_group(config_group)) if config_group else None
    location = (
        _validation.location(config_location, "--config-location") if config_location else None
    )
    if not (group and location) and not embedded:
        _required("--config-group" if not group else "--config-location")
    bounds = {"minimum": _minutes(MIN_WINDOW), "maximum": _minutes(MAX_WINDOW)}
    knobs: dict[str, Any] = {
        "mode": mode,
        "time_zone": time_zone,
        "start_time": start_time,
        "days_after_patch_tuesday": days_after_patch_tuesday,
        "hotpatch_window": timedelta(
            minutes=_validation.count(hotpatch_window, "--hotpatch-window", **bounds)
        ),
        "baseline_window": timedelta(
            minutes=_validation.count(baseline_window, "--baseline-window", **bounds)
        ),
    }
    # every schedule setting, the assignment and the conflict policy are the library's to
    # check, before anything is sent; its errors name the options as typed
    with connect(chosen_settings) as connection:
        report = connection.client.schedule(
            resource_group=group or _emulator_group(connection),
            location=location or "westeurope",
            assign_by=assign_by,
            conflicts=conflicts,
            dry_run=dry_run,
            **knobs,
            **targets.keywords(connection.subscriptions),
        )
    finish(chosen_settings, report)


def _minutes(length: timedelta) -> int:
    return int(length.total_seconds()) // 60


def _required(option: str) -> NoReturn:
    """Only the embedded emulator can choose a configuration group and region itself."""
    example = {
        "--config-group": "/subscriptions/<id>/resourceGroups/rg-maintenance",
        "--config-location": "westeurope",
    }
    raise InvalidArgumentError(
        option,
        "is required for schedules in Azure (or in an emulator in another process)",
        fix=f"pass {option}, e.g. {example[option]}",
    )


def _emulator_group(connection: Connection) -> str:
    """The embedded emulator's first resource group."""
    emulator = connection.emulator
    assert emulator is not None
    subscription = sorted(emulator.world.subscriptions)[0]
    group = sorted(emulator.world.subscriptions[subscription].group_names.values())[0]
    return f"/subscriptions/{subscription}/resourceGroups/{group}"
