"""Issue acceptance: a restart through Run Command happens once, whatever the transport
does and whoever else is running. A dropped connection after Azure received the restart is
settled by reading the run command by name (aiohttp does not resend the PUT); a restart
intent that never reached Azure is sent on the next attempt, once; a second run that finds a
restart under way, or made since the machine's last boot, follows it instead of restarting
the machine again. Judged by the emulator's own record of each machine's boots."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

from azhotpatch.fleet.report import Report
from azhotpatch.testing import ArcSpec, Emulator, FaultRule, Faults, emulator_process
from tests.fleet.test_kill_resume import command, finished_report

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


# --- through the command line: killed while restarts never reach Azure --------------------

FLEET = "sample:12@1/100%arc"  # seed 3: two machines to remediate (vbs, vbs+chpe)
NEVER_RECEIVED = {"kind": "reset", "route": "arc.runCommand.put", "operation": "restart"}


def _intended_not_concluded(journal: Path) -> set[str]:
    """Machines whose restart intent is committed while their remediation is unfinished."""
    if not journal.exists():
        return set()
    try:
        with sqlite3.connect(journal, timeout=1) as db:
            rows = db.execute(
                "SELECT r.resource FROM step AS r JOIN step AS m ON m.resource = r.resource "
                "WHERE r.action = 'restart' AND r.intent_at IS NOT NULL "
                "AND m.action = 'remediate' AND m.outcome IS NULL"
            ).fetchall()
        return {str(row[0]) for row in rows}
    except sqlite3.OperationalError:
        return set()


def _admin(info: dict[str, Any], path: str, payload: dict[str, Any] | None = None) -> Any:
    base = f"{info['endpoint']}/_emulator/{path}"
    if payload is None:
        return requests.get(base, verify=info["ca_path"], timeout=10).json()
    return requests.post(base, json=payload, verify=info["ca_path"], timeout=10).json()


def test_killed_while_restarts_never_reach_azure_then_next_run_and_retry_send_each_once(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "run.sqlite"
    remediate = ("--remediate", "--reboot", "now")
    with emulator_process(
        FLEET, ca_path=tmp_path / "ca.pem", seed=3, time_scale=200.0, start=IN_A_BASELINE_WINDOW
    ) as info:
        _admin(info, "faults", {"rules": [{**NEVER_RECEIVED, "at": "every"}]})
        first = subprocess.Popen(
            command(info, journal, *remediate),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(12_000):  # until a restart is intended and not yet concluded
            if _intended_not_concluded(journal) or first.poll() is not None:
                break
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=15)
        in_flight = _intended_not_concluded(journal)
        assert in_flight, "no restart was intended and unconcluded when the run was killed"
        assert _admin(info, "reboots") == {}  # none of them ever reached Azure
        _admin(info, "faults", {"rate": 0})

        resumed = finished_report(command(info, journal, *remediate))
        after_resume = _admin(info, "reboots")
        retried = finished_report(command(info, journal, *remediate, "--retry-failed"))
        reboots = _admin(info, "reboots")
        truth = _admin(info, "truth")

    remediable = {k for k, t in truth.items() if t["remediation"] in ("vbs", "vbs+chpe")}
    assert in_flight <= remediable
    resumed_outcomes = {m["resource"].lower(): m["outcome"] for m in resumed["machines"]}
    # the next run settles each intent by reading Azure (no such run command) and restarts
    # the machine once; machines whose remediation had failed wait for --retry-failed
    assert all(resumed_outcomes[k] == "succeeded" for k in in_flight)
    assert all(after_resume.get(k) == 1 for k in in_flight)
    assert set(reboots) == remediable
    assert all(count == 1 for count in reboots.values()), "a machine restarted twice"
    outcomes = {m["resource"].lower(): m["outcome"] for m in retried["machines"]}
    assert all(outcomes[k] == "succeeded" for k in remediable)
