"""The guard across runs through the API: an install the platform's schedule started, one
another client is running when Resource Graph does not show it yet (Azure's 409 is then the
guard), ``install_again``, an out-of-band release, and an Arc license profile another run is
writing. Judged against the emulator's own record (its patch runs, the installPatches it
accepted, the requests it served)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azhotpatch.cli import app
from azhotpatch.errors import InvalidArgumentError, JournalError
from azhotpatch.fleet.inventory import InventoryFilter
from azhotpatch.fleet.journal import RunIdentity
from azhotpatch.fleet.report import Outcome, Report
from azhotpatch.limits import Bucket, ThrottleLimits
from azhotpatch.models import Action, InstallOptions
from azhotpatch.testing import ArcSpec, Durations, Emulator, Limits, VmSpec

SUB = "5a1e0b9c-26aa-4c2e-9a51-0d6c4b0f2626"
# the day after October 2026's Patch Tuesday (the 13th), the hour before its window
OCT_14 = datetime(2026, 10, 14, 2, 0, tzinfo=timezone.utc)


def _enrolled_arc(emu: Emulator, name: str = "arc-1") -> str:
    return emu.add_arc(
        ArcSpec(
            SUB,
            "rg",
            name,
            "westeurope",
            enable_hotpatching=True,
            hotpatch_status="Enabled",
            licensed=True,
        )
    )


def _platform_installs(emu: Emulator, rid: str) -> list[str]:
    """The operation ids of the installs a maintenance schedule's window started."""
    return [
        run.operation.id
        for run in emu.world.patch_runs.values()
        if run.machine == rid.lower() and run.kind == "installPatches" and run.maintenance_run_id
    ]


def _after_a_scheduled_window(emu: Emulator, rid: str) -> str:
    """Put the machine on a Hotpatch schedule and let its October window (03:00 UTC) pass:
    the platform installs. Returns that install's operation id."""
    with emu.client() as client:
        client.schedule(
            [rid], resource_group=f"/subscriptions/{SUB}/resourceGroups/rg", location="westeurope"
        )
    emu.advance(timedelta(hours=2))
    (operation,) = _platform_installs(emu, rid)
    return operation


def test_a_machine_the_platform_patched_for_this_release_gets_no_second_install() -> None:
    with Emulator(seed=4, time_scale=600, start=OCT_14) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        arc = _enrolled_arc(emu)
        platform = _after_a_scheduled_window(emu, arc)
        mark = len(emu.requests())
        with emu.client() as client:
            report = client.run(machines=[arc], actions=["install"])
            single = client.install(arc)
        sent = [r.route for r in emu.requests()[mark:] if r.route.endswith("installPatches")]
    (machine,) = report.machines
    assert (machine.outcome, machine.code) == (Outcome.SUCCEEDED, "PatchedByPlatform")
    (step,) = machine.steps
    assert step.detail is not None
    assert step.detail["operation"] == platform
    assert step.detail["by"] == "Platform"
    assert step.detail["maintenance_run"]
    assert platform in (machine.message or "")
    assert "startedBy Platform" in (machine.message or "")
    assert report.exit_code == 0  # patched, as a scheduled run wants it
    assert single.by is not None
    assert single.by.by_platform
    assert single.activity_id == platform
    assert sent == []
    assert emu.install_history() == {}


def test_install_again_installs_where_the_platform_already_did() -> None:
    with Emulator(seed=4, time_scale=600, start=OCT_14) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        arc = _enrolled_arc(emu)
        _after_a_scheduled_window(emu, arc)
        with emu.client() as client:
            report = client.run(machines=[arc], actions=["install"], install_again=True)
        history = emu.install_history()
    (machine,) = report.machines
    assert (machine.outcome, machine.code) == (Outcome.SUCCEEDED, None)
    (sent,) = history[arc.lower()]
    assert machine.steps[0].detail is not None
    assert machine.steps[0].detail["operation"] == sent.operation_id


def test_the_command_line_says_whose_install_it_was_and_installs_again_when_asked() -> None:
    with Emulator(seed=4, time_scale=600, start=OCT_14) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        arc = _enrolled_arc(emu)
        platform = _after_a_scheduled_window(emu, arc)
        target = ["--emulator-url", emu.endpoint, "--ca-bundle", emu.ca_path]
        runner = CliRunner()
        shown = runner.invoke(app, [*target, "install", arc])
        assert emu.install_history() == {}
        as_json = runner.invoke(app, [*target, "--output", "json", "install", arc])
        again = runner.invoke(app, [*target, "install", arc, "--install-again"])
        history = emu.install_history()
    assert shown.exit_code == 0, shown.output
    assert "not sent: this release's install was started by the platform" in shown.output
    assert platform in shown.output
    assert json.loads(as_json.stdout)["by"]["activity_id"] == platform
    assert again.exit_code == 0, again.output
    assert "not sent" not in again.output
    assert len(history[arc.lower()]) == 1


