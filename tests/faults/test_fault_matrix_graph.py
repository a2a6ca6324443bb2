"""Issue acceptance: the fault matrix over Microsoft Graph, as `azhotpatch.devices` uses it
to bring Windows 11 into hotpatch through Intune: the hotpatch quality update policy listed,
created and assigned (``Devices.enable``), then its report exported, polled and downloaded
(``Devices.status``). Each fault kind on each route, at the first request there and at
every one, judged against Intune's own state: one policy per name whatever happened, the
policy hotpatching and assigned as asked when the calls succeed, the report's rows as
Intune has them; a fault on every attempt fails with its cause's code; no cell costs more
than three times the requests of a calm run, or more Azure time than a fault may cost.

Every cell is an app of its own (a principal: Graph's faults are aimed by app) converging a
policy of its own name, all at once against one emulated tenant."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from azhotpatch._azure.retry import RetryPolicy
from azhotpatch.devices.aio import EXPORT_BUDGET, EXPORT_TRIES, Devices
from azhotpatch.errors import DeadlineExceededError, HotpatchError
from azhotpatch.testing import Emulator, FaultRule, Faults

from .matrix import REQUEST_KINDS, Cell

TIME_SCALE = 600.0
DEADLINE = 120.0
GRAPH_ROUTES = (
    ("intune.policies.list", None, "read"),
    ("intune.policies.create", None, "create"),
    ("intune.policies.assign", None, "write"),
    ("intune.exports.create", None, "write"),
    ("intune.exports.get", None, "read"),
    ("storage.download", None, "read"),
)


def cells() -> list[Cell]:
    return [
        Cell(kind, "graph", route, operation, shape, at)
        for route, operation, shape in GRAPH_ROUTES
        for kind in REQUEST_KINDS
        if not (kind == "conflict" and shape == "read")  # Graph answers 409 to writes
        for at in ("first", "every")
    ]


def app(index: int) -> str:
    return f"fault-matrix-app-{index:03d}"


@dataclass(frozen=True)
class Outcome:
    code: str | None  # None: enable and status both succeeded
    policy_id: str | None = None
    rows: frozenset[tuple[str, str]] = frozenset()  # (device, aggregate state) reported


async def _one(emu: Emulator, index: int, group: str) -> Outcome:
    credential = emu.async_credential(app(index))
    async with Devices(
        credential,
        endpoint=emu.graph_endpoint,
        connection_verify=emu.ca_path,
        time_scale=TIME_SCALE,
        deadline=DEADLINE,
    ) as devices:
        try:
            plan = await devices.enable(app(index), include=[group])
            report = await devices.status(app(index))
        except HotpatchError as error:
            return Outcome(error.code)
    assert plan.policy is not None
    rows = frozenset((r.device_id, r.aggregate_state) for r in report.rows)
    return Outcome(None, plan.policy.id, rows)


def _run(matrix: list[Cell], aimed: bool) -> tuple[Emulator, list[Outcome]]:
    rules = tuple(
        FaultRule(c.kind, c.route, None, f"app:{app(i)}", c.at) for i, c in enumerate(matrix)
    )
    emu = Emulator(
        devices=40, seed=5, time_scale=TIME_SCALE, faults=Faults.aimed(*rules) if aimed else None
    ).start()
    group = sorted(emu.intune.groups)[0]

    async def everything() -> list[Outcome]:
        return await asyncio.wait_for(
            asyncio.gather(*(_one(emu, i, group) for i in range(len(matrix)))), DEADLINE
        )

    try:
        return emu, asyncio.run(everything())
    except BaseException:
        emu.stop()
        raise


def _per_app(emu: Emulator) -> tuple[Counter[str], dict[str, tuple[float, float]]]:
    """Requests per app, and the Azure time from each app's first request to its last (a
    report download carries no token: it concerns the app whose export made it)."""
    counts: Counter[str] = Counter()
    spans: dict[str, tuple[float, float]] = {}
    for record in emu.graph.records:
        owner = (record.app or "").removeprefix("app:")
        counts[owner] += 1
        first, _ = spans.get(owner, (record.at, record.at))
        spans[owner] = (first, record.at)
    return counts, spans


def _judge(
    emu: Emulator,
    matrix: list[Cell],
    outcomes: list[Outcome],
    calm_counts: Counter[str],
    calm_spans: dict[str, tuple[float, float]],
) -> list[str]:
    intune = emu.intune
    hits = emu.fault_hits()
    counts, spans = _per_app(emu)
    budget = RetryPolicy().outage
    lengths = sorted(last - first for first, last in spans.values())
    pace = lengths[len(lengths) // 2]  # see matrix.over_budget
    problems = []
    for index, (cell, outcome) in enumerate(zip(matrix, outcomes, strict=True)):
        name = app(index)
        rule = FaultRule(cell.kind, cell.route, None, f"app:{name}", cell.at)
        if not hits.get(rule):
            problems.append(f"{cell.name}: the fault never fired")
            continue
        held = [p for p in intune.policies.values() if p.body.get("displayName") == name]
        if len(held) > 1:
            problems.append(f"{cell.name}: {len(held)} policies named {name!r}")
        expected = cell.persistent_code
        if outcome.code != expected:
            problems.append(f"{cell.name}: ended {outcome.code}, expected {expected}")
        elif expected is None:
            problems += [f"{cell.name}: {p}" for p in _converged(emu, held, outcome)]
        if counts[name] > 3 * max(calm_counts[name], 1):
            problems.append(f"{cell.name}: {counts[name]} requests, calm {calm_counts[name]}")
        first, last = spans.get(name, (0.0, 0.0))
        calm_first, calm_last = calm_spans.get(name, (0.0, 0.0))
        if last - first > 2 * max(calm_last - calm_first, pace) + budget:
            problems.append(f"{cell.name}: took {last - first:.0f} s of Azure time")
    return problems


def _converged(emu: Emulator, held: list[Any], outcome: Outcome) -> list[str]:
    """What is wrong with a cell that succeeded, by Intune's state."""
    if len(held) != 1 or held[0].id != outcome.policy_id:
        return [f"reported policy {outcome.policy_id}, Intune holds {[p.id for p in held]}"]
    policy = held[0]
    problems = []
    if policy.body.get("hotpatchEnabled") is not True:
        problems.append("the policy does not hotpatch")
    groups = {a["target"].get("groupId") for a in policy.assignments}
    if groups != {sorted(emu.intune.groups)[0]}:
        problems.append(f"assigned to {groups}")
    truth = {
        (row["DeviceId"], row["AggregateState_loc"]) for row in emu.intune.report_rows(policy.id)
    }
    if not truth or outcome.rows != truth:
        problems.append(f"reported {len(outcome.rows)} rows, Intune has {len(truth)}")
    return problems


