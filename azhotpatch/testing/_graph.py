"""Azure Resource Graph: ``POST /providers/Microsoft.ResourceGraph/resources``.

Queries run through the emulator's KQL subset (`_kql.SUPPORTED_SUBSET`); anything outside it
is rejected the way ARG rejects a bad query (400 with ``InvalidQuery``/``ParserFailure``
details), never guessed at. Tables: ``resources`` (VMs and Arc machines, shaped like ARG rows,
including ``properties.extended.instanceView.powerState`` for VMs), ``patchassessmentresources``
and ``patchinstallationresources`` (summary rows per assess/install run, on request or scheduled),
and ``maintenanceresources`` (configuration assignments and scheduled runs' ``applyupdates``).

Paging as documented: ``$top`` (1-1000), ``$skip``, and ``$skipToken`` pointing into a
snapshot of the first page's results, so later pages are consistent even while machines
change. Like ARG, a query that does not project ``id`` cannot be paged: it comes back with
``resultTruncated: "true"`` and no ``$skipToken``. Every response carries the user quota
headers; past the quota the answer is 429 with Retry-After.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from azhotpatch.testing import _kql
from azhotpatch.testing._arm import ArmError, Request, Response, Route, iso
from azhotpatch.testing._arm import route as _route
from azhotpatch.testing._compute import render_vm
from azhotpatch.testing._hybrid import render_arc
from azhotpatch.testing._maintenance import maintenance_rows
from azhotpatch.testing._state import ArcMachine, PatchRun, VirtualMachine, World

_MAX_TOP = 1000
_SNAPSHOTS = 64


class GraphApi:
    def __init__(self, world: World) -> None:
        self.world = world
        self._snapshots: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._ids = itertools.count(1)
        self._parsed: dict[str, _kql.Query] = {}
        self._tables_version = -1
        self._tables: dict[str, list[dict[str, Any]]] = {}

    def routes(self) -> list[Route]:
        return [
            _route(
                "graph.resources",
                "POST",
                "/providers/Microsoft.ResourceGraph/resources",
                self.resources,
                provider="Microsoft.ResourceGraph",
                action="Microsoft.ResourceGraph/resources/read",
                arm_kind="reads",
                scope="tenant",
            ),
        ]

    def resources(self, request: Request) -> Response:
        body = request.json_object()
        options = body.get("options") or {}
        top = _top(options)
        if options.get("$skipToken"):
            rows, offset = self._resume(str(options["$skipToken"]))
        else:
            rows = self._run(body, request.principal)
            offset = _int_option(options, "$skip", 0)
        chunk = rows[offset : offset + top]
        more = offset + top < len(rows)
        pageable = not chunk or all("id" in row for row in chunk)
        result: dict[str, Any] = {
            "totalRecords": len(rows),
            "count": len(chunk),
            "data": _format(chunk, str(options.get("resultFormat") or "objectArray")),
            "facets": [],
            "resultTruncated": "true" if more and not pageable else "false",
        }
        if more and pageable:
            result["$skipToken"] = self._token(rows, offset + top)
        return Response(200, result)

    # --- evaluation -----------------------------------------------------------------------

    def _run(self, body: dict[str, Any], principal: str) -> list[dict[str, Any]]:
        query_text = body.get("query")
        if not isinstance(query_text, str) or not query_text.strip():
            raise _bad_query("The request must contain a non-empty 'query'.", None)
        try:
            query = self._parsed.get(query_text) or _kql.parse(query_text)
        except _kql.KqlError as error:
            raise _bad_query(str(error), error.position) from None
        self._parsed[query_text] = query
        scope = self._scope(body)
        readable = self.world.estate.can_read
        tables = {
            name: [
                row
                for row in rows
                if row.get("subscriptionId") in scope
                and readable(principal, str(row.get("type", "")), str(row.get("id", "")).lower())
            ]
            for name, rows in self._all_tables().items()
        }
        try:
            return query.execute(tables, now=self.world.clock.now())
        except _kql.KqlError as error:
            raise _bad_query(str(error), error.position) from None

    def _scope(self, body: dict[str, Any]) -> set[str]:
        subs = body.get("subscriptions")
        groups = body.get("managementGroups")
        if groups:
            scope: set[str] = set()
            for group in groups:
                scope |= self.world.management_groups.get(str(group).lower(), set())
            return scope
        if subs:
            return {str(s).lower() for s in subs}
        return set(self.world.subscriptions)

    def _all_tables(self) -> dict[str, list[dict[str, Any]]]:
        if self._tables_version != self.world.version:
            self._tables = {
                "resources": [vm_row(self.world, vm) for vm in self._vms()]
                + [arc_row(self.world, m) for m in self._arcs()],
                "patchassessmentresources": run_rows(self.world, "assessPatches"),
                "patchinstallationresources": run_rows(self.world, "installPatches"),
                "maintenanceresources": maintenance_rows(self.world),
            }
            self._tables_version = self.world.version
        return self._tables

    def _vms(self) -> Iterable[VirtualMachine]:
        ghosts = self.world.graph_ghosts.values()
        yield from self.world.vms.values()
        yield from (m for m in ghosts if isinstance(m, VirtualMachine))

    def _arcs(self) -> Iterable[ArcMachine]:
        ghosts = self.world.graph_ghosts.values()
        yield from self.world.arcs.values()
        yield from (m for m in ghosts if isinstance(m, ArcMachine))

    # --- paging ---------------------------------------------------------------------------

    def _token(self, rows: list[dict[str, Any]], offset: int) -> str:
        snapshot = next((k for k, v in self._snapshots.items() if v is rows), None)
        if snapshot is None:
            snapshot = str(next(self._ids))
            self._snapshots[snapshot] = rows
            while len(self._snapshots) > _SNAPSHOTS:
                self._snapshots.popitem(last=False)
        raw = json.dumps({"s": snapshot, "o": offset}).encode()
        return base64.b64encode(raw).decode()

    def _resume(self, token: str) -> tuple[list[dict[str, Any]], int]:
        try:
            data = json.loads(base64.b64decode(token))
            rows = self._snapshots[str(data["s"])]
            return rows, int(data["o"])
        except (ValueError, KeyError, TypeError):
            raise ArmError(
                400,
                "BadRequest",
                "The $skipToken is invalid or has expired; run the query again without it.",
                details=[{"code": "InvalidSkipToken", "message": "Invalid $skipToken."}],
            ) from None


def _top(options: dict[str, Any]) -> int:
    top = _int_option(options, "$top", 100)
    if not 1 <= top <= _MAX_TOP:
        raise ArmError(
            400,
            "BadRequest",
            f"The $top value {top} is out of range; it must be between 1 and {_MAX_TOP}.",
            details=[{"code": "InvalidTop", "message": f"$top must be 1..{_MAX_TOP}."}],
        )
    return top


def _int_option(options: dict[str, Any], name: str, default: int) -> int:
    value = options.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ArmError(400, "BadRequest", f"The option {name} must be a non-negative integer.")
    return value


def _bad_query(message: str, position: int | None) -> ArmError:
    detail: dict[str, Any] = {"code": "ParserFailure", "message": message}
    if position is not None:
        detail["characterPositionInLine"] = position
    return ArmError(
        400,
        "BadRequest",
        "Please provide below info when asking for support: the query is invalid.",
        details=[
            {
                "code": "InvalidQuery",
                "message": "Query is invalid. Please refer to the documentation for the Azure "
                "Resource Graph service and fix the error before retrying.",
            },
            detail,
        ],
    )


def _format(rows: list[dict[str, Any]], result_format: str) -> Any:
    if result_format.lower() != "table":
        return rows
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    return {
        "columns": [{"name": c, "type": "object"} for c in columns],
        "rows": [[row.get(c) for c in columns] for row in rows],
    }


# --- rows ---------------------------------------------------------------------------------------


def _base_row(world: World, machine: VirtualMachine | ArcMachine, kind: str) -> dict[str, Any]:
    return {
        "id": machine.id,
        "name": machine.name,
        "type": kind,
        "tenantId": world.tenant_id,
        "kind": "",
        "location": machine.location,
        "resourceGroup": machine.group.lower(),
        "subscriptionId": machine.subscription,
        "managedBy": "",
        "sku": None,
        "plan": None,
        "identity": None,
        "zones": None,
        "extendedLocation": None,
    }


def vm_row(world: World, vm: VirtualMachine) -> dict[str, Any]:
    rendered = render_vm(world, vm)
    properties = dict(rendered["properties"])
    product = vm.product
    properties["extended"] = {
        "instanceView": {
            "computerName": vm.name[:15],
            "osName": product.display if product else "ubuntu",
            "osVersion": f"10.0.{product.build}.0" if product else "22.04",
            "powerState": {
                "code": f"PowerState/{vm.power}",
                "level": "Info",
                "displayStatus": f"VM {vm.power}",
            },
        }
    }
    row = _base_row(world, vm, "microsoft.compute/virtualmachines")
    row["properties"] = properties
    row["tags"] = rendered["tags"]
    return row


def arc_row(world: World, machine: ArcMachine) -> dict[str, Any]:
    rendered = render_arc(world, machine)
    row = _base_row(world, machine, "microsoft.hybridcompute/machines")
    row["properties"] = rendered["properties"]
    row["tags"] = rendered["tags"]
    return row


_RUN_TYPES = {
    "assessPatches": ("patchAssessmentResults", "patchassessmentresults"),
    "installPatches": ("patchInstallationResults", "patchinstallationresults"),
}


def run_rows(world: World, kind: str) -> list[dict[str, Any]]:
    """One summary row per run, as Update Manager's ARG tables hold them (the assessment table
    keeps the latest per machine, the installation table every run)."""
    segment, type_suffix = _RUN_TYPES[kind]
    runs: Iterable[PatchRun] = (r for r in world.patch_runs.values() if r.kind == kind)
    if kind == "assessPatches":
        latest: dict[str, PatchRun] = {}
        for run in runs:
            latest[run.machine] = run
        runs = latest.values()
    rows = []
    for run in runs:
        rows.append(_run_row(world, run, segment, type_suffix))
    return rows


def _run_row(world: World, run: PatchRun, segment: str, type_suffix: str) -> dict[str, Any]:
    machine_type = (
        "microsoft.hybridcompute/machines"
        if "/microsoft.hybridcompute/" in run.machine
        else "microsoft.compute/virtualmachines"
    )
    op = run.operation
    name = "latest" if run.kind == "assessPatches" else op.id
    result = run.result or {}
    properties: dict[str, Any] = {
        "status": result.get("status", "InProgress" if not op.done else op.status),
        "startedBy": run.started_by,
        "osType": run.os_type,
        "startDateTime": iso(world.clock.at(op.start)),
        "lastModifiedDateTime": iso(world.clock.at(op.end if op.done else op.start)),
    }
    for key in (
        "rebootPending",
        "availablePatchCountByClassification",
        "rebootStatus",
        "maintenanceWindowExceeded",
        "installedPatchCount",
        "failedPatchCount",
        "pendingPatchCount",
        "excludedPatchCount",
        "notSelectedPatchCount",
    ):
        if key in result:
            properties[key] = result[key]
    error = result.get("errorDetails") or result.get("error")
    if properties["status"] == "Failed" and error:
        properties["errorDetails"] = error
    if run.kind == "installPatches":
        properties["installationActivityId"] = op.id
        properties["maintenanceRunId"] = run.maintenance_run_id
    sub = run.machine.split("/")[2]
    return {
        "id": f"{run.machine_id}/{segment}/{name}",
        "name": name,
        "type": f"{machine_type}/{type_suffix}",
        "tenantId": world.tenant_id,
        "location": "",
        "resourceGroup": run.machine.split("/")[4],
        "subscriptionId": sub,
        "properties": properties,
        "tags": None,
    }
