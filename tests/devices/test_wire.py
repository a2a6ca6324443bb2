"""What goes over the wire to and from Microsoft Graph, held to the request and response
examples of the Graph docs. No Graph SDK is installed to read a schema from (see
azhotpatch._azure.msgraph for why), so each shape is the example of the page cited beside it,
from microsoftgraph/microsoft-graph-docs-contrib (``api-reference/beta/...``) or
MicrosoftDocs/memdocs. The library drives the emulator; the front door keeps every request
body and answer it served."""

from __future__ import annotations

import pytest

from azhotpatch.testing import Emulator
from azhotpatch.testing.msgraph.front import GraphServed
from tests.devices.conftest import groups

# api-reference/beta/resources/intune-softwareupdate-windowsqualityupdatepolicy.md, "JSON
# Representation"; the -create.md and -update.md examples show the same keys.
POLICY = {
    "@odata.type", "id", "displayName", "description", "createdDateTime",
    "lastModifiedDateTime", "roleScopeTagIds", "hotpatchEnabled", "approvalSettings",
}  # fmt: skip
# api-reference/beta/api/intune-softwareupdate-windowsqualityupdatepolicy-create.md, Request
CREATE_REQUEST = {"@odata.type", "displayName", "description", "roleScopeTagIds", "hotpatchEnabled"}
# ...-update.md, Request: the create's keys and approvalSettings
UPDATE_REQUEST = CREATE_REQUEST | {"approvalSettings"}
# ...-assign.md, Request: {"assignments": [{"@odata.type", "id", "target": {...}}]}, the target
# a groupAssignmentTarget (api-reference/beta/resources/intune-shared-groupassignmenttarget.md)
# or its exclusion twin; the filter keys are optional and not sent
ASSIGNMENT = {"@odata.type", "id", "target"}
TARGET = {
    "@odata.type", "groupId", "deviceAndAppManagementAssignmentFilterId",
    "deviceAndAppManagementAssignmentFilterType",
}  # fmt: skip
# api-reference/beta/api/intune-devices-manageddevice-get.md, Response (the managedDevice's
# keys this library selects), and api-reference/beta/resources/intune-devices-hardwareinformation.md
DEVICE_SELECTED = {"id", "deviceName", "operatingSystem", "osVersion", "processorArchitecture",
                   "skuFamily", "hardwareInformation"}  # fmt: skip
HARDWARE = {"@odata.type", "operatingSystemEdition", "deviceGuardVirtualizationBasedSecurityState"}
ARCHITECTURES = {"unknown", "x86", "x64", "arm", "arM64"}  # managedDeviceArchitecture
VBS_STATES = {"running", "rebootRequired", "require64BitArchitecture", "notLicensed",
              "notConfigured", "doesNotMeetHardwareRequirements", "other"}  # fmt: skip
# MicrosoftDocs/memdocs intune/device-management/reports/export-graph-apis.md: the request's
# five parameters, and the job as the response example shows it (the create page,
# api-reference/beta/api/intune-reporting-devicemanagementexportjob-create.md, adds @odata.type)
EXPORT_REQUEST = {"reportName", "filter", "select", "format", "localizationType"}
EXPORT_JOB = {
    "@odata.type", "@odata.context", "id", "reportName", "filter", "localizationType", "select",
    "format", "snapshotId", "status", "url", "requestDateTime", "expirationDateTime",
}  # fmt: skip
JOB_STATES = {"unknown", "notStarted", "inProgress", "completed", "failed"}


@pytest.fixture(scope="module")
def served() -> list[GraphServed]:
    """Everything a create, an update, an assignment change, a readiness check and a status
    export sent and received."""
    with Emulator(devices=60, seed=4, time_scale=600) as emulator:
        kept = emulator.graph.keep_bodies()
        ring = groups(emulator)
        with emulator.devices_client() as devices:
            devices.enable("Hotpatch", include=ring[:2])
            devices.enable("Hotpatch", include=ring[1:3], exclude=ring[3:4], description="ring 1-2")
            devices.readiness()
            devices.status()
        return list(kept)