def test_devices_end_as_intune_holds_them_whatever_fault_hit_graph() -> None:
    matrix = cells()
    calm, calm_outcomes = _run(matrix, False)
    try:
        assert {o.code for o in calm_outcomes} == {None}
        calm_counts, calm_spans = _per_app(calm)
    finally:
        calm.stop()
    stormy, outcomes = _run(matrix, True)
    try:
        problems = _judge(stormy, matrix, outcomes, calm_counts, calm_spans)
    finally:
        stormy.stop()
    assert len(matrix) == 66
    assert not problems, "\n".join(problems)


def test_an_export_that_never_completes_ends_within_its_budget_of_intune_time() -> None:
    with Emulator(devices=10, seed=5, time_scale=6000) as emu:
        emu.intune.export_seconds = float("inf")  # Intune never finishes building the report
        with emu.devices_client(deadline=DEADLINE) as devices:
            devices.enable("Hotpatch", include=sorted(emu.intune.groups)[:1])
            with pytest.raises(DeadlineExceededError):
                devices.status("Hotpatch")
        polls = [r for r in emu.graph.records if r.route == "intune.exports.get"]
        exported = next(r for r in emu.graph.records if r.route == "intune.exports.create")
    # given up only once the budget of Intune time has passed and the least number of reads
    # was made (a client slowed by its own machine may need more Intune time for those)
    assert len(polls) >= EXPORT_TRIES
    took = polls[-1].at - exported.at
    assert took + 60 >= EXPORT_BUDGET, f"{took:.0f} s of Intune time"
    # and at the first read after both: the read before it still lacked one of them
    before = polls[-2].at - exported.at
    assert len(polls) == EXPORT_TRIES or before < EXPORT_BUDGET + 60, (
        f"{len(polls)} reads, the one before the last {before:.0f} s after the export began"
    )
