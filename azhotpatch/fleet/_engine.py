"""What the fleet methods of `azhotpatch.aio.Hotpatch` do beneath their signatures: reconcile
the machines, the plan and the inventory filter they were given, check what a run was asked,
open its journal under the run's identity (`RunIdentity`), plan, run (`azhotpatch.fleet._runner`)
and write the HTML report; and put machines on schedules or read them.

The facade keeps the public signatures and their documentation and hands its arguments here
unchanged, so this is where a fleet call's work is read and changed. Every check on the
arguments still happens before any request, in the order the facade always made them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from azhotpatch import _validation
from azhotpatch._azure.session import Session
from azhotpatch._config import Seconds
from azhotpatch._operations.maintenance import ScopeFilter
from azhotpatch.errors import JOURNAL, Fix, InvalidArgumentError, Option, StorageError
from azhotpatch.fleet import _history as fleet_history
from azhotpatch.fleet import _runner as fleet_runner
from azhotpatch.fleet import inventory as fleet_inventory
from azhotpatch.fleet import scheduling as fleet_scheduling
from azhotpatch.fleet._runner import ProgressEvent, RunOptions
from azhotpatch.fleet.inventory import InventoryFilter, MachineRecord
from azhotpatch.fleet.journal import Journal, RunIdentity
from azhotpatch.fleet.plan import Plan, build_plan, parse_actions
from azhotpatch.fleet.report import Report
from azhotpatch.fleet.scheduling import AssignBy, ConflictPolicy, ScheduledStatus, ScheduleOptions
from azhotpatch.ids import MachineKind, ResourceId, parse_resource_group
from azhotpatch.models import Action, Classification, InstallOptions
from azhotpatch.remediation import RebootPolicy
from azhotpatch.schedule import Schedule, choose

__all__ = ["MONTHS_AHEAD", "Filter", "inventory", "plan", "run", "schedule", "scheduled_status"]

MONTHS_AHEAD = 3  # how far ahead a plan's calendar looks, unless told
Machines = Iterable[str | ResourceId | MachineRecord]


async def _chain(first: Iterable[MachineRecord], then: AsyncIterator[MachineRecord]) -> Any:
    for record in first:
        yield record
    async for record in then:
        yield record


@dataclass(frozen=True)
class Filter:
    """The inventory filter's keywords as a fleet method was given them. None is "not
    given", so a filter given beside the machines (which it would not narrow) is refused."""

    subscriptions: Iterable[str] | None = None
    management_groups: Iterable[str] | None = None
    resource_groups: Iterable[str] | None = None
    locations: Iterable[str] | None = None
    tags: Mapping[str, str] | None = None
    kinds: Iterable[MachineKind | str] | None = None

    def given(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def checked(self) -> InventoryFilter:
        return InventoryFilter.build(
            subscriptions=self.subscriptions,
            management_groups=self.management_groups,
            resource_groups=self.resource_groups,
            locations=self.locations,
            tags=self.tags,
            kinds=self.kinds,
        )


def _scope_filter(checked: InventoryFilter) -> ScopeFilter:
    """A dynamic scope's filter from the inventory filter: kinds, groups, locations, tags."""
    return ScopeFilter.of_kinds(
        checked.kinds,
        resource_groups=checked.resource_groups,
        locations=checked.locations,
        tags={k: (v,) for k, v in checked.tags.items()} or None,
    )


def _covered(
    machines: Iterable[str | ResourceId | MachineRecord] | None, wanted: Filter
) -> InventoryFilter:
    """The filter a call covers: exactly the machines given, or the inventory filter."""
    if machines is None:
        return wanted.checked()
    return InventoryFilter.of_ids(m.id if isinstance(m, MachineRecord) else m for m in machines)


def _remediation(
    remediate: bool, reboot: RebootPolicy | str | datetime | None, unplanned: Iterable[str]
) -> RebootPolicy | None:
    """The restart policy of a run that remediates; None for one that does not (a restart
    time given to such a run would be silently ignored, so it is refused)."""
    if not isinstance(remediate, bool):
        raise InvalidArgumentError(
            "remediate", f"{remediate!r} is not True or False", fix="pass remediate=True"
        )
    if not remediate:
        if reboot is not None:
            raise InvalidArgumentError(
                "reboot",
                "is given but nothing is remediated, so nothing would restart",
                fix=Fix.of(
                    "pass ",
                    Option("remediate"),
                    " with it, or leave ",
                    Option("reboot", False),
                    " out",
                ),
            )
        return None
    return RebootPolicy.parse(reboot, unplanned=unplanned)


def _machines_or_filter(chosen: object, wanted: Filter) -> None:
    """Machines are chosen by ids (or a plan) or by an inventory filter; a filter given beside
    them would be silently ignored."""
    given = wanted.given()
    if chosen is not None and given:
        raise InvalidArgumentError(
            ", ".join(given),
            "would be ignored: the machines (or the plan) are given already",
            fix="pass machines or a plan, or an inventory filter, not both",
        )


def inventory(
    session: Session, machines: Iterable[str | ResourceId] | None, wanted: Filter
) -> AsyncIterator[MachineRecord]:
    """`Hotpatch.inventory`."""
    _machines_or_filter(machines, wanted)
    return fleet_inventory.inventory(session, _covered(machines, wanted))


async def plan(
    session: Session,
    machines: Machines | None,
    wanted: Filter,
    *,
    actions: Iterable[Action | str] | Action | str,
    install: InstallOptions | None,
    today: date | None,
    months_ahead: int,
    remediate: bool,
    reboot: RebootPolicy | str | datetime | None,
    unplanned: Iterable[str],
) -> Plan:
    """`Hotpatch.plan`."""
    _machines_or_filter(machines, wanted)
    steps = parse_actions(actions)
    policy = _remediation(remediate, reboot, unplanned)
    _validation.count(months_ahead, "months_ahead", minimum=1, maximum=120)
    given = None if machines is None else list(machines)
    return await _plan(
        session,
        given,
        _covered(given, wanted),
        steps,
        install=install,
        today=today,
        months_ahead=months_ahead,
        reboot=policy,
    )


async def _plan(
    session: Session,
    machines: list[str | ResourceId | MachineRecord] | None,
    covered: InventoryFilter,
    actions: tuple[Action, ...],
    *,
    install: InstallOptions | None,
    today: date | None,
    months_ahead: int,
    reboot: RebootPolicy | None,
) -> Plan:
    """The plan, from arguments already checked (``covered`` is the filter they make)."""
    records: Any
    if machines is None:
        records = fleet_inventory.inventory(session, covered)
    else:
        known = [m for m in machines if isinstance(m, MachineRecord)]
        ids = [m for m in machines if not isinstance(m, MachineRecord)]
        records = known if not ids else _chain(known, inventory(session, ids, Filter()))
    return await build_plan(
        session,
        records,
        actions,
        today=today or date.today(),
        install=install,
        months_ahead=months_ahead,
        scope=covered,
        reboot=reboot,
    )


async def run(
    session: Session,
    plan: Plan | None,
    machines: Machines | None,
    wanted: Filter,
    *,
    actions: Iterable[Action | str] | Action | str,
    install: InstallOptions | None,
    concurrency: int | None,
    journal: str | Path | None,
    retry_failed: bool,
    progress: Callable[[ProgressEvent], None] | None,
    on_plan: Callable[[Plan], None] | None,
    deadline: Seconds,
    tune_collector: bool,
    remediate: bool,
    reboot: RebootPolicy | str | datetime | None,
    unplanned: Iterable[str],
    report_html: str | Path | None,
    install_again: bool,
    released: date | str | None,
) -> Report:
    """`Hotpatch.run`: the arguments checked, the journal opened for the run's identity, the
    plan made (unless given), the run, and its HTML report written (from the journal, when
    there is one); a journal that failed raises its error with the report."""
    _machines_or_filter(plan if plan is not None else machines, wanted)
    policy = _remediation(remediate, reboot, unplanned)
    again = _validation.flag(install_again, "install_again")
    release_day = _validation.released(released)
    if plan is not None and machines is not None:
        raise InvalidArgumentError(
            "machines",
            "would be ignored: the plan names its machines already",
            fix="pass a plan, or machines, not both",
        )
    if concurrency is not None:
        _validation.count(concurrency, "concurrency", minimum=1)
    if retry_failed and journal is None:
        raise InvalidArgumentError(
            "retry_failed",
            "needs the journal of the run whose failed machines to retry",
            fix=Fix.of("pass ", JOURNAL, " (the same path as that run)"),
        )
    limit = _validation.optional_seconds(deadline, "deadline")
    journal_file = None if journal is None else _validation.journal_path(journal)
    html_file = (
        None
        if report_html is None
        else _validation.output_file(report_html, "report_html", "report.html")
    )
    chosen_install = install or (plan.install if plan else None) or InstallOptions()
    given = None if machines is None else list(machines)
    covered = plan.scope if plan and plan.scope else _covered(given, wanted)
    steps = plan.actions if plan else parse_actions(actions)
    identity = RunIdentity.of(
        covered,
        steps,
        chosen_install,
        remediate=plan.remediate if plan else policy is not None,
        install_again=again,
        released=release_day,
    )
    opened = Journal(journal_file, identity) if journal_file is not None else None
    try:
        run_plan = plan or await _plan(
            session,
            given,
            covered,
            steps,
            install=install,
            today=None,
            months_ahead=MONTHS_AHEAD,
            reboot=policy,
        )
        if on_plan is not None:
            on_plan(run_plan)
        options = RunOptions(
            concurrency=concurrency,
            install=chosen_install,
            journal=opened,
            retry_failed=retry_failed,
            deadline=limit,
            tune_collector=tune_collector,
            install_again=again,
            released=release_day,
        )
        report = await fleet_runner.run(session, run_plan, options, progress)
    finally:
        if opened is not None:
            opened.close()
    failure = opened.failure if opened is not None else None
    if failure is not None:  # the run stopped because of it: the report is the record
        if html_file is not None:
            with contextlib.suppress(StorageError):  # the error says what matters more
                report.write_html(html_file)
        raise failure.with_report(report)
    if html_file is not None:
        fleet_history.write_html(report, html_file, journal_file)
    return report


async def schedule(
    session: Session,
    machines: Iterable[str | ResourceId] | None,
    wanted: Filter,
    *,
    resource_group: str,
    location: str,
    windows: Schedule | None,
    mode: str,
    time_zone: str,
    start_time: str,
    days_after_patch_tuesday: int,
    hotpatch_window: timedelta,
    baseline_window: timedelta,
    classifications: Iterable[str | Classification],
    kb_include: Iterable[str],
    kb_exclude: Iterable[str],
    name: str,
    assign_by: str,
    conflicts: str,
    dry_run: bool,
) -> Report:
    """`Hotpatch.schedule`."""
    _machines_or_filter(machines, wanted)
    knobs: dict[str, Any] = {
        "name": name,
        "mode": mode,
        "time_zone": time_zone,
        "start_time": start_time,
        "days_after_patch_tuesday": days_after_patch_tuesday,
        "hotpatch_window": hotpatch_window,
        "baseline_window": baseline_window,
        "classifications": classifications,
        "kb_include": kb_include,
        "kb_exclude": kb_exclude,
    }
    target_schedule = windows or Schedule.build(**knobs)  # validates before any call
    checked = wanted.checked()
    covered = checked if machines is None else _covered(machines, wanted)
    options = ScheduleOptions(
        schedule=target_schedule,
        resource_group=parse_resource_group(resource_group),
        location=_validation.location(location),
        assign_by=choose(AssignBy, assign_by, "assign_by"),
        conflicts=choose(ConflictPolicy, conflicts, "conflicts"),
        dry_run=dry_run,
        scope=_scope_filter(checked),
    )
    records = [record async for record in fleet_inventory.inventory(session, covered)]
    if not records:  # found by reading the inventory: the message says what was read
        raise covered.nothing_found()
    if windows is None:  # start dates from Azure's clock, now that a response told it
        options = replace(options, schedule=Schedule.build(**knobs, now=session.azure_now()))
    return await fleet_scheduling.apply(session, records, options)


async def scheduled_status(
    session: Session, machines: Iterable[str | ResourceId] | None, wanted: Filter
) -> ScheduledStatus:
    """`Hotpatch.scheduled_status`."""
    _machines_or_filter(machines, wanted)
    covered = _covered(machines, wanted)
    records = [record async for record in fleet_inventory.inventory(session, covered)]
    return await fleet_scheduling.scheduled_status(session, records)
