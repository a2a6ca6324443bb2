"""Issue acceptance: single-machine operations through the public API, against the emulator."""

from __future__ import annotations

from datetime import timedelta

import pytest

from azhotpatch import Hotpatch
from azhotpatch.errors import (
    InvalidArgumentError,
    InvalidResourceIdError,
    PrerequisiteError,
    ResourceNotFoundError,
    UnsupportedImageError,
    UnsupportedRegionError,
)
from azhotpatch.models import (
    Assessment,
    EnrollmentState,
    Installation,
    OperationStatus,
    RebootStatus,
    Rule,
)
from azhotpatch.testing import Emulator

from .conftest import SUB, arc_spec, vm_spec, writes


def test_vm_from_not_enrolled_to_patched(emu: Emulator, hotpatch: Hotpatch) -> None:
    vm = emu.add_vm(vm_spec(patch_mode="AutomaticByOS", months_behind=1))
    verdict = hotpatch.check(vm)
    assert verdict.ok
    assert not verdict.compliant
    assert {Rule.PATCH_MODE, Rule.HOTPATCH_SETTING_OFF} == verdict.rules
    assert hotpatch.status(vm).enrollment is EnrollmentState.NOT_ENROLLED

    enrolled = hotpatch.enable(vm)
    assert (enrolled.before, enrolled.after, enrolled.changed) == (
        EnrollmentState.NOT_ENROLLED,
        EnrollmentState.ENROLLED,
        True,
    )
    assert "enableHotpatching=True" in enrolled.detail
    assert hotpatch.check(vm).compliant

    assessment = hotpatch.assess(vm)
    assert assessment.status is OperationStatus.SUCCEEDED
    assert assessment.patches
    assert assessment.critical_and_security >= 0
    security = [p for p in assessment.patches if "Security" in p.classifications]
    assert security, "a machine a month behind has a security update"

    installed = hotpatch.install(vm)
    assert installed.status is OperationStatus.SUCCEEDED
    assert installed.installed == len(security)
    assert installed.reboot_status in (RebootStatus.COMPLETED, RebootStatus.NOT_NEEDED)

    status = hotpatch.status(vm)
    assert status.enrollment is EnrollmentState.ENROLLED
    assert status.last_installation is not None
    assert status.last_installation.activity_id == installed.activity_id
    assert status.last_installation.counts["installed"] == installed.installed
    after = hotpatch.assess(vm)
    assert not [p for p in after.patches or () if "Security" in p.classifications]


def test_vm_operations_end_at_their_status(emu: Emulator, hotpatch: Hotpatch) -> None:
    """A VM update ends when Azure-AsyncOperation says Succeeded (the PATCH's own answer
    already shows what was written), and an assessment's or installation's result is taken
    from the status's ``properties.output``: no GET of the VM or of ``Location`` after. The
    results say how long the operations ran, as the emulator timed them."""
    vm = emu.add_vm(vm_spec(patch_mode="AutomaticByOS", months_behind=1))
    before = len(emu.requests())
    assert hotpatch.enable(vm).after is EnrollmentState.ENROLLED
    enabling = [r.route for r in emu.requests()[before:]]
    after_update = enabling[enabling.index("vm.update") + 1 :]
    assert after_update
    assert set(after_update) == {"compute.operation"}

    for run in (hotpatch.assess, hotpatch.install):
        before = len(emu.requests())
        result = run(vm)
        assert result.status is OperationStatus.SUCCEEDED
        polls = [r for r in emu.requests()[before:] if r.route == "compute.operation"]
        assert polls
        assert all("monitor" not in r.parameters for r in polls)
        assert result.started is not None
        assert result.finished is not None
        expected = emu.operation_seconds["assess" if run == hotpatch.assess else "install"]
        assert result.seconds == pytest.approx(expected, abs=1.0)


