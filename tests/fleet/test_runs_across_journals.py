"""Issue acceptance: two `azhotpatch run` processes over one scope, each with its own journal
(a scheduled pipeline and a colleague's manual run), started together, one after the other
has ended, and one half way through the other. Azure's own record is the guard: no machine
is installed twice, every machine ends as the emulator's ground truth says in both reports,
and the machines one run found patched by the other carry ``PatchedByAnotherRun`` and the
other's operation id, which is the one install Azure received for them.

One emulator serves both processes. Resource Graph trails the machines by a minute (as
Azure's does, by up to minutes), so a run's read can miss the other's install that just
started: Azure's 409 is then what stops the second install. Installs last 15 Azure minutes
(Windows installs take minutes; the read before an install and the request leaving are
seconds apart in Azure, and must stay so at this time scale for the test to mean anything).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from azhotpatch.testing import Durations, Emulator, FleetSpec
from azhotpatch.testing.estate import MachineTruth

SPEC = FleetSpec(vms=14, arc=6, subscriptions=2, seed=26)
TIME_SCALE = 300.0
DURATIONS = Durations(install=900.0)
# after November 2026's Patch Tuesday (the 10th) and well before December's
START = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)
ANOTHER = "PatchedByAnotherRun"
# What an Arc machine with VBS off answers once enrolled (ActionRequired): a run that starts
# after another has enrolled it sees that in the inventory and skips it
_FOUND_BY_ENROLLING = "ArcVbsOff"


def _command(emu: Emulator, journal: Path, *extra: str) -> list[str]:
    command = [
        sys.executable, "-m", "azhotpatch", "--emulator-url", emu.endpoint,
        "--ca-bundle", emu.ca_path, "--output", "json", "run", "--journal", str(journal),
        *extra,
    ]  # fmt: skip
    for subscription in sorted(emu.world.subscriptions):
        command += ["--subscription", subscription]
    return command


def _start(emu: Emulator, journal: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _command(emu, journal, *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _report(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=240)
    assert process.returncode in (0, 1, 2), err
    assert "Traceback" not in err, err
    report: dict[str, Any] = json.loads(out)
    assert report["exit_code"] == process.returncode
    return report


def _installs_sent(emu: Emulator) -> int:
    return sum(len(v) for v in emu.install_history().values())


def _judge(
    emu: Emulator, reports: Sequence[dict[str, Any]], *, later: Sequence[bool | None]
) -> None:
    """Every machine in every report as the ground truth says; each install Azure received
    is the one both reports name. ``later`` says which runs started after the other had
    enrolled the machines (they see what enrolling found; None: some of them)."""
    history = emu.install_history()
    assert [rid for rid, sent in history.items() if len(sent) > 1] == []  # 0 repeat installs
    truth = emu.truth()
    by_machine = [{m["resource"].lower(): m for m in r["machines"]} for r in reports]
    theirs = 0
    for rid, expected in truth.items():
        rows = [machines[rid] for machines in by_machine]
        for row, after in zip(rows, later, strict=True):
            assert (row["outcome"], row["code"]) in _allowed(expected, after), (rid, row)
        sent = history.get(rid, [])
        installing = [_install_step(row) for row in rows]
        reached = [step for step in installing if step is not None]
        if not sent:
            assert reached == [], (rid, reached)
            continue
        operation = sent[0].operation_id
        assert [s["detail"]["operation"] for s in reached] == [operation] * len(reached), rid
        assert sorted(s["code"] == ANOTHER for s in reached) == [False] + [True] * (
            len(reached) - 1
        ), (rid, reached)  # one run installed; the other named that install
        for step in reached:
            if step["code"] == ANOTHER:
                assert step["detail"]["by"] == "User"
                assert operation in step["message"]
                theirs += 1
    assert theirs > 0


def _allowed(truth: MachineTruth, later: bool | None) -> set[tuple[str, str | None]]:
    outcome = truth.full_run_outcome
    if outcome == "skipped":
        return {("skipped", code) for code in truth.visible_blockers}
    if outcome == "succeeded":  # by its own install, or another run's (named)
        return {("succeeded", None), ("succeeded", ANOTHER)}
    if truth.enable == "failed":  # VBS off, which the machine reports once enrolled
        if later is None:
            return {("skipped", _FOUND_BY_ENROLLING), ("failed", _FOUND_BY_ENROLLING)}
        return {("skipped" if later else "failed", _FOUND_BY_ENROLLING)}
    return {("failed", code) for code in truth.blockers - truth.visible_blockers}


def _install_step(machine: dict[str, Any]) -> dict[str, Any] | None:
    return next((s for s in machine["steps"] if s["action"] == "install"), None)


def _emulator() -> Emulator:
    return Emulator(
        fleet=SPEC,
        seed=SPEC.seed,
        time_scale=TIME_SCALE,
        start=START,
        durations=DURATIONS,
        graph_lag=60.0,
        record_requests=False,
    )


def test_two_runs_started_together_install_each_machine_once(tmp_path: Path) -> None:
    with _emulator() as emu:
        first = _start(emu, tmp_path / "first.sqlite")
        second = _start(emu, tmp_path / "second.sqlite")
        reports = [_report(first), _report(second)]
        _judge(emu, reports, later=[False, False])


def test_a_run_after_another_ended_installs_nothing_again(tmp_path: Path) -> None:
    with _emulator() as emu:
        first = _report(_start(emu, tmp_path / "first.sqlite"))
        sent = _installs_sent(emu)
        second = _report(_start(emu, tmp_path / "second.sqlite"))
        assert _installs_sent(emu) == sent
        installed = [m for m in second["machines"] if _install_step(m) is not None]
        assert installed
        assert all(_install_step(m)["code"] == ANOTHER for m in installed)  # type: ignore[index]
        _judge(emu, [first, second], later=[False, True])


def test_a_run_started_half_way_through_another(tmp_path: Path) -> None:
    """The second run starts once the first has sent half of its installs: it finds some of
    them ended and waits for the others, which are still running when it gets there."""
    with _emulator() as emu:
        installable = sum(1 for t in emu.truth().values() if t.full_run_outcome != "skipped")
        first = _start(emu, tmp_path / "first.sqlite")
        deadline = time.monotonic() + 120
        while _installs_sent(emu) < installable // 2:
            assert first.poll() is None, "the first run ended before half its installs"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        second = _start(emu, tmp_path / "second.sqlite")
        reports = [_report(first), _report(second)]
        _judge(emu, reports, later=[False, None])
