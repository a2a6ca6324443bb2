"""The emulator held to Microsoft's published examples, beside the SDK-model contract
(test_published_contract): every route it serves is replayed from the examples Microsoft
publishes for it (the REST API specs' example files, the Graph reference's and Intune's
request/response blocks; tests/fixtures/published_examples.json names each one's source), in an
emulated world where the example's resources exist, and the answer is compared with the
example's: status, long-running operation headers, body shape and the values that are not
the example's own (`published_examples`).

Where the emulator answers otherwise and Azure really does answer otherwise, the difference is
listed in `DEPARTURES` with the recording, SDK code or Microsoft page that shows it (the
examples are generated from the specs and are sometimes wrong; recordings win over them). Any
other difference fails, and so does a listed one the emulator no longer shows. Departures that
were the emulator's own were fixed, each in its commit naming the example it follows:

* arc.runCommand.put: the run command's ``Location`` (operationResults) answered with the
  machine's license profile (or 204 without one), not the finished run command;
* arc.runCommand.put/get/list: a fixed 600 s ``timeoutInSeconds``; what the PUT wrote
  (timeout, parameters, run-as user, blob URIs) was not given back;
* intune.policies.assign: 400 for a target whose ``@odata.type`` has no '#' (as the reference
  writes it) and for any target but a group's;
* hci.image.get: a marketplace image always in westeurope, without its custom location;
* graph.resources: ``summarize count() by tostring(properties.a.b)`` refused (Kusto names the
  column ``properties_a_b``);
* mc.put: configurations of any scope but InGuestPatch refused (the example's is OSImage);
* ca.put/get/list: assignments to a VM scale set refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.hybridcompute import HybridComputeManagementClient
from azure.mgmt.maintenance import MaintenanceManagementClient
from azure.mgmt.resource.features import FeatureClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest

from azhotpatch._operations.arc import LOCAL_API
from azhotpatch.testing import Emulator

from .conftest import sdk_options
from .published_examples import (
    GROUP,
    Answer,
    Example,
    Finding,
    Replay,
    Union,
    Wire,
    bind,
    examples,
    findings,
    replay,
    world_roles,
)

START = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
RECORDED = "tests/fixtures/recorded_azure.json"


@dataclass(frozen=True)
class Departure:
    """A difference from an example that Azure itself shows: ``citation`` is the recording (a
    file of the shared reference recordings, or its exchange in tests/fixtures/
    recorded_azure.json), the SDK code or the Microsoft page that shows it."""

    example: str
    kind: str
    where: str
    reason: str
    citation: str

    @property
    def key(self) -> tuple[str, str, str]:
        return self.example, self.kind, self.where


_COMPUTE_LRO = (
    "Compute answers its long-running operations with Azure-AsyncOperation (and Location for "
    "the patch actions), which the example leaves out"
)
_COMPUTE_RECORDED = (
    f"{RECORDED} vm_assess_accepted (azure-cli__test_vm_auto_update.2020-08_assess.yaml "
    "interaction 12: 202 with azure-asyncoperation and location); "
    "azure-cli__test_vm_install_patches.2024-11.excerpt.yaml interaction 4 (installPatches: "
    "202 with azure-asyncoperation and location)"
)
_COMPUTE_SDK = (
    "azure-mgmt-compute VirtualMachinesOperations.begin_update / begin_create_or_update poll "
    "with ARMPolling, which follows Azure-AsyncOperation"
)
_ARC_LOCATION = (
    "azure-mgmt-hybridcompute MachinesOperations.begin_assess_patches / begin_install_patches "
    "poll Location as a URL (ARMPolling); the recorded Arc assessPatches (azure-powershell "
    "Invoke-AzConnectedAssessMachinePatch.Recording.json, shape noted in the reference "
    "recordings' README) answers Location …/updateCenterOperationResults/<id>"
)
_ARC_RETRY = (
    "the recorded Arc assessPatches (azure-powershell "
    "Invoke-AzConnectedAssessMachinePatch.Recording.json, shape noted in the reference "
    "recordings' README) answers Retry-After: 60"
)
_ARC_NO_RETRY = (
    f"{RECORDED} arc_license_patch (azure-powershell Update-AzConnectedLicenseProfile, "
    "2024-11: 202 with Location and Azure-AsyncOperation, no Retry-After). Hybrid Compute's "
    "PUT and DELETE of a license profile and a run command's PUT are not recorded: the "
    "recorded PATCH of the same provider's long-running writes stands for them"
)
_GRAPH_CONTEXT = (
    "MicrosoftDocs/memdocs intune/device-management/reports/export-graph-apis.md: Graph's "
    "answers carry @odata.context (OData control information the reference's examples leave "
    "out); no Graph recording is kept here"
)
_GRAPH_BARE = (
    "microsoftgraph/msgraph-beta-sdk-python @ 0268388d, msgraph_beta/generated/"
    "device_management/windows_quality_update_policies/item/"
    "windows_quality_update_policy_item_request_builder.py: get() reads the body as the "
    "entity (send_async(..., WindowsQualityUpdatePolicy)), not wrapped; memdocs "
    "export-graph-apis.md shows an export job read answered bare"
)

DEPARTURES = (
    Departure("vm_update", "header", "Azure-AsyncOperation", _COMPUTE_LRO, _COMPUTE_SDK),
    Departure("vm_create_by_os", "header", "Azure-AsyncOperation", _COMPUTE_LRO, _COMPUTE_SDK),
    Departure("vm_assess", "header", "Azure-AsyncOperation", _COMPUTE_LRO, _COMPUTE_RECORDED),
    Departure("vm_install", "header", "Azure-AsyncOperation", _COMPUTE_LRO, _COMPUTE_RECORDED),
    Departure(
        "vm_create_hotpatch",
        "status",
        "",
        "the example turns Hotpatch on for a 2016-Datacenter image, which Azure refuses (400 "
        "InvalidParameter, target windowsConfiguration.patchSettings.enableHotpatching)",
        "azure-cli__test_vm_auto_update.2021-03_hotpatch-rejected.yaml: 'The selected VM image "
        "is not supported for hotpatching'",
    ),
    Departure(
        "images_listSkus",
        "extra",
        "[].properties",
        "every SKU carries properties.automaticOSUpgradeProperties, which neither the example "
        "nor VirtualMachineImageResource declares",
        f"{RECORDED} list_skus_canonical_westus (azure-cli test_vm_image_list_skus)",
    ),
    Departure(
        "images_listSkus_max",
        "extra",
        "[].properties",
        "as images_listSkus",
        f"{RECORDED} list_skus_canonical_westus (azure-cli test_vm_image_list_skus)",
    ),
    Departure(
        "arc_assess",
        "header",
        "Location",
        "the example's Location is a region name; Azure answers the operation's URL",
        _ARC_LOCATION,
    ),
    Departure(
        "arc_install",
        "header",
        "Location",
        "the example's Location is a region name; Azure answers the operation's URL",
        _ARC_LOCATION,
    ),
    Departure("arc_assess", "header", "Retry-After", "Azure says when to poll", _ARC_RETRY),
    Departure("arc_install", "header", "Retry-After", "as arc_assess", _ARC_RETRY),
    Departure(
        "arc_license_put", "header", "Retry-After", "Hybrid Compute sends none", _ARC_NO_RETRY
    ),
    Departure(
        "arc_license_patch", "header", "Retry-After", "Hybrid Compute sends none", _ARC_NO_RETRY
    ),
    Departure(
        "arc_license_delete", "header", "Retry-After", "Hybrid Compute sends none", _ARC_NO_RETRY
    ),
    Departure(
        "arc_runcommand_put", "header", "Retry-After", "Hybrid Compute sends none", _ARC_NO_RETRY
    ),
    Departure(
        "arc_license_patch",
        "body",
        "",
        "the 202 of a license profile PATCH carries the profile",
        f"{RECORDED} arc_license_patch (azure-powershell Update-AzConnectedLicenseProfile)",
    ),
    Departure(
        "features_get",
        "value",
        "type",
        "the example's type is 'type1'; a feature is Microsoft.Features/providers/features (as "
        "the unregister example has it)",
        f"{RECORDED} feature_register_pending (azure-sdk-for-python test_features)",
    ),
    Departure(
        "features_register",
        "value",
        "type",
        "as features_get",
        f"{RECORDED} feature_register_pending (azure-sdk-for-python test_features)",
    ),
    Departure(
        "graph_properties",
        "extra",
        "data[].count_",
        "the example calls the unnamed count() column 'count'; Kusto names it count_. No "
        "recording or SDK shows a Resource Graph summarize: this one is open",
        "Microsoft's Resource Graph sample queries sort such answers with 'order by count_ "
        "desc' (learn.microsoft.com, governance/resource-graph samples, e.g. 'Key vaults by "
        "location'), which only runs if the column is count_",
    ),
    Departure("graph_policy_list", "extra", "@odata.context", "OData context", _GRAPH_CONTEXT),
    Departure("graph_assignments_list", "extra", "@odata.context", "OData context", _GRAPH_CONTEXT),
    Departure("graph_device_list", "extra", "@odata.context", "OData context", _GRAPH_CONTEXT),
    Departure(
        "graph_policy_get",
        "body",
        "value",
        "the Intune reference's generator wraps a single entity in 'value'; Graph answers it bare",
        _GRAPH_BARE,
    ),
    Departure("graph_device_get", "body", "value", "as graph_policy_get", _GRAPH_BARE),
    Departure("graph_export_get", "body", "value", "as graph_policy_get", _GRAPH_BARE),
)

# Routes no published example calls, and why; the replay still reaches the status routes by
# following the examples' long-running operations.
NO_EXAMPLE = {
    "compute.operation": "an Azure-AsyncOperation/Location status URL (ARM's asynchronous "
    "operation protocol): no operation of the spec, followed from vm_assess and vm_install",
    "arc.operationStatus": "an Azure-AsyncOperation status URL, followed from the license "
    "profile and run command examples",
    "arc.operationResults": "a Location URL, followed from the license profile and run "
    "command examples",
    "arc.patchOperation": "a Location URL, followed from arc_assess and arc_install",
    "providers.register": "the index of azure-rest-api-specs searched holds no example of "
    "Providers_Register at 2025-04-01 (GetProvider.json only)",
    "providers.unregister": "as providers.register",
    "storage.download": "not Graph: the storage blob a finished export job's url names "
    "(memdocs export-graph-apis.md shows its shape, checked below)",
}

# Examples of another api-version than the installed SDK sends, and why.
OTHER_VERSION = {
    "vm_create_hotpatch": "the index holds this example at 2025-04-01 only",
    "vm_assess": "the index holds no 2026-04-01 VirtualMachine_AssessPatches.json",
    "vm_install": "the index holds no 2026-04-01 VirtualMachine_InstallPatches.json",
    "vm_list": "the index holds no 2026-04-01 list example but the MaximumSet one",
    "vmss_get": "the index holds no 2026-04-01 scale set GET example",
    "images_listSkus_max": "the 2025-04-01 MaximumSet example, beside the 2026-04-01 one",
    "features_get": "the index holds getFeature.json at 2015-12-01 and 2025-03-01 only",
    "cas_get": "the index holds this example in 2023-10-01-preview only",
    "cas_list": "the index holds this example in 2023-10-01-preview only",
    "mc_list_group": "the index holds this example in 2023-10-01-preview only",
}


@dataclass
class Replayed:
    replays: list[Replay]
    found: list[Finding]
    served_routes: set[str]
    sdk_versions: dict[str, str]  # provider -> the api-version its installed SDK sends
    providers: dict[str, str]  # route -> provider
    download: tuple[int, str]  # the finished export's url, read without a token


@pytest.fixture(scope="module")
def replayed() -> Iterator[Replayed]:
    published = examples()
    union = Union(published)
    with Emulator(seed=3, start=START) as emu:
        roles = world_roles(emu)
        wire = Wire(emu)
        replays: list[Replay] = []
        found: list[Finding] = []
        for example in published:  # judged at once: later examples change the roles
            replays.append(replay(emu, wire, example, roles))
            found += findings(replays[-1], roles, union)
        served = {b.route for b in wire.arm_served} | {b.route for b in wire.graph_served}
        versions = _sdk_versions(emu, roles["subscriptionId"], wire)
        providers = {route.name: route.provider for route in emu.dispatcher.routes}
        export = next(r for r in replays if r.example.name == "graph_export_get_by_key")
        blob = requests.get(export.answer.body["url"], verify=emu.ca_path, timeout=30)
        download = (blob.status_code, blob.headers.get("Content-Type", ""))
        yield Replayed(replays, found, served, versions, providers, download)


def _sdk_versions(emu: Emulator, sub: str, wire: Wire) -> dict[str, str]:
    """One call through each installed SDK client: the api-version it sends."""
    options = sdk_options(emu)
    credential = emu.credential()
    calls = (
        lambda: ComputeManagementClient(credential, sub, **options).virtual_machines.get(
            GROUP, "vm-example"
        ),
        lambda: HybridComputeManagementClient(credential, sub, **options).machines.get(
            GROUP, "arc-example"
        ),
        lambda: list(
            MaintenanceManagementClient(
                credential, sub, **options
            ).maintenance_configurations.list()
        ),
        lambda: list(FeatureClient(credential, sub, **options).features.list_all()),
        lambda: ResourceManagementClient(credential, sub, **options).providers.get(
            "Microsoft.Compute"
        ),
        lambda: ResourceGraphClient(credential, **options).resources(
            QueryRequest(subscriptions=[sub], query="resources | take 1")
        ),
    )
    providers = {route.name: route.provider for route in emu.dispatcher.routes}
    versions = {"Microsoft.AzureStackHCI": LOCAL_API}  # the library's generic read sends it
    for call in calls:
        call()
        served = wire.arm_served[-1]
        versions[providers[served.route]] = served.api_version
    return versions


# --- the emulator against the examples ------------------------------------------------------------


def test_every_route_has_a_published_example_or_says_why() -> None:
    with Emulator() as emu:
        routes = {r.name for r in emu.dispatcher.routes} | {r.name for r in emu.graph.routes}
    covered = {example.route for example in examples()}
    assert covered <= routes, "examples of routes the emulator no longer has"
    assert routes - covered == set(NO_EXAMPLE), "a route with no example: add one or say why"


def test_the_emulator_answers_every_example_as_published(replayed: Replayed) -> None:
    allowed = {d.key for d in DEPARTURES}
    unexplained = [str(f) for f in replayed.found if f.key not in allowed]
    assert not unexplained, "\n".join(unexplained)


def test_every_listed_departure_is_still_seen(replayed: Replayed) -> None:
    seen = {f.key for f in replayed.found}
    stale = [d for d in DEPARTURES if d.key not in seen]
    assert not stale, f"the emulator no longer departs here; drop them: {stale}"
    assert len({d.key for d in DEPARTURES}) == len(DEPARTURES)


def test_the_replay_reaches_every_route_it_has_examples_for_and_the_status_routes(
    replayed: Replayed,
) -> None:
    covered = {example.route for example in examples()}
    status_routes = {"compute.operation", "arc.operationStatus", "arc.operationResults"}
    assert covered | status_routes | {"arc.patchOperation"} <= replayed.served_routes
    assert "unmatched" not in replayed.served_routes
    run_command = next(r for r in replayed.replays if r.example.name == "arc_runcommand_put")
    assert run_command.final is not None
    assert run_command.final.status == 200, "the finished run command at its Location"


def test_each_example_names_its_source_and_the_version_the_sdk_sends(replayed: Replayed) -> None:
    other: dict[str, str] = {}
    for example in examples():
        source = example.source
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), example.name
        assert source["repo"] in {
            "Azure/azure-rest-api-specs",
            "microsoftgraph/microsoft-graph-docs-contrib",
            "MicrosoftDocs/memdocs",
        }
        assert source["path"].endswith((".json", ".md")), example.name
        if example.graph:
            continue
        sent = replayed.sdk_versions[replayed.providers[example.route]]
        if example.request["api-version"] != sent:
            other[example.name] = example.request["api-version"]
    assert set(other) == set(OTHER_VERSION), other


def test_a_finished_export_names_a_download_shaped_as_published(replayed: Replayed) -> None:
    """The url of a completed export job (memdocs export-graph-apis.md: a .zip blob with a
    SAS: sv, sr, sig) downloads the report without a token."""
    done = next(r for r in replayed.replays if r.example.name == "graph_export_get_by_key")
    published = done.example.responses["200"]["body"]["url"]
    url = done.answer.body["url"]
    assert done.answer.body["status"] == "completed"
    assert urlsplit(url).path.endswith(".zip")
    assert set(parse_qs(urlsplit(published).query)) >= {"sv", "sr", "sig"}
    assert {"sv", "sr", "sig"} <= set(parse_qs(urlsplit(url).query))
    assert replayed.download == (200, "application/zip")


# --- the check itself can fail ------------------------------------------------------------


def _example(name: str) -> Example:
    return next(e for e in examples() if e.name == name)


ROLES = {
    "subscriptionId": "0b1f6471-1bf0-4dda-aec3-cb9272f09590",
    "resourceGroupName": "rg",
    "machineName": "m1",
    "runCommandName": "rc",
    "location": "westeurope",
    "policyId": "p1",
}


def _findings(example: Example, answer: Answer, **extra: object) -> set[tuple[str, str]]:
    done = Replay(example, answer, **extra)  # type: ignore[arg-type]
    return {(f.kind, f.where) for f in findings(done, ROLES, Union(examples()))}


def test_the_check_reports_each_kind_of_departure() -> None:
    run_command = _example("arc_runcommand_get")
    published = bind(run_command.responses["200"]["body"], ROLES)
    body = {
        **published,
        "id": "/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourceGroups/rg/providers/"
        "Microsoft.HybridCompute/machines/m1/runCommands/other",  # not the one asked for
        "type": "Microsoft.HybridCompute/machines/licenseProfiles",
        "location": "eastus",
        "kind": "Unexpected",  # neither the example nor MachineRunCommand has it
        "properties": {
            **published["properties"],
            "timeoutInSeconds": "3600",  # a string where the example has a number
            "instanceView": {**published["properties"]["instanceView"], "endTime": "soon"},
        },
    }
    body.pop("name")
    found = _findings(run_command, Answer(200, {}, body, "arc.runCommand.get"))
    assert found == {
        ("value", "id"),
        ("value", "type"),
        ("value", "location"),
        ("extra", "kind"),
        ("type", "properties.timeoutInSeconds"),
        ("format", "properties.instanceView.endTime"),
        ("absent", "name"),
    }


def test_the_check_reports_statuses_headers_echoes_and_graph_enums() -> None:
    put = _example("arc_runcommand_put")
    answer = Answer(202, {}, None, "arc.runCommand.put")
    assert {k for k, _ in _findings(put, answer)} == {"status"}
    created = bind(put.responses["201"]["body"], ROLES)
    created["properties"]["timeoutInSeconds"] = 600
    headers = {"location": "not a url", "retry-after": "1.5"}
    found = _findings(
        put,
        Answer(201, headers, created, "arc.runCommand.put"),
        request_body=bind(put.request["body"], ROLES),
    )
    assert found == {
        ("header", "Azure-AsyncOperation"),
        ("header", "Location"),
        ("header", "Retry-After"),
        ("echo", "properties.timeoutInSeconds"),
    }
    export = _example("graph_export_create")
    job = {**export.responses["201"]["body"], "status": "NotStarted"}
    assert _findings(export, Answer(201, {}, job, "intune.exports.create")) == {("enum", "status")}
    wrong_route = _findings(export, Answer(201, {}, job | {"status": "notStarted"}, "unmatched"))
    assert wrong_route == {("route", "")}
