"""Throttling, faults, determinism, auth and process mode, seen through real SDK clients."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ServiceResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.aio import ComputeManagementClient as AsyncComputeClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest

from azhotpatch.testing import Emulator, Faults, FleetSpec, VmSpec
from azhotpatch.testing.estate import generate

from .conftest import sdk_options

SUB = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
# mid-month, away from a Patch Tuesday: the releases a machine is offered do not depend on
# the day a test runs
SCRIPT_START = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)


def add_vms(emu: Emulator, count: int, *, location: str = "westeurope") -> list[VmSpec]:
    emu.add_subscription(SUB, groups=["rg"])
    specs = [
        VmSpec(subscription=SUB, group="rg", name=f"vm-{i:04d}", location=location)
        for i in range(count)
    ]
    for spec in specs:
        emu.add_vm(spec)
    return specs


def compute(emu: Emulator, principal: str = "emulator-user") -> ComputeManagementClient:
    return ComputeManagementClient(emu.credential(principal), SUB, **sdk_options(emu))


def trigger(client: ComputeManagementClient, name: str) -> tuple[int, dict[str, str]]:
    """POST assessPatches; return (status, headers) without waiting for the LRO."""
    try:
        poller = client.virtual_machines.begin_assess_patches("rg", name)
    except HttpResponseError as error:
        headers = dict(error.response.headers) if error.response is not None else {}
        return error.status_code or 0, headers
    response = poller.polling_method()._initial_response.http_response  # type: ignore[attr-defined]
    return response.status_code, dict(response.headers)


def remaining(headers: dict[str, str], policy: str) -> int:
    pairs = dict(p.split(";") for p in headers["x-ms-ratelimit-remaining-resource"].split(","))
    return int(pairs[f"Microsoft.Compute/{policy}"])


def test_601st_guest_patch_trigger_is_throttled_exactly() -> None:
    """Documented limits, time_scale=1, clock held still so the count is exact: Compute's
    guest-patch bucket (600 burst per subscription and region) rejects trigger 601. Four
    principals keep ARM's per-principal write bucket (200 burst) out of the way, as it is in
    a real estate with several automation identities."""
    with Emulator(time_scale=1.0) as emu:
        add_vms(emu, 601)
        clients = [compute(emu, f"automation-{i}") for i in range(4)]
        seen: list[int] = []
        with emu.clock.frozen():
            for index in range(600):
                status, headers = trigger(clients[index % 4], f"vm-{index:04d}")
                assert status == 202, (index, status)
                seen.append(remaining(headers, "VMGuestPatchOperationSubscriptionMaximum"))
            status, headers = trigger(clients[0], "vm-0600")
        assert seen == list(range(599, -1, -1))  # the remaining count goes down by one each time
        assert status == 429
        assert int(headers["retry-after-ms"]) == pytest.approx(300, abs=2)  # 60 s / 200 tokens
        assert remaining(headers, "VMGuestPatchOperationSubscriptionMaximum") == 0
        assert emu.stats().throttled == {"VMGuestPatchOperationSubscriptionMaximum": 1}


def test_guest_patch_bucket_at_real_speed() -> None:
    """The same without freezing time: the bucket refills (200 a minute, continuously) while
    the requests go out, so the first 429 comes once the 600 and whatever refilled meanwhile
    are used up. Judged on the emulator's own timestamps, and machines are added until the
    429 comes, so the verdict holds however fast this machine sends."""
    with Emulator(time_scale=1.0) as emu:
        emu.add_subscription(SUB, groups=["rg"])
        clients = [compute(emu, f"automation-{i}") for i in range(4)]
        statuses: list[int] = []
        headers: dict[str, str] = {}
        while not statuses or statuses[-1] != 429:
            index = len(statuses)
            # a hang guard only: a client sending fewer than 3.4 requests a second never
            # outruns the refill
            assert index < 5000, "no 429 after 5000 triggers"
            if index % 100 == 0:
                for name in range(index, index + 100):
                    emu.add_vm(VmSpec(SUB, "rg", f"vm-{name:04d}", "westeurope"))
            status, headers = trigger(clients[index % 4], f"vm-{index:04d}")
            statuses.append(status)
        sent = [r.at for r in emu.requests() if r.route == "vm.assessPatches"]
    accepted = len(statuses) - 1
    assert statuses[:accepted] == [202] * accepted
    assert "Retry-After" in headers or "retry-after-ms" in headers
    assert accepted >= 600
    assert accepted == _accepted_by_a_bucket(sent, capacity=600, per_second=200 / 60)


def _accepted_by_a_bucket(arrivals: list[float], *, capacity: int, per_second: float) -> int:
    """How many of these arrivals (emulated seconds) a token bucket that starts full and
    refills continuously lets through before its first refusal: Compute's documented
    bucket, worked out apart from the emulator's."""
    tokens, last = float(capacity), arrivals[0]
    for count, at in enumerate(arrivals):
        tokens = min(capacity, tokens + (at - last) * per_second)
        last = at
        if tokens < 1:
            return count
        tokens -= 1
    return len(arrivals)


