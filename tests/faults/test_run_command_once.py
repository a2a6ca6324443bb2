"""Issue acceptance: a restart through Run Command happens once, whatever the transport
does and whoever else is running. A dropped connection after Azure received the restart is
settled by reading the run command by name (aiohttp does not resend the PUT); a restart
intent that never reached Azure is sent on the next attempt, once; a second run that finds a
restart under way, or made since the machine's last boot, follows it instead of restarting
the machine again. Judged by the emulator's own record of each machine's boots."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

from azhotpatch.fleet.report import Report
from azhotpatch.testing import ArcSpec, Emulator, FaultRule, Faults

SUB = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
IN_A_BASELINE_WINDOW = datetime(2027, 1, 20, 9, tzinfo=timezone.utc)
DEADLINE = 120.0


def _tenant(faults: Faults | None = None, machines: int = 1) -> tuple[Emulator, list[str]]:
    emu = Emulator(seed=4, time_scale=600, start=IN_A_BASELINE_WINDOW, faults=faults).start()
    emu.add_subscription(SUB, groups=["rg"])
    ids = [
        emu.add_arc(ArcSpec(SUB, "rg", f"srv-{n:02d}", "westeurope", vbs_running=False))
        for n in range(machines)
    ]
    return emu, ids


def _restart_puts(emu: Emulator) -> list[tuple[str, int, str | None]]:
    """(route, status, fault) of every request about a restart run command, in order."""
    return [
        (r.route, r.status, r.fault)
        for r in emu.requests()
        if r.route.startswith("arc.runCommand.") and r.method == "PUT"
    ]


def test_a_restart_whose_answer_was_lost_is_read_by_name_not_sent_again() -> None:
    rule = FaultRule("reset_after_commit", "arc.runCommand.put", "restart", None, "first")
    emu, (machine,) = _tenant(Faults.aimed(rule))
    try:
        with emu.client() as client:
            done = client.remediate(machine, fix=True, reboot="now", deadline=DEADLINE)
        log = [(r.method, r.route, r.status, r.fault) for r in emu.requests()]
    finally:
        emu.stop()
    assert done.ready
    assert emu.fault_hits() == {rule: 1}
    assert emu.reboots() == {machine.lower(): 1}
    dropped = log.index(("PUT", "arc.runCommand.put", 0, "reset_after_commit"))
    # neither aiohttp nor the retry policy sent the PUT again: the next request reads it
    assert log[dropped + 1][:3] == ("GET", "arc.runCommand.get", 200)
    restart_puts = [entry for entry in log[dropped:] if entry[:2] == ("PUT", "arc.runCommand.put")]
    assert len(restart_puts) == 2  # the dropped restart, then the measurement after it
    assert restart_puts[1][2] == 200  # ... which updates the measuring run command


def _run(emu: Emulator, journal: Path, *, retry_failed: bool = False) -> Report:
    with emu.client() as client:
        return client.run(
            subscriptions=[SUB],
            remediate=True,
            reboot="now",
            journal=journal,
            retry_failed=retry_failed,
            deadline=DEADLINE,
        )


def test_a_restart_that_never_reached_azure_is_sent_once_by_the_retry(tmp_path: Path) -> None:
    never = FaultRule("reset", "arc.runCommand.put", "restart", None, "every")
    emu, (machine,) = _tenant(Faults.aimed(never))
    journal = tmp_path / "run.sqlite"
    try:
        first = _run(emu, journal)
        assert [(m.outcome.value, m.code) for m in first.machines] == [
            ("failed", "AzureUnavailable")
        ]
        assert emu.reboots() == {}  # the restart was intended (journaled), never received
        emu.set_faults(None)
        again = _run(emu, journal)  # without --retry-failed, a failed machine stays failed
        assert [(m.outcome.value, m.code) for m in again.machines] == [
            ("failed", "AzureUnavailable")
        ]
        assert emu.reboots() == {}
        retried = _run(emu, journal, retry_failed=True)
        record = emu.azure_record(machine)
    finally:
        emu.stop()
    assert [(m.outcome.value, m.code) for m in retried.machines] == [("succeeded", None)]
    assert emu.reboots() == {machine.lower(): 1}
    assert record.outcome() == ("succeeded", None)


def test_a_second_run_follows_the_restart_another_run_has_under_way() -> None:
    emu, ids = _tenant(machines=3)

    async def run_once(principal: str) -> Report:
        async with emu.async_client(credential=emu.async_credential(principal)) as client:
            return await client.run(
                subscriptions=[SUB],
                actions=["enable"],  # installs by two runs at once are another guard's
                remediate=True,
                reboot="now",
                deadline=DEADLINE,
            )

    async def together_then_staggered() -> list[Report]:
        first = asyncio.ensure_future(run_once("operator-1"))
        second = asyncio.ensure_future(run_once("operator-2"))  # together
        for _ in range(10_000):  # until a restart is about to be sent (not a verdict)
            if any(r.route == "arc.runCommand.list" for r in emu.requests()):
                break
            await asyncio.sleep(0.01)
        third = asyncio.ensure_future(run_once("operator-3"))  # a restart is under way
        return list(await asyncio.gather(first, second, third))

    try:
        reports = asyncio.run(together_then_staggered())
        records = [emu.azure_record(rid) for rid in ids]
    finally:
        emu.stop()
    assert emu.reboots() == {rid.lower(): 1 for rid in ids}
    for report in reports:
        assert {(m.outcome.value, m.code) for m in report.machines} == {("succeeded", None)}
    assert all(record.outcome(["enable"]) == ("succeeded", None) for record in records)
