"""Machine commands: ``check``, ``enable``, ``disable``, ``assess``, ``install``, ``status``.

Each takes resource ids or the fleet filter. One id (without a journal) is one API call and
its typed result; several ids, a filter or a journal make a fleet run with a plan, progress,
the journal and a report. Both ways end with the same exit code for the same outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from azhotpatch import _validation
from azhotpatch.cli import posture
from azhotpatch.cli.connect import connect, emulated
from azhotpatch.cli.errors import COMMAND_LINE
from azhotpatch.cli.options import (
    CONCURRENCY,
    IDS,
    INSTALL_AGAIN,
    JOURNAL,
    NO_FILTER,
    RELEASED,
    FleetFilter,
    machines,
    with_fleet_filter,
)
from azhotpatch.cli.output import emit
from azhotpatch.cli.runs import finish, run_fleet, run_options
from azhotpatch.cli.settings import settings
from azhotpatch.fleet.report import ExitCode

if TYPE_CHECKING:
    from azhotpatch.client import Hotpatch
    from azhotpatch.ids import ResourceId
    from azhotpatch.models import InstallOptions

OneMachine = Callable[["Hotpatch", "ResourceId"], Any]


def register(app: typer.Typer) -> None:
    for command in (check, enable, disable, assess, install, status):
        app.command()(command)


def outcome(result: Any) -> ExitCode:
    """A single machine's exit code, judged as a fleet run judges the same step: an
    assessment or installation succeeded only if Azure says ``Succeeded`` (an install that
    ended ``CompletedWithWarnings`` left patches uninstalled: failed, exit 2)."""
    from azhotpatch.models import Assessment, Installation, OperationStatus

    patched = isinstance(result, (Assessment, Installation))
    if patched and result.status is not OperationStatus.SUCCEEDED:
        return ExitCode.FAILED
    return ExitCode.SUCCEEDED


def act(
    ctx: typer.Context,
    action: str,
    ids: Sequence[str] | None,
    fleet: FleetFilter,
    journal: str | None,
    concurrency: int | None,
    one: OneMachine,
    install: InstallOptions | None = None,
    install_again: bool = False,
    released: str | None = None,
) -> None:
    """One machine directly, or a fleet run, for one action."""
    chosen_settings = settings(ctx)
    targets = machines(ids, fleet, emulated=emulated(chosen_settings))
    run_options(journal, concurrency, released)
    with connect(chosen_settings) as connection:
        single = targets.single
        if single is not None and journal is None:
            result = one(connection.client, single)
        else:
            report = run_fleet(
                chosen_settings,
                connection,
                [action],
                targets,
                journal=journal,
                concurrency=concurrency,
                install=install,
                install_again=install_again,
                released=released,
            )
            finish(chosen_settings, report)
    emit(chosen_settings, result)
    raise typer.Exit(int(outcome(result)))


@with_fleet_filter
def check(ctx: typer.Context, ids: IDS = None, fleet: FleetFilter = NO_FILTER) -> None:
    """Can these machines take Hotpatch? Every reason, each with its fix."""
    chosen_settings = settings(ctx)
    targets = machines(ids, fleet, emulated=emulated(chosen_settings))
    with connect(chosen_settings) as connection:
        if targets.ids:
            verdicts = [connection.client.check(rid) for rid in targets.ids]
            emit(chosen_settings, verdicts)
            every_one = all(v.ok for v in verdicts)
            raise typer.Exit(int(ExitCode.SUCCEEDED if every_one else ExitCode.SKIPPED))
        the_plan = connection.client.plan(
            actions=["enable"], **targets.keywords(connection.subscriptions)
        ).in_words(COMMAND_LINE)
    emit(chosen_settings, the_plan)
    raise typer.Exit(int(ExitCode.SKIPPED if the_plan.skipped else ExitCode.SUCCEEDED))


@with_fleet_filter
def enable(
    ctx: typer.Context,
    ids: IDS = None,
    force: Annotated[
        bool, typer.Option(help="override the region catalog and power state")
    ] = False,
    journal: JOURNAL = None,
    concurrency: CONCURRENCY = None,
    fleet: FleetFilter = NO_FILTER,
) -> None:
    """Enroll machines in Hotpatch (refuses, with the reasons, when they cannot take it)."""
    act(ctx, "enable", ids, fleet, journal, concurrency, lambda c, rid: c.enable(rid, force=force))


def _plain(action: str, summary: str, one: OneMachine) -> Callable[..., None]:
    """A machine command with no options of its own."""

    @with_fleet_filter
    def command(
        ctx: typer.Context,
        ids: IDS = None,
        journal: JOURNAL = None,
        concurrency: CONCURRENCY = None,
        fleet: FleetFilter = NO_FILTER,
    ) -> None:
        act(ctx, action, ids, fleet, journal, concurrency, one)

    command.__name__, command.__doc__ = action, summary
    return command


disable = _plain(
    "disable",
    "Turn Hotpatch off (Arc: also stops the license feature's billing).",
    lambda c, rid: c.disable(rid),
)
assess = _plain("assess", "Assess available patches now.", lambda c, rid: c.assess(rid))


@with_fleet_filter
def install(
    ctx: typer.Context,
    ids: IDS = None,
    classification: Annotated[
        list[str] | None,
        typer.Option(help="repeat; default Critical, Security", show_default=False),
    ] = None,
    reboot: Annotated[str, typer.Option(help="IfRequired, Never or Always")] = "IfRequired",
    max_duration: Annotated[int, typer.Option(help="minutes, 1-240")] = 120,
    kb_include: Annotated[
        list[str] | None, typer.Option(help="KB id, e.g. KB5034441 (repeat)", show_default=False)
    ] = None,
    kb_exclude: Annotated[
        list[str] | None, typer.Option(help="KB id (repeat)", show_default=False)
    ] = None,
    exclude_kbs_requiring_reboot: Annotated[
        bool, typer.Option(help="only updates that never reboot (hotpatches)")
    ] = False,
    journal: JOURNAL = None,
    concurrency: CONCURRENCY = None,
    install_again: INSTALL_AGAIN = False,
    released: RELEASED = None,
    fleet: FleetFilter = NO_FILTER,
) -> None:
    """Install patches now (the request is never sent twice for one machine, nor where
    another run, a person or the platform already installed the current release)."""
    from azhotpatch.models import InstallOptions

    minutes = _validation.count(max_duration, "--max-duration", minimum=1, maximum=240)
    options = InstallOptions.build(
        classifications=classification or ("Critical", "Security"),
        reboot=reboot,
        max_duration=timedelta(minutes=minutes),
        kb_include=kb_include or (),
        kb_exclude=kb_exclude or (),
        exclude_kbs_requiring_reboot=exclude_kbs_requiring_reboot,
    )
    act(
        ctx,
        "install",
        ids,
        fleet,
        journal,
        concurrency,
        lambda c, rid: c.install(
            rid, options=options, install_again=install_again, released=released
        ),
        install=options,
        install_again=install_again,
        released=released,
    )


@with_fleet_filter
def status(
    ctx: typer.Context,
    ids: IDS = None,
    scheduled: Annotated[
        bool, typer.Option("--scheduled", help="last and next Update Manager runs instead")
    ] = False,
    csv: Annotated[bool, typer.Option("--csv", help="the posture as CSV")] = False,
    save: posture.SAVE = None,
    html: posture.HTML = None,
    since: posture.SINCE = None,
    stale_after: posture.STALE_AFTER = 7.0,
    builds: posture.BUILDS = None,
    fleet: FleetFilter = NO_FILTER,
) -> None:
    """Enrollment, the platform's verdict and the last assessment and installation of the
    machines given; without ids, where every machine in the fleet filter stands (current,
    behind, restart-needed, not-enrolled, not-eligible, stale, unknown; exit 1 if any is
    not current); with --scheduled, the last and next scheduled runs per configuration and
    machine."""
    chosen_settings = settings(ctx)
    targets = machines(ids, fleet, emulated=emulated(chosen_settings))
    if not scheduled and not targets.ids:
        options = posture.PostureOptions.checked(
            csv=csv, save=save, html=html, since=since, stale_after=stale_after, builds=builds
        )
        with connect(chosen_settings) as connection:
            keywords = targets.keywords(connection.subscriptions)
            posture.show_posture(chosen_settings, connection, keywords, options)
    with connect(chosen_settings) as connection:
        if scheduled:
            found = connection.client.scheduled_status(**targets.keywords(connection.subscriptions))
            emit(chosen_settings, found)
            raise typer.Exit(int(ExitCode.SKIPPED if found.unscheduled else ExitCode.SUCCEEDED))
        statuses = [connection.client.status(rid) for rid in targets.ids]
    emit(chosen_settings, statuses)