def test_per_vm_bucket_and_arm_write_bucket() -> None:
    with Emulator(time_scale=1.0) as emu:
        add_vms(emu, 1)
        client = compute(emu)
        body = {"tags": {"k": "v"}}
        with emu.clock.frozen():
            statuses = [
                client.virtual_machines.begin_update("rg", "vm-0000", body)
                .polling_method()
                ._initial_response.http_response.status_code  # type: ignore[attr-defined]
                for _ in range(12)
            ]
            with pytest.raises(HttpResponseError) as info:
                client.virtual_machines.begin_update("rg", "vm-0000", body)
        assert statuses == [200] * 12
        assert info.value.status_code == 429
        assert info.value.error.code == "OperationNotAllowed"
        assert info.value.error.details[0].target == "UpdateVMResource"


def test_arm_write_bucket_is_per_principal() -> None:
    with Emulator(time_scale=1.0) as emu:
        add_vms(emu, 300)
        client = compute(emu, "one-identity")
        with emu.clock.frozen():
            statuses = [trigger(client, f"vm-{i:04d}")[0] for i in range(201)]
            other = trigger(compute(emu, "another-identity"), "vm-0250")[0]
        assert statuses[:200] == [202] * 200
        assert statuses[200] == 429
        assert other == 202
        assert emu.stats().throttled == {"write": 1}


def test_resource_graph_quota() -> None:
    with Emulator(time_scale=1.0) as emu:
        add_vms(emu, 3)
        client = ResourceGraphClient(emu.credential(), **sdk_options(emu))
        seen = []

        def capture(response: object) -> None:
            seen.append(response.http_response.headers["x-ms-user-quota-remaining"])  # type: ignore[attr-defined]

        with emu.clock.frozen():
            for _ in range(15):
                client.resources(
                    QueryRequest(query="resources | project id"), raw_response_hook=capture
                )
            with pytest.raises(HttpResponseError) as info:
                client.resources(QueryRequest(query="resources | project id"))
        assert seen == [str(n) for n in range(14, -1, -1)]
        assert info.value.status_code == 429
        assert info.value.response.headers["x-ms-user-quota-resets-after"] == "00:00:05"


# --- faults -----------------------------------------------------------------------------------


def test_reset_after_commit_install_was_accepted() -> None:
    """The install POST is processed, then the connection drops: the client cannot know."""
    with Emulator(time_scale=1200, faults=Faults(reset_after_commit=1.0)) as emu:
        add_vms(emu, 1)
        body = {
            "rebootSetting": "IfRequired",
            "windowsParameters": {"classificationsToInclude": ["Security"]},
        }
        with pytest.raises(ServiceResponseError):
            compute(emu).virtual_machines.begin_install_patches("rg", "vm-0000", body)
        history = emu.install_history()
        assert len(history[next(iter(history))]) == 1
        assert emu.stats().faults == {"reset_after_commit": 1}


def test_server_error_before_processing_is_not_applied() -> None:
    with Emulator(time_scale=1200, faults=Faults(server_error=1.0)) as emu:
        add_vms(emu, 1)
        body = {
            "rebootSetting": "IfRequired",
            "windowsParameters": {"classificationsToInclude": ["Security"]},
        }
        with pytest.raises(HttpResponseError) as info:
            compute(emu).virtual_machines.begin_install_patches("rg", "vm-0000", body)
        assert info.value.status_code in (500, 503)
        assert emu.install_history() == {}


