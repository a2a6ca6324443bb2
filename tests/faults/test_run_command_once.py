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
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests
from azure.mgmt.hybridcompute import HybridComputeManagementClient
from azure.mgmt.hybridcompute.models import MachineRunCommand

from azhotpatch.fleet.report import Report
from azhotpatch.remediation import RebootState, Remediation
from azhotpatch.testing import ArcSpec, Emulator, FaultRule, Faults, emulator_process
from tests.fleet.test_kill_resume import command, finished_report

SUB = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
IN_A_BASELINE_WINDOW = datetime(2027, 1, 20, 9, tzinfo=timezone.utc)
DEADLINE = 120.0


def _tenant(
    faults: Faults | None = None, machines: int = 1, time_scale: float = 600
) -> tuple[Emulator, list[str]]:
    emu = Emulator(seed=4, time_scale=time_scale, start=IN_A_BASELINE_WINDOW, faults=faults).start()
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


class MachineRunCommands:
    """A machine's run commands through the SDK's own client, as anyone else would send
    them (no azhotpatch in between)."""

    def __init__(self, emu: Emulator, machine: str) -> None:
        parts = machine.split("/")
        self.group, self.name = parts[4], parts[8]
        self.client = HybridComputeManagementClient(
            emu.credential(),
            parts[2],
            base_url=emu.endpoint,
            connection_verify=emu.ca_path,
            polling_interval=emu.polling_interval,
            retry_total=0,
        ).machine_run_commands

    def get(self, name: str) -> dict[str, Any]:
        return dict(self.client.get(self.group, self.name, name).as_dict())

    def put(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        sent = {
            "location": body["location"],
            "properties": {"source": body["properties"]["source"]},
        }
        poller = self.client.begin_create_or_update(
            self.group, self.name, name, MachineRunCommand(sent)
        )
        return dict(poller.result().as_dict())


def _remediate(emu: Emulator, principal: str, rid: str) -> Remediation:
    with emu.client(credential=emu.credential(principal)) as client:
        return client.remediate(rid, fix=True, reboot="now", deadline=DEADLINE)


def test_two_operators_at_once_restart_each_machine_once() -> None:
    """Remediation alone: two runs enrolling at once is another guard's."""
    emu, ids = _tenant(machines=3)

    async def operator(principal: str) -> list[Remediation]:
        async with emu.async_client(credential=emu.async_credential(principal)) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.remediate(rid, fix=True, reboot="now", deadline=DEADLINE)
                        for rid in ids
                    )
                )
            )

    async def together() -> list[list[Remediation]]:
        return list(await asyncio.gather(operator("operator-1"), operator("operator-2")))

    try:
        done = asyncio.run(together())
        vbs = [emu.machine(rid).vbs_running for rid in ids]
    finally:
        emu.stop()
    assert emu.reboots() == {rid.lower(): 1 for rid in ids}
    assert vbs == [True, True, True]
    assert all(result.ready for results in done for result in results)


def test_a_second_operator_follows_the_restart_the_first_has_under_way() -> None:
    # slow enough that the second operator measures before the machine goes down (the
    # restart is scheduled 60 s after its script ends, and the machine is down two minutes)
    emu, (machine,) = _tenant(time_scale=120)
    emu_machine = emu.machine(machine)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(_remediate, emu, "operator-1", machine)
            for _ in range(10_000):  # until the first one's restart is sent (not a verdict)
                if any(n.startswith("azhotpatch-restart-") for n in emu_machine.run_commands):
                    break
                time.sleep(0.005)
            second = _remediate(emu, "operator-2", machine)
            first_done = first.result()
        runs = emu.script_runs()[machine.lower()]
    finally:
        emu.stop()
    assert first_done.ready
    assert second.ready
    assert "restart" in first_done.scripts
    assert "restart" not in second.scripts  # it found the first one's and waited for it
    assert second.reboot is RebootState.DONE
    assert emu.reboots() == {machine.lower(): 1}
    assert runs["restart"] == 1


def test_a_restart_script_run_again_restarts_nothing() -> None:
    """Whoever sends the restart's run command again (an older client, someone at the
    console, a resend that no guard caught), the script restarts only from the start it
    was written for: while its restart is scheduled, and once the machine is back."""
    emu, (machine,) = _tenant()
    try:
        done = _remediate(emu, "operator-1", machine)
        (name,) = [n for n in emu.machine(machine).run_commands if "restart" in n]
        commands = MachineRunCommands(emu, machine)
        body = commands.get(name)
        again = commands.put(name, body)
    finally:
        emu.stop()
    assert done.ready
    assert again["properties"]["instanceView"]["output"] == "already restarted"
    assert emu.reboots() == {machine.lower(): 1}
    assert emu.script_runs()[machine.lower()]["restart"] == 2


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