def test_enrolled_vm_on_current_baseline_gets_a_hotpatch(emu: Emulator, hotpatch: Hotpatch) -> None:
    """In a hotpatch month, an enrolled VM on the current baseline is offered a NeverReboots
    security update; installing it needs no reboot."""
    from datetime import datetime, timezone

    with Emulator(
        seed=1, time_scale=2400, start=datetime(2026, 11, 20, tzinfo=timezone.utc)
    ) as fresh:
        fresh.add_subscription(SUB, groups=["rg"])
        vm = fresh.add_vm(
            vm_spec(patch_mode="AutomaticByPlatform", enable_hotpatching=True, months_behind=1)
        )  # October 2026 = the baseline month
        with fresh.client() as client:
            assessment = client.assess(vm)
            (hotpatch,) = assessment.hotpatches
            assert "Hotpatch" in hotpatch.name
            # .NET and other non-OS security updates still need a reboot; skip them this month
            installed = client.install(
                vm, classifications=["Security"], exclude_kbs_requiring_reboot=True
            )
            assert installed.reboot_status is RebootStatus.NOT_NEEDED
            assert hotpatch.kb_id in {
                p.kb_id for p in installed.patches or () if p.state.value == "Installed"
            }


def test_enable_is_a_no_op_when_enrolled(emu: Emulator, hotpatch: Hotpatch) -> None:
    vm = emu.add_vm(vm_spec(patch_mode="AutomaticByPlatform", enable_hotpatching=True))
    before = len(writes(emu))
    result = hotpatch.enable(vm)
    assert result.changed is False
    assert len(writes(emu)) == before


def test_enable_sends_only_what_differs(emu: Emulator, hotpatch: Hotpatch) -> None:
    vm = emu.add_vm(vm_spec(patch_mode="AutomaticByPlatform", bypass_platform_safety_checks=True))
    result = hotpatch.enable(vm)
    assert "bypassPlatformSafetyChecksOnUserSchedule=False" in result.detail
    machine = emu.machine(vm)
    settings = machine.patch_settings
    assert (
        settings["automaticByPlatformSettings"]["bypassPlatformSafetyChecksOnUserSchedule"] is False
    )
    assert settings["enableHotpatching"] is True


def test_disable_vm(emu: Emulator, hotpatch: Hotpatch) -> None:
    vm = emu.add_vm(vm_spec(patch_mode="AutomaticByPlatform", enable_hotpatching=True))
    result = hotpatch.disable(vm)
    assert (result.before, result.after) == (EnrollmentState.ENROLLED, EnrollmentState.NOT_ENROLLED)
    assert emu.machine(vm).patch_settings["enableHotpatching"] is False
    assert hotpatch.disable(vm).changed is False


def test_arc_from_not_enrolled_to_patched(emu: Emulator, hotpatch: Hotpatch) -> None:
    arc = emu.add_arc(arc_spec(months_behind=1, cores=16))
    verdict = hotpatch.check(arc)
    assert verdict.ok
    assert {r.rule for r in verdict.changes} == {
        Rule.ARC_LICENSE_FEATURE_OFF,
        Rule.HOTPATCH_SETTING_OFF,
    }
    enrolled = hotpatch.enable(arc)
    assert (enrolled.before, enrolled.after) == (
        EnrollmentState.NOT_ENROLLED,
        EnrollmentState.ENROLLED,
    )
    assert "licenseProfile Hotpatch=Enabled" in enrolled.detail
    machine = emu.machine(arc)
    assert machine.licensed_for_hotpatch
    assert machine.hotpatch_status == "Enabled"
    put = [r for r in emu.requests() if r.route == "arc.license.put"]
    assert len(put) == 1  # created with PUT ('Enabled'), as the profile did not exist
    assert hotpatch.check(arc).compliant

    assessment = hotpatch.assess(arc)
    assert isinstance(assessment, Assessment)
    assert assessment.patches is None  # Arc reports counts only
    assert assessment.counts["security"] >= 1
    installed = hotpatch.install(arc)
    assert isinstance(installed, Installation)
    assert installed.installed >= 1
    assert installed.patches is None
    status = hotpatch.status(arc)
    assert status.enrollment is EnrollmentState.ENROLLED
    assert status.enablement_status == "Enabled"
    assert status.last_installation is not None
    assert status.last_installation.activity_id == installed.activity_id
    assert hotpatch.enable(arc).changed is False


def test_arc_existing_profile_is_patched_with_the_patch_enum(
    emu: Emulator, hotpatch: Hotpatch
) -> None:
    arc = emu.add_arc(arc_spec(licensed=True))
    machine = emu.machine(arc)
    machine.license["productProfile"]["productFeatures"][0]["subscriptionStatus"] = "Disabled"
    hotpatch.enable(arc)
    routes = [r.route for r in emu.requests() if r.method in ("PUT", "PATCH")]
    assert "arc.license.patch" in routes
    assert "arc.license.put" not in routes
    assert machine.licensed_for_hotpatch


