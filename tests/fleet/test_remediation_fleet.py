"""Issue acceptance: a sample estate whose Arc servers include VBS-capable machines with VBS
off, machines without Secure Boot and Arm64 machines with CHPE on. ``run(remediate=True,
reboot="baseline")`` in a baseline window leaves every remediable machine enrolled and
patched, as the emulator's ground truth says, and every other one skipped with the reason and
the manual fix; without ``remediate=True`` nothing is run on any machine."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from azhotpatch.fleet.report import Outcome
from azhotpatch.testing import Emulator

IN_A_BASELINE_WINDOW = datetime(2027, 1, 20, 9, tzinfo=timezone.utc)
IN_A_HOTPATCH_MONTH = datetime(2027, 2, 20, 9, tzinfo=timezone.utc)
RUN_COMMANDS = ("arc.runCommand.put", "arc.runCommand.get")


def test_remediate_then_enroll_and_patch_a_thousand_machines(tmp_path: Path) -> None:
    with Emulator(fleet="sample:1000", time_scale=600, start=IN_A_BASELINE_WINDOW) as emu:
        truth = emu.truth()
        with emu.client() as hotpatch:
            plan = hotpatch.plan(
                subscriptions=sorted(emu.world.subscriptions), remediate=True, reboot="baseline"
            )
            report = hotpatch.run(plan, journal=tmp_path / "run.sqlite")
        records = {m.resource: emu.azure_record(m.resource) for m in report.machines}

    remediable = {k for k, t in truth.items() if t.remediable}
    blocked = {k for k, t in truth.items() if t.remediation and not t.remediable}
    kinds = Counter(truth[k].remediation for k in remediable)
    assert kinds["vbs"] > 0
    assert kinds["vbs+chpe"] > 0
    assert blocked
    assert {i.resource.lower() for i in plan.remediable} <= remediable | blocked
    assert "next baseline window" in plan.summary()
    for machine in report.machines:
        key = machine.resource.lower()
        assert machine.outcome.value == truth[key].remediated_run_outcome, machine
        if key in remediable:
            assert records[machine.resource].outcome() == ("succeeded", None)
            assert records[machine.resource].reboots == 1
            assert [s.action for s in machine.steps][:2] == ["remediate", "enable"]
        elif key in blocked:
            assert machine.outcome is Outcome.SKIPPED
            assert machine.code == truth[key].remediation
            assert machine.message is not None
            assert "Fix: no script can change this" in (machine.message)
            assert records[machine.resource].reboots == 0
        else:
            assert records[machine.resource].reboots == 0


def test_without_remediate_nothing_is_run_on_any_machine() -> None:
    with Emulator(fleet="sample:200@1/50%arc", time_scale=600, start=IN_A_BASELINE_WINDOW) as emu:
        with emu.client() as hotpatch:
            plan = hotpatch.plan(subscriptions=sorted(emu.world.subscriptions))
            report = hotpatch.run(plan)
        routes = Counter(r.route for r in emu.requests())
        truth = emu.truth()
    assert plan.remediable
    assert not plan.remediate
    assert "could remediate (remediate=True)" in plan.summary()
    assert [r for r in routes if r.startswith("arc.runCommand")] == []
    for machine in report.machines:
        assert machine.outcome.value == truth[machine.resource.lower()].full_run_outcome


def test_a_restart_outside_the_window_waits_for_a_later_run(tmp_path: Path) -> None:
    """In a hotpatch month the fixes are set and the restart waits; the same journal, in the
    baseline window, restarts each machine once and enrolls it."""
    journal = tmp_path / "run.sqlite"
    spec = "sample:200@1/50%arc"
    with Emulator(fleet=spec, time_scale=600, start=IN_A_HOTPATCH_MONTH) as emu:
        remediable = {k for k, t in emu.truth().items() if t.remediable}
        with emu.client() as hotpatch:
            first = hotpatch.run(
                subscriptions=sorted(emu.world.subscriptions),
                remediate=True,
                reboot="baseline",
                journal=journal,
            )
        waiting = {m.resource.lower(): m for m in first.machines if m.code == "RebootDeferred"}
        assert set(waiting) == remediable
        assert emu.reboots() == {}
        assert all("2027-04-13" in (m.message or "") for m in waiting.values())
        emu.advance(datetime(2027, 4, 14, tzinfo=timezone.utc) - IN_A_HOTPATCH_MONTH)
        with emu.client() as hotpatch:
            second = hotpatch.run(
                subscriptions=sorted(emu.world.subscriptions),
                remediate=True,
                reboot="baseline",
                journal=journal,
            )
        reboots = emu.reboots()
    done = {m.resource.lower(): m for m in second.machines}
    assert all(done[k].outcome is Outcome.SUCCEEDED for k in remediable)
    assert reboots == dict.fromkeys(remediable, 1)
