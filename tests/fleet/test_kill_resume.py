"""Issue acceptance: kill -9 a fleet run at a random point, rerun it with the same journal
(retrying what failed, too): it finishes, nothing is installed twice, and the report matches
a run never killed."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from azhotpatch.fleet._history import read_report
from azhotpatch.testing import emulator_process

FLEET = "sample:240@3"
SEED = 13
TIME_SCALE = 300.0


def command(info: dict[str, Any], journal: Path | None, *extra: str) -> list[str]:
    arguments = [
        sys.executable,
        "-m",
        "azhotpatch",
        "--emulator-url",
        info["endpoint"],
        "--ca-bundle",
        info["ca_path"],
        "--output",
        "json",
        "run",
    ]
    for subscription in info["subscriptions"]:
        arguments += ["--subscription", subscription]
    if journal is not None:
        arguments += ["--journal", str(journal)]
    return [*arguments, *extra]


def finished_report(arguments: list[str]) -> dict[str, Any]:
    done = subprocess.run(arguments, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode in (0, 1, 2), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def journal_progress(journal: Path) -> tuple[int, int]:
    """(steps finished, installs sent and not yet finished)."""
    if not journal.exists():
        return 0, 0
    try:
        with sqlite3.connect(journal, timeout=1) as db:
            finished = db.execute("SELECT count(*) FROM step WHERE outcome IS NOT NULL").fetchone()[
                0
            ]
            in_flight = db.execute(
                "SELECT count(*) FROM step WHERE action = 'install' AND intent_at IS NOT NULL "
                "AND outcome IS NULL"
            ).fetchone()[0]
        return int(finished), int(in_flight)
    except sqlite3.OperationalError:
        return 0, 0


def outcomes(report: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {m["resource"].lower(): (m["outcome"], m["code"]) for m in report["machines"]}


def test_kill_minus_nine_then_resume(tmp_path: Path) -> None:
    journal = tmp_path / "run.sqlite"
    kill_after = random.Random(SEED).randint(60, 240)  # finished steps; a "random point"
    # each emulator in its own process, so it outlives the client we kill
    killed_emulator = emulator_process(
        FLEET, ca_path=tmp_path / "killed-ca.pem", seed=SEED, time_scale=TIME_SCALE
    )
    calm_emulator = emulator_process(
        FLEET, ca_path=tmp_path / "calm-ca.pem", seed=SEED, time_scale=TIME_SCALE
    )
    with killed_emulator as killed, calm_emulator as calm:
        first = subprocess.Popen(
            command(killed, journal), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            finished, installing = journal_progress(journal)
            if finished >= kill_after and installing > 0:
                break
            assert first.poll() is None, "the run ended before it could be killed"
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=15)
        finished, installing = journal_progress(journal)
        assert finished >= kill_after
        assert installing > 0  # installs were in flight at the moment of the kill
        crashed = read_report(journal)  # the report of a crashed run, from its journal
        assert crashed.unfinished  # the machines cut short, named
        assert len(crashed.machines) + len(crashed.unfinished) == 240

        # the resume also retries what failed: neither may send an install a second time
        resumed = finished_report(command(killed, journal, "--retry-failed"))
        reference = finished_report(command(calm, None))
        installs = requests.get(
            f"{killed['endpoint']}/_emulator/installs", verify=killed["ca_path"], timeout=10
        ).json()

    assert resumed["resumed"] is True
    rebuilt = read_report(journal)  # both attempts, every machine concluded
    assert rebuilt.unfinished == ()
    assert rebuilt.outcomes() == outcomes(resumed)
    assert rebuilt.timeline is not None
    assert len(rebuilt.timeline.attempts) == 2  # the killed one, and its resumption
    assert len(resumed["machines"]) == len(reference["machines"]) == 240
    assert outcomes(resumed) == outcomes(reference)
    assert all(len(history) == 1 for history in installs.values()), "an install ran twice"
    succeeded_installs = sum(
        1
        for m in resumed["machines"]
        if any(s["action"] == "install" and s["outcome"] == "succeeded" for s in m["steps"])
    )
    assert len(installs) == succeeded_installs