def _of(served: list[GraphServed], route: str) -> list[GraphServed]:
    found = [s for s in served if s.route == route]
    assert found, f"nothing served on {route}"
    return found


def test_policies_are_created_and_updated_as_the_docs_show(served: list[GraphServed]) -> None:
    (create,) = _of(served, "intune.policies.create")
    assert create.status == 201
    assert set(create.request) <= CREATE_REQUEST
    assert {"displayName", "hotpatchEnabled"} <= set(create.request)
    assert create.request["@odata.type"] == "#microsoft.graph.windowsQualityUpdatePolicy"
    assert set(create.response) == POLICY
    (update,) = _of(served, "intune.policies.update")
    assert update.status == 200
    assert set(update.request) <= UPDATE_REQUEST
    assert set(update.request) == {"@odata.type", "description"}  # only what differed
    assert set(update.response) == POLICY
    for listing in _of(served, "intune.policies.list"):
        assert set(listing.response) == {"@odata.context", "value"}
        assert all(set(p) == POLICY for p in listing.response["value"])


def test_assignments_are_written_whole_as_the_docs_show(served: list[GraphServed]) -> None:
    first, second = _of(served, "intune.policies.assign")
    assert {first.status, second.status} == {204}
    assert first.response is None
    for sent in (first, second):
        assert set(sent.request) == {"assignments"}
        for entry in sent.request["assignments"]:
            assert set(entry) <= ASSIGNMENT
            assert entry["@odata.type"] == "#microsoft.graph.windowsQualityUpdatePolicyAssignment"
            assert set(entry["target"]) <= TARGET
            assert entry["target"]["@odata.type"] in (
                "#microsoft.graph.groupAssignmentTarget",
                "#microsoft.graph.exclusionGroupAssignmentTarget",
            )
    kept = [e for e in second.request["assignments"] if "id" in e]
    assert len(kept) == 1  # the group kept carries its assignment's id; new ones none
    for listing in _of(served, "intune.assignments.list"):
        for entry in listing.response["value"]:
            assert set(entry) == ASSIGNMENT


def test_devices_are_read_as_the_docs_show(served: list[GraphServed]) -> None:
    pages = _of(served, "intune.devices.list")
    for page in pages:
        for device in page.response["value"]:
            assert set(device) <= DEVICE_SELECTED
            assert device["processorArchitecture"] in ARCHITECTURES
    for single in _of(served, "intune.devices.get"):
        assert set(single.response) <= DEVICE_SELECTED
        hardware = single.response["hardwareInformation"]
        assert set(hardware) <= HARDWARE
        state = hardware["deviceGuardVirtualizationBasedSecurityState"]
        assert state is None or state in VBS_STATES


def test_reports_are_exported_as_the_docs_show(served: list[GraphServed]) -> None:
    (create,) = _of(served, "intune.exports.create")
    assert create.status == 201
    assert set(create.request) == EXPORT_REQUEST
    assert create.request["reportName"] == "QualityUpdateDeviceStatusByPolicy"
    assert create.request["filter"].startswith("(PolicyId eq '")  # required for this report
    assert set(create.response) | {"@odata.context"} == EXPORT_JOB
    polls = _of(served, "intune.exports.get")
    assert {p.response["status"] for p in polls} <= JOB_STATES
    assert polls[-1].response["status"] == "completed"
    assert polls[-1].response["url"]


def test_no_token_goes_to_report_storage() -> None:
    with Emulator(devices=20, seed=4, time_scale=600) as emulator:
        with emulator.devices_client() as devices:
            devices.enable("Hotpatch", include=groups(emulator)[:1])
            devices.status()
        storage = [r for r in emulator.graph.records if r.route == "storage.download"]
        signed = [r for r in emulator.graph.records if r.route != "storage.download"]
    assert storage
    assert not any(r.token_sent for r in storage)
    assert all(r.token_sent for r in signed)
