"""Real Azure traffic (recorded by Microsoft's own test suites; see each fixture's
``source``) through our parsers, and the emulator's shapes held against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from azhotpatch import _parse
from azhotpatch._azure.pacing import parse_remaining, parse_timespan, retry_after_seconds
from azhotpatch.ids import MachineKind
from azhotpatch.models import (
    EnrollmentState,
    InstallationState,
    OperationStatus,
    RebootBehavior,
    RebootStatus,
)

RECORDED: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "recorded_azure.json").read_text()
)
VM = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"


def body(name: str) -> Any:
    return RECORDED[name]["body"]


def test_vm_assessment_from_the_location_url() -> None:
    assessment = _parse.vm_assessment(VM, body("vm_assess_result"))
    assert assessment.status is OperationStatus.SUCCEEDED
    assert assessment.kind is MachineKind.VM
    assert assessment.patches is not None
    assert len(assessment.patches) == len(body("vm_assess_result")["availablePatches"])
    behaviours = {p.reboot_behavior for p in assessment.patches}
    assert behaviours <= {RebootBehavior.NEVER_REBOOTS, RebootBehavior.CAN_REQUEST_REBOOT}
    assert (
        assessment.counts["critical_and_security"]
        == body("vm_assess_result")["criticalAndSecurityPatchCount"]
    )
    assert assessment.started is not None
    assert assessment.started.tzinfo is not None
    assert all(p.kb_id for p in assessment.patches)


# Microsoft's REST example (Compute spec, examples/virtualMachineExamples/
# VirtualMachine_AssessPatches.json): its counts disagree with its list of patches.
REST_EXAMPLE_ASSESSMENT = {
    "status": "Succeeded",
    "assessmentActivityId": "68f8b292-dfc2-4646-9781-33cc88631968",
    "rebootPending": True,
    "criticalAndSecurityPatchCount": 1,
    "otherPatchCount": 2,
    "startDateTime": "2020-04-24T21:02:04.2556154Z",
    "availablePatches": [
        {
            "patchId": "35428702-5784-4ba4-a6e0-5222258b5411",
            "name": "Definition Update for Windows Defender Antivirus - KB2267602 "
            "(Definition 1.279.1373.0)",
            "version": "",
            "kbId": "2267602",
            "classifications": ["Definition Updates"],
            "rebootBehavior": "NeverReboots",
            "activityId": "68f8b292-dfc2-4646-9781-33cc88631968",
            "publishedDate": "2018-11-07T00:00:00Z",
            "lastModifiedDateTime": "2020-04-24T21:18:45.2830263Z",
            "assessmentState": "Available",
        }
    ],
    "error": None,
}


def test_vm_assessment_reports_azures_counts_as_azure_gives_them() -> None:
    """Where Azure's counts and its list disagree, the counts are what Azure says."""
    assessment = _parse.vm_assessment(VM, REST_EXAMPLE_ASSESSMENT)
    assert assessment.patches is not None
    assert len(assessment.patches) == 1
    assert assessment.critical_and_security == 1
    assert assessment.total == 3


def test_vm_assessment_equals_its_status_output() -> None:
    """The recorded status document carries the same result under properties.output."""
    status = body("vm_assess_status_succeeded")
    assert status["status"] == "Succeeded"
    assert _parse.vm_assessment(VM, status["properties"]["output"]) == _parse.vm_assessment(
        VM, body("vm_assess_result")
    )
    assert body("vm_assess_status_in_progress")["status"] == "InProgress"


@pytest.mark.parametrize("name", ["vm_install_result_windows", "vm_install_result_2024"])
def test_vm_installation(name: str) -> None:
    raw = body(name)
    result = _parse.installation(VM, MachineKind.VM, raw)
    assert result.status is OperationStatus.SUCCEEDED
    assert result.error is None  # Compute spells success as error.code "Success"
    assert result.installed == raw["installedPatchCount"]
    assert result.excluded == raw["excludedPatchCount"]
    assert result.reboot_status is RebootStatus.parse(raw["rebootStatus"])
    assert result.patches is not None
    assert {p.state for p in result.patches} <= set(InstallationState)
    assert InstallationState.UNKNOWN not in {p.state for p in result.patches}


def test_linux_installation_with_versions_not_kbs() -> None:
    result = _parse.installation(VM, MachineKind.VM, body("vm_install_result_linux"))
    assert result.patches
    assert all(p.kb_id is None for p in result.patches)
    assert result.error is None  # error.code "0" is success too


