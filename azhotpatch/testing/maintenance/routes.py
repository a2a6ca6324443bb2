"""What Microsoft.Maintenance serves: one row per operation (see `arm.endpoints.Endpoint`)."""

from __future__ import annotations

from azhotpatch.testing.arm.endpoints import Endpoint
from azhotpatch.testing.maintenance.models import CA_TYPE, MC_TYPE, NAMESPACE
from azhotpatch.testing.maintenance.responses import MaintenanceResponses

PROVIDER = "Microsoft.Maintenance"
_CONFIGURATIONS = (
    "/subscriptions/{sub}/resourceGroups/{group}" + NAMESPACE + "/maintenanceConfigurations"
)
_ON_MACHINE = (
    "/subscriptions/{sub}/resourceGroups/{group}/providers/{provider}/{rtype}/{rname}"
    + NAMESPACE
    + "/configurationAssignments"
)
_ON_SUBSCRIPTION = "/subscriptions/{sub}" + NAMESPACE + "/configurationAssignments"
_R = MaintenanceResponses

ROUTES: tuple[Endpoint[MaintenanceResponses], ...] = (
    Endpoint("mc.put", "PUT", _CONFIGURATIONS + "/{name}", _R.put_configuration, PROVIDER,
             f"{MC_TYPE}/write"),
    Endpoint("mc.get", "GET", _CONFIGURATIONS + "/{name}", _R.get_configuration, PROVIDER,
             f"{MC_TYPE}/read"),
    Endpoint("mc.delete", "DELETE", _CONFIGURATIONS + "/{name}", _R.delete_configuration,
             PROVIDER, f"{MC_TYPE}/delete"),
    Endpoint("mc.list_group", "GET", _CONFIGURATIONS, _R.list_group, PROVIDER,
             f"{MC_TYPE}/read"),
    Endpoint("mc.list", "GET", "/subscriptions/{sub}" + NAMESPACE + "/maintenanceConfigurations",
             _R.list_subscription, PROVIDER, f"{MC_TYPE}/read"),
    Endpoint("ca.put", "PUT", _ON_MACHINE + "/{name}", _R.put_machine_assignment, PROVIDER,
             f"{CA_TYPE}/write"),
    Endpoint("ca.get", "GET", _ON_MACHINE + "/{name}", _R.get_assignment, PROVIDER,
             f"{CA_TYPE}/read"),
    Endpoint("ca.delete", "DELETE", _ON_MACHINE + "/{name}", _R.delete_assignment, PROVIDER,
             f"{CA_TYPE}/delete"),
    Endpoint("ca.list", "GET", _ON_MACHINE, _R.list_machine_assignments, PROVIDER,
             f"{CA_TYPE}/read"),
    Endpoint("cas.put", "PUT", _ON_SUBSCRIPTION + "/{name}", _R.put_scope_assignment, PROVIDER,
             f"{CA_TYPE}/write"),
    Endpoint("cas.get", "GET", _ON_SUBSCRIPTION + "/{name}", _R.get_assignment, PROVIDER,
             f"{CA_TYPE}/read"),
    Endpoint("cas.delete", "DELETE", _ON_SUBSCRIPTION + "/{name}", _R.delete_assignment,
             PROVIDER, f"{CA_TYPE}/delete"),
    Endpoint("cas.list", "GET", _ON_SUBSCRIPTION, _R.list_subscription_assignments, PROVIDER,
             f"{CA_TYPE}/read"),
)  # fmt: skip
