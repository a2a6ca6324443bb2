from __future__ import annotations

import pytest

from azhotpatch import catalog
from azhotpatch.models import Eligibility, Rule

WS = ("MicrosoftWindowsServer", "WindowsServer")


@pytest.mark.parametrize("sku", [i.sku for i in catalog.SUPPORTED_IMAGES])
def test_every_supported_sku_is_ok_in_any_case(sku: str) -> None:
    assert catalog.check_image(*WS, sku).ok
    assert catalog.check_image(WS[0].upper(), WS[1].lower(), sku.upper()).ok


def test_acceptance_2025_core_ok_and_2019_names_supported_skus() -> None:
    assert catalog.check_image(*WS, "2025-Datacenter-Azure-Edition-Core").compliant
    verdict = catalog.check_image(*WS, "2019-Datacenter")
    assert not verdict.ok
    (reason,) = verdict.reasons
    assert reason.rule is Rule.IMAGE_NOT_SUPPORTED
    assert "Windows Server 2019" in reason.message
    for sku in catalog.supported_skus():
        assert sku in reason.message
    assert "recreate" in str(reason.fix)


def test_table_is_complete_data() -> None:
    assert len(catalog.SUPPORTED_IMAGES) == 8
    assert set(catalog.supported_skus("2022")) == {
        "2022-datacenter-azure-edition-core",
        "2022-datacenter-azure-edition-core-smalldisk",
        "2022-datacenter-azure-edition-hotpatch",
        "2022-datacenter-azure-edition-hotpatch-smalldisk",
    }
    image = catalog.find_image(*WS, "2025-DATACENTER-AZURE-EDITION-SMALLDISK")
    assert image is not None
    assert (image.windows_version, image.installation_option, image.smalldisk) == (
        "2025",
        catalog.InstallationOption.DESKTOP,
        True,
    )
    assert catalog.find_image(*WS, "2019-datacenter") is None


@pytest.mark.parametrize(
    ("sku", "fragment"),
    [
        ("2022-datacenter-azure-edition", "2022-datacenter-azure-edition-hotpatch"),
        ("2025-datacenter-g2", "not Azure Edition"),
        ("2016-Datacenter", "Windows Server 2016"),
        ("2012-r2-datacenter", "2012-R2"),
        ("weird-sku", "not a Hotpatch image"),
    ],
)
def test_near_misses_explain_themselves(sku: str, fragment: str) -> None:
    (reason,) = catalog.check_image(*WS, sku).reasons
    assert fragment in reason.message


def test_other_publisher_is_named() -> None:
    (reason,) = catalog.check_image("Canonical", "ubuntu-24_04-lts", "server").reasons
    assert "Canonical:ubuntu-24_04-lts:server" in reason.message


def test_custom_gallery_community_linux_uniform_all_reported_together() -> None:
    verdict = catalog.check_image(
        None,
        None,
        None,
        image_id="/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/gal/images/i/versions/1.0.0",
        shared_gallery_image_id="/SharedGalleries/abc/Images/img/Versions/1.0.0",
        community_gallery_image_id="/CommunityGalleries/pub/Images/img/Versions/latest",
        os_type="Linux",
        uniform_scale_set=True,
    )
    assert not verdict.ok
    assert [r.rule for r in verdict.reasons] == [
        Rule.LINUX,
        Rule.GALLERY_IMAGE,
        Rule.GALLERY_IMAGE,
        Rule.GALLERY_IMAGE,
        Rule.UNIFORM_SCALE_SET,
    ]
    assert "shared gallery" in verdict.reasons[2].message
    assert "community gallery" in verdict.reasons[3].message
    assert "Flexible" in str(verdict.reasons[4].fix)


def test_managed_custom_image_is_custom_not_gallery() -> None:
    verdict = catalog.check_image_reference(
        {"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/golden"}
    )
    assert verdict.rules == {Rule.CUSTOM_IMAGE}
    assert "custom managed image" in verdict.reasons[0].message


def test_no_image_reference_at_all() -> None:
    assert catalog.check_image_reference(None).rules == {Rule.NO_IMAGE_REFERENCE}


def test_image_reference_json_shape() -> None:
    ref = {
        "publisher": "MicrosoftWindowsServer",
        "offer": "WindowsServer",
        "sku": "2022-datacenter-azure-edition-hotpatch",
        "version": "latest",
        "exactVersion": "20348.2762.241102",
    }
    assert catalog.check_image_reference(ref).compliant


