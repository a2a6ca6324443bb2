"""Remediation of one Arc machine through Run Command, against the emulator's hidden
hardware: measuring writes nothing, fixing writes only what is missing, a restart happens
only where allowed, and a second call changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from azhotpatch import Hotpatch
from azhotpatch.models import EnrollmentState, Rule
from azhotpatch.remediation import Fix, RebootState
from azhotpatch.testing import Emulator

from .conftest import SUB, arc_spec

IN_A_BASELINE_WINDOW = datetime(2027, 1, 20, 9, tzinfo=timezone.utc)
IN_A_HOTPATCH_MONTH = datetime(2027, 2, 20, 9, tzinfo=timezone.utc)


@pytest.fixture
def baseline() -> Iterator[Emulator]:
    with Emulator(seed=1, time_scale=2400, start=IN_A_BASELINE_WINDOW) as running:
        running.add_subscription(SUB, groups=["rg"])
        yield running


def scripts_run(emu: Emulator, machine: str) -> list[str]:
    """The machine's run commands, oldest last run first (their names say which script)."""
    commands = emu.machine(machine).run_commands.values()
    return [c.name for c in sorted(commands, key=lambda c: c.created)]


def puts(emu: Emulator) -> int:
    return sum(r.route == "arc.runCommand.put" for r in emu.requests())


def test_measuring_writes_nothing_to_the_machine(baseline: Emulator) -> None:
    machine = baseline.add_arc(arc_spec(vbs_running=False))
    with baseline.client() as hotpatch:
        found = hotpatch.remediate(machine)
    assert found.fixes == (Fix.ENABLE_VBS,)
    assert not found.applied
    assert found.reboot is RebootState.REQUIRED
    assert not found.ready
    assert found.before is not None
    assert found.before.vbs_status == 0
    assert scripts_run(baseline, machine) == ["azhotpatch-measure"]
    assert puts(baseline) == 1
    hardware = baseline.machine(machine).hardware
    assert not hardware.vbs_configured
    assert hardware.boots == []


def test_fix_without_a_restart_sets_the_key_and_waits(baseline: Emulator) -> None:
    machine = baseline.add_arc(arc_spec(vbs_running=False))
    with baseline.client() as hotpatch:
        found = hotpatch.remediate(machine, fix=True)
    assert found.applied
    assert found.reboot is RebootState.REQUIRED
    assert not found.ready
    assert scripts_run(baseline, machine) == ["azhotpatch-measure", "azhotpatch-enable-vbs"]
    emulated = baseline.machine(machine)
    assert emulated.hardware.vbs_configured
    assert not emulated.vbs_running
    assert baseline.azure_record(machine).reboots == 0


def test_fix_and_restart_then_enroll_and_nothing_more_on_a_second_call(
    baseline: Emulator,
) -> None:
    machine = baseline.add_arc(arc_spec(vbs_running=False))
    with baseline.client() as hotpatch:
        done = hotpatch.remediate(machine, fix=True, reboot="now")
        assert done.ready
        assert done.reboot is RebootState.DONE
        assert done.after is not None
        assert done.after.vbs_running
        enrolled = hotpatch.enable(machine)
        again = hotpatch.remediate(machine, fix=True, reboot="now")
    assert enrolled.after is EnrollmentState.ENROLLED
    assert again.ready
    assert again.fixes == ()
    assert again.reboot is RebootState.NOT_NEEDED
    run = sorted(scripts_run(baseline, machine))
    assert run[:2] == ["azhotpatch-enable-vbs", "azhotpatch-measure"]
    assert len(run) == 3
    assert run[2].startswith("azhotpatch-restart-")
    assert baseline.azure_record(machine).reboots == 1
    # measure, fix, restart, measure until back (at least once); then the second call: one
    # measurement, nothing else
    assert baseline.machine(machine).run_commands["azhotpatch-enable-vbs"].output == "changed"


def test_arm64_gets_chpe_off_too(baseline: Emulator) -> None:
    machine = baseline.add_arc(arc_spec(vbs_running=False, architecture="ARM64", chpe_on=True))
    with baseline.client() as hotpatch:
        done = hotpatch.remediate(machine, fix=True, reboot="baseline")
        enrolled = hotpatch.enable(machine)
    assert done.fixes == (Fix.ENABLE_VBS, Fix.DISABLE_CHPE)
    assert done.ready
    assert baseline.machine(machine).hardware.chpe_off
    assert enrolled.after is EnrollmentState.ENROLLED


def test_no_secure_boot_is_a_reason_no_script_fixes(baseline: Emulator) -> None:
    machine = baseline.add_arc(arc_spec(vbs_running=False, secure_boot=False))
    with baseline.client() as hotpatch:
        found = hotpatch.remediate(machine, fix=True, reboot="now")
    assert [r.rule for r in found.blockers] == [Rule.ARC_NO_SECURE_BOOT]
    assert "Secure Boot" in str(found.blockers[0].fix)
    assert not found.ready
    assert scripts_run(baseline, machine) == ["azhotpatch-measure"]  # nothing written
    assert baseline.azure_record(machine).reboots == 0


def test_a_restart_outside_the_baseline_window_is_deferred_to_it() -> None:
    with Emulator(seed=1, time_scale=2400, start=IN_A_HOTPATCH_MONTH) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        machine = emu.add_arc(arc_spec(vbs_running=False))
        with emu.client() as hotpatch:
            found = hotpatch.remediate(machine, fix=True, reboot="baseline")
        assert found.reboot is RebootState.DEFERRED
        assert found.applied
        assert not found.ready
        assert found.reboot_after == datetime(2027, 4, 13, tzinfo=timezone.utc)
        assert emu.azure_record(machine).reboots == 0


def test_a_disconnected_machine_is_not_touched(hotpatch: Hotpatch, emu: Emulator) -> None:
    machine = emu.add_arc(arc_spec(status="Disconnected", vbs_running=False))
    found = hotpatch.remediate(machine, fix=True, reboot="now")
    assert [r.rule for r in found.blockers] == [Rule.ARC_DISCONNECTED]
    assert puts(emu) == 0


def test_a_vm_has_nothing_to_remediate(hotpatch: Hotpatch, emu: Emulator) -> None:
    from .conftest import vm_spec

    vm = emu.add_vm(vm_spec())
    found = hotpatch.remediate(vm, fix=True, reboot="now")
    assert found.ready
    assert found.fixes == ()
    assert found.before is None
    assert puts(emu) == 0
