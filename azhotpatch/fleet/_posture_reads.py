"""The reads behind `Hotpatch.posture`: the machines (the inventory's query), then the latest
assessment and the installations of every machine in scope from Resource Graph's patch
tables, and nothing else: no read per machine, so an estate of any size costs a handful of
queries (their pages, batched 300 subscriptions a query and paced to the user's Resource
Graph quota like every other read, through the session).

The queries (``docs/how-to/posture.md`` shows them too)::

    patchassessmentresources
    | where type in~ ('microsoft.compute/virtualmachines/patchassessmentresults',
                      'microsoft.hybridcompute/machines/patchassessmentresults')
    | extend machine = extract('^(.+)/patchassessmentresults/[^/]+$', 1, tolower(id))
    | project id, machine, properties

and the same over ``patchinstallationresources`` (``.../patchinstallationresults``); then
Azure Policy's latest state of each machine under the built-in definitions for patch
orchestration (`azhotpatch.posture_rules.PATCH_POLICIES`), from ``policyresources``, whose
``microsoft.policyinsights/policystates`` rows carry ``properties.resourceId``,
``policyDefinitionId``, ``complianceState``, ``timestamp`` and the assignment (the columns of
Microsoft's "Azure Resource Graph sample queries for Azure Policy")::

    policyresources
    | where type =~ 'microsoft.policyinsights/policystates'
    | extend machine = tolower(tostring(properties.resourceId))
    | extend definition = tolower(tostring(properties.policyDefinitionId))
    | where definition in~ ('/providers/microsoft.authorization/policydefinitions/bd87...', ...)
    | project id, machine, properties

An estate that assigns none of them gets no rows from it, and no verdict changes. The
assessment table keeps the latest assessment per machine; the installation table every run of
the last 30 days, reduced here to what a verdict reads. Open question: ``summarize
arg_max(properties.lastModifiedDateTime, *) by machine`` would have Resource Graph do that
reduction, fewer rows for estates patched often; it is left out until it is measured against
Resource Graph (the emulator's KQL subset does not run it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from azhotpatch._azure.session import Session
from azhotpatch._operations.kinds import KINDS
from azhotpatch.errors import InvalidArgumentError
from azhotpatch.fleet._engine import Filter
from azhotpatch.fleet.inventory import InventoryFilter, MachineRecord, inventory, kql_string
from azhotpatch.fleet.posture import MachinePosture, Posture
from azhotpatch.ids import ResourceId
from azhotpatch.posture_rules import (
    PATCH_POLICIES,
    AssessmentRow,
    BuildTable,
    InstallRow,
    Judgement,
    PolicyState,
    judge,
)

__all__ = ["TABLES", "policy_query", "posture", "query_for_table"]

TABLES = {
    "patchassessmentresources": "patchassessmentresults",
    "patchinstallationresources": "patchinstallationresults",
}
_MACHINE_TYPES = ("microsoft.compute/virtualmachines", "microsoft.hybridcompute/machines")


def query_for_table(table: str, resource_groups: Iterable[str] = ()) -> str:
    """Every row of a patch table, each with the id of its machine (lower-cased)."""
    segment = TABLES[table]
    types = ", ".join(kql_string(f"{t}/{segment}") for t in _MACHINE_TYPES)
    lines = [
        table,
        f"| where type in~ ({types})",
        f"| extend machine = extract('^(.+)/{segment}/[^/]+$', 1, tolower(id))",
    ]
    groups = list(resource_groups)
    if groups:
        lines.append(f"| where resourceGroup in~ ({', '.join(kql_string(g) for g in groups)})")
    lines.append("| project id, machine, properties")
    return "\n".join(lines)


def policy_query(resource_groups: Iterable[str] = ()) -> str:
    """Policy's states of every machine under the built-in patch definitions."""
    definitions = ", ".join(kql_string(d.id.lower()) for d in PATCH_POLICIES.values())
    lines = [
        "policyresources",
        "| where type =~ 'microsoft.policyinsights/policystates'",
        "| extend machine = tolower(tostring(properties.resourceId))",
        "| extend definition = tolower(tostring(properties.policyDefinitionId))",
        f"| where definition in~ ({definitions})",
    ]
    groups = list(resource_groups)
    if groups:
        lines.append(f"| where resourceGroup in~ ({', '.join(kql_string(g) for g in groups)})")
    lines.append("| project id, machine, properties")
    return "\n".join(lines)


