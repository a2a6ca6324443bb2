"""Azure Resource Graph's index of the world, and queries over it.

Tables: ``resources`` (VMs and Arc machines, shaped like ARG rows), ``patchassessmentresources``
and ``patchinstallationresources`` (summary rows per assess/install run, on request or
scheduled), ``maintenanceresources``, and ``policyresources`` (Azure Policy's states of the
built-in patch orchestration definitions assigned, `graph.policy`). Resource Graph indexes
what other providers hold, so it does not know them: it is handed the documents and rows
each provider contributes (see `GraphBackend`), and builds the patch tables from the world's
patch runs.

Queries run through the emulator's KQL subset (`kql.SUPPORTED_SUBSET`); anything outside it
is rejected the way ARG rejects a bad query, never guessed at. A query's rows are kept as a
snapshot its ``$skipToken`` points into, so later pages are consistent even while machines
change.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from azhotpatch.testing import kql
from azhotpatch.testing.arm.errors import ArmError
from azhotpatch.testing.arm.exchange import iso
from azhotpatch.testing.graph.policy import PolicyStates
from azhotpatch.testing.patching.history import classification_counts
from azhotpatch.testing.world.machines import ARC_TYPE, VM_TYPE, Machine
from azhotpatch.testing.world.operations import PatchRun
from azhotpatch.testing.world.state import World

Row = dict[str, Any]
# A provider's machines as Resource Graph indexes them: (machine, its ARM document).
IndexedResources = Callable[[], Iterable[tuple[Machine, dict[str, Any]]]]
# A provider's rows of a table of its own.
TableRows = Callable[[], list[Row]]
_SNAPSHOTS = 64
_RUN_TYPES = {
    "assessPatches": ("patchAssessmentResults", "patchassessmentresults"),
    "installPatches": ("patchInstallationResults", "patchinstallationresults"),
}
_RUN_SUMMARY_KEYS = (
    "rebootPending",
    "availablePatchCountByClassification",
    "rebootStatus",
    "maintenanceWindowExceeded",
    "installedPatchCount",
    "failedPatchCount",
    "pendingPatchCount",
    "excludedPatchCount",
    "notSelectedPatchCount",
)


class GraphBackend:
    """The index (rebuilt when the world changes), parsed queries and paging snapshots."""

    def __init__(
        self,
        world: World,
        *,
        resources: Sequence[IndexedResources],
        tables: Mapping[str, TableRows],
    ) -> None:
        self.world = world
        self._resources = tuple(resources)
        self._snapshots: OrderedDict[str, list[Row]] = OrderedDict()
        self._ids = itertools.count(1)
        self._parsed: dict[str, kql.Query] = {}
        self._tables: dict[str, tuple[int, list[Row]]] = {}  # name: (world version, rows)
        self._finished_rows: dict[str, dict[str, Row]] = {}  # run kind: {operation id: row}
        self.policy = PolicyStates(world, self._documents)
        # every table by name, with what builds its rows (the services hand in their own)
        self._builders: dict[str, TableRows] = {
            "resources": self._resource_rows,
            "patchassessmentresources": lambda: self._run_rows("assessPatches"),
            "patchinstallationresources": lambda: self._run_rows("installPatches"),
            "policyresources": self.policy.rows,
            **tables,
        }

    def _documents(self) -> Iterable[tuple[str, dict[str, Any]]]:
        for source in self._resources:
            for machine, document in source():
                yield machine.id, document

    # --- queries --------------------------------------------------------------------------

    def query(self, text: object, scope: set[str], principal: str) -> list[Row]:
        """The rows a query returns over the tables in ``scope`` (subscription ids) that the
        principal may read."""
        if not isinstance(text, str) or not text.strip():
            raise bad_query("The request must contain a non-empty 'query'.", None)
        try:
            query = self._parsed.get(text) or kql.parse(text)
        except kql.KqlError as error:
            raise bad_query(str(error), error.position) from None
        self._parsed[text] = query
        readable = self.world.estate.can_read
        # only the table the query reads is built and filtered (a query reads one: the subset
        # has no join or union); the others are named, empty, for an unknown table's message
        tables: dict[str, list[Row]] = {name: [] for name in self._builders}
        tables[query.table] = [
            row
            for row in self._table(query.table)
            if row.get("subscriptionId") in scope
            and readable(principal, str(row.get("type", "")), str(row.get("id", "")).lower())
        ]
        try:
            return query.execute(tables, now=self.world.clock.now())
        except kql.KqlError as error:
            raise bad_query(str(error), error.position) from None

    def scope(self, subscriptions: object, management_groups: object) -> set[str]:
        """The subscriptions a query covers: its management groups', else its own list, else
        every subscription."""
        if isinstance(management_groups, list) and management_groups:
            scope: set[str] = set()
            for group in management_groups:
                scope |= self.world.management_groups.get(str(group).lower(), set())
            return scope
        if isinstance(subscriptions, list) and subscriptions:
            return {str(s).lower() for s in subscriptions}
        return set(self.world.subscriptions)

    def _table(self, name: str) -> list[Row]:
        """One table's rows, rebuilt when the world has changed since they were built. Rows
        that trail the world (`World.graph_lag`) change with time alone: never kept."""
        if name not in self._builders:
            return []
        built = self._tables.get(name)
        if built is not None and built[0] == self.world.version and self.world.graph_lag <= 0:
            return built[1]
        rows = self._builders[name]()
        self._tables[name] = (self.world.version, rows)
        return rows

    def _resource_rows(self) -> list[Row]:
        return [
            resource_row(self.world, machine, document)
            for source in self._resources
            for machine, document in source()
        ]

    def _run_rows(self, kind: str) -> list[Row]:
        return run_rows(self.world, kind, self._finished_rows.setdefault(kind, {}))

    # --- paging ---------------------------------------------------------------------------

    def skip_token(self, rows: list[Row], offset: int) -> str:
        """A token for the rows from ``offset`` on, pointing into a snapshot of ``rows``."""
        snapshot = next((k for k, v in self._snapshots.items() if v is rows), None)
        if snapshot is None:
            snapshot = str(next(self._ids))
            self._snapshots[snapshot] = rows
            while len(self._snapshots) > _SNAPSHOTS:
                self._snapshots.popitem(last=False)
        raw = json.dumps({"s": snapshot, "o": offset}).encode()
        return base64.b64encode(raw).decode()

    def resume(self, token: str) -> tuple[list[Row], int]:
        """The snapshot and offset a ``$skipToken`` points to."""
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


def bad_query(message: str, position: int | None) -> ArmError:
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


# --- rows ---------------------------------------------------------------------------------------


def resource_row(world: World, machine: Machine, document: dict[str, Any]) -> Row:
    """A ``resources`` row: ARG's envelope around the resource's ARM document."""
    return {
        "id": machine.id,
        "name": machine.name,
        "type": str(document["type"]).lower(),
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
        "properties": document["properties"],
        "tags": document["tags"],
    }


def run_rows(world: World, kind: str, finished: dict[str, Row] | None = None) -> list[Row]:
    """One summary row per run, as Update Manager's ARG tables hold them (the assessment table
    keeps the latest per machine, the installation table every run), as of `World.graph_lag`
    ago."""
    segment, type_suffix = _RUN_TYPES[kind]
    seen = world.now() - world.graph_lag
    runs: Iterable[PatchRun] = (
        r for r in world.patch_runs.values() if r.kind == kind and r.operation.start <= seen
    )
    if kind == "assessPatches":
        latest: dict[str, PatchRun] = {}
        for run in runs:
            latest[run.machine] = run
        runs = latest.values()
    if finished is None:
        return [_run_row(world, run, segment, type_suffix, seen) for run in runs]
    return [_kept_row(world, run, segment, type_suffix, seen, finished) for run in runs]


def _kept_row(
    world: World, run: PatchRun, segment: str, type_suffix: str, seen: float, kept: dict[str, Row]
) -> Row:
    """A run's row, built once the index has seen it end (it no longer changes) and kept in
    ``kept`` by its operation id; a run still going is built each time."""
    ended = run.operation.done and run.operation.end <= seen
    row = kept.get(run.operation.id) if ended else None
    if row is None:
        row = _run_row(world, run, segment, type_suffix, seen)
        if ended:
            kept[run.operation.id] = row
    return row


def _run_row(world: World, run: PatchRun, segment: str, type_suffix: str, seen: float) -> Row:
    machine_type = ARC_TYPE if "/microsoft.hybridcompute/" in run.machine else VM_TYPE
    op = run.operation
    name = "latest" if run.kind == "assessPatches" else op.id
    ended = op.done and op.end <= seen  # as the index saw it
    result = (run.result or {}) if ended else {}
    properties: dict[str, Any] = {
        "status": result.get("status", op.status if ended else "InProgress"),
        "startedBy": run.started_by,
        "osType": run.os_type,
        "startDateTime": iso(world.clock.at(op.start)),
        "lastModifiedDateTime": iso(world.clock.at(op.end if ended else op.start)),
    }
    for key in _RUN_SUMMARY_KEYS:
        if key in result:
            properties[key] = result[key]
    if run.kind == "assessPatches" and ended and "availablePatches" in result:
        # a VM's result lists the patches; its row counts them, as an Arc machine's does
        listed = result["availablePatches"]
        counts = classification_counts(str((p.get("classifications") or [""])[0]) for p in listed)
        properties.setdefault("availablePatchCountByClassification", counts)
    error = result.get("errorDetails") or result.get("error")
    if properties["status"] == "Failed" and error:
        properties["errorDetails"] = error
    if run.kind == "installPatches":
        properties["installationActivityId"] = op.id
        properties["maintenanceRunId"] = run.maintenance_run_id
    return {
        "id": f"{run.machine_id}/{segment}/{name}",
        "name": name,
        "type": f"{machine_type.lower()}/{type_suffix}",
        "tenantId": world.tenant_id,
        "location": "",
        "resourceGroup": run.machine.split("/")[4],
        "subscriptionId": run.machine.split("/")[2],
        "properties": properties,
        "tags": None,
    }
