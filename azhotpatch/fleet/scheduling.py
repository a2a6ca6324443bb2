"""Put a fleet on Update Manager schedules, and report how the scheduled runs went.

`apply` checks every machine against the schedule's rules first (`azhotpatch.schedule.
conflicts`), writes the configurations, then assigns: one assignment per machine and
configuration, or one dynamic scope per subscription and configuration. Conflicting machines
are reported with their reasons and fixes and left out unless the caller asks otherwise:
``conflicts="fix"`` applies the fixes azhotpatch can make (a VM's patch orchestration), and
``"assign"`` assigns regardless. Everything is read-compare-write, so a second identical call
sends no write, and the report says which machines were already as asked.

Per-machine assignments spend one ARM write each (200 burst, then 10 per second per
subscription): 1,000 machines on three configurations is about five minutes of writes. A
dynamic scope is one write per subscription and configuration, whatever the fleet's size.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azhotpatch._azure.session import Session
from azhotpatch._operations import maintenance
from azhotpatch._operations.kinds import KINDS, Deadline, Kinds
from azhotpatch._operations.maintenance import Assignment, ConfigurationChange, ScopeFilter
from azhotpatch.errors import Fix, HotpatchError, InvalidArgumentError, Option
from azhotpatch.fleet.inventory import MachineRecord
from azhotpatch.fleet.report import MachineResult, Outcome, Report, StepResult
from azhotpatch.ids import ResourceGroupId
from azhotpatch.models import Installation, Reason, Rule, iso_duration
from azhotpatch.schedule import Schedule, ScheduleFit

__all__ = [
    "AssignBy",
    "ConflictPolicy",
    "ScheduleOptions",
    "ScheduledStatus",
    "apply",
    "scheduled_status",
]

_IN_FLIGHT = 64


class ConflictPolicy(str, enum.Enum):
    SKIP = "skip"  # list conflicting machines, assign the others
    FIX = "fix"  # make the changes azhotpatch can make, then assign those machines
    ASSIGN = "assign"  # assign every machine, conflicts or not


class AssignBy(str, enum.Enum):
    MACHINES = "machines"  # one assignment per machine and configuration
    DYNAMIC = "dynamic"  # one dynamic scope per subscription and configuration


@dataclass(frozen=True)
class ScheduleOptions:
    schedule: Schedule
    resource_group: ResourceGroupId
    location: str
    assign_by: AssignBy = AssignBy.MACHINES
    conflicts: ConflictPolicy = ConflictPolicy.SKIP
    dry_run: bool = False
    scope: ScopeFilter = field(default_factory=ScopeFilter)


# --- apply --------------------------------------------------------------------------------------


async def apply(
    session: Session, records: Sequence[MachineRecord], options: ScheduleOptions
) -> Report:
    """Configurations first, then assignments; every machine ends in one outcome."""
    if not records:
        raise InvalidArgumentError(
            "fleet",
            "the fleet is empty: no machine matched",
            fix="check the inventory filter (subscriptions, groups, tags, locations)",
        )
    started, metrics = time.monotonic(), session.metrics
    before = (metrics.requests, metrics.throttled, metrics.transport_errors)
    deadline = session.deadline()
    now = session.azure_now()
    changes = [
        await maintenance.ensure_configuration(
            session, options.resource_group, options.location, window,
            now=now, dry_run=options.dry_run, deadline=deadline,
        )
        for window in options.schedule.windows
    ]  # fmt: skip
    subscriptions = sorted({r.subscription_id for r in records})
    existing = await maintenance.assignments(session, subscriptions, deadline)
    verdicts = {r.id: KINDS[r.kind].schedule_fit(r.facts, options.schedule) for r in records}
    if options.assign_by is AssignBy.DYNAMIC:
        results = await _assign_dynamic(
            session, records, verdicts, changes, existing, options, deadline
        )
    else:
        results = await _assign_machines(
            session, records, verdicts, changes, existing, options, deadline
        )
    return Report(
        actions=("schedule",),
        machines=tuple(results[r.id.key] for r in records),
        elapsed=time.monotonic() - started,
        requests=metrics.requests - before[0],
        throttled=metrics.throttled - before[1],
        transport_errors=metrics.transport_errors - before[2],
        calendar=f"{options.schedule.mode.value} schedule, {len(changes)} configuration(s)",
        extra={
            "dry_run": options.dry_run,
            "assign_by": options.assign_by.value,
            "configurations": [_change_row(c, now) for c in changes],
        },
    )


def _change_row(change: ConfigurationChange, now: datetime) -> dict[str, Any]:
    window = change.window
    return {
        "name": window.name,
        "id": change.id,
        "role": window.role.value,
        "change": change.change.value,
        "recur_every": window.recur_every,
        "start": window.start.isoformat(timespec="minutes"),  # local time in time_zone
        "duration": iso_duration(window.duration),
        "time_zone": window.time_zone,
        "reboot": window.install.reboot.value,
        "next_run": window.next_run(now).isoformat(),
    }


def _skipped(
    record: MachineRecord, verdict: ScheduleFit, note: str = "", hint: Fix | None = None
) -> MachineResult:
    """A machine not put on a schedule: every reason, and each reason's fix (then ``hint``,
    a fix for what ``note`` adds)."""
    first = verdict.reasons[0]
    fix = Fix.joined([*(r.fix for r in verdict.reasons), hint])
    return MachineResult.explained(
        str(record.id),
        record.kind.value,
        Outcome.SKIPPED,
        first.rule.value,
        problem="; ".join(r.message for r in verdict.reasons) + note,
        fix=fix,
    )


def _failed(record: MachineRecord, error: HotpatchError) -> MachineResult:
    return MachineResult.of_error(str(record.id), record.kind.value, Outcome.FAILED, error)


async def _assign_machines(
    session: Session,
    records: Sequence[MachineRecord],
    verdicts: Mapping[Any, ScheduleFit],
    changes: Sequence[ConfigurationChange],
    existing: Iterable[Assignment],
    options: ScheduleOptions,
    deadline: Deadline,
) -> dict[str, MachineResult]:
    have: dict[str, set[str]] = defaultdict(set)
    for assignment in existing:
        have[assignment.resource_id].add(assignment.configuration)
    gate = asyncio.Semaphore(_IN_FLIGHT)
    results: dict[str, MachineResult] = {}
    kinds = Kinds(session)

    async def one(record: MachineRecord) -> None:
        verdict = verdicts[record.id]
        fixed = False
        if not verdict.ok and (
            options.conflicts is ConflictPolicy.SKIP
            or (options.conflicts is ConflictPolicy.FIX and not verdict.fixable)
        ):
            results[record.id.key] = _skipped(record, verdict)
            return
        missing = [c for c in changes if c.id.lower() not in have[record.id.key]]
        async with gate:
            try:
                if (
                    not verdict.ok
                    and options.conflicts is ConflictPolicy.FIX
                    and not options.dry_run
                ):
                    await kinds.of(record.id).fix_for_schedule(record.id, deadline)
                    fixed = True
                if not options.dry_run:
                    for change in missing:
                        await maintenance.assign_machine(
                            session, record.id, change.id, change.window.name,
                            record.location, deadline,
                        )  # fmt: skip
            except HotpatchError as error:
                results[record.id.key] = _failed(record, error)
                return
        results[record.id.key] = _assigned(record, verdict, missing, changes, fixed, options)

    await asyncio.gather(*(one(r) for r in records))
    return results


def _assigned(
    record: MachineRecord,
    verdict: ScheduleFit,
    missing: Sequence[ConfigurationChange],
    changes: Sequence[ConfigurationChange],
    fixed: bool,
    options: ScheduleOptions,
) -> MachineResult:
    names = [c.window.name for c in missing]
    if fixed:
        note = "set patch orchestration to Customer Managed Schedules, then assigned"
    elif options.dry_run and not verdict.ok and options.conflicts is ConflictPolicy.FIX:
        note = "would set patch orchestration to Customer Managed Schedules, then assign"
    elif not verdict.ok:
        note = "assigned despite: " + "; ".join(r.message for r in verdict.reasons)
    elif names:
        note = ("would assign " if options.dry_run else "assigned ") + ", ".join(names)
    else:
        note = "already assigned to " + ", ".join(c.window.name for c in changes)
    code = None if verdict.ok else verdict.reasons[0].rule.value
    step = StepResult(
        "schedule",
        Outcome.SUCCEEDED,
        code=code,
        message=note,
        detail={"assigned": names, "changed": bool(names) or fixed, "dry_run": options.dry_run},
    )
    return MachineResult(str(record.id), record.kind.value, Outcome.SUCCEEDED, code, note, (step,))


async def _assign_dynamic(
    session: Session,
    records: Sequence[MachineRecord],
    verdicts: Mapping[Any, ScheduleFit],
    changes: Sequence[ConfigurationChange],
    existing: Iterable[Assignment],
    options: ScheduleOptions,
    deadline: Deadline,
) -> dict[str, MachineResult]:
    """One dynamic scope per subscription and configuration. A scope covers every machine
    its filter matches, conflicting or not, so a subscription with conflicts gets none
    unless ``conflicts="assign"``."""
    by_sub: dict[str, list[MachineRecord]] = defaultdict(list)
    for record in records:
        by_sub[record.subscription_id].append(record)
    scopes = {(a.resource_id, a.configuration): a for a in existing if a.dynamic}
    wanted_filter = options.scope.model().serialize()
    results: dict[str, MachineResult] = {}
    for sub, members in sorted(by_sub.items()):
        blocked = [r for r in members if not verdicts[r.id].ok]
        if blocked and options.conflicts is not ConflictPolicy.ASSIGN:
            note = (
                f" (the dynamic scope for subscription {sub} was not written: {len(blocked)} "
                "machine(s) it would cover conflict)"
            )
            hint = Fix.of("or assign by machines (", _BY_MACHINES, "), or ", _ASSIGN_ANYWAY)
            blocked_ids = {r.id for r in blocked}
            for record in members:
                if record.id in blocked_ids:
                    results[record.id.key] = _skipped(record, verdicts[record.id], note, hint)
                else:
                    results[record.id.key] = _skipped(
                        record, ScheduleFit((_scope_blocked(sub, len(blocked)),)), hint=hint
                    )
            continue
        written = []
        try:
            for change in changes:
                current = scopes.get((f"/subscriptions/{sub}", change.id.lower()))
                if current is not None and _same_filter(current.filter, wanted_filter):
                    continue
                written.append(change)
                if not options.dry_run:
                    await maintenance.assign_scope(
                        session, sub, change.id, change.window.name, options.scope, deadline
                    )
        except HotpatchError as error:
            for record in members:
                results[record.id.key] = _failed(record, error)
            continue
        for record in members:
            results[record.id.key] = _assigned(
                record, verdicts[record.id], written, changes, False, options
            )
    return results


# What a machine a dynamic scope could not cover may do instead, in each edge's words.
_BY_MACHINES = Option("assign_by", "machines")
_ASSIGN_ANYWAY = Option("conflicts", "assign")


def _scope_blocked(sub: str, count: int) -> Reason:
    return Reason(
        Rule.SCHEDULE_SCOPE_BLOCKED,
        f"the dynamic scope for subscription {sub} was not written: {count} machine(s) it "
        "would cover conflict with the schedule",
        Fix.of("fix or exclude those machines"),
    )


def _same_filter(current: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    def norm(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k.lower(): norm(v) for k, v in value.items() if v not in (None, [], {})}
        if isinstance(value, list):
            return sorted(str(v).lower() for v in value)
        return str(value).lower()

    return bool(norm(current or {}) == norm(wanted))


# --- status -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigurationStatus:
    id: str
    name: str
    role: str | None
    recur_every: str | None
    next_run: datetime | None
    last_run: datetime | None
    machines: int  # machines of the fleet it applies to


@dataclass(frozen=True)
class MachineSchedule:
    resource: str
    kind: str
    configurations: tuple[str, ...]
    next_run: datetime | None
    last_run: Installation | None  # the latest scheduled (platform-started) installation


@dataclass(frozen=True)
class ScheduledStatus:
    """Scheduled runs per configuration and per machine, as Resource Graph reports them."""

    configurations: tuple[ConfigurationStatus, ...]
    machines: tuple[MachineSchedule, ...]

    @property
    def unscheduled(self) -> tuple[MachineSchedule, ...]:
        return tuple(m for m in self.machines if not m.configurations)

    def summary(self) -> str:
        lines = [f"{len(self.configurations)} configuration(s), {len(self.machines)} machine(s), "
                 f"{len(self.unscheduled)} not scheduled"]  # fmt: skip
        for c in self.configurations:
            last = f"{c.last_run:%Y-%m-%d %H:%M}" if c.last_run else "never"
            upcoming = f"{c.next_run:%Y-%m-%d %H:%M}" if c.next_run else "none"
            lines.append(
                f"  {c.name:<24} {c.machines:>6} machines  last {last}  next {upcoming} UTC"
            )
        runs = [m.last_run for m in self.machines if m.last_run is not None]
        by_status: dict[str, int] = defaultdict(int)
        for run in runs:
            by_status[run.status.value] += 1
        if runs:
            lines.append(
                "  last scheduled runs: "
                + ", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def as_dict(self) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "configurations": [
                {
                    "id": c.id, "name": c.name, "role": c.role, "recur_every": c.recur_every,
                    "next_run": when(c.next_run), "last_run": when(c.last_run),
                    "machines": c.machines,
                }
                for c in self.configurations
            ],
            "machines": [
                {
                    "resource": m.resource,
                    "kind": m.kind,
                    "configurations": list(m.configurations),
                    "next_run": when(m.next_run),
                    "last_run": None if m.last_run is None else {
                        "status": m.last_run.status.value,
                        "started": when(m.last_run.started),
                        "installed": m.last_run.installed,
                        "failed": m.last_run.failed,
                        "reboot_status": m.last_run.reboot_status.value,
                        "error": str(m.last_run.error) if m.last_run.error else None,
                    },
                }
                for m in self.machines
            ],
        }  # fmt: skip

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><td>{html.escape(c.name)}</td><td>{c.machines}</td>"
            f"<td>{c.last_run or ''}</td><td>{c.next_run or ''}</td></tr>"
            for c in self.configurations
        )
        return (
            "<table><tr><th>configuration</th><th>machines</th><th>last run</th>"
            f"<th>next run (UTC)</th></tr>{rows}</table>"
        )


async def scheduled_status(
    session: Session, records: Sequence[MachineRecord], now: datetime | None = None
) -> ScheduledStatus:
    """Last and next run per configuration and per machine of the fleet: assignments, run
    records and platform-started installations from Resource Graph; next runs computed from
    each configuration's window (Azure publishes no "next run" field)."""
    moment = now or session.azure_now()
    deadline = session.deadline()
    subscriptions = sorted({r.subscription_id for r in records})
    found = await maintenance.assignments(session, subscriptions, deadline)
    windows = await maintenance.windows(session, {a.configuration for a in found}, deadline)
    members = _membership(records, found)
    last_runs = await maintenance.last_runs(session, subscriptions, deadline)
    installs = await maintenance.scheduled_installs(
        session, subscriptions, {r.id.key: r.kind for r in records}, deadline
    )
    machines = []
    for record in records:
        ids = sorted(members.get(record.id.key, ()))
        upcoming = [windows[i].next_run(moment) for i in ids if windows.get(i)]
        machines.append(
            MachineSchedule(
                str(record.id),
                record.kind.value,
                tuple(windows[i].name if windows.get(i) else i.rsplit("/", 1)[-1] for i in ids),
                min(upcoming) if upcoming else None,
                installs.get(record.id.key),
            )
        )
    configurations = []
    for config_id in sorted({a.configuration for a in found}):
        window = windows.get(config_id)
        configurations.append(
            ConfigurationStatus(
                id=config_id,
                name=window.name if window else config_id.rsplit("/", 1)[-1],
                role=window.role.value if window else None,
                recur_every=window.recur_every if window else None,
                next_run=window.next_run(moment) if window else None,
                last_run=last_runs.get(config_id),
                machines=sum(1 for ids in members.values() if config_id in ids),
            )
        )
    return ScheduledStatus(tuple(configurations), tuple(machines))