def test_region_check_uses_live_list_case_insensitively() -> None:
    offered = ["2022-Datacenter-Azure-Edition-Core", "2019-Datacenter"]
    assert catalog.check_region("2022-datacenter-azure-edition-core", "westeurope", offered).ok
    verdict = catalog.check_region("2025-datacenter-azure-edition", "westeurope", offered)
    (reason,) = verdict.reasons
    assert reason.rule is Rule.IMAGE_NOT_IN_REGION
    assert "'westeurope'" in reason.message
    assert "offers 2022-datacenter-azure-edition-core" in reason.message
    empty = catalog.check_region("2025-datacenter-azure-edition", "nowhere", [])
    assert "offers no Hotpatch image" in empty.reasons[0].message


def test_patch_settings_each_rule_has_its_own_reason_and_fix() -> None:
    verdict = catalog.check_patch_settings(
        patch_mode="AutomaticByOS",
        provision_vm_agent=False,
        enable_automatic_updates=False,
        bypass_platform_safety_checks=True,
        enable_hotpatching=False,
    )
    by_rule = {r.rule: r for r in verdict.reasons}
    assert set(by_rule) == {
        Rule.PATCH_MODE,
        Rule.VM_AGENT_NOT_PROVISIONED,
        Rule.AUTOMATIC_UPDATES_OFF,
        Rule.BYPASS_SAFETY_CHECKS,
        Rule.HOTPATCH_SETTING_OFF,
    }
    assert "AutomaticByPlatform" in str(by_rule[Rule.PATCH_MODE].fix)
    assert "recreate" in str(by_rule[Rule.VM_AGENT_NOT_PROVISIONED].fix)
    assert "enableAutomaticUpdates" in str(by_rule[Rule.AUTOMATIC_UPDATES_OFF].fix)
    assert "false" in str(by_rule[Rule.BYPASS_SAFETY_CHECKS].fix)
    # only the agent blocks; enable writes the rest
    assert verdict.blockers == (by_rule[Rule.VM_AGENT_NOT_PROVISIONED],)
    assert not verdict.ok


def test_patch_settings_compliant_and_defaults() -> None:
    good = catalog.check_patch_settings(
        patch_mode="automaticbyplatform",
        provision_vm_agent=True,
        enable_automatic_updates=True,
        bypass_platform_safety_checks=False,
        enable_hotpatching=True,
    )
    assert good.compliant
    unset = catalog.check_patch_settings(
        patch_mode=None,
        provision_vm_agent=None,
        enable_automatic_updates=None,
        bypass_platform_safety_checks=None,
    )
    assert unset.ok
    assert unset.rules == {Rule.PATCH_MODE, Rule.HOTPATCH_SETTING_OFF}
    assert "AutomaticByOS (default)" in str(unset)


def test_vm_runtime() -> None:
    assert catalog.check_vm_runtime(power_state="running", vm_agent_status="Ready").compliant
    verdict = catalog.check_vm_runtime(power_state="deallocated", vm_agent_status="Not Ready")
    assert verdict.rules == {Rule.VM_NOT_RUNNING, Rule.VM_AGENT_NOT_READY}
    assert "az vm start" in str(verdict.reasons[0].fix)


@pytest.mark.parametrize(
    "sku",
    [
        "Windows Server 2025 Datacenter",
        "Windows Server 2025 Standard",
        "windows server 2025 datacenter",
        "Microsoft Windows Server 2025 Standard",
        "Windows Server 2025 Datacenter Evaluation",
    ],
)
def test_arc_accepted_editions(sku: str) -> None:
    assert catalog.check_arc_os(os_name="windows", os_sku=sku, os_version="10.0.26100.4946").ok


@pytest.mark.parametrize(
    ("sku", "fragment"),
    [
        ("Windows Server 2022 Datacenter", "not Windows Server 2025 Datacenter or Standard"),
        ("Windows Server 2025 Essentials", "not Windows Server 2025"),
        ("Windows 11 Enterprise", "not Windows Server 2025"),
    ],
)
def test_arc_rejected_editions(sku: str, fragment: str) -> None:
    (reason,) = catalog.check_arc_os(os_name="windows", os_sku=sku, os_version=None).reasons
    assert reason.rule is Rule.ARC_OS_NOT_SUPPORTED
    assert fragment in reason.message


