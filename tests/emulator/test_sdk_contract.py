"""The emulator against the unmodified azure-mgmt SDK clients: nothing from azhotpatch but
the emulator itself. If a real client can't do its job here, the emulator is wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.hybridcompute import HybridComputeManagementClient
from azure.mgmt.maintenance import MaintenanceManagementClient
from azure.mgmt.maintenance.models import (
    ConfigurationAssignment,
    InputPatchConfiguration,
    InputWindowsParameters,
    MaintenanceConfiguration,
)
from azure.mgmt.resource.features import FeatureClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from azhotpatch.testing import ArcSpec, Emulator, VmSpec

from .conftest import LICENSE_PUT, sdk_options

ENROLL = {
    "properties": {
        "osProfile": {
            "windowsConfiguration": {
                "provisionVMAgent": True,
                "enableAutomaticUpdates": True,
                "patchSettings": {
                    "patchMode": "AutomaticByPlatform",
                    "enableHotpatching": True,
                    "automaticByPlatformSettings": {
                        "bypassPlatformSafetyChecksOnUserSchedule": False
                    },
                },
            }
        }
    }
}
INSTALL = {
    "maximumDuration": "PT2H",
    "rebootSetting": "IfRequired",
    "windowsParameters": {"classificationsToInclude": ["Critical", "Security"]},
}


@pytest.fixture
def emu() -> Emulator:
    with Emulator(seed=3, time_scale=1200) as running:
        running.add_subscription("11111111-2222-3333-4444-555555555555", groups=["rg"])
        yield running


def vm(emu: Emulator, name: str = "web-01", **fields: object) -> VmSpec:
    spec = VmSpec(
        subscription="11111111-2222-3333-4444-555555555555",
        group="rg",
        name=name,
        location="westeurope",
        **fields,  # type: ignore[arg-type]
    )
    emu.add_vm(spec)
    return spec


def compute(emu: Emulator, **extra: object) -> ComputeManagementClient:
    return ComputeManagementClient(
        emu.credential(), "11111111-2222-3333-4444-555555555555", **sdk_options(emu), **extra
    )


def test_vm_get_with_instance_view(emu: Emulator) -> None:
    vm(emu, patch_mode="AutomaticByOS")
    got = compute(emu).virtual_machines.get("rg", "web-01", expand="instanceView")
    assert got.name == "web-01"
    assert got.properties.storage_profile.image_reference.sku == "2025-datacenter-azure-edition"
    assert (
        got.properties.os_profile.windows_configuration.patch_settings.patch_mode == "AutomaticByOS"
    )
    codes = [s.code for s in got.properties.instance_view.statuses]
    assert "PowerState/running" in codes
    assert got.properties.instance_view.vm_agent.statuses[0].display_status == "Ready"
    view = compute(emu).virtual_machines.instance_view("rg", "web-01")
    assert view.os_name == "Windows Server 2025"


def test_vm_list_pages_with_next_link(fleet_emulator: Emulator) -> None:
    fleet = fleet_emulator.fleet
    assert fleet is not None
    sub = fleet.subscriptions[0]
    client = ComputeManagementClient(
        fleet_emulator.credential(), sub, **sdk_options(fleet_emulator)
    )
    names = [v.name for v in client.virtual_machines.list_all()]
    expected = [v.name for v in fleet.vms if v.subscription == sub]
    assert sorted(names) == sorted(expected)
    assert len(names) > 10  # more than one page of 10
    listed = fleet_emulator.stats().by_route["vm.listAll"]
    assert listed == -(-len(names) // 10)  # one request per page
    group = fleet.vms[0].group
    in_group = [v.name for v in client.virtual_machines.list(group)]
    assert set(in_group) == {
        v.name for v in fleet.vms if v.subscription == sub and v.group == group
    }


def test_vm_patch_is_an_lro_and_enables_hotpatch(emu: Emulator) -> None:
    vm(emu, patch_mode="AutomaticByOS")
    poller = compute(emu).virtual_machines.begin_update("rg", "web-01", ENROLL)
    result = poller.result()
    settings = result.properties.os_profile.windows_configuration.patch_settings
    assert (settings.patch_mode, settings.enable_hotpatching) == ("AutomaticByPlatform", True)
    assert result.properties.provisioning_state == "Succeeded"
    assert emu.stats().by_route["compute.operation"] >= 1  # polled the Azure-AsyncOperation


def test_assess_then_install_then_assess_again(emu: Emulator) -> None:
    vm(emu, patch_mode="AutomaticByPlatform", enable_hotpatching=True, months_behind=1)
    client = compute(emu)
    first = client.virtual_machines.begin_assess_patches("rg", "web-01").result()
    assert first.status == "Succeeded"
    kbs = {p.kb_id: p for p in first.available_patches}
    assert kbs, "a machine a month behind has patches"
    assert all(p.classifications and p.reboot_behavior for p in first.available_patches)
    assert first.critical_and_security_patch_count >= 1
    installed = client.virtual_machines.begin_install_patches("rg", "web-01", INSTALL).result()
    assert installed.status == "Succeeded"
    assert installed.installed_patch_count >= 1
    states = {p.kb_id: p.installation_state for p in installed.patches}
    assert states["2267602"] == "NotSelected"  # Definition updates were not asked for
    again = client.virtual_machines.begin_assess_patches("rg", "web-01").result()
    remaining = {p.kb_id for p in again.available_patches}
    newly = {kb for kb, state in states.items() if state == "Installed"}
    assert not (remaining & newly), "installed patches disappear from later assessments"
    summary = client.virtual_machines.instance_view("rg", "web-01").patch_status
    assert (
        summary.last_patch_installation_summary.installed_patch_count
        == installed.installed_patch_count
    )


def test_patch_lro_matches_the_recorded_protocol(emu: Emulator) -> None:
    """202 + empty body + Azure-AsyncOperation + Location(monitor=true), no Retry-After."""
    vm(emu)
    client = compute(emu)
    poller = client.virtual_machines.begin_assess_patches("rg", "web-01")
    initial = poller.polling_method()._initial_response.http_response  # type: ignore[attr-defined]
    assert initial.status_code == 202
    assert initial.body() == b""
    async_url = initial.headers["Azure-AsyncOperation"]
    assert "/providers/Microsoft.Compute/locations/westeurope/operations/" in async_url
    assert "monitor=true" in initial.headers["Location"]
    assert "Retry-After" not in initial.headers
    assert (
        "VMGuestPatchOperationSubscriptionMaximum;599"
        in initial.headers["x-ms-ratelimit-remaining-resource"]
    )
    assert "VMGuestPatchOperationResource;5" in initial.headers["x-ms-ratelimit-remaining-resource"]
    poller.result()


def test_hotpatch_on_unsupported_image_is_rejected_like_azure(emu: Emulator) -> None:
    vm(emu, sku="2019-datacenter")
    with pytest.raises(HttpResponseError) as info:
        compute(emu).virtual_machines.begin_update("rg", "web-01", ENROLL).result()
    assert info.value.status_code == 400
    assert info.value.error.code == "InvalidParameter"
    assert "The selected VM image is not supported for hotpatching" in info.value.error.message
    assert info.value.error.target == "windowsConfiguration.patchSettings.enableHotpatching"


def test_hotpatch_rules_enforced(emu: Emulator) -> None:
    vm(emu)
    client = compute(emu)
    body = {
        "properties": {
            "osProfile": {
                "windowsConfiguration": {
                    "patchSettings": {"patchMode": "AutomaticByOS", "enableHotpatching": True}
                }
            }
        }
    }
    with pytest.raises(HttpResponseError) as info:
        client.virtual_machines.begin_update("rg", "web-01", body).result()
    assert "EnableHotpatching cannot be set to true" in info.value.error.message
    bypass = {
        "properties": {
            "osProfile": {
                "windowsConfiguration": {
                    "patchSettings": {
                        "patchMode": "AutomaticByPlatform",
                        "enableHotpatching": True,
                        "automaticByPlatformSettings": {
                            "bypassPlatformSafetyChecksOnUserSchedule": True
                        },
                    }
                }
            }
        }
    }
    with pytest.raises(HttpResponseError) as info:
        client.virtual_machines.begin_update("rg", "web-01", bypass).result()
    assert (
        "'BypassPlatformSafetyChecksOnUserSchedule' flag must be set to false"
        in info.value.error.message
    )
    agent = {"properties": {"osProfile": {"windowsConfiguration": {"provisionVMAgent": False}}}}
    with pytest.raises(HttpResponseError) as info:
        client.virtual_machines.begin_update("rg", "web-01", agent).result()
    assert info.value.error.code == "PropertyChangeNotAllowed"
    assert "provisionVMAgent" in info.value.error.message


def test_install_validation_errors_name_the_field(emu: Emulator) -> None:
    vm(emu)
    client = compute(emu)
    bad_kb = {
        **INSTALL,
        "windowsParameters": {
            "classificationsToInclude": ["Security"],
            "kbNumbersToInclude": ["1111"],
        },
    }
    with pytest.raises(HttpResponseError) as info:
        client.virtual_machines.begin_install_patches("rg", "web-01", bad_kb)
    assert info.value.status_code == 400
    assert info.value.error.message == (
        "The entry in 'kbNumbersToInclude' with value '1111' is not valid. It must be a KBID "
        "such as KB4512508."
    )
    assert info.value.error.target == "windowsParameters.kbNumbersToInclude"
    with pytest.raises(HttpResponseError) as info:
        client.virtual_machines.begin_install_patches("rg", "web-01", {"windowsParameters": {}})
    assert info.value.error.target == "rebootSetting"
    assert emu.install_history() == {}


def test_missing_vm_and_group_are_arm_404s(emu: Emulator) -> None:
    client = compute(emu)
    with pytest.raises(ResourceNotFoundError) as info:
        client.virtual_machines.get("rg", "nope")
    assert info.value.error.code == "ResourceNotFound"
    assert "Microsoft.Compute/virtualMachines/nope" in info.value.error.message
    with pytest.raises(ResourceNotFoundError) as info:
        client.virtual_machines.get("no-such-group", "nope")
    assert info.value.error.code == "ResourceGroupNotFound"


def test_unknown_api_version_is_rejected(emu: Emulator) -> None:
    vm(emu)
    with pytest.raises(HttpResponseError) as info:
        compute(emu).virtual_machines.get("rg", "web-01", api_version="2099-01-01")
    assert info.value.status_code == 400
    assert info.value.error.code == "NoRegisteredProviderFound"
    assert "'2099-01-01'" in info.value.error.message


def test_list_skus_region_without_2025(emu: Emulator) -> None:
    client = compute(emu)
    west = {
        s.name
        for s in client.virtual_machine_images.list_skus(
            "westeurope", "MicrosoftWindowsServer", "WindowsServer"
        )
    }
    brazil = {
        s.name
        for s in client.virtual_machine_images.list_skus(
            "brazilsouth", "MicrosoftWindowsServer", "WindowsServer"
        )
    }
    assert "2025-datacenter-azure-edition-core" in west
    assert "2025-datacenter-azure-edition-core" not in brazil
    assert "2022-datacenter-azure-edition-hotpatch" in brazil
    with pytest.raises(HttpResponseError) as info:
        client.virtual_machine_images.list_skus("westeurope", "NoSuchPublisher", "x")
    assert "Artifact: VMImage was not found." in info.value.error.message


# --- Arc ----------------------------------------------------------------------------------


def arc(emu: Emulator, **fields: object) -> ArcSpec:
    spec = ArcSpec(
        subscription="11111111-2222-3333-4444-555555555555",
        group="rg",
        name="srv-01",
        location="westeurope",
        **fields,
    )  # type: ignore[arg-type]
    emu.add_arc(spec)
    return spec


def hybrid(emu: Emulator) -> HybridComputeManagementClient:
    return HybridComputeManagementClient(
        emu.credential(), "11111111-2222-3333-4444-555555555555", **sdk_options(emu)
    )


def test_arc_license_profile_enrollment_lro(emu: Emulator) -> None:
    arc(emu, cores=16)
    client = hybrid(emu)
    with pytest.raises(ResourceNotFoundError):
        client.license_profiles.get("rg", "srv-01")
    created = client.license_profiles.begin_create_or_update("rg", "srv-01", LICENSE_PUT).result()
    feature = created.properties.product_profile.product_features[0]
    assert (feature.name, feature.subscription_status) == ("Hotpatch", "Enabled")
    assert feature.enrollment_date is not None
    assert emu.stats().by_route["arc.operationStatus"] >= 1
    patched = client.license_profiles.begin_update(
        "rg",
        "srv-01",
        {
            "properties": {
                "productProfile": {
                    "productFeatures": [{"name": "Hotpatch", "subscriptionStatus": "Disable"}]
                }
            }
        },
    ).result()
    assert patched.properties.product_profile.product_features[0].subscription_status == "Disabled"
    client.license_profiles.begin_delete("rg", "srv-01").result()
    with pytest.raises(ResourceNotFoundError):
        client.license_profiles.get("rg", "srv-01")


def test_arc_put_patch_enum_difference(emu: Emulator) -> None:
    arc(emu)
    client = hybrid(emu)
    wrong_put = {
        "location": "westeurope",
        "properties": {
            "productProfile": {
                "productFeatures": [{"name": "Hotpatch", "subscriptionStatus": "Enable"}]
            }
        },
    }
    with pytest.raises(HttpResponseError) as info:
        client.license_profiles.begin_create_or_update("rg", "srv-01", wrong_put)
    assert info.value.status_code == 400
    assert "'Enable' is not valid" in info.value.error.message
    assert "PUT" in info.value.error.message
    client.license_profiles.begin_create_or_update("rg", "srv-01", LICENSE_PUT).result()
    wrong_patch = {
        "properties": {
            "productProfile": {
                "productFeatures": [{"name": "Hotpatch", "subscriptionStatus": "Enabled"}]
            }
        }
    }
    with pytest.raises(HttpResponseError) as info:
        client.license_profiles.begin_update("rg", "srv-01", wrong_patch)
    assert "'Enabled' is not valid" in info.value.error.message
    assert info.value.error.target.endswith("productFeatures[0].subscriptionStatus")


def test_arc_enablement_status_moves_over_time(emu: Emulator) -> None:
    arc(emu)
    client = hybrid(emu)
    client.license_profiles.begin_create_or_update("rg", "srv-01", LICENSE_PUT).result()
    machine = client.machines.update(
        "rg",
        "srv-01",
        {
            "properties": {
                "osProfile": {
                    "windowsConfiguration": {"patchSettings": {"enableHotpatching": True}}
                }
            }
        },
    )
    status = machine.properties.os_profile.windows_configuration.patch_settings.status
    assert status.hotpatch_enablement_status == "PendingEvaluation"
    emu.advance(timedelta(minutes=10))
    machine = client.machines.get("rg", "srv-01")
    status = machine.properties.os_profile.windows_configuration.patch_settings.status
    assert status.hotpatch_enablement_status == "Enabled"


def test_arc_vbs_off_ends_action_required(emu: Emulator) -> None:
    arc(emu, vbs_running=False, licensed=True)
    client = hybrid(emu)
    client.machines.update(
        "rg",
        "srv-01",
        {
            "properties": {
                "osProfile": {
                    "windowsConfiguration": {"patchSettings": {"enableHotpatching": True}}
                }
            }
        },
    )
    emu.advance(timedelta(minutes=10))
    machine = client.machines.get("rg", "srv-01")
    status = machine.properties.os_profile.windows_configuration.patch_settings.status
    assert status.hotpatch_enablement_status == "ActionRequired"


def test_arc_assess_and_install(emu: Emulator) -> None:
    arc(emu, months_behind=2)
    client = hybrid(emu)
    poller = client.machines.begin_assess_patches("rg", "srv-01")
    initial = poller.polling_method()._initial_response.http_response  # type: ignore[attr-defined]
    assert initial.status_code == 202
    assert "updateCenterOperationResults" in initial.headers["Location"]
    assert "Azure-AsyncOperation" not in initial.headers
    assert initial.headers["retry-after-ms"] == "50"  # 60 s of Azure time at 1200x
    assert "Retry-After" not in initial.headers  # whole seconds cannot say 50 ms
    assessed = poller.result()
    counts = assessed.available_patch_count_by_classification
    assert assessed.status == "Succeeded"
    assert counts.security >= 1
    assert counts.definition == 1
    with pytest.raises(HttpResponseError) as info:
        client.machines.begin_install_patches(
            "rg", "srv-01", {"rebootSetting": "IfRequired", "windowsParameters": {}}
        )
    assert info.value.error.target == "maximumDuration"  # Arc requires it
    installed = client.machines.begin_install_patches("rg", "srv-01", INSTALL).result()
    assert installed.status == "Succeeded"
    assert installed.installed_patch_count >= 1
    assert installed.reboot_status in ("Completed", "NotNeeded")


def test_arc_disconnected_machine_operation_fails(emu: Emulator) -> None:
    arc(emu, status="Disconnected")
    result = hybrid(emu).machines.begin_assess_patches("rg", "srv-01").result()
    assert result.status == "Failed"
    assert result.error_details.code == "MachineDisconnected"


# --- features, providers, Resource Graph --------------------------------------------------


def test_feature_registration_takes_time(emu: Emulator) -> None:
    client = FeatureClient(
        emu.credential(), "11111111-2222-3333-4444-555555555555", **sdk_options(emu)
    )
    before = client.features.get("Microsoft.Compute", "InGuestHotPatchVMPreview")
    assert before.properties.state == "NotRegistered"
    assert before.name == "Microsoft.Compute/InGuestHotPatchVMPreview"
    registered = client.features.register("Microsoft.Compute", "InGuestHotPatchVMPreview")
    assert registered.properties.state == "Registering"
    emu.advance(timedelta(minutes=6))
    after = client.features.get("Microsoft.Compute", "InGuestHotPatchVMPreview")
    assert after.properties.state == "Registered"
    listed = {f.name: f.properties.state for f in client.features.list("Microsoft.Compute")}
    assert listed["Microsoft.Compute/InGuestHotPatchVMPreview"] == "Registered"
    assert listed["Microsoft.Compute/InGuestPatchVMPreview"] == "NotRegistered"


def test_pending_feature_stays_pending() -> None:
    with Emulator(pending_features=["Microsoft.Compute/InGuestAutoPatchVMPreview"]) as emu:
        sub = emu.add_subscription()
        client = FeatureClient(emu.credential(), sub, **sdk_options(emu))
        assert (
            client.features.register(
                "Microsoft.Compute", "InGuestAutoPatchVMPreview"
            ).properties.state
            == "Pending"
        )
        emu.advance(timedelta(hours=2))
        assert (
            client.features.get("Microsoft.Compute", "InGuestAutoPatchVMPreview").properties.state
            == "Pending"
        )


def test_provider_register(emu: Emulator) -> None:
    client = ResourceManagementClient(
        emu.credential(), "11111111-2222-3333-4444-555555555555", **sdk_options(emu)
    )
    assert client.providers.get("Microsoft.Compute").registration_state == "Registered"
    assert client.providers.register("Microsoft.Compute").registration_state == "Registering"
    emu.advance(timedelta(minutes=2))
    assert client.providers.get("Microsoft.Compute").registration_state == "Registered"


def test_resource_graph_paged_query(fleet_emulator: Emulator) -> None:
    fleet = fleet_emulator.fleet
    assert fleet is not None
    client = ResourceGraphClient(fleet_emulator.credential(), **sdk_options(fleet_emulator))
    query = (
        "resources | where type =~ 'microsoft.compute/virtualmachines' "
        "| project id, name, location, sku = tostring(properties.storageProfile.imageReference.sku)"
    )
    seen, token, pages = [], None, 0
    while True:
        options = QueryRequestOptions(top=7, skip_token=token)
        page = client.resources(
            QueryRequest(query=query, subscriptions=list(fleet.subscriptions), options=options)
        )
        pages += 1
        seen.extend(page.data)
        assert page.result_truncated == "false"
        token = page.skip_token
        if not token:
            break
    assert page.total_records == len(fleet.vms)
    assert len(seen) == len(fleet.vms)
    assert len({row["id"] for row in seen}) == len(fleet.vms)
    assert pages == -(-len(fleet.vms) // 7)


def test_resource_graph_rejects_unsupported_kql(fleet_emulator: Emulator) -> None:
    client = ResourceGraphClient(fleet_emulator.credential(), **sdk_options(fleet_emulator))
    with pytest.raises(HttpResponseError) as info:
        client.resources(QueryRequest(query="resources | join kind=inner (resources) on id"))
    assert info.value.status_code == 400
    codes = [d.code for d in info.value.error.details]
    assert codes[:2] == ["InvalidQuery", "ParserFailure"]
    assert "join" in info.value.error.details[1].message


# --- Microsoft.Maintenance ------------------------------------------------------------------


def _configuration(start: str, duration: str = "02:00") -> MaintenanceConfiguration:
    return MaintenanceConfiguration(
        location="westeurope",
        maintenance_scope="InGuestPatch",
        extension_properties={"InGuestPatchMode": "User"},
        start_date_time=start,
        duration=duration,
        time_zone="W. Europe Standard Time",
        recur_every="Month Second Tuesday Offset2",
        install_patches=InputPatchConfiguration(
            reboot_setting="Never",
            windows_parameters=InputWindowsParameters(classifications_to_include=["Security"]),
        ),
    )


def test_maintenance_configurations_and_assignments(emu: Emulator) -> None:
    sub = "11111111-2222-3333-4444-555555555555"
    spec = vm(emu, patch_mode="AutomaticByPlatform", bypass_platform_safety_checks=True)
    client = MaintenanceManagementClient(emu.credential(), sub, **sdk_options(emu))
    tomorrow = (emu.clock.now() + timedelta(days=1)).strftime("%Y-%m-%d 03:00")
    made = client.maintenance_configurations.create_or_update(
        "rg", "monthly", _configuration(tomorrow)
    )
    assert made.recur_every == "Month Second Tuesday Offset2"
    assert made.install_patches.reboot_setting == "Never"
    with pytest.raises(HttpResponseError) as caught:
        client.maintenance_configurations.create_or_update(
            "rg", "short", _configuration(tomorrow, "01:00")
        )
    assert caught.value.status_code == 400
    assert "duration" in caught.value.error.message
    yesterday = (emu.clock.now() - timedelta(days=1)).strftime("%Y-%m-%d 03:00")
    with pytest.raises(HttpResponseError, match="15 minutes"):
        client.maintenance_configurations.create_or_update("rg", "late", _configuration(yesterday))
    assignment = client.configuration_assignments.create_or_update(
        "rg", "Microsoft.Compute", "virtualMachines", spec.name, "monthly",
        ConfigurationAssignment(location="westeurope", maintenance_configuration_id=made.id),
    )  # fmt: skip
    assert assignment.resource_id.lower().endswith("/virtualmachines/web-01")
    listed = list(
        client.configuration_assignments.list(
            "rg", "Microsoft.Compute", "virtualMachines", spec.name
        )
    )
    assert [a.maintenance_configuration_id.lower() for a in listed] == [made.id.lower()]
    with pytest.raises(ResourceNotFoundError):
        client.maintenance_configurations.get("rg", "absent")
