"""The emulator held to Microsoft's published contract.

Every response body the emulator serves in a full run and on its fault paths (see
`full_run`) is checked against the schema of the api-version the installed SDK sends, read
from the SDK's own generated models (`sdk_schema`), route by route (`contracts`). An
undeclared property, an enum value outside the declared set, a missing required field, a
wrong type or a status the SDK operation does not accept fails, unless recorded Azure traffic
shows Azure sending it (`contracts.ALLOWED`). A route with no contract fails too, so a new
route cannot skip the check.

The emulator is driven by the library and the unmodified SDK clients; its dispatcher keeps
what it served (`Dispatcher.keep_bodies`). Nothing is mocked.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from azure.mgmt.compute.models import VirtualMachineAssessPatchesResult, VirtualMachineImageResource
from azure.mgmt.maintenance.models import MaintenanceConfiguration
from azure.mgmt.resourcegraph.models import QueryResponse

from azhotpatch.testing import Emulator
from azhotpatch.testing.arm.dispatch import ServedBody

from .contracts import ALLOWED, CONTRACTS, NOT_A_ROUTE, RECORDED_ROUTES, findings, recorded
from .full_run import serve_a_full_run
from .sdk_schema import check, fields_of, model

RECORDINGS = Path(__file__).resolve().parents[1] / "fixtures" / "recorded_azure.json"


@pytest.fixture(scope="module")
def served() -> list[ServedBody]:
    return serve_a_full_run()


def _kinds(served: ServedBody) -> set[tuple[str, str, str]]:
    return {(f.kind, f.owner, f.member) for f in findings(served)}


def _bare(served: ServedBody) -> bool:
    """An Azure-AsyncOperation status that says Succeeded without the result Azure puts
    there."""
    body = served.body
    status_document = served.route in ("compute.operation", "arc.operationStatus")
    succeeded = isinstance(body, dict) and body.get("status") == "Succeeded"
    return (
        status_document
        and succeeded
        and "monitor" not in served.parameters
        and "properties" not in body
    )


def _recorded(name: str) -> ServedBody:
    exchange = json.loads(RECORDINGS.read_text())[name]
    route, operation, monitor = RECORDED_ROUTES[name]
    return recorded(route, exchange["status"], exchange["body"], operation, monitor)


# --- the emulator against the contract ------------------------------------------------------------


def test_every_route_has_a_contract() -> None:
    with Emulator() as emu:
        routes = {route.name for route in emu.dispatcher.routes}
    assert routes - set(CONTRACTS) == set(), "routes with no contract: add them to contracts.py"
    assert set(CONTRACTS) - routes == set(), "contracts for routes the emulator no longer has"


def test_every_body_served_matches_the_published_schema(served: list[ServedBody]) -> None:
    allowed = {a.key for a in ALLOWED}
    unexplained = Counter(
        f"{body.route} {body.status}: {finding}"
        for body in served
        for finding in findings(body)
        if (finding.kind, finding.owner, finding.member) not in allowed
    )
    assert not unexplained, "\n".join(f"{n} x {what}" for what, n in sorted(unexplained.items()))


def test_the_run_reaches_every_route_and_the_fault_paths(served: list[ServedBody]) -> None:
    """The check is only as good as what was served: every route answers with success at
    least once, and the fault paths produce failed operations and ARM's errors."""
    assert set(CONTRACTS) - {b.route for b in served if b.status < 400} == set()
    assert "unmatched" not in {b.route for b in served}
    failed = {
        b.route for b in served if isinstance(b.body, dict) and b.body.get("status") == "Failed"
    }
    assert failed >= {"compute.operation", "arc.operationStatus", "arc.patchOperation"}
    bare = {(b.route, b.operation) for b in served if _bare(b)}
    assert bare >= {
        ("compute.operation", "assessPatches"),
        ("compute.operation", "installPatches"),
        ("arc.operationStatus", "licenseProfile"),
    }
    errors = {(b.status, b.body["error"]["code"]) for b in served if b.status >= 400}
    assert errors >= {
        (400, "InvalidParameter"),
        (400, "NoRegisteredProviderFound"),
        (401, "ExpiredAuthenticationToken"),
        (403, "AuthorizationFailed"),
        (403, "RequestDisallowedByPolicy"),
        (404, "ResourceNotFound"),
        (409, "ScopeLocked"),
        (409, "ReadOnlyDisabledSubscription"),
        (409, "OperationNotAllowed"),
        (429, "OperationNotAllowed"),
        (429, "SubscriptionRequestsThrottled"),
        (429, "RateLimiting"),
        (429, "TooManyRequests"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailable"),
    }


# --- the allowances against the recordings -------------------------------------------------------


def test_every_allowance_is_shown_by_its_recording_and_still_needed(
    served: list[ServedBody],
) -> None:
    needed = {key for body in served for key in _kinds(body)}
    for allowance in ALLOWED:
        assert allowance.key in _kinds(_recorded(allowance.recorded)), allowance
        assert allowance.key in needed, f"the emulator no longer sends {allowance.key}"


def test_recorded_azure_traffic_passes_the_same_check() -> None:
    """Real Azure bodies, checked the same way, depart from the spec only where an allowance
    says so, or where Azure sends something the emulator does not (a provider document's
    ``authorization``): the schemas read from the SDK are the ones Azure answers with."""
    names = set(json.loads(RECORDINGS.read_text()))
    assert names == set(RECORDED_ROUTES) | NOT_A_ROUTE
    found = {key for name in RECORDED_ROUTES for key in _kinds(_recorded(name))}
    azure_only = {("undeclared", "Provider", "authorization")}
    assert found == {a.key for a in ALLOWED} | azure_only


# --- the check itself can fail ----------------------------------------------------------------------


def test_the_check_reports_each_kind_of_departure() -> None:
    body = {
        "status": "Done",  # not a PatchOperationStatus
        "rebootPending": "no",  # not a boolean
        "lastModifiedDateTime": "2026-11-22T09:00:00Z",  # not declared
        "availablePatches": [{"patchId": "x", "rebootBehavior": "Sometimes"}],
    }
    found = {
        (f.kind, f.owner, f.member) for f in check(body, model(VirtualMachineAssessPatchesResult))
    }
    assert found == {
        ("enum", "VirtualMachineAssessPatchesResult", "status"),
        ("type", "VirtualMachineAssessPatchesResult", "rebootPending"),
        ("undeclared", "VirtualMachineAssessPatchesResult", "lastModifiedDateTime"),
        ("enum", "VirtualMachineSoftwarePatchProperties", "rebootBehavior"),
    }
    missing = {(f.kind, f.member) for f in check({"data": []}, model(QueryResponse))}
    assert missing == {
        ("missing", "totalRecords"),
        ("missing", "count"),
        ("missing", "resultTruncated"),
    }


def test_a_wrong_status_an_unknown_route_and_a_missing_body_fail() -> None:
    def answered(route: str, status: int, body: object = None) -> list[str]:
        return [f.kind for f in findings(ServedBody(route, "GET", status, "", (), None, body))]

    assert answered("vm.get", 202) == ["status"]
    assert answered("vm.reimage", 200) == ["route"]
    assert answered("vm.get", 200) == ["body"]
    assert answered("vm.assessPatches", 202, {"status": "InProgress"}) == ["body"]
    assert answered("vm.get", 404, {"error": {"code": "ResourceNotFound"}}) == ["missing"]


def test_both_generators_models_are_read() -> None:
    """msrest models (Maintenance: flattened properties, enums named in docstrings) and
    TypeSpec models (Compute: annotations) both yield their fields, required ones and enums."""
    image = fields_of(VirtualMachineImageResource)
    assert image["name"].required
    assert not image["tags"].required
    properties = fields_of(MaintenanceConfiguration)["properties"].shape.fields
    assert properties is not None
    scope = properties["maintenanceScope"].shape
    assert scope.kind == "enum"
    assert "inguestpatch" in scope.values
    assert properties["maintenanceWindow"].shape.fields is not None
