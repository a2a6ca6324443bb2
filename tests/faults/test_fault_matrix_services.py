"""Issue acceptance, the rest of the matrix: faults on the routes that concern no single
machine (Resource Graph's inventory, patch history and verdict sweeps; preview features and
provider registration; Update Manager's maintenance configurations and assignments), each
fault kind at the first request and at every one. Judged against the emulator's state as
`test_fault_matrix` is: a one-off fault ends as a calm run does; a persistent one fails with
its cause family's code, and where it concerns one subsystem, the rest of the work finishes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from azhotpatch.aio import Hotpatch
from azhotpatch.errors import HotpatchError
from azhotpatch.fleet.report import Report
from azhotpatch.testing import ArcSpec, Emulator, FaultRule, Faults, VmSpec

from .matrix import REQUEST_KINDS, Cell, subscription_of

READ_KINDS = tuple(k for k in REQUEST_KINDS if k != "conflict")
TIME_SCALE = 2400.0
DEADLINE = 120.0


def _cells(routes: tuple[tuple[str, str | None, str], ...], machine: str) -> list[Cell]:
    return [
        Cell(kind, machine, route, operation, shape, at)
        for route, operation, shape in routes
        for kind in (READ_KINDS if shape == "read" else REQUEST_KINDS)
        for at in ("first", "every")
    ]


def _expected_code(cell: Cell) -> str | None:
    return cell.persistent_code


async def _gathered(
    cells: list[Cell], emu: Emulator, each: Callable[[Hotpatch, int, Cell], Awaitable[Any]]
) -> list[Any]:
    async with emu.async_client() as client:

        async def one(index: int, cell: Cell) -> Any:
            try:
                return await each(client, index, cell)
            except HotpatchError as error:
                return error

        return await asyncio.wait_for(
            asyncio.gather(*(one(i, c) for i, c in enumerate(cells))), DEADLINE
        )


def _aimed(cells: list[Cell]) -> Faults:
    return Faults.aimed(
        *(c.rule(f"/subscriptions/{subscription_of(i)}") for i, c in enumerate(cells))
    )


def _fired(emu: Emulator, cells: list[Cell]) -> list[str]:
    hits = emu.fault_hits()
    return [
        c.name
        for i, c in enumerate(cells)
        if not hits.get(c.rule(f"/subscriptions/{subscription_of(i)}"))
    ]


# --- preview features and provider registration ----------------------------------------------

FEATURE_ROUTES = (
    ("features.get", None, "read"),
    ("features.register", None, "write"),
    ("providers.register", None, "write"),
    ("providers.get", None, "read"),
)


def test_feature_registration_ends_as_azure_registered_whatever_fault_hit_it() -> None:
    cells = _cells(FEATURE_ROUTES, "subscription")
    with Emulator(seed=2, time_scale=TIME_SCALE, faults=_aimed(cells)) as emu:
        for index in range(len(cells)):
            emu.add_subscription(subscription_of(index), groups=["rg"])

        async def register(client: Hotpatch, index: int, cell: Cell) -> Any:
            return await client.register_preview_features(subscription_of(index))

        results = asyncio.run(_gathered(cells, emu, register))
        assert _fired(emu, cells) == []
        problems = []
        for index, (cell, result) in enumerate(zip(cells, results, strict=True)):
            subscription = emu.world.subscriptions[subscription_of(index)]
            azure = {f.name: f.state for f in subscription.features.values()}
            code = _expected_code(cell)
            if code is not None:
                if not (isinstance(result, HotpatchError) and result.code == code):
                    problems.append(f"{cell.name}: {result!r}, expected {code}")
            elif isinstance(result, HotpatchError):
                problems.append(f"{cell.name}: {result}")
            elif {f.name: f.state for f in result.features} != azure or set(azure.values()) != {
                "Registered"
            }:
                problems.append(f"{cell.name}: reported {result.features}, Azure {azure}")
    assert len(cells) == 44
    assert not problems, "\n".join(problems)


# --- Update Manager schedules -------------------------------------------------------------------

MAINTENANCE_ROUTES = (
    ("mc.get", None, "read"),
    ("mc.put", None, "write"),
    ("ca.put", None, "write"),
    ("graph.resources", "maintenanceresources", "read"),
)


def test_schedules_end_as_azure_assigned_them_whatever_fault_hit_them() -> None:
    cells = _cells(MAINTENANCE_ROUTES, "arc")
    with Emulator(seed=2, time_scale=TIME_SCALE, faults=_aimed(cells)) as emu:
        machines = []
        for index in range(len(cells)):
            sub = subscription_of(index)
            machines.append(
                emu.add_arc(
                    ArcSpec(
                        sub,
                        "rg",
                        f"m-{index:03d}",
                        "westeurope",
                        enable_hotpatching=True,
                        hotpatch_status="Enabled",
                        licensed=True,
                    )
                )
            )

        async def schedule(client: Hotpatch, index: int, cell: Cell) -> Any:
            return await client.schedule(
                [machines[index]],
                resource_group=f"/subscriptions/{subscription_of(index)}/resourceGroups/rg",
                location="westeurope",
            )

        results = asyncio.run(_gathered(cells, emu, schedule))
        assert _fired(emu, cells) == []
        assigned: dict[str, int] = {}
        for assignment in emu.services.maintenance.assignments.values():
            if assignment.machine:
                assigned[assignment.machine] = assigned.get(assignment.machine, 0) + 1
        problems = []
        for cell, machine, result in zip(cells, machines, results, strict=True):
            code = _expected_code(cell)
            got = _schedule_outcome(result)
            azure = "succeeded" if assigned.get(machine.lower()) == 3 else "not assigned"
            if code is not None and (got != ("failed", code) or azure == "succeeded"):
                problems.append(f"{cell.name}: {got}, Azure {azure}, expected failed {code}")
            if code is None and (got != ("succeeded", None) or azure != "succeeded"):
                problems.append(f"{cell.name}: {got}, Azure {azure}")
    assert not problems, "\n".join(problems)


def _schedule_outcome(result: Report | HotpatchError) -> tuple[str, str | None]:
    if isinstance(result, HotpatchError):
        return "failed", result.code
    (machine,) = result.machines
    return machine.outcome.value, machine.code


# --- Resource Graph in a fleet run --------------------------------------------------------------

# (table, when the faults start, what a fault on every query there must end in)
GRAPH_QUERIES = (
    ("resources", "before the plan", "the inventory cannot be read: the run raises"),
    ("resources", "after the plan", "verdict sweeps fail: Arc verdicts are read from ARM"),
    ("patchassessmentresources", "after the plan", "Arc patch history: Arc machines fail"),
    ("patchinstallationresources", "after the plan", "Arc patch history: Arc machines fail"),
)


@pytest.mark.parametrize(("table", "when", "persistent"), GRAPH_QUERIES)
@pytest.mark.parametrize("at", ["first", "every"])
def test_fleet_runs_ride_out_resource_graph_faults(
    table: str, when: str, persistent: str, at: str
) -> None:
    outcomes: dict[str, Any] = {}
    for kind in READ_KINDS:
        rule = FaultRule(kind, "graph.resources", table, None, at)
        with Emulator(seed=2, time_scale=TIME_SCALE) as emu:
            sub = subscription_of(0)
            emu.add_subscription(sub, groups=["rg"])
            vm = emu.add_vm(VmSpec(sub, "rg", "vm-1", "westeurope", patch_mode="AutomaticByOS"))
            arc = emu.add_arc(ArcSpec(sub, "rg", "arc-1", "westeurope"))
            if when == "before the plan":
                emu.set_faults(Faults.aimed(rule))
            with emu.client(deadline=DEADLINE) as client:
                try:
                    plan = client.plan(subscriptions=[sub])
                    emu.set_faults(Faults.aimed(rule))
                    report = client.run(plan, deadline=DEADLINE)
                except HotpatchError as error:
                    outcomes[kind] = error.code
                    assert emu.fault_hits().get(rule), f"{kind}: the fault never fired"
                    continue
            assert emu.fault_hits().get(rule), f"{kind}: the fault never fired"
            if "ARM" in persistent and at == "every":  # the verdict was read from ARM
                assert "arc.get" in {r.route for r in emu.requests()}
            got = {m.resource.lower(): (m.outcome.value, m.code) for m in report.machines}
            azure = {rid.lower(): emu.azure_record(rid).outcome() for rid in (vm, arc)}
            outcomes[kind] = (got[vm.lower()], got[arc.lower()], azure)
    for kind, outcome in outcomes.items():
        persistent_code = Cell(kind, "", "graph.resources", table, "read", at).persistent_code
        if at == "first" or "ARM" in persistent:
            assert outcome[:2] == (("succeeded", None), ("succeeded", None)), (kind, outcome)
        elif "raises" in persistent:
            assert outcome == persistent_code, (kind, outcome)
        else:
            assert outcome[0] == ("succeeded", None), (kind, outcome)
            assert outcome[1] == ("failed", persistent_code), (kind, outcome)