def test_arc_azure_edition_needs_no_license_profile() -> None:
    """Azure Edition includes Hotpatch: it is neither enrolled nor billed through Arc, and the
    reason says why and what to do in the guest instead."""
    (reason,) = catalog.check_arc_os(
        os_name="windows",
        os_sku="Windows Server 2025 Datacenter: Azure Edition",
        os_version="10.0.26100.4946",
    ).reasons
    assert reason.rule is Rule.ARC_AZURE_EDITION
    assert reason.blocking
    assert "needs no license profile" in reason.message
    assert "Azure verification for VMs" in str(reason.fix)


def test_arc_missing_sku_explains_build() -> None:
    (reason,) = catalog.check_arc_os(
        os_name="windows", os_sku=None, os_version="10.0.26100.1742"
    ).reasons
    assert "edition is unknown" in reason.message
    assert "build 26100 is Windows Server 2025" in reason.message


def test_arc_linux() -> None:
    verdict = catalog.check_arc_os(os_name="linux", os_sku="Ubuntu 22.04", os_version="5.15")
    assert verdict.rules == {Rule.ARC_NOT_WINDOWS}


def test_arc_state_disconnected_and_vbs() -> None:
    verdict = catalog.check_arc_state(
        status="Disconnected", hotpatch_enablement_status="ActionRequired"
    )
    by_rule = {r.rule: r for r in verdict.reasons}
    assert set(by_rule) == {Rule.ARC_DISCONNECTED, Rule.ARC_VBS_OFF}
    assert "azcmagent" in str(by_rule[Rule.ARC_DISCONNECTED].fix)
    vbs = str(by_rule[Rule.ARC_VBS_OFF].fix)
    assert "EnableVirtualizationBasedSecurity" in vbs
    assert "DeviceGuard" in vbs
    assert "HotPatchRestrictions" in vbs  # architecture unknown: the Arm64 hint is included


def test_arc_enrollment_lists_each_knob_it_will_set() -> None:
    off = catalog.check_arc_enrollment(hotpatch_license=None, enable_hotpatching=None)
    assert off.ok
    assert {r.rule for r in off.changes} == {
        Rule.ARC_LICENSE_FEATURE_OFF,
        Rule.HOTPATCH_SETTING_OFF,
    }
    assert "'not set'" in str(off.changes[0])
    half = catalog.check_arc_enrollment(hotpatch_license="Enabled", enable_hotpatching=False)
    assert {r.rule for r in half.changes} == {Rule.HOTPATCH_SETTING_OFF}
    disabled = catalog.check_arc_enrollment(hotpatch_license="Disabled", enable_hotpatching=True)
    assert "'Disabled'" in str(disabled.changes[0])
    assert catalog.check_arc_enrollment(
        hotpatch_license="Enabled", enable_hotpatching=True
    ).compliant


def test_arc_state_arm64_has_its_own_chpe_reason() -> None:
    verdict = catalog.check_arc_state(
        status="Connected", hotpatch_enablement_status="ActionRequired", architecture="arm64"
    )
    assert verdict.rules == {Rule.ARC_VBS_OFF, Rule.ARC_CHPE_ENABLED}
    chpe = next(r for r in verdict.reasons if r.rule is Rule.ARC_CHPE_ENABLED)
    assert "Memory Management" in str(chpe.fix)
    assert "HotPatchRestrictions" in str(chpe.fix)


def test_arc_state_connected_and_enabled() -> None:
    assert catalog.check_arc_state(
        status="Connected", hotpatch_enablement_status="Enabled"
    ).compliant


def test_combine_keeps_every_reason_once() -> None:
    a = catalog.check_image(*WS, "2019-Datacenter")
    b = catalog.check_vm_runtime(power_state="stopped", vm_agent_status=None)
    merged = Eligibility.combine([a, b, a], resource="/subscriptions/x/vm")
    assert len(merged.reasons) == 2
    assert merged.resource == "/subscriptions/x/vm"
    text = str(merged)
    assert text.startswith("/subscriptions/x/vm: NOT eligible")
    assert "[ImageNotSupported]" in text
    assert "[VmNotRunning]" in text
