"""Issue acceptance: the fault matrix over remediation through Run Command. Every Arc
machine here has VBS off, which a script and a restart fix; a fleet run with
``remediate=True, reboot="now"`` measures, fixes, restarts, enrolls, assesses and installs.
A fault of any kind on a run command's PUT, its status, its reads by name, the list read
before a restart, or the restart itself, at the first request, at the first status read
once it is done, or at every one, ends each machine as Azure's own state says, never
restarts a machine twice, never installs twice, costs at most three times the requests of
a calm run, and stays within the Azure time the library allows a fault to cost."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest

from azhotpatch._azure.retry import RetryPolicy
from azhotpatch.errors import HotpatchError
from azhotpatch.testing import ArcSpec, Emulator, FaultRule, Faults

from .matrix import (
    Cell,
    build,
    judge,
    over_budget,
    remediation_cells,
    requests_per_subscription,
    spans_per_subscription,
    subscription_of,
)

TIME_SCALE = 2400.0
RUN_DEADLINE = 240.0  # wall seconds: a stuck cell fails the test instead of hanging it
IN_A_BASELINE_WINDOW = datetime(2027, 1, 20, 9, tzinfo=timezone.utc)
# What a fault may cost in Azure time, beyond the calm run's own: what failures in a row may
# last before a call or a wait gives up. The matrix's machines all run at once in one fleet
# run, so their Azure time is mostly the fleet's (hours at this time scale, calm or not):
# a cell may take the calm run's time again, plus this.
OUTAGE = RetryPolicy().outage
Outcomes = dict[str, tuple[str, str | None, str | None]]


def _remediating_run(cells: list[Cell], aimed: bool) -> tuple[Emulator, list[str], Outcomes]:
    rules = tuple(c.rule(f"/subscriptions/{subscription_of(i)}") for i, c in enumerate(cells))
    emu = Emulator(
        seed=3,
        time_scale=TIME_SCALE,
        start=IN_A_BASELINE_WINDOW,
        faults=Faults.aimed(*rules) if aimed else None,
    ).start()
    ids = build(emu, cells)
    with emu.client() as client:
        report = client.run(
            subscriptions=[subscription_of(i) for i in range(len(cells))],
            remediate=True,
            reboot="now",
            deadline=RUN_DEADLINE,
        )
    reported = {
        m.resource.lower(): (m.outcome.value, m.code, m.azure_code) for m in report.machines
    }
    return emu, ids, reported


def test_remediation_ends_as_azure_did_and_restarts_once_whatever_fault_hit_it() -> None:
    cells = remediation_cells()
    calm, _, calm_reported = _remediating_run(cells, False)
    try:
        assert Counter(calm_reported.values()) == {("succeeded", None, None): len(cells)}
        assert Counter(calm.reboots().values()) == {1: len(cells)}
        baseline = requests_per_subscription(calm)
        calm_spans = spans_per_subscription(calm)
    finally:
        calm.stop()
    stormy, ids, reported = _remediating_run(cells, True)
    try:
        problems = judge(stormy, cells, ids, reported, baseline)
        problems += over_budget(stormy, cells, calm_spans, OUTAGE)
    finally:
        stormy.stop()
    assert len(cells) == 88
    assert not problems, "\n".join(f"{p.cell.name}: {p.problem}" for p in problems)


# --- a status that can never be read, measured closely ------------------------------------

SUB = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
CLOSE_SCALE = 120.0  # slow enough that the client's own work costs little Azure time


@pytest.mark.parametrize(
    ("kind", "route", "code"),
    [
        ("internal_error", "arc.operationStatus", "AzureUnavailable"),
        ("throttle", "arc.operationStatus", "Throttled"),
        # the status answers "done", then every read of the result fails
        ("internal_error", "arc.runCommand.get", "AzureUnavailable"),
        ("throttle", "arc.runCommand.get", "Throttled"),
    ],
)
def test_a_run_command_whose_result_cannot_be_read_ends_within_the_outage_budget(
    kind: str, route: str, code: str
) -> None:
    rule = FaultRule(kind, route, "measure", None, "every")
    with Emulator(seed=1, time_scale=CLOSE_SCALE, faults=Faults.aimed(rule)) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        machine = emu.add_arc(ArcSpec(SUB, "rg", "srv-01", "westeurope", vbs_running=False))
        with emu.client() as client, pytest.raises(HotpatchError) as raised:
            client.remediate(machine, fix=True, reboot="now", deadline=RUN_DEADLINE)
        log = emu.requests()
    assert raised.value.code == code
    faulted = [r for r in log if r.fault is not None]
    assert faulted
    took = log[-1].at - faulted[0].at
    assert took <= OUTAGE, f"{took:.0f} s of Azure time after the first failure"
    assert len(faulted) <= 2 * RetryPolicy().attempts
    assert emu.reboots() == {}
