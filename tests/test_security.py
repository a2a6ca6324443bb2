"""The least-privilege role is exactly what the library uses: run everything against an
emulator that enforces the role, then compare with what it saw."""

from __future__ import annotations

from pathlib import Path

import pytest

from azhotpatch.errors import InvalidArgumentError
from azhotpatch.security import (
    MACHINE_ACTIONS,
    REMEDIATION_ACTIONS,
    REQUIRED_ACTIONS,
    custom_role,
)
from azhotpatch.testing import ArcSpec, Emulator, FleetSpec, VmSpec


def _rest_of_the_estate(emu: Emulator, subscription: str, group: str) -> list[str]:
    """An Arc server with VBS off (remediated), an Azure Local VM and a Flexible scale
    set's VM: the machines whose checks and fixes need the actions a plain fleet never uses."""
    where = {"subscription": subscription, "group": group, "location": "westeurope"}
    emu.add_scale_set(subscription, group, "flex", "westeurope", hotpatch=True)
    cluster = f"/subscriptions/{subscription}/resourceGroups/{group}/providers/" + (
        "Microsoft.AzureStackHCI/clusters/hci1"
    )
    return [
        emu.add_arc(ArcSpec(name="vbs-off", vbs_running=False, **where)),
        emu.add_arc(
            ArcSpec(
                name="local-vm",
                arc_kind="HCI",
                parent_cluster=cluster,
                local_image="2025-datacenter-azure-edition",
                os_sku="Windows Server 2025 Datacenter: Azure Edition",
                **where,
            )
        ),
        emu.add_vm(VmSpec(name="flex_1", scale_set="flex", **where)),
    ]


def test_the_role_is_exactly_what_a_full_run_uses() -> None:
    spec = FleetSpec(vms=30, arc=10, subscriptions=1, seed=1)
    role = {"emulator-user": list(REQUIRED_ACTIONS)}
    with Emulator(fleet=spec, time_scale=1200, roles=role) as emu, emu.client() as client:
        assert emu.fleet is not None
        subscription = emu.fleet.subscriptions[0]
        client.run(subscriptions=[subscription])
        for machine in (emu.fleet.vms[0].id, emu.fleet.arcs[0].id):
            client.check(machine)
            client.status(machine)
            client.disable(machine)
        client.register_preview_features(subscription)
        group = f"/subscriptions/{subscription}/resourceGroups/{emu.fleet.vms[0].group}"
        for assign_by in ("machines", "dynamic"):
            client.schedule(
                subscriptions=[subscription],
                resource_group=group,
                location="westeurope",
                mode="single",
                assign_by=assign_by,
                conflicts="assign",
            )
        client.scheduled_status(subscriptions=[subscription])
        fixable, local_vm, scale_set_vm = _rest_of_the_estate(
            emu, subscription, emu.fleet.vms[0].group
        )
        client.remediate(fixable, fix=True, reboot="now")
        client.check(local_vm)
        client.check(scale_set_vm)
        used = {r.action for r in emu.requests()}
        denied = [r for r in emu.requests() if r.status == 403]
    assert denied == []  # nothing missing
    assert used == set(REQUIRED_ACTIONS)  # nothing extra


def test_machine_actions_alone_are_enough_without_features() -> None:
    spec = FleetSpec(vms=10, arc=5, subscriptions=1, seed=2)
    role = {"emulator-user": list(MACHINE_ACTIONS)}
    with Emulator(fleet=spec, time_scale=1200, roles=role) as emu, emu.client() as client:
        client.run(subscriptions=list(emu.world.subscriptions))
        assert [r for r in emu.requests() if r.status == 403] == []


def test_nothing_but_remediation_uses_run_command() -> None:
    """Without remediate=True a run sends no run command: the role can leave them out."""
    spec = FleetSpec(vms=10, arc=10, subscriptions=1, seed=3)
    role = {"emulator-user": [a for a in REQUIRED_ACTIONS if a not in REMEDIATION_ACTIONS]}
    with Emulator(fleet=spec, time_scale=1200, roles=role) as emu, emu.client() as client:
        subscription = sorted(emu.world.subscriptions)[0]
        report = client.run(subscriptions=[subscription])
        assert [r for r in emu.requests() if r.status == 403] == []
        assert sum(report.counts.values()) == 20
    role_document = custom_role(["/subscriptions/x"], include_remediation=False)
    assert not set(REMEDIATION_ACTIONS) & set(role_document["Actions"])


def test_custom_role_document() -> None:
    role = custom_role(["/subscriptions/00000000-0000-0000-0000-000000000000"])
    assert role["Actions"] == list(REQUIRED_ACTIONS)
    assert role["IsCustom"] is True
    with pytest.raises(InvalidArgumentError, match="no assignable scope"):
        custom_role([])


def test_the_readme_lists_the_same_actions() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for action in REQUIRED_ACTIONS:
        assert action in readme