def _membership(
    records: Sequence[MachineRecord], found: Iterable[Assignment]
) -> dict[str, set[str]]:
    """Machine -> configuration ids, from assignments and dynamic scopes' filters."""
    members: dict[str, set[str]] = defaultdict(set)
    scopes = [a for a in found if a.dynamic]
    for assignment in found:
        if not assignment.dynamic:
            members[assignment.resource_id].add(assignment.configuration)
    for record in records:
        for scope in scopes:
            if scope.resource_id == f"/subscriptions/{record.subscription_id}" and _in_scope(
                scope.filter or {}, record
            ):
                members[record.id.key].add(scope.configuration)
    return members


def _in_scope(scope_filter: Mapping[str, Any], record: MachineRecord) -> bool:
    facts = record.facts
    values = {
        "resourceTypes": record.kind.resource_type.lower(),
        "resourceGroups": record.id.resource_group.lower(),
        "osTypes": str(facts.os_type or "").lower(),
        "locations": facts.location.lower().replace(" ", ""),
    }
    for name, value in values.items():
        wanted = scope_filter.get(name)
        if wanted and value not in {str(w).lower().replace(" ", "") for w in wanted}:
            return False
    tag_settings = scope_filter.get("tagSettings") or {}
    wanted_tags = tag_settings.get("tags") or {}
    if not wanted_tags:
        return True
    hits = [str(facts.tags.get(k)) in {str(v) for v in vs} for k, vs in wanted_tags.items()]
    return (
        all(hits) if str(tag_settings.get("filterOperator", "Any")).lower() == "all" else any(hits)
    )