def test_an_out_of_band_release_after_the_other_install_is_installed() -> None:
    """The platform installed on the 14th. An emergency release on the 16th is not what it
    took: named with ``released``, the run installs it; named on the 14th, it does not."""
    with Emulator(seed=4, time_scale=600, start=OCT_14) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        arc = _enrolled_arc(emu)
        _after_a_scheduled_window(emu, arc)
        emu.advance(timedelta(days=3))
        with emu.client() as client:
            same = client.run(machines=[arc], actions=["install"], released=date(2026, 10, 14))
            assert emu.install_history() == {}
            newer = client.run(machines=[arc], actions=["install"], released="2026-10-16")
        history = emu.install_history()
    assert same.machines[0].code == "PatchedByPlatform"
    assert (newer.machines[0].outcome, newer.machines[0].code) == (Outcome.SUCCEEDED, None)
    assert len(history[arc.lower()]) == 1


@pytest.mark.parametrize(
    ("kind", "lag", "install"), [("vm", 3000.0, 600.0), ("arc", 200.0, 1200.0)]
)
def test_an_install_resource_graph_does_not_show_yet_is_not_sent_again(
    kind: str, lag: float, install: float
) -> None:
    """Another client's install started a moment ago and Resource Graph trails Azure. On a
    VM, whose install Resource Graph shows only after most of an hour here, the run's read
    finds nothing and it sends: Azure refuses (409), the VM's instance view shows the
    running install, and the run attaches to it. An Arc machine has no record but Resource
    Graph: there the run waits out the 409 until the rows show the install (minutes
    behind, shorter than the install), or finds it in them at once; either way no second
    install is sent. (An install shorter than Resource Graph's lag on an Arc machine is the
    gap `azhotpatch._operations.install_guard` documents.)"""
    durations = Durations(install=install)
    with Emulator(seed=5, time_scale=600, start=OCT_14, durations=durations) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        if kind == "vm":
            rid = emu.add_vm(VmSpec(SUB, "rg", "vm-1", "westeurope", enable_hotpatching=True))
        else:
            rid = _enrolled_arc(emu)
        emu.world.graph_lag = lag

        async def both() -> Report:
            async with emu.async_client() as other, emu.async_client() as ours:
                pending = await other.install(rid, wait=False)
                report = await ours.run(machines=[rid], actions=["install"])
                await pending.result()
                return report

        report = asyncio.run(both())
        history = emu.install_history()
        refused = [
            r for r in emu.requests() if r.route.endswith("installPatches") and r.status == 409
        ]
    (theirs,) = history[rid.lower()]  # one install: the other client's
    (machine,) = report.machines
    assert (machine.outcome, machine.code) == (Outcome.SUCCEEDED, "PatchedByAnotherRun")
    assert machine.steps[0].detail is not None
    assert machine.steps[0].detail["operation"] == theirs.operation_id
    if kind == "vm":
        assert refused  # Azure's answer was the guard


def test_a_license_profile_another_run_is_enabling_is_waited_for_not_written_again() -> None:
    """Another run's license write is on its way (the feature reads Enabling): the run
    waits for it and writes no license of its own, and the machine ends enrolled."""
    durations = Durations(license_profile=240.0)
    with Emulator(seed=6, time_scale=300, start=OCT_14, durations=durations) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        arc = emu.add_arc(ArcSpec(SUB, "rg", "arc-1", "westeurope"))
        with emu.client() as client:
            plan = client.plan(machines=[arc], actions=["enable"])
            machine = emu.machine(arc)
            with emu.dispatcher.lock:  # the other run's PUT, a moment before ours
                emu.services.hybrid.put_license(
                    machine,
                    {
                        "location": "westeurope",
                        "properties": {
                            "productProfile": {
                                "productType": "WindowsServer",
                                "productFeatures": [
                                    {"name": "Hotpatch", "subscriptionStatus": "Enabled"}
                                ],
                            }
                        },
                    },
                )
            mark = len(emu.requests())
            report = client.run(plan)
        ours = [r.route for r in emu.requests()[mark:] if r.method in ("PUT", "PATCH")]
        record = emu.azure_record(arc)
    (result,) = report.machines
    assert result.outcome is Outcome.SUCCEEDED, result.message
    assert "arc.license.put" not in ours
    assert "arc.license.patch" not in ours
    assert record.enrolled


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"install_again": "yes"}, "install_again"),
        ({"released": "2026-13-01"}, "released"),
        ({"released": datetime(2026, 10, 1, tzinfo=timezone.utc)}, "released"),
        ({"released": date.today() + timedelta(days=30)}, "released"),
    ],
)
def test_bad_guard_options_are_refused_before_any_request(
    arguments: dict[str, object], argument: str
) -> None:
    with Emulator(seed=1) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        with emu.client() as client:
            with pytest.raises(InvalidArgumentError) as raised:
                client.run(subscriptions=[SUB], **arguments)
            with pytest.raises(InvalidArgumentError):
                client.install(
                    f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/x",
                    **arguments,
                )  # type: ignore[arg-type]
        assert emu.requests() == []
    assert raised.value.argument == argument