def test_vm_facts_of_a_recorded_hotpatch_vm() -> None:
    facts = _parse.vm_facts(body("vm_get_hotpatch_2024"))
    assert facts.patch_mode == "AutomaticByPlatform"
    assert facts.enable_hotpatching is True
    assert facts.bypass_platform_safety_checks is False
    assert facts.enrollment is EnrollmentState.ENROLLED
    assert facts.power_state == "running"
    assert facts.image["sku"].lower() == "2022-datacenter-azure-edition-hotpatch"
    older = _parse.vm_facts(body("vm_get_automatic_by_os"))
    assert older.patch_mode == "AutomaticByOS"
    assert older.enrollment is EnrollmentState.NOT_ENROLLED


def test_recorded_rate_limit_headers() -> None:
    pairs = parse_remaining(RECORDED["vm_install_accepted_2024"]["headers"])
    assert pairs["Microsoft.Compute/VMGuestPatchOperationSubscriptionMaximum"] == 598
    assert pairs["Microsoft.Compute/VMGuestPatchOperationResource"] == 4
    assert pairs["x-ms-ratelimit-remaining-subscription-writes"] == 199
    legacy = parse_remaining(RECORDED["vm_assess_accepted"]["headers"])
    assert legacy["Microsoft.Compute/PatchOperation3Min"] == 189
    graph = RECORDED["graph_page"]["headers"]
    assert parse_timespan(graph["x-ms-user-quota-resets-after"]) == 5.0
    assert retry_after_seconds(RECORDED["vm_assess_accepted"]["headers"]) is None  # none sent


def test_recorded_arc_license_profile() -> None:
    assert _parse.license_hotpatch_state(body("arc_license_get")) == "Enabled"
    request = RECORDED["arc_license_patch"]["request"]
    features = request["properties"]["productProfile"]["productFeatures"]
    assert features == [{"name": "Hotpatch", "subscriptionStatus": "Enable"}]  # PATCH enum
    assert _parse.timestamp("2025-02-01T00:00:00") is not None  # no zone suffix, as recorded


def test_recorded_errors_and_registration_states() -> None:
    error = body("vm_install_bad_kb_2024")["error"]
    assert (RECORDED["vm_install_bad_kb_2024"]["status"], error["code"]) == (
        400,
        "InvalidParameter",
    )
    assert body("feature_register_pending")["properties"]["state"] == "Pending"
    assert body("provider_registering")["registrationState"] == "Registering"
    page = body("graph_page")
    assert page["resultTruncated"] == "false"
    assert "$skipToken" in page


# --- the emulator agrees with the recordings ----------------------------------------------------


def keys(data: Any) -> set[str]:
    return set(data) if isinstance(data, dict) else set()


def test_emulator_shapes_cover_the_recorded_ones() -> None:
    from azure.mgmt.compute import ComputeManagementClient

    from azhotpatch.testing import Emulator, VmSpec

    sub = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
    with Emulator(time_scale=2400) as emu:
        emu.add_subscription(sub, groups=["rg"])
        emu.add_vm(
            VmSpec(subscription=sub, group="rg", name="vm", location="westus", months_behind=2)
        )
        client = ComputeManagementClient(
            emu.credential(),
            sub,
            base_url=emu.endpoint,
            connection_verify=emu.ca_path,
            polling_interval=emu.polling_interval,
        )
        poller = client.virtual_machines.begin_assess_patches("rg", "vm")
        accepted = poller.polling_method()._initial_response.http_response  # type: ignore[attr-defined]
        recorded_headers = {h.lower() for h in RECORDED["vm_install_accepted_2024"]["headers"]}
        assert recorded_headers <= {h.lower() for h in accepted.headers}
        result = poller.result().as_dict()
        recorded = body("vm_assess_result")
        assert keys(recorded) - {"error"} <= keys(result)
        assert keys(recorded["availablePatches"][0]) - {"version"} <= keys(
            result["availablePatches"][0]
        )
        installed = (
            client.virtual_machines.begin_install_patches(
                "rg",
                "vm",
                {
                    "rebootSetting": "IfRequired",
                    "windowsParameters": {"classificationsToInclude": ["Security"]},
                },
            )
            .result()
            .as_dict()
        )
        assert keys(body("vm_install_result_2024")) <= keys(installed)
        got = client.virtual_machines.get("rg", "vm", expand="instanceView").as_dict()
        recorded_vm = body("vm_get_hotpatch_2024")
        assert {"name", "id", "type", "location", "properties"} <= keys(got)
        assert keys(recorded_vm["properties"]["osProfile"]["windowsConfiguration"]) <= keys(
            got["properties"]["osProfile"]["windowsConfiguration"]
        ) | {"enableVMAgentPlatformUpdates"}
        skus = client.virtual_machine_images.list_skus(
            "westus", "MicrosoftWindowsServer", "WindowsServer"
        )
        assert keys(body("list_skus_canonical_westus")[0]) <= keys(skus[0].as_dict())
