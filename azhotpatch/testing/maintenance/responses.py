"""Microsoft.Maintenance on the wire, in the 2023-04-01 shapes (what azure-mgmt-maintenance
2.1.0 sends): every operation is synchronous; a DELETE of something absent answers 204;
lists are not paged."""

from __future__ import annotations

from typing import Any

from azhotpatch.testing.arm.exchange import Request, Response, iso
from azhotpatch.testing.maintenance.models import (
    CA_TYPE,
    MC_TYPE,
    NAMESPACE,
    ConfigurationAssignment,
    MaintenanceBackend,
    MaintenanceConfiguration,
)
from azhotpatch.testing.world.machines import ResourceAddress


class MaintenanceResponses:
    """The handlers of Maintenance's route table."""

    def __init__(self, backend: MaintenanceBackend) -> None:
        self.backend = backend
        self.world = backend.world

    # --- configurations -------------------------------------------------------------------

    def put_configuration(self, request: Request) -> Response:
        p = request.params
        config = self.backend.put_configuration(
            p["sub"], p["group"], p["name"], request.json_object()
        )
        return Response(200, render_configuration(config))

    def get_configuration(self, request: Request) -> Response:
        p = request.params
        return Response(200, render_configuration(self.backend.configuration(**_named(p))))

    def delete_configuration(self, request: Request) -> Response:
        config = self.backend.delete_configuration(**_named(request.params))
        return Response(204) if config is None else Response(200, render_configuration(config))

    def list_group(self, request: Request) -> Response:
        p = request.params
        found = self.backend.configurations_in_group(p["sub"], p["group"])
        return Response(200, {"value": [render_configuration(c) for c in found]})

    def list_subscription(self, request: Request) -> Response:
        found = self.backend.configurations_in_subscription(request.params["sub"])
        return Response(200, {"value": [render_configuration(c) for c in found]})

    # --- assignments ----------------------------------------------------------------------

    def _target_machine(self, request: Request) -> ResourceAddress:
        p = request.params
        return self.backend.target_machine(
            p["sub"], p["group"], p["provider"], p["rtype"], p["rname"]
        )

    def put_machine_assignment(self, request: Request) -> Response:
        machine = self._target_machine(request)
        assignment = self.backend.assign_machine(
            machine, request.params["name"], request.json_object()
        )
        return Response(200, render_assignment(assignment))

    def put_scope_assignment(self, request: Request) -> Response:
        p = request.params
        assignment = self.backend.assign_scope(p["sub"], p["name"], request.json_object())
        return Response(200, render_assignment(assignment))

    def get_assignment(self, request: Request) -> Response:
        assignment = self.backend.assignment(request.path, request.params["name"])
        return Response(200, render_assignment(assignment))

    def delete_assignment(self, request: Request) -> Response:
        assignment = self.backend.unassign(request.path)
        return Response(204) if assignment is None else Response(200, render_assignment(assignment))

    # Maintenance lists come whole: its list results declare no nextLink, and the SDK follows
    # none (a paged answer would hide every assignment past the first page).

    def list_machine_assignments(self, request: Request) -> Response:
        found = self.backend.assignments_of_machine(self._target_machine(request))
        return Response(200, {"value": [render_assignment(a) for a in found]})

    def list_subscription_assignments(self, request: Request) -> Response:
        found = self.backend.assignments_in_subscription(request.params["sub"])
        return Response(200, {"value": [render_assignment(a) for a in found]})


def _named(params: dict[str, str]) -> dict[str, str]:
    """A configuration's subscription, group and name from its path."""
    return {"sub": params["sub"], "group": params["group"], "name": params["name"]}


# --- rendering ----------------------------------------------------------------------------------


def render_configuration(config: MaintenanceConfiguration) -> dict[str, Any]:
    return {
        "id": config.id,
        "name": config.name,
        "type": MC_TYPE,
        "location": config.location,
        "tags": dict(config.tags),
        "properties": dict(config.properties),
    }


def render_assignment(assignment: ConfigurationAssignment) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "maintenanceConfigurationId": assignment.configuration,
        "resourceId": assignment.resource_id,
    }
    if assignment.filter is not None:
        properties["filter"] = assignment.filter
    return {
        "id": assignment.id,
        "name": assignment.name,
        "type": CA_TYPE,
        "location": assignment.location,
        "properties": properties,
    }


def resource_graph_rows(backend: MaintenanceBackend) -> list[dict[str, Any]]:
    """Resource Graph's ``maintenanceresources``: configuration assignments and the
    ``applyupdates`` records of scheduled runs."""
    world = backend.world
    rows: list[dict[str, Any]] = []
    for assignment in backend.assignments.values():
        rows.append(
            {
                "id": assignment.id.lower(),
                "name": assignment.name,
                "type": CA_TYPE.lower(),
                "tenantId": world.tenant_id,
                "location": assignment.location,
                "resourceGroup": assignment.resource_id.split("/")[4].lower()
                if assignment.machine
                else "",
                "subscriptionId": assignment.subscription,
                "properties": render_assignment(assignment)["properties"],
            }
        )
    for record in backend.apply_updates:
        op = record.operation
        status = "InProgress" if op is not None and not op.done else "Completed"
        rows.append(
            {
                "id": f"{record.machine_id}{NAMESPACE}/applyupdates/{record.name}".lower(),
                "name": record.name,
                "type": "microsoft.maintenance/applyupdates",
                "tenantId": world.tenant_id,
                "location": "",
                "resourceGroup": record.machine.split("/")[4],
                "subscriptionId": record.machine.split("/")[2],
                "properties": {
                    "maintenanceConfigurationId": record.configuration_id,
                    "maintenanceScope": "InGuestPatch",
                    "resourceId": record.machine_id,
                    "correlationId": record.correlation_id,
                    "status": status,
                    "startDateTime": iso(world.clock.at(record.start)),
                    "endDateTime": iso(world.clock.at(record.end)),
                },
            }
        )
    return rows