async def posture(
    session: Session,
    machines: Iterable[str | ResourceId] | None,
    wanted: Filter,
    *,
    stale_after: timedelta,
    today: date | None,
    builds: Mapping[str, Mapping[str, int]] | None,
    unplanned: Iterable[str],
) -> Posture:
    """`Hotpatch.posture`: every argument checked before any query, then the reads."""
    scope = _scope(machines, wanted)
    _check(stale_after, today)
    table = BuildTable().with_builds(builds)
    months = list(unplanned)
    records = [record async for record in inventory(session, scope)]
    if not records:
        raise scope.nothing_found()
    subscriptions = scope.subscriptions or tuple(sorted({r.subscription_id for r in records}))
    wanted_keys = {r.id.key for r in records}
    assessments = await _latest_assessments(session, scope, subscriptions, wanted_keys)
    installs = await _installs(session, scope, subscriptions, wanted_keys)
    policies = await _policy_states(session, scope, subscriptions, wanted_keys)
    now = session.azure_now()
    judged = []
    for record in records:
        assessment = assessments.get(record.id.key)
        runs = installs.get(record.id.key, [])
        verdict = judge(
            record.facts,
            KINDS[record.kind].standing_eligibility(record.facts),
            assessment,
            runs,
            now=now,
            today=today,
            builds=table,
            stale_after=stale_after,
            unplanned=months,
            policies=policies.get(record.id.key, ()),
        )
        judged.append(_machine(record, verdict, assessment, runs))
    expected = judged[0].expected
    return Posture(tuple(judged), now, expected, stale_after)


def _scope(machines: Iterable[str | ResourceId] | None, wanted: Filter) -> InventoryFilter:
    given = wanted.given()
    if machines is not None and given:
        raise InvalidArgumentError(
            ", ".join(given),
            "would be ignored: the machines are given already",
            fix="pass machines, or an inventory filter, not both",
        )
    return wanted.checked() if machines is None else InventoryFilter.of_ids(machines)


def _check(stale_after: object, today: object) -> None:
    if not isinstance(stale_after, timedelta) or stale_after <= timedelta(0):
        raise InvalidArgumentError(
            "stale_after",
            f"{stale_after!r} is not a positive timedelta",
            fix="pass how old an assessment may be, e.g. stale_after=timedelta(days=7)",
        )
    if today is not None and (not isinstance(today, date) or hasattr(today, "hour")):
        raise InvalidArgumentError(
            "today",
            f"{today!r} is not a datetime.date",
            fix="pass a date, e.g. today=date(2026, 12, 9), or leave it out (Azure's today)",
        )


async def _rows(
    session: Session,
    table: str,
    scope: InventoryFilter,
    subscriptions: tuple[str, ...],
    wanted: set[str],
) -> list[tuple[str, Mapping[str, object]]]:
    found: list[tuple[str, Mapping[str, object]]] = []
    text = (
        policy_query(scope.resource_groups)
        if table == "policyresources"
        else query_for_table(table, scope.resource_groups)
    )
    async for row in session.query(
        text,
        subscriptions=None if scope.management_groups else subscriptions,
        management_groups=scope.management_groups or None,
    ):
        machine = str(row.get("machine") or "")
        if machine in wanted:
            found.append((machine, dict(row.get("properties") or {})))
    return found


async def _latest_assessments(
    session: Session, scope: InventoryFilter, subscriptions: tuple[str, ...], wanted: set[str]
) -> dict[str, AssessmentRow]:
    latest: dict[str, AssessmentRow] = {}
    for machine, properties in await _rows(
        session, "patchassessmentresources", scope, subscriptions, wanted
    ):
        row = AssessmentRow.of(properties)
        held = latest.get(machine)
        if held is None or (row.at and (held.at is None or row.at > held.at)):
            latest[machine] = row
    return latest


async def _installs(
    session: Session, scope: InventoryFilter, subscriptions: tuple[str, ...], wanted: set[str]
) -> dict[str, list[InstallRow]]:
    runs: dict[str, list[InstallRow]] = {}
    for machine, properties in await _rows(
        session, "patchinstallationresources", scope, subscriptions, wanted
    ):
        runs.setdefault(machine, []).append(InstallRow.of(properties))
    return runs


async def _policy_states(
    session: Session, scope: InventoryFilter, subscriptions: tuple[str, ...], wanted: set[str]
) -> dict[str, list[PolicyState]]:
    states: dict[str, list[PolicyState]] = {}
    for machine, properties in await _rows(
        session, "policyresources", scope, subscriptions, wanted
    ):
        states.setdefault(machine, []).append(PolicyState.of(properties))
    return states


def _machine(
    record: MachineRecord,
    verdict: Judgement,
    assessment: AssessmentRow | None,
    runs: list[InstallRow],
) -> MachinePosture:
    ended = [(run.at, run) for run in runs if run.at]
    last = max(ended, key=lambda pair: pair[0], default=(None, None))[1]
    return MachinePosture(
        resource=str(record.id),
        kind=record.kind.value,
        subscription=record.subscription_id,
        resource_group=record.id.resource_group,
        location=record.location,
        verdict=verdict.verdict,
        reasons=verdict.reasons,
        behind=verdict.behind,
        enrollment=record.facts.enrollment,
        os_version=record.facts.os_version,
        running=verdict.running,
        expected=verdict.expected,
        last_assessment=assessment.at if assessment else None,
        critical=assessment.critical if assessment else 0,
        security=assessment.security if assessment else 0,
        reboot_pending=assessment.reboot_pending if assessment else None,
        last_install=last.at if last else None,
        install_status=last.status if last else None,
        reboot_status=last.reboot_status if last else None,
    )
