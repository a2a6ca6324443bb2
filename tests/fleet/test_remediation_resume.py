"""Issue acceptance: kill -9 a remediating fleet run while restarts are under way, resume it
with the same journal: no machine is restarted twice, and every remediable machine ends
enrolled and patched."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

from azhotpatch.fleet._history import read_report
from azhotpatch.testing import emulator_process

from .test_kill_resume import command, finished_report

FLEET = "sample:100@1/60%arc"
SEED = 7
START = datetime(2027, 1, 20, 9, tzinfo=timezone.utc)


def restarts_in_flight(journal: Path) -> int:
    """Restarts whose intent is committed while their machine's remediation is unfinished."""
    if not journal.exists():
        return 0
    try:
        with sqlite3.connect(journal, timeout=1) as db:
            found = db.execute(
                "SELECT count(*) FROM step AS r JOIN step AS m ON m.resource = r.resource "
                "WHERE r.action = 'restart' AND r.intent_at IS NOT NULL "
                "AND m.action = 'remediate' AND m.outcome IS NULL"
            ).fetchone()[0]
        return int(found)
    except sqlite3.OperationalError:
        return 0


def test_kill_minus_nine_mid_remediation_then_resume(tmp_path: Path) -> None:
    journal = tmp_path / "run.sqlite"
    remediate = ("--remediate", "--reboot", "baseline")
    with emulator_process(
        FLEET, ca_path=tmp_path / "ca.pem", seed=SEED, time_scale=200.0, start=START
    ) as info:
        first = subprocess.Popen(
            command(info, journal, *remediate),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while restarts_in_flight(journal) == 0:
            assert time.monotonic() < deadline, "no restart to kill in time"
            assert first.poll() is None, "the run ended before a restart was under way"
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=15)
        assert restarts_in_flight(journal) > 0
        # the journal of the killed run still tells the run so far: a machine whose restart
        # is under way is not concluded (its restart is an intent, not a finished step)
        crashed = read_report(journal)
        in_flight = {resource.lower() for resource in crashed.timeline.unfinished}

        resumed = finished_report(command(info, journal, *remediate))
        base = f"{info['endpoint']}/_emulator"
        reboots = requests.get(f"{base}/reboots", verify=info["ca_path"], timeout=10).json()
        truth = requests.get(f"{base}/truth", verify=info["ca_path"], timeout=10).json()

    remediable = {k for k, t in truth.items() if t["remediation"] in ("vbs", "vbs+chpe")}
    assert resumed["resumed"] is True
    assert remediable
    assert set(reboots) == remediable
    assert all(count == 1 for count in reboots.values()), "a machine restarted twice"
    outcomes = {m["resource"].lower(): m["outcome"] for m in resumed["machines"]}
    assert all(outcomes[k] == "succeeded" for k in remediable)
    assert in_flight & remediable  # the machines being restarted when the run was killed
    rebuilt = read_report(journal)  # and once resumed, the journal tells the whole run
    assert {m.resource.lower(): m.outcome.value for m in rebuilt.machines} == outcomes
    for machine in rebuilt.machines:
        if machine.resource.lower() in remediable:
            taken = [step.action for step in machine.steps]
            assert taken == ["remediate", "enable", "assess", "install"], taken