def _script(seed: int) -> list[object]:
    """The same requests against a fresh emulator; everything observable is returned: each
    machine's result and the request log (what was asked, when in emulated time from the
    first request, what was answered, which fault fell).

    The clock is stepped (30 emulated seconds a request), not sped up: at 2400x, how many
    status reads an assessment gets before it is done depends on how fast this process runs
    (a read 10 ms slower is 24 emulated seconds later), and a fault that falls on the fifth
    read of a status falls only where there is a fifth read, so a busy machine used to get
    other faults and other results from the same seed."""
    faults = Faults.chaos(0.3, seed=seed)
    outcomes: list[object] = []
    with Emulator(
        fleet=FleetSpec(vms=12, arc=0, subscriptions=1, mix="clean", seed=seed),
        seed=seed,
        time_scale=2400,
        start=SCRIPT_START,
        faults=faults,
    ) as emu:
        assert emu.fleet is not None
        sub = emu.fleet.subscriptions[0]
        client = ComputeManagementClient(emu.credential(), sub, **sdk_options(emu))
        with emu.clock.stepped(30.0):
            for vm in emu.fleet.vms:
                try:
                    result = client.virtual_machines.begin_assess_patches(
                        vm.group, vm.name
                    ).result()
                    outcomes.append(
                        (vm.name, result.status, sorted(p.kb_id for p in result.available_patches))
                    )
                except (HttpResponseError, ServiceResponseError) as error:
                    outcomes.append(
                        (vm.name, type(error).__name__, getattr(error, "status_code", None))
                    )
        log = emu.requests()
        outcomes.append([(r.route, r.status, r.fault, r.at - log[0].at) for r in log])
        outcomes.append(sorted(emu.stats().faults.items()))
    return outcomes


def test_a_stepped_clock_moves_with_requests_and_nothing_else() -> None:
    """Each request moves it on by its step, however long the client takes between them;
    a frozen block inside leaves it stepped; leaving it lets the clock run on from there."""
    with Emulator(time_scale=2400) as emu:
        add_vms(emu, 1)
        client = compute(emu)
        with emu.clock.stepped(30.0):
            start = emu.clock.seconds()
            client.virtual_machines.get("rg", "vm-0000")
            with emu.clock.frozen():
                client.virtual_machines.get("rg", "vm-0000")
            client.virtual_machines.get("rg", "vm-0000")
            assert emu.clock.seconds() == start + 90.0
        assert [r.at - start for r in emu.requests()] == [30.0, 60.0, 90.0]
        client.virtual_machines.get("rg", "vm-0000")
        assert emu.requests()[-1].at > start + 90.0


def test_same_seed_same_fleet_same_faults_same_results() -> None:
    assert generate(FleetSpec(vms=40, arc=20, seed=5)) == generate(
        FleetSpec(vms=40, arc=20, seed=5)
    )
    assert generate(FleetSpec(vms=40, arc=20, seed=5)) != generate(
        FleetSpec(vms=40, arc=20, seed=6)
    )
    first, second = _script(11), _script(11)
    assert first == second
    assert any(isinstance(o, tuple) and o[1] != "Succeeded" for o in first[:-2]), "faults happened"
    assert any(isinstance(o, tuple) and o[1] == "Succeeded" for o in first[:-2]), "some succeeded"


# --- auth, RBAC, request log ------------------------------------------------------------------