def test_arc_disable_stops_the_license_feature(emu: Emulator, hotpatch: Hotpatch) -> None:
    arc = emu.add_arc(arc_spec(licensed=True, enable_hotpatching=True, hotpatch_status="Enabled"))
    result = hotpatch.disable(arc)
    assert result.after is EnrollmentState.NOT_ENROLLED
    machine = emu.machine(arc)
    assert not machine.licensed_for_hotpatch
    assert machine.hotpatch_feature()["subscriptionStatus"] == "Disabled"


# --- refusals: the right reasons, and not a single write --------------------------------------


def test_unsupported_vm_2019(emu: Emulator, hotpatch: Hotpatch) -> None:
    vm = emu.add_vm(vm_spec(sku="2019-datacenter"))
    verdict = hotpatch.check(vm)
    assert not verdict.ok
    assert Rule.IMAGE_NOT_SUPPORTED in {r.rule for r in verdict.blockers}
    with pytest.raises(UnsupportedImageError) as info:
        hotpatch.enable(vm)
    assert "Windows Server 2019" in str(info.value)
    assert "2025-datacenter-azure-edition" in str(info.value)
    assert writes(emu) == []


def test_vm_in_a_region_without_the_image(emu: Emulator, hotpatch: Hotpatch) -> None:
    vm = emu.add_vm(vm_spec(location="brazilsouth", sku="2025-datacenter-azure-edition-core"))
    verdict = hotpatch.check(vm)
    assert [r.rule for r in verdict.blockers] == [Rule.IMAGE_NOT_IN_REGION]
    assert "'brazilsouth'" in verdict.blockers[0].message
    with pytest.raises(UnsupportedRegionError):
        hotpatch.enable(vm)
    assert writes(emu) == []
    assert hotpatch.enable(vm, force=True).changed  # the catalog is advisory for existing VMs


def test_disconnected_arc(emu: Emulator, hotpatch: Hotpatch) -> None:
    arc = emu.add_arc(arc_spec(status="Disconnected"))
    verdict = hotpatch.check(arc)
    assert {r.rule for r in verdict.blockers} == {Rule.ARC_DISCONNECTED}
    with pytest.raises(PrerequisiteError) as info:
        hotpatch.enable(arc)
    assert "azcmagent" in str(info.value)
    assert writes(emu) == []


def test_arc_with_vbs_off_reported(emu: Emulator, hotpatch: Hotpatch) -> None:
    arc = emu.add_arc(
        arc_spec(
            vbs_running=False,
            enable_hotpatching=True,
            hotpatch_status="ActionRequired",
            licensed=True,
        )
    )
    verdict = hotpatch.check(arc)
    assert Rule.ARC_VBS_OFF in verdict.rules
    with pytest.raises(PrerequisiteError) as info:
        hotpatch.enable(arc)
    assert "EnableVirtualizationBasedSecurity" in str(info.value)
    assert writes(emu) == []


def test_arc_with_vbs_off_discovered_at_enrollment(emu: Emulator, hotpatch: Hotpatch) -> None:
    arc = emu.add_arc(arc_spec(vbs_running=False))
    assert hotpatch.check(arc).ok  # nothing shows yet
    with pytest.raises(PrerequisiteError) as info:
        hotpatch.enable(arc)
    assert info.value.reasons[0].rule is Rule.ARC_VBS_OFF
    assert hotpatch.status(arc).enrollment is EnrollmentState.ACTION_REQUIRED


def test_arc_2022_and_linux(emu: Emulator, hotpatch: Hotpatch) -> None:
    old = emu.add_arc(
        arc_spec("srv-2022", os_sku="Windows Server 2022 Datacenter", os_version="10.0.20348.1")
    )
    linux = emu.add_arc(
        arc_spec("srv-linux", os_sku="Ubuntu 22.04", os_name="linux", os_type="linux")
    )
    assert {r.rule for r in hotpatch.check(old).blockers} == {Rule.ARC_OS_NOT_SUPPORTED}
    assert {r.rule for r in hotpatch.check(linux).blockers} == {Rule.ARC_NOT_WINDOWS}
    for machine in (old, linux):
        with pytest.raises(PrerequisiteError):
            hotpatch.enable(machine)
    assert writes(emu) == []