def test_the_options_are_part_of_a_journals_identity_only_when_set(tmp_path: Path) -> None:
    """A journal belongs to what its run was asked, ``install_again`` and ``released``
    included; a run without them keeps the fingerprint runs had before they existed."""
    scope = InventoryFilter.build(subscriptions=[SUB])
    plain = RunIdentity.of(scope, (Action.INSTALL,), InstallOptions())
    before = {
        "scope": dict(scope.describe()),
        "actions": ["install"],
        "install": InstallOptions().request_body(),
    }
    canonical = json.dumps(before, sort_keys=True, separators=(",", ":"))
    assert plain.fingerprint == hashlib.sha256(canonical.encode()).hexdigest()
    again = RunIdentity.of(scope, (Action.INSTALL,), InstallOptions(), install_again=True)
    released = RunIdentity.of(
        scope, (Action.INSTALL,), InstallOptions(), released=date(2026, 10, 16)
    )
    assert len({plain.fingerprint, again.fingerprint, released.fingerprint}) == 3
    with Emulator(seed=1, time_scale=600, start=OCT_14) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        emu.add_vm(VmSpec(SUB, "rg", "vm-1", "westeurope", enable_hotpatching=True))
        journal = tmp_path / "run.sqlite"
        with emu.client() as client:
            client.run(subscriptions=[SUB], actions=["install"], journal=journal)
            mark = len(emu.requests())
            with pytest.raises(JournalError, match="install_again"):
                client.run(
                    subscriptions=[SUB], actions=["install"], journal=journal, install_again=True
                )
            assert len(emu.requests()) == mark  # refused before any request


def test_an_install_that_appeared_while_ours_waited_to_be_sent_is_not_repeated() -> None:
    """The guard's read finds nothing, and our install then waits most of an hour to be sent
    (the subscription's writes are spent: Azure's 429 says when they refill). Meanwhile a
    person, whose writes are counted apart, installs on the machine, and that install ends.
    When ours is let go, the decision is that old: the record is read again, and ours is
    not sent; the person's install is the machine's."""
    limits = Limits(buckets=ThrottleLimits(arm_writes=Bucket(1, 1 / 40)))  # a write in 40 min
    with Emulator(seed=4, time_scale=600, start=OCT_14, limits=limits) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        arc = _enrolled_arc(emu)

        def refused() -> list[int]:
            return [r.status for r in emu.requests() if r.route == "arc.installPatches"]

        async def both() -> Report:
            async with (
                emu.async_client() as ours,
                emu.async_client(credential=emu.async_credential("someone-else")) as person,
            ):
                run = asyncio.create_task(ours.run(machines=[arc], actions=["assess", "install"]))
                # ours read the record and was refused (the emulator's log, another thread)
                while 429 not in refused():  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                await person.install(arc)
                return await run

        report = asyncio.run(both())
        posts = [(r.principal, r.status) for r in emu.requests() if r.route == "arc.installPatches"]
        history = emu.install_history()
    assert posts == [("emulator-user", 429), ("someone-else", 202)]  # ours never went
    (theirs,) = history[arc.lower()]
    assert theirs.principal == "someone-else"
    (machine,) = report.machines
    assert (machine.outcome, machine.code) == (Outcome.SUCCEEDED, "PatchedByAnotherRun")
    assert machine.steps[-1].detail is not None
    assert machine.steps[-1].detail["operation"] == theirs.operation_id


def test_an_install_whose_record_takes_long_to_read_again_is_sent_after_one_read() -> None:
    """Our install is refused (the subscription's writes are spent) and waits; by then its
    decision is stale, so the record is read again, and that read itself takes longer in
    Azure time than a decision stays fresh (a clock run 20,000 times faster: every
    millisecond is 20 s). The install goes once that one read shows no other install, with
    the tokens it held while reading, instead of reading the record again and again."""
    limits = Limits(buckets=ThrottleLimits(arm_writes=Bucket(1, 1 / 40)))  # a write in 40 min
    with Emulator(seed=4, time_scale=20_000, start=OCT_14, limits=limits) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        arc = _enrolled_arc(emu)
        with emu.client() as client:
            report = client.run(machines=[arc], actions=["assess", "install"], deadline=60)
        log = [r for r in emu.requests() if r.route in ("arc.installPatches", "graph.resources")]
        history = emu.install_history()
    posts = [r.status for r in log if r.route == "arc.installPatches"]
    assert posts == [429, 202]
    refused = next(i for i, r in enumerate(log) if r.route == "arc.installPatches")
    reads_while_waiting = [r for r in log[refused + 1 : -1] if r.route == "graph.resources"]
    assert len(reads_while_waiting) == 1
    (ours,) = history[arc.lower()]
    assert ours.principal == "emulator-user"
    (machine,) = report.machines
    assert (machine.outcome, machine.code) == (Outcome.SUCCEEDED, None)