def test_requests_without_a_token_get_401() -> None:
    with Emulator() as emu:
        add_vms(emu, 1)
        url = f"{emu.endpoint}/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-0000?api-version=2024-11-01"
        response = requests.get(url, verify=emu.ca_path, timeout=10)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "AuthenticationFailed"
        response = requests.get(
            url, verify=emu.ca_path, timeout=10, headers={"Authorization": "Basic abc"}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
        response = requests.get(
            url.split("?")[0], verify=emu.ca_path, timeout=10, headers={"Authorization": "Bearer x"}
        )
        assert response.json()["error"]["code"] == "MissingApiVersionParameter"


def test_roles_are_enforced_and_actions_logged() -> None:
    with Emulator(roles={"reader": ["*/read"], "operator": ["Microsoft.Compute/*"]}) as emu:
        add_vms(emu, 1)
        compute(emu, "reader").virtual_machines.get("rg", "vm-0000")
        with pytest.raises(HttpResponseError) as info:
            compute(emu, "reader").virtual_machines.begin_update("rg", "vm-0000", {"tags": {}})
        assert info.value.status_code == 403
        assert info.value.error.code == "AuthorizationFailed"
        assert "'Microsoft.Compute/virtualMachines/write'" in info.value.error.message
        compute(emu, "operator").virtual_machines.begin_update("rg", "vm-0000", {"tags": {}})
        actions = [(r.principal, r.action, r.status) for r in emu.requests()]
        assert ("reader", "Microsoft.Compute/virtualMachines/read", 200) in actions
        assert ("reader", "Microsoft.Compute/virtualMachines/write", 403) in actions
        assert ("operator", "Microsoft.Compute/virtualMachines/write", 200) in actions


def test_async_sdk_client_works() -> None:
    with Emulator(time_scale=1200) as emu:
        add_vms(emu, 2)

        async def run() -> list[str]:
            async with AsyncComputeClient(
                emu.async_credential(), SUB, **sdk_options(emu)
            ) as client:
                pollers = [
                    await client.virtual_machines.begin_assess_patches("rg", n)
                    for n in ("vm-0000", "vm-0001")
                ]
                results = await asyncio.gather(*(p.result() for p in pollers))
                return [r.status for r in results]

        assert asyncio.run(run()) == ["Succeeded", "Succeeded"]


def test_process_mode(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "azhotpatch.testing",
            "--port",
            "0",
            "--fleet",
            "sample:20",
            "--time-scale",
            "600",
            "--ca-path",
            str(ca),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["machines"] == 20
        assert Path(info["ca_path"]) == ca.resolve()
        sub = info["subscriptions"][0]
        client = ComputeManagementClient(
            Emulator().credential(),
            sub,
            base_url=info["endpoint"],
            connection_verify=info["ca_path"],
        )
        names = [vm.name for vm in client.virtual_machines.list_all()]
        assert names
        stats = requests.get(
            f"{info['endpoint']}/_emulator/stats", verify=info["ca_path"], timeout=10
        ).json()
        assert stats["by_route"]["vm.listAll"] >= 1
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0


def test_a_real_estate_s_conditions_are_set_over_http_as_on_the_object() -> None:
    """An emulator serving in another process is driven through its admin endpoints: a lock
    refuses changes as ARM does, a disabled subscription refuses writes, and faults can be
    turned on and off."""
    with Emulator(time_scale=1200) as emu:
        (spec,) = add_vms(emu, 1)
        admin = f"{emu.endpoint}/_emulator"

        def post(name: str, payload: dict[str, object]) -> None:
            answer = requests.post(f"{admin}/{name}", json=payload, verify=emu.ca_path, timeout=10)
            assert answer.status_code == 200, answer.text

        client = compute(emu)
        post("lock", {"scope": f"/subscriptions/{SUB}/resourceGroups/rg", "name": "freeze"})
        with pytest.raises(HttpResponseError) as locked:
            client.virtual_machines.begin_assess_patches("rg", spec.name).result()
        assert locked.value.error is not None
        assert (locked.value.status_code, locked.value.error.code) == (409, "ScopeLocked")
        assert "/providers/Microsoft.Authorization/locks/freeze" in str(locked.value)
        client.virtual_machines.get("rg", spec.name)  # reads still work
        post("faults", {"rate": 1.0})
        assert emu.world.faults.active
        post("faults", {"rate": 0})
        assert not emu.world.faults.active
        bad = requests.post(f"{admin}/lock", json={}, verify=emu.ca_path, timeout=10)
        assert bad.status_code == 400  # a missing field: refused, nothing set
        assert "scope" in bad.text
        assert len(emu.world.estate.locks) == 1


def test_the_admin_table_tells_a_bad_request_from_an_unknown_endpoint() -> None:
    """A body that lacks a field or names a machine the emulator does not have is the
    caller's mistake (400, naming it, nothing done); only an endpoint not in the table is a
    404."""
    with Emulator(time_scale=1200) as emu:
        (spec,) = add_vms(emu, 1)
        admin = f"{emu.endpoint}/_emulator"
        verify = emu.ca_path
        unknown = (
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/"
            "Microsoft.Compute/virtualMachines/none"
        )
        no_seconds = requests.post(f"{admin}/advance", json={}, verify=verify, timeout=10)
        no_machine = requests.post(
            f"{admin}/delete", json={"resource_id": unknown}, verify=verify, timeout=10
        )
        no_route = requests.get(f"{admin}/nothing", verify=verify, timeout=10)
        assert (no_seconds.status_code, no_seconds.json()) == (
            400,
            {"error": "advance needs the field 'seconds'"},
        )
        assert no_machine.status_code == 400
        assert unknown.lower() in no_machine.text
        assert emu.azure_record(spec.id).exists
        assert no_route.status_code == 404
        assert "GET nothing" in no_route.text