# --- bad input never reaches Azure ------------------------------------------------------------


def test_bad_input_is_refused_before_any_call(emu: Emulator, hotpatch: Hotpatch) -> None:
    vm = emu.add_vm(vm_spec())
    with pytest.raises(InvalidResourceIdError):
        hotpatch.check(
            "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/x"
        )
    with pytest.raises(InvalidArgumentError, match="classifications"):
        hotpatch.install(vm, classifications=["Everything"])
    with pytest.raises(InvalidArgumentError, match="max_duration"):
        hotpatch.install(vm, max_duration=timedelta(hours=6))
    with pytest.raises(InvalidArgumentError, match="kb_exclude"):
        hotpatch.install(vm, kb_exclude=["12"])
    with pytest.raises(InvalidArgumentError, match="subscription_id"):
        hotpatch.register_preview_features("my-subscription")
    with pytest.raises(InvalidArgumentError, match="deadline"):
        hotpatch.assess(vm, deadline=-1)
    assert emu.requests() == []


def test_missing_machine(emu: Emulator, hotpatch: Hotpatch) -> None:
    with pytest.raises(ResourceNotFoundError) as info:
        hotpatch.check(vm_spec("nope").id)
    message = str(info.value)
    assert "virtualMachines/nope" in message
    assert "Fix:" in message


# --- handles, resume, deadlines ---------------------------------------------------------------


def test_wait_false_and_resume_in_another_client(emu: Emulator, hotpatch: Hotpatch) -> None:
    vm = emu.add_vm(vm_spec(months_behind=1))
    pending = hotpatch.install(vm, wait=False)
    token = pending.token
    with emu.client() as other:
        result = other.resume(token).result()
    assert isinstance(result, Installation)
    assert result.status is OperationStatus.SUCCEEDED
    assert len(emu.install_history()[vm.lower()]) == 1


def test_deadline_leaves_a_resumable_handle(emu: Emulator) -> None:
    from azhotpatch.errors import DeadlineExceededError

    vm = emu.add_vm(vm_spec())
    with emu.client() as client:
        with pytest.raises(DeadlineExceededError) as info:
            client.assess(vm, deadline=0.01)
        assert info.value.handle_token
        result = client.resume(info.value.handle_token).result(deadline=60)
    assert result.status is OperationStatus.SUCCEEDED


def test_preview_features_idempotent_and_pending() -> None:
    with Emulator(
        time_scale=2400, pending_features=["Microsoft.Compute/InGuestAutoPatchVMPreview"]
    ) as emu:
        emu.add_subscription(SUB)
        with emu.client() as client:
            first = client.register_preview_features(SUB)
            assert first.provider_reregistered
            assert first.provider_state == "Registered"
            states = {f.name.split("/")[1]: f.state for f in first.features}
            assert states == {
                "InGuestHotPatchVMPreview": "Registered",
                "InGuestAutoPatchVMPreview": "Pending",
                "InGuestPatchVMPreview": "Registered",
            }
            assert [f.name for f in first.awaiting_approval] == [
                "Microsoft.Compute/InGuestAutoPatchVMPreview"
            ]
            before = len(emu.requests())
            second = client.register_preview_features(SUB)
            extra = emu.requests()[before:]
            assert [r.route for r in extra].count("features.get") == 3
            assert [r.method for r in extra] == ["GET"] * 4  # 3 features + the provider, no writes
            assert not second.provider_reregistered


def test_async_api_has_the_same_surface(emu: Emulator) -> None:
    import asyncio

    from azhotpatch.aio import Hotpatch as AsyncHotpatch

    vm = emu.add_vm(vm_spec(months_behind=1))

    async def run() -> tuple[bool, OperationStatus]:
        async with AsyncHotpatch(
            emu.async_credential(),
            endpoint=emu.endpoint,
            connection_verify=emu.ca_path,
            polling_interval=emu.polling_interval,
            time_scale=emu.clock.time_scale,
        ) as client:
            verdict = await client.check(vm)
            await client.enable(vm)
            pending = await client.assess(vm, wait=False)
            result = await pending.result()
            return verdict.ok, result.status

    assert asyncio.run(run()) == (True, OperationStatus.SUCCEEDED)
