"""Microsoft.HybridCompute on the wire: each handler reads its request, asks `HybridBackend`,
and renders the body and headers Azure sends.

Shapes follow the HybridCompute REST spec and recorded traffic: machine PATCH is synchronous;
``licenseProfiles/default`` PUT/PATCH/DELETE are long-running with both ``Location``
(``operationresults``) and ``Azure-AsyncOperation`` (``operationstatus``) headers, the status
document's ``properties`` holding the whole profile; PUT takes ``Enabled``/``Disabled`` and
PATCH ``Enable``/``Disable``. Assess/install answer 202 with ``Location`` only
(``updateCenterOperationResults``) and ``Retry-After: 60``; polling it answers 202 with a fresh
``Location`` until the result is ready.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from azhotpatch.testing.arm.exchange import Request, Response, iso, retry_after
from azhotpatch.testing.arm.paging import page
from azhotpatch.testing.hybrid.models import LICENSE_TYPE, HybridBackend
from azhotpatch.testing.hybrid.runcommands import render_run_command, script_of
from azhotpatch.testing.world.machines import ARC_TYPE, ArcMachine, machine_key
from azhotpatch.testing.world.operations import Operation
from azhotpatch.testing.world.state import World

_ARC_POLL_SECONDS = 60.0  # recorded Retry-After on Arc patch operations


class HybridResponses:
    """The handlers of Hybrid Compute's route table."""

    def __init__(self, backend: HybridBackend) -> None:
        self.backend = backend
        self.world = backend.world

    def _machine(self, request: Request) -> ArcMachine:
        p = request.params
        return self.world.require_arc(p["sub"], p["group"], p["name"])

    def _profile_owner(self, request: Request) -> ArcMachine:
        p = request.params
        return self.backend.profile_owner(p["sub"], p["group"], p["name"], p["profile"])

    # --- machines -------------------------------------------------------------------------

    def get(self, request: Request) -> Response:
        return Response(200, render_arc(self._machine(request)))

    def update(self, request: Request) -> Response:
        machine = self._machine(request)
        self.backend.update(machine, request.json_object())
        return Response(200, render_arc(machine))

    def list_group(self, request: Request) -> Response:
        p = request.params
        return self._page(
            request, self.world.listed(self.world.arcs.values(), p["sub"], p["group"])
        )

    def list_all(self, request: Request) -> Response:
        return self._page(
            request, self.world.listed(self.world.arcs.values(), request.params["sub"])
        )

    def _page(self, request: Request, machines: list[ArcMachine]) -> Response:
        return page(request, machines, render_arc, self.world.page_size)

    # --- license profile ------------------------------------------------------------------

    def license_get(self, request: Request) -> Response:
        machine = self._profile_owner(request)
        self.backend.license(machine)
        return Response(200, render_license(machine))

    def license_list(self, request: Request) -> Response:
        machine = self._machine(request)
        return Response(200, {"value": [render_license(machine)] if machine.license else []})

    def license_put(self, request: Request) -> Response:
        machine = self._profile_owner(request)
        op, created = self.backend.put_license(machine, request.json_object())
        return Response(
            201 if created else 200, render_license(machine), headers=_lro_headers(request, op)
        )

    def license_patch(self, request: Request) -> Response:
        machine = self._profile_owner(request)
        op = self.backend.patch_license(machine, request.json_object())
        return Response(202, render_license(machine), headers=_lro_headers(request, op))

    def license_delete(self, request: Request) -> Response:
        op = self.backend.delete_license(self._profile_owner(request))
        if op is None:
            return Response(204)
        return Response(202, headers=_lro_headers(request, op))

    def operation_status(self, request: Request) -> Response:
        op = self.world.operation_polled(request.params["op"], request.params["location"])
        body: dict[str, Any] = {
            "id": request.path,
            "name": op.id,
            "status": op.status,
            "startTime": iso(self.world.clock.at(op.start)),
        }
        if op.done:
            body["endTime"] = iso(self.world.clock.at(op.end))
            machine = self.world.arcs.get(op.target)
            if op.status == "Failed":
                body["error"] = op.error
            elif (
                op.kind == "licenseProfile"
                and machine is not None
                and machine.license is not None
                and not op.bare
            ):
                body["properties"] = render_license(machine)
        return Response(200, body)

    def operation_result(self, request: Request) -> Response:
        op = self.world.operation_polled(request.params["op"], request.params["location"])
        if not op.done:
            return Response(
                202, headers={"Location": request.url(request.path, **request.same_api_version())}
            )
        machine = self.world.arcs.get(op.target)
        if machine is None:
            return Response(204)
        if op.kind == "runCommand":
            # the run command the operation created or updated, as the published example's
            # finished run command (RunCommands_CreateOrUpdate.json, 2026-07-15)
            command = next((c for c in machine.run_commands.values() if c.operation is op), None)
            if command is None:
                return Response(204)
            return Response(200, render_run_command(machine, command, self.world))
        if op.kind != "licenseProfile" or machine.license is None:
            return Response(204)
        return Response(200, render_license(machine))

    # --- run commands ---------------------------------------------------------------------

    def run_command_put(self, request: Request) -> Response:
        machine = self._machine(request)
        commands = self.backend.run_commands
        command, created = commands.put(machine, request.params["command"], request.json_object())
        return Response(
            201 if created else 200,
            render_run_command(machine, command, self.world),
            headers=_lro_headers(request, command.operation),
        )

    def run_command_script(self, request: Request) -> str | None:
        """The script a run command request concerns, for faults aimed at one script."""
        p = request.params
        machine = self.world.arcs.get(machine_key(p["sub"], p["group"], ARC_TYPE, p["name"]))
        body = request.json(required=False) if request.method == "PUT" else None
        return script_of(machine, p["command"], body)

    def run_command_get(self, request: Request) -> Response:
        machine = self._machine(request)
        command = self.backend.run_commands.get(machine, request.params["command"])
        return Response(200, render_run_command(machine, command, self.world))

    def run_command_list(self, request: Request) -> Response:
        machine = self._machine(request)
        commands = sorted(machine.run_commands.values(), key=lambda c: c.name.lower())
        return Response(
            200, {"value": [render_run_command(machine, c, self.world) for c in commands]}
        )

    def run_command_delete(self, request: Request) -> Response:
        machine = self._machine(request)
        self.backend.run_commands.delete(machine, request.params["command"])
        return Response(204)

    # --- patch operations -----------------------------------------------------------------

    def assess(self, request: Request) -> Response:
        return self._accepted(request, self.backend.assess(self._machine(request)))

    def install(self, request: Request) -> Response:
        machine = self._machine(request)
        op = self.backend.install(machine, request.json_object(), request.principal)
        return self._accepted(request, op)

    def patch_operation(self, request: Request) -> Response:
        op = self.world.operation_polled(request.params["op"], request.params["location"])
        if not op.done:
            return self._accepted(request, op, tick=op.polls)
        return Response(200, op.output)

    def _accepted(self, request: Request, op: Operation, *, tick: int = 0) -> Response:
        """202 with a fresh ``Location`` to poll and Arc's recorded ``Retry-After``."""
        clock = self.world.clock
        headers = {"Location": _patch_location(request, op, tick)}
        headers.update(
            retry_after(clock.to_wall(_ARC_POLL_SECONDS), precise=clock.time_scale != 1.0)
        )
        return Response(202, headers=headers)


