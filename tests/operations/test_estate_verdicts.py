"""The rest of the estate, told the truth: Azure Local VMs, Azure Edition Arc servers and
scale-set instances each get the verdict that fits them, and nothing is written where it
would not help (no license profile for what takes Hotpatch another way)."""

from __future__ import annotations

import pytest

from azhotpatch import Hotpatch
from azhotpatch.errors import InvalidResourceIdError, PrerequisiteError
from azhotpatch.models import EnrollmentState, Rule
from azhotpatch.testing import Emulator

from .conftest import SUB, arc_spec, vm_spec, writes

CLUSTER = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.AzureStackHCI/clusters/hci1"


def local_vm(emu: Emulator, name: str, image: str) -> str:
    return emu.add_arc(
        arc_spec(
            name,
            arc_kind="HCI",
            parent_cluster=CLUSTER,
            local_image=image,
            os_sku="Windows Server 2025 Datacenter: Azure Edition",
        )
    )


def test_an_azure_local_vm_from_a_hotpatch_image_is_told_to_configure_the_guest(
    hotpatch: Hotpatch, emu: Emulator
) -> None:
    machine = local_vm(emu, "local-01", "2025-datacenter-azure-edition")
    verdict = hotpatch.check(machine)
    assert [r.rule for r in verdict.blockers] == [Rule.AZURE_LOCAL_VM]
    assert "2025-datacenter-azure-edition" in verdict.blockers[0].message
    assert "Azure verification for VMs" in str(verdict.blockers[0].fix)
    with pytest.raises(PrerequisiteError):
        hotpatch.enable(machine)
    assert writes(emu) == []  # no license profile, no machine setting
    routes = {r.route for r in emu.requests()}
    assert {"hci.instance.get", "hci.image.get"} <= routes
    status = hotpatch.status(machine)
    assert status.enrollment is EnrollmentState.NOT_ENROLLED


def test_an_azure_local_vm_from_another_image_needs_a_hotpatch_image(
    hotpatch: Hotpatch, emu: Emulator
) -> None:
    machine = local_vm(emu, "local-02", "2022-datacenter")
    (reason,) = hotpatch.check(machine).blockers
    assert reason.rule is Rule.AZURE_LOCAL_IMAGE
    assert "recreate the VM" in str(reason.fix)


def test_an_azure_edition_arc_server_needs_no_license_profile(
    hotpatch: Hotpatch, emu: Emulator
) -> None:
    machine = emu.add_arc(arc_spec(os_sku="Windows Server 2025 Datacenter: Azure Edition"))
    verdict = hotpatch.check(machine)
    assert [r.rule for r in verdict.blockers] == [Rule.ARC_AZURE_EDITION]
    with pytest.raises(PrerequisiteError):
        hotpatch.enable(machine)
    plan = hotpatch.plan([machine])
    assert plan.items[0].skip is not None
    assert plan.items[0].skip.rule is Rule.ARC_AZURE_EDITION
    assert plan.cost == 0  # not billed through Arc
    assert writes(emu) == []


def test_a_flexible_scale_set_instance_is_a_vm_and_its_model_must_agree(
    hotpatch: Hotpatch, emu: Emulator
) -> None:
    emu.add_scale_set(SUB, "rg", "flex-ok", "westeurope", hotpatch=True)
    emu.add_scale_set(SUB, "rg", "flex-off", "westeurope", hotpatch=False)
    agreeing = emu.add_vm(vm_spec("flex-ok_1", scale_set="flex-ok"))
    disagreeing = emu.add_vm(vm_spec("flex-off_1", scale_set="flex-off"))
    assert Rule.SCALE_SET_MODEL not in {r.rule for r in hotpatch.check(agreeing).reasons}
    verdict = hotpatch.check(disagreeing)
    (mismatch,) = [r for r in verdict.reasons if r.rule is Rule.SCALE_SET_MODEL]
    assert not mismatch.blocking
    assert verdict.ok
    assert "flex-off" in mismatch.message
    assert hotpatch.enable(disagreeing).after is EnrollmentState.ENROLLED
    assert "vmss.get" in {r.route for r in emu.requests()}


def test_a_vm_in_a_uniform_scale_set_is_blocked(hotpatch: Hotpatch, emu: Emulator) -> None:
    emu.add_scale_set(SUB, "rg", "uniform", "westeurope", mode="Uniform")
    member = emu.add_vm(vm_spec("uniform_1", scale_set="uniform"))
    assert [r.rule for r in hotpatch.check(member).blockers] == [Rule.UNIFORM_SCALE_SET]


def test_a_uniform_instance_id_is_refused_with_the_reason(hotpatch: Hotpatch) -> None:
    instance = (
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/"
        "virtualMachineScaleSets/web/virtualMachines/3"
    )
    with pytest.raises(InvalidResourceIdError, match="Uniform-orchestration scale set"):
        hotpatch.check(instance)
