"""Issue acceptance for Update Manager schedules, against the emulator."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from azhotpatch.cli import app
from azhotpatch.errors import InvalidArgumentError, InvalidResourceIdError
from azhotpatch.fleet.report import Outcome
from azhotpatch.models import OperationStatus
from azhotpatch.testing import Durations, Emulator, FleetSpec

NOV_22 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
SCHEDULE_RULES = {
    "ScheduleHotpatchVm",
    "ScheduleOrchestration",
    "ScheduleNotHotpatched",
    "ScheduleNotWindows",
    "ArcDisconnected",
    "VmAgentNotProvisioned",
}


def _group(emu: Emulator) -> str:
    sub = sorted(emu.world.subscriptions)[0]
    group = sorted(emu.world.subscriptions[sub].group_names.values())[0]
    return f"/subscriptions/{sub}/resourceGroups/{group}"


def _writes(emu: Emulator, since: int) -> list[str]:
    """Every request after ``since`` that could change something (Resource Graph reads
    are POSTs but change nothing)."""
    return [
        f"{r.method} {r.route}"
        for r in emu.requests()[since:]
        if r.method in ("PUT", "PATCH", "DELETE")
        or (r.method == "POST" and r.route != "graph.resources")
    ]


def _assigned(emu: Emulator) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for assignment in emu.services.maintenance.assignments.values():
        if assignment.machine:
            found.setdefault(assignment.machine, set()).add(assignment.configuration)
    return found


def test_a_thousand_machines_are_scheduled_once_and_their_runs_reported() -> None:
    spec = FleetSpec(vms=750, arc=250, subscriptions=4, seed=5)
    durations = Durations(install=600.0)
    with Emulator(fleet=spec, seed=5, time_scale=1200, start=NOV_22, durations=durations) as emu:
        subs = sorted(emu.world.subscriptions)
        with emu.client() as client:
            report = client.schedule(
                subscriptions=subs, resource_group=_group(emu), location="westeurope"
            )
            assert len(report.machines) == 1000
            assert len(emu.services.maintenance.configurations) == 3
            assigned = _assigned(emu)
            # Exactly the enrolled, connected Windows Arc machines fit a split schedule: a
            # Hotpatch VM cannot follow one, and other machines would miss hotpatch months.
            fit = {
                m.key
                for m in emu.world.arcs.values()
                if m.hotpatch_status == "Enabled"
                and m.status == "Connected"
                and m.os_type.lower() == "windows"
            }
            succeeded = {
                m.resource.lower() for m in report.machines if m.outcome is Outcome.SUCCEEDED
            }
            assert succeeded == fit
            assert fit
            assert set(assigned) == fit
            assert all(len(configs) == 3 for configs in assigned.values())
            for machine in report.machines:
                if machine.outcome is Outcome.SKIPPED:
                    assert machine.code in SCHEDULE_RULES
                    assert "Fix:" in (machine.message or "")
            assert report.counts["failed"] == 0

            mark = len(emu.requests())
            again = client.schedule(
                subscriptions=subs, resource_group=_group(emu), location="westeurope"
            )
            assert _writes(emu, mark) == []
            assert again.outcomes() == report.outcomes()
            assert {c["change"] for c in again.extra["configurations"]} == {"unchanged"}
            assert all(
                "already assigned" in (m.message or "")
                for m in again.machines
                if m.outcome is Outcome.SUCCEEDED
            )

            # Past December's Patch Tuesday (the 8th) + 1 day, 03:00 UTC, and the install.
            emu.advance(datetime(2026, 12, 9, 4, 0, tzinfo=timezone.utc) - emu.clock.now())
            status = client.scheduled_status(subscriptions=subs)
        by_name = {c.name: c for c in status.configurations}
        assert by_name["azhotpatch-hotpatch-2"].last_run == datetime(
            2026, 12, 9, 3, 0, tzinfo=timezone.utc
        )
        assert by_name["azhotpatch-baseline"].last_run is None
        assert by_name["azhotpatch-baseline"].next_run == datetime(
            2027, 1, 13, 3, 0, tzinfo=timezone.utc
        )
        runs = {m.resource.lower(): m.last_run for m in status.machines if m.last_run is not None}
        assert set(runs) == fit
        assert {r.status for r in runs.values()} == {OperationStatus.SUCCEEDED}
        # The hotpatch-month window never reboots.
        assert all(not r.rebooted for r in runs.values())

        result = CliRunner().invoke(
            app,
            [
                "--emulator-url", emu.endpoint, "--ca-bundle", emu.ca_path, "--output", "json",
                "status", "--scheduled", *[arg for sub in subs for arg in ("-s", sub)],
            ],
        )  # fmt: skip
    assert result.exit_code == 1, result.output  # 1: some machines are not scheduled
    shown = json.loads(result.stdout)
    cli_runs = {m["resource"].lower(): m["last_run"] for m in shown["machines"] if m["last_run"]}
    assert set(cli_runs) == fit
    assert {r["status"] for r in cli_runs.values()} == {"Succeeded"}


def test_conflicts_are_fixed_or_assigned_only_when_asked() -> None:
    spec = FleetSpec(vms=120, arc=0, subscriptions=1, seed=3)
    with Emulator(fleet=spec, seed=3, time_scale=1200, start=NOV_22) as emu:
        subs = sorted(emu.world.subscriptions)
        with emu.client() as client:
            fixed = client.schedule(
                subscriptions=subs, resource_group=_group(emu), location="westeurope",
                mode="single", conflicts="fix",
            )  # fmt: skip
            hotpatch_vm = next(m.resource for m in fixed.machines if m.code == "ScheduleHotpatchVm")
            forced = client.schedule(
                [hotpatch_vm], resource_group=_group(emu), location="westeurope",
                mode="single", conflicts="assign",
            )  # fmt: skip
            emu.advance(datetime(2026, 12, 9, 4, 0, tzinfo=timezone.utc) - emu.clock.now())
            status = client.scheduled_status(subscriptions=subs)
        changed = [
            m
            for m in fixed.machines
            if m.steps and m.steps[0].detail and m.code == "ScheduleOrchestration"
        ]
        assert changed
        health = {
            m.resource.lower(): emu.machine(m.resource).power == "running"
            and emu.machine(m.resource).agent_ready
            for m in changed
        }
        for machine in changed:
            settings = emu.machine(machine.resource).patch_settings
            assert settings["patchMode"] == "AutomaticByPlatform"
            assert (
                settings["automaticByPlatformSettings"]["bypassPlatformSafetyChecksOnUserSchedule"]
                is True
            )
        assert forced.machines[0].outcome is Outcome.SUCCEEDED
        assert "assigned despite" in (forced.machines[0].message or "")
    runs = {m.resource.lower(): m.last_run for m in status.machines if m.last_run is not None}
    healthy = [m for m in changed if health[m.resource.lower()]]
    assert healthy
    for machine in changed:
        expected = OperationStatus.SUCCEEDED if machine in healthy else OperationStatus.FAILED
        assert runs[machine.resource.lower()].status is expected
    # Microsoft: assigned with the safety-check flag false, the schedule does not run.
    refused = runs[hotpatch_vm.lower()]
    assert refused.status is OperationStatus.FAILED
    assert refused.error is not None
    assert refused.error.code == "ScheduledPatchingPrerequisitesNotMet"


def test_dynamic_scopes_cover_a_subscription_with_one_write_per_configuration() -> None:
    spec = FleetSpec(vms=0, arc=60, subscriptions=2, mix="clean", seed=2)
    with Emulator(fleet=spec, seed=2, time_scale=1200, start=NOV_22) as emu:
        subs = sorted(emu.world.subscriptions)
        with emu.client() as client:
            mark = len(emu.requests())
            report = client.schedule(
                subscriptions=subs, resource_group=_group(emu), location="westeurope",
                mode="single", assign_by="dynamic",
            )  # fmt: skip
            assert sorted(_writes(emu, mark)) == ["PUT cas.put", "PUT cas.put", "PUT mc.put"]
            assert report.counts["succeeded"] == 60
            mark = len(emu.requests())
            client.schedule(
                subscriptions=subs, resource_group=_group(emu), location="westeurope",
                mode="single", assign_by="dynamic",
            )  # fmt: skip
            assert _writes(emu, mark) == []
            emu.advance(datetime(2026, 12, 9, 4, 0, tzinfo=timezone.utc) - emu.clock.now())
            status = client.scheduled_status(subscriptions=subs)
    assert all(m.configurations == ("azhotpatch-monthly",) for m in status.machines)
    assert (
        sum(
            1
            for m in status.machines
            if m.last_run and m.last_run.status is OperationStatus.SUCCEEDED
        )
        == 60
    )


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"time_zone": "Nowhere Standard Time"}, InvalidArgumentError),
        ({"resource_group": "rg-without-subscription"}, InvalidResourceIdError),
        ({"location": "west europe!"}, InvalidArgumentError),
        ({"conflicts": "ignore"}, InvalidArgumentError),
        ({"hotpatch_window": timedelta(hours=5)}, InvalidArgumentError),
    ],
)
def test_bad_input_sends_nothing(arguments: dict, error: type) -> None:
    with Emulator(fleet="sample:10", time_scale=600) as emu:
        options = {"resource_group": _group(emu), "location": "westeurope", **arguments}
        with emu.client() as client, pytest.raises(error):
            client.schedule(subscriptions=sorted(emu.world.subscriptions), **options)
        assert emu.requests() == []


def test_a_dry_run_writes_nothing_and_says_what_it_would_do() -> None:
    with Emulator(fleet="sample:80", seed=6, time_scale=1200, start=NOV_22) as emu:
        subs = sorted(emu.world.subscriptions)
        options = {"resource_group": _group(emu), "location": "westeurope", "mode": "single"}
        with emu.client() as client:
            dry = client.schedule(subscriptions=subs, conflicts="fix", dry_run=True, **options)
            assert _writes(emu, 0) == []
            assert {c["change"] for c in dry.extra["configurations"]} == {"created"}
            real = client.schedule(subscriptions=subs, conflicts="fix", **options)
    assert dry.outcomes() == real.outcomes()
    messages = {m.message for m in dry.machines if m.outcome is Outcome.SUCCEEDED}
    assert all(m.startswith("would ") for m in messages if m)
