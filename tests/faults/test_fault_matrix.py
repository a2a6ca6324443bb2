"""Issue acceptance: a fault on any route the library sends, of any kind the emulator has,
hit on the first attempt, on a status read once the operation is done, or on every attempt,
ends every machine as Azure's own state says, never installs twice, never costs more
than three times the requests of a calm run, and stays within the Azure time a fault may
cost (`matrix.over_budget`). The whole matrix, not a sample: see
`tests/faults/matrix.py` for how cells are built and judged."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

from azhotpatch._azure.retry import RetryPolicy
from azhotpatch.aio import Hotpatch
from azhotpatch.errors import HotpatchError
from azhotpatch.testing import Emulator, Faults

from .matrix import (
    Cell,
    build,
    fleet_cells,
    judge,
    over_budget,
    requests_per_subscription,
    single_machine_cells,
    spans_per_subscription,
    subscription_of,
)

Outcomes = dict[str, tuple[str, str | None, str | None]]
Runner = Callable[[list[Cell], bool], tuple[Emulator, list[str], Outcomes]]
TIME_SCALE = 2400.0
RUN_DEADLINE = 240.0  # wall seconds: a stuck cell fails the test instead of hanging it


def _emulator(cells: list[Cell], aimed: bool) -> Emulator:
    rules = tuple(c.rule(f"/subscriptions/{subscription_of(i)}") for i, c in enumerate(cells))
    return Emulator(seed=3, time_scale=TIME_SCALE, faults=Faults.aimed(*rules) if aimed else None)


def _fleet(cells: list[Cell], aimed: bool) -> tuple[Emulator, list[str], Outcomes]:
    emu = _emulator(cells, aimed).start()
    ids = build(emu, cells)
    with emu.client() as client:
        report = client.run(
            subscriptions=[subscription_of(i) for i in range(len(cells))], deadline=RUN_DEADLINE
        )
    reported = {
        m.resource.lower(): (m.outcome.value, m.code, m.azure_code) for m in report.machines
    }
    return emu, ids, reported


def _judged(cells: list[Cell], runner: Runner) -> None:
    """Run the cells' machines calm (every one must succeed; its requests are the baseline),
    then with every cell's fault, and judge each machine against what Azure did."""
    calm, _, calm_reported = runner(cells, False)
    try:
        assert Counter(calm_reported.values()) == {("succeeded", None, None): len(cells)}
        baseline = requests_per_subscription(calm)
        calm_spans = spans_per_subscription(calm)
    finally:
        calm.stop()
    stormy, ids, reported = runner(cells, True)
    try:
        problems = judge(stormy, cells, ids, reported, baseline)
        problems += over_budget(stormy, cells, calm_spans, RetryPolicy().outage)
    finally:
        stormy.stop()
    assert len(cells) >= 200
    assert not problems, "\n".join(f"{p.cell.name}: {p.problem}" for p in problems)


def test_fleet_runs_end_every_machine_as_azure_did_whatever_fault_hit_it() -> None:
    _judged(fleet_cells(), _fleet)


async def _one_machine(client: Hotpatch, rid: str) -> tuple[str, str | None, str | None]:
    """enable, assess, install on one machine through the single-machine API."""
    try:
        await client.enable(rid)
        await client.assess(rid)
        installation = await client.install(rid)
    except HotpatchError as error:
        return "failed", error.code, getattr(error, "azure_code", None)
    if installation.failed:
        return "failed", "PatchesFailed", None
    return "succeeded", None, None


def _single(cells: list[Cell], aimed: bool) -> tuple[Emulator, list[str], Outcomes]:
    emu = _emulator(cells, aimed).start()
    ids = build(emu, cells)

    async def everything() -> list[tuple[str, str | None, str | None]]:
        async with emu.async_client() as client:
            return await asyncio.wait_for(
                asyncio.gather(*(_one_machine(client, rid) for rid in ids)), RUN_DEADLINE
            )

    outcomes = asyncio.run(everything())
    return emu, ids, {rid.lower(): outcome for rid, outcome in zip(ids, outcomes, strict=True)}


def test_single_machine_calls_end_as_azure_did_whatever_fault_hit_them() -> None:
    _judged(single_machine_cells(), _single)
