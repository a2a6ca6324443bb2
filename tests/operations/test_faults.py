"""Issue acceptance: under injected faults every operation ends in time, as Azure's own record
says (a successful install is one Azure ran and finished; a failure is a fault that outlasted
the retries or an operation Azure failed), no install() ever triggers two installs, and
retries stay within a bound."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from azhotpatch.errors import AmbiguousOperationError, HotpatchError
from azhotpatch.models import EnrollmentState, Installation, OperationStatus
from azhotpatch.testing import Emulator, Faults, FleetSpec

from .conftest import SUB, arc_spec, vm_spec

DEADLINE = 120.0  # wall seconds per operation: bounds a call that hangs, nothing else


# What a call may end in besides success, under faults: a fault that outlasted the retries,
# or an operation Azure itself failed (judged against Azure's record below).
PERSISTENT = {"AzureUnavailable", "Throttled", "Conflict", "AmbiguousOperation"}


def workload(emu: Emulator) -> tuple[Counter[str], dict[str, int], dict[str, str]]:
    """check, enable, assess, install, status on every machine of the fleet; also how each
    machine's install call ended. One call at a time on a stepped clock (30 Azure seconds a
    request): which faults fall, and so every count judged below, depends on the requests
    sent and not on how fast this machine sends them."""
    assert emu.fleet is not None
    outcomes: Counter[str] = Counter()
    calls: dict[str, int] = Counter()
    installs: dict[str, str] = {}
    ids = [v.id for v in emu.fleet.vms] + [a.id for a in emu.fleet.arcs]
    with emu.clock.stepped(30.0), emu.client(deadline=DEADLINE) as client:
        for rid in ids:
            for name, action in (
                ("check", lambda rid=rid: client.check(rid)),
                ("enable", lambda rid=rid: client.enable(rid)),
                ("assess", lambda rid=rid: client.assess(rid)),
                ("install", lambda rid=rid: client.install(rid)),
                ("status", lambda rid=rid: client.status(rid)),
            ):
                started = time.monotonic()
                try:
                    action()
                    ended = "ok"
                except HotpatchError as error:
                    ended = error.code
                outcomes[f"{name}:{ended}"] += 1
                # a hang guard: each call takes well under a second
                assert time.monotonic() - started < DEADLINE + 5, f"{name} overran its deadline"
                if name == "install":
                    calls[rid.lower()] += 1
                    installs[rid] = ended
    return outcomes, calls, installs


def fleet(faults: Faults | None) -> Emulator:
    return Emulator(
        fleet=FleetSpec(vms=14, arc=6, subscriptions=1, mix="clean", seed=4),
        seed=4,
        time_scale=2400,
        faults=faults,
    )


def test_faults_end_in_success_or_typed_errors_and_never_double_install() -> None:
    with fleet(None) as calm:
        calm_outcomes, _, _ = workload(calm)
        calm_requests = calm.stats().requests
    assert set(calm_outcomes) == {
        f"{n}:ok" for n in ("check", "enable", "assess", "install", "status")
    }

    faults = Faults.chaos(0.10, seed=9)
    with fleet(faults) as stormy:
        outcomes, calls, installs = workload(stormy)
        stats = stormy.stats()
        history = stormy.install_history()
        records = {rid: stormy.azure_record(rid) for rid in installs}
    # each install call ended as Azure's record says: ok only if Azure's install succeeded;
    # otherwise a fault that persisted, or an install Azure ran and failed
    for rid, ended in installs.items():
        last = records[rid].installs[-1].status if records[rid].installs else None
        if ended == "ok":
            assert last == "Succeeded", (rid, records[rid])
        elif ended == "OperationFailed":
            assert last == "Failed", (rid, records[rid])
        else:
            assert ended in PERSISTENT, (rid, ended)
    assert sum(stats.faults.values()) > 20, "faults were actually injected"
    assert stats.by_status.get(429, 0) + stats.by_status.get(409, 0) > 0
    for machine, installs in history.items():
        assert len(installs) <= calls[machine], f"{machine} got {len(installs)} install POSTs"
    assert sum(outcomes.values()) == sum(calm_outcomes.values())  # every call ended
    assert outcomes["install:ok"] >= 0.6 * calm_outcomes["install:ok"]
    assert stats.requests <= 3 * calm_requests, (stats.requests, calm_requests)


def test_install_accepted_but_connection_lost_is_attached_not_resent() -> None:
    faults = Faults(reset_after_commit=1.0, routes=("vm.installPatches",))
    with Emulator(time_scale=2400, faults=faults) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        vm = emu.add_vm(vm_spec(months_behind=1))
        with emu.client() as client:
            result = client.install(vm)
        assert isinstance(result, Installation)
        assert result.status is OperationStatus.SUCCEEDED
        assert result.installed >= 1
        assert result.patches is None  # read back from the instance view: counts only
        assert len(emu.install_history()[vm.lower()]) == 1
        routes = [r.route for r in emu.requests()]
        assert routes.count("vm.installPatches") == 1


def test_arc_install_accepted_but_connection_lost_is_attached() -> None:
    faults = Faults(reset_after_commit=1.0, routes=("arc.installPatches",))
    with Emulator(time_scale=2400, faults=faults) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        arc = emu.add_arc(arc_spec(months_behind=1))
        with emu.client() as client:
            result = client.install(arc)
        assert result.status is OperationStatus.SUCCEEDED
        assert len(emu.install_history()[arc.lower()]) == 1


def test_install_never_accepted_is_resent_once_then_reported() -> None:
    faults = Faults(server_error=1.0, routes=("vm.installPatches",))
    with Emulator(time_scale=2400, faults=faults) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        vm = emu.add_vm(vm_spec())
        with emu.client() as client, pytest.raises(AmbiguousOperationError) as info:
            client.install(vm)
        assert "Fix:" in str(info.value)
        assert [r.route for r in emu.requests()].count("vm.installPatches") == 2
        assert emu.install_history() == {}


def test_conflicts_are_retried_until_accepted() -> None:
    faults = Faults(conflict=0.6, seed=3, routes=("vm.installPatches", "vm.assessPatches"))
    with Emulator(time_scale=2400, faults=faults) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        vm = emu.add_vm(vm_spec(months_behind=1))
        with emu.client() as client:
            assert client.assess(vm).status is OperationStatus.SUCCEEDED
            assert client.install(vm).status is OperationStatus.SUCCEEDED
        assert emu.stats().faults.get("conflict", 0) >= 1
        assert len(emu.install_history()[vm.lower()]) == 1


def test_failed_lro_is_a_typed_error() -> None:
    from azhotpatch.errors import OperationFailedError

    faults = Faults(lro_failure=1.0)
    with Emulator(time_scale=2400, faults=faults) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        vm = emu.add_vm(vm_spec())
        with emu.client() as client, pytest.raises(OperationFailedError) as info:
            client.assess(vm)
        assert info.value.azure_code == "InternalExecutionError"
        assert "ended Failed" in str(info.value)


def test_results_are_read_where_the_sdk_would_when_a_status_leaves_them_out() -> None:
    """Azure's operation statuses carry the result (recorded traffic), and the client takes
    it from there; when one does not, the VM's result is read from the operation's
    ``Location`` and the Arc license profile from the resource."""
    with Emulator(time_scale=2400, faults=Faults(bare_status=1.0)) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        vm = emu.add_vm(vm_spec(months_behind=1))
        arc = emu.add_arc(arc_spec(months_behind=1))
        with emu.client() as client:
            assessment = client.assess(vm)
            installation = client.install(vm)
            enrolled = client.enable(arc)
        monitor_reads = [
            r
            for r in emu.requests()
            if r.route == "compute.operation" and "monitor" in r.parameters
        ]
        license_reads = [r.route for r in emu.requests() if r.route == "arc.license.get"]
    assert assessment.status is OperationStatus.SUCCEEDED
    assert assessment.counts["critical_and_security"] >= 1
    assert installation.status is OperationStatus.SUCCEEDED
    assert installation.installed >= 1
    assert len(monitor_reads) == 2  # one per operation
    assert enrolled.after is EnrollmentState.ENROLLED
    assert len(license_reads) == 2  # before the write (none yet), and its result after it