# --- rendering --------------------------------------------------------------------------------


def _patch_location(request: Request, op: Operation, tick: int) -> str:
    path = (
        f"/subscriptions/{op.subscription}/providers/Microsoft.HybridCompute/locations/"
        f"{op.location}/updateCenterOperationResults/{op.id}"
    )
    return request.url(path, **request.same_api_version(), t=str(tick))


def _lro_headers(request: Request, op: Operation) -> dict[str, str]:
    base = (
        f"/subscriptions/{op.subscription}/providers/Microsoft.HybridCompute/locations/"
        f"{op.location}"
    )
    version = request.same_api_version()
    return {
        "Location": request.url(f"{base}/operationResults/{op.id}", **version),
        "Azure-AsyncOperation": request.url(f"{base}/operationStatus/{op.id}", **version),
    }


def render_license(machine: ArcMachine) -> dict[str, Any]:
    assert machine.license is not None
    properties = {k: v for k, v in machine.license.items() if v is not None}
    busy = machine.license_busy is not None and not machine.license_busy.done
    properties["provisioningState"] = "Updating" if busy else "Succeeded"
    return {
        "id": f"{machine.id}/licenseProfiles/default",
        "name": "default",
        "type": LICENSE_TYPE,
        "location": machine.location,
        "properties": properties,
    }


def render_arc(machine: ArcMachine) -> dict[str, Any]:
    license_view: dict[str, Any] = {"licenseStatus": "Licensed", "licenseChannel": "Retail"}
    if machine.license:
        license_view.update(
            {k: v for k, v in machine.license.items() if k != "esuProfile" and v is not None}
        )
    properties: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "status": machine.status,
        "lastStatusChange": iso(machine.created),
        "agentVersion": machine.agent_version,
        "vmId": str(uuid.uuid5(uuid.NAMESPACE_URL, machine.key)),
        "vmUuid": machine.vm_uuid,
        "displayName": machine.name,
        "machineFqdn": f"{machine.name.lower()}.corp.contoso.com",
        "osName": machine.os_name,
        "osVersion": _os_version(machine),
        "osSku": machine.os_sku,
        "osType": machine.os_type,
        "detectedProperties": dict(machine.detected),
        "osProfile": {
            "computerName": machine.name,
            "windowsConfiguration": {
                "patchSettings": {
                    "assessmentMode": machine.assessment_mode,
                    "patchMode": machine.patch_mode,
                    "enableHotpatching": machine.enable_hotpatching,
                    "status": {"hotpatchEnablementStatus": machine.hotpatch_status, "error": None},
                }
            },
        },
        "licenseProfile": license_view,
    }
    document: dict[str, Any] = {
        "id": machine.id,
        "name": machine.name,
        "type": ARC_TYPE,
        "location": machine.location,
        "tags": dict(machine.tags),
        "properties": properties,
    }
    if machine.arc_kind:
        document["kind"] = machine.arc_kind
    if machine.parent_cluster:
        properties["parentClusterResourceId"] = machine.parent_cluster
    return document


def _os_version(machine: ArcMachine) -> str:
    """What the agent reports: the build's revision where the machine's patch history
    models it, else the version it was onboarded with."""
    product = machine.product
    if product is None or machine.patches.revision is None:
        return machine.os_version
    return f"10.0.{product.build}.{machine.patches.revision}"


def resource_graph_documents(world: World) -> Iterator[tuple[ArcMachine, dict[str, Any]]]:
    """Every Arc machine as Resource Graph indexes it (deleted ones its index still lists
    too): its ARM document."""
    ghosts = (m for m in world.graph_ghosts.values() if isinstance(m, ArcMachine))
    for machine in (*world.arcs.values(), *ghosts):
        yield machine, render_arc(machine)
