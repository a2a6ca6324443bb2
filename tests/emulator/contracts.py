"""What each emulator route may answer, by Microsoft's published contract.

A route's success statuses and the model its failures are read into come from the installed
SDK operation that calls it (its generated code lists the statuses it accepts and names the
error model); the model a success body deserializes into is named here. The status routes of
long-running operations are no SDK operation: they follow ARM's asynchronous operation
protocol (azure-mgmt-core's ARM polling), so their statuses and envelope are declared here
from ARM's resource provider contract, with the provider's own result and error models
inside.

Where the published spec and recorded Azure traffic disagree, the recording wins: each
`Allowance` names the recorded exchange (in tests/fixtures/recorded_azure.json, whose
``source`` names the reference recording) that shows Azure sending what the spec does not
declare, and the tests check that the recording does show it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from azure.mgmt.compute import models as compute
from azure.mgmt.compute.operations import (
    VirtualMachineImagesOperations,
    VirtualMachineScaleSetsOperations,
    VirtualMachinesOperations,
)
from azure.mgmt.hybridcompute import models as hybrid
from azure.mgmt.hybridcompute.operations import (
    LicenseProfilesOperations,
    MachineRunCommandsOperations,
    MachinesOperations,
)
from azure.mgmt.maintenance import models as maintenance
from azure.mgmt.maintenance.operations import (
    ConfigurationAssignmentsForSubscriptionsOperations,
    ConfigurationAssignmentsOperations,
    ConfigurationAssignmentsWithinSubscriptionOperations,
    MaintenanceConfigurationsForResourceGroupOperations,
    MaintenanceConfigurationsOperations,
)
from azure.mgmt.resource.features import models as features
from azure.mgmt.resource.features.operations import FeaturesOperations
from azure.mgmt.resource.resources import models as resources
from azure.mgmt.resource.resources.operations import ProvidersOperations, ResourcesOperations
from azure.mgmt.resourcegraph import models as graph
from azure.mgmt.resourcegraph.operations._resource_graph_client_operations import (
    _ResourceGraphClientOperationsMixin as ResourceGraphOperations,
)

from azhotpatch.testing.arm.dispatch import ServedBody

from .sdk_schema import Deviation, Field, Shape, check, fields_of, model, obj

_ACCEPTED = re.compile(r"status_code not in \[([0-9, ]+)\]")
_ERROR_MODEL = re.compile(r"failsafe_deserialize\(\s*_models\.(\w+)")


@dataclass(frozen=True)
class Contract:
    """What one route may answer: ``statuses`` its successes may have, ``answer`` the schema
    of a success body (None: the contract gives that answer no body), ``error`` the model a
    failure is read into; ``source`` says where the statuses come from."""

    statuses: frozenset[int]
    answer: Callable[[ServedBody], Shape | None]
    error: type
    source: str


def sdk(
    operation: Callable[..., Any], body: Shape | None, *, bodiless: Iterable[int] = ()
) -> Contract:
    """The contract of the SDK operation that calls the route: the statuses its generated
    code accepts and the error model it reads failures into; ``bodiless`` are the statuses
    the spec gives no body (a 202 accepted for later, a 204)."""
    code = inspect.getsource(operation)
    accepted = _ACCEPTED.search(code)
    named_error = _ERROR_MODEL.search(code)
    assert accepted, f"{operation.__qualname__}: the statuses it accepts were not found"
    assert named_error, f"{operation.__qualname__}: its error model was not found"
    package = operation.__module__.split(".operations")[0]
    error = getattr(import_module(f"{package}.models"), named_error.group(1))
    empty = frozenset(bodiless)
    return Contract(
        statuses=frozenset(int(s) for s in accepted.group(1).split(",")),
        answer=lambda served: None if served.status in empty else body,
        error=error,
        source=operation.__qualname__,
    )


def polling(
    statuses: Iterable[int], answer: Callable[[ServedBody], Shape | None], error: type
) -> Contract:
    return Contract(frozenset(statuses), answer, error, "ARM asynchronous operation protocol")


def array(item: Shape) -> Shape:
    return Shape("array", item=item)


def page_of(item: type) -> Shape:
    """A page of a TypeSpec list operation: the generated code reads ``value`` into a list
    of the item model and follows ``nextLink`` (the packages declare no page model)."""
    fields = {
        "value": Field(array(model(item)), required=True),
        "nextLink": Field(Shape("string")),
    }
    return obj(fields, f"page of {item.__name__}")


def async_status(error: type, properties: Shape | None) -> Shape:
    """An ``Azure-AsyncOperation`` status document as ARM's resource provider contract
    defines it (id, name, status, start and end time, percent complete, the provider's
    ``properties`` and ``error``); azure-mgmt-core reads ``status`` and, on failure, ``error``."""
    fields = {
        "id": Field(Shape("string")),
        "name": Field(Shape("string")),
        "status": Field(Shape("string"), required=True),
        "startTime": Field(Shape("datetime")),
        "endTime": Field(Shape("datetime")),
        "percentComplete": Field(Shape("number")),
        "error": Field(model(error)),
    }
    if properties is not None:
        fields["properties"] = Field(properties)
    return obj(fields, "AsyncOperationStatus")


# --- the status routes of long-running operations ----------------------------------------------

_VM_RESULTS = {
    "assessPatches": compute.VirtualMachineAssessPatchesResult,
    "installPatches": compute.VirtualMachineInstallPatchesResult,
}
_ARC_RESULTS = {
    "assessPatches": hybrid.MachineAssessPatchesResult,
    "installPatches": hybrid.MachineInstallPatchesResult,
}


def _compute_operation(served: ServedBody) -> Shape | None:
    """Compute's operation URL: the status document (with the result under
    ``properties.output`` once done, as recorded), or with ``monitor=true`` (the ``Location``)
    202 while running and then the bare result."""
    result = _VM_RESULTS.get(str(served.operation))
    if "monitor" in served.parameters:
        return None if served.status == 202 or result is None else model(result)
    output = obj({"output": Field(model(result))}, "properties") if result else None
    return async_status(compute.ApiError, output)


def _arc_operation_status(served: ServedBody) -> Shape:
    """Hybrid Compute's operationStatus: the license profile is its ``properties``, as
    recorded (azure-powershell Update-AzConnectedLicenseProfile)."""
    profile = model(hybrid.LicenseProfile) if served.operation == "licenseProfile" else None
    return async_status(hybrid.ErrorDetail, profile)


def _arc_operation_result(served: ServedBody) -> Shape | None:
    """operationResults: the resource the operation wrote (a run command or the license
    profile) once it has finished."""
    if served.status != 200:
        return None
    if served.operation == "runCommand":
        return model(hybrid.MachineRunCommand)
    return model(hybrid.LicenseProfile)


def _arc_patch_operation(served: ServedBody) -> Shape | None:
    """updateCenterOperationResults: 202 while running, then the result."""
    return model(_ARC_RESULTS[str(served.operation)]) if served.status == 200 else None


# --- every route --------------------------------------------------------------------------------

_VM = VirtualMachinesOperations
_ARC = MachinesOperations
_LICENSE = LicenseProfilesOperations


def _azure_local() -> Shape:
    """An Azure Local resource as the generic read returns it: a GenericResource (its
    properties untyped), except that Azure Local resources live in a custom location, an
    extended location type Microsoft.Resources' enum does not list (only EdgeZone) but the
    AzureStackHCI types declare (Azure/bicep-types-az, generated/azurestackhci:
    ExtendedLocation.type 'CustomLocation')."""
    custom_location = obj(
        {
            "type": Field(
                Shape("enum", values=frozenset({"customlocation"}), name="ExtendedLocationTypes")
            ),
            "name": Field(Shape("string")),
        },
        "ExtendedLocation (AzureStackHCI)",
    )
    generic = dict(fields_of(resources.GenericResource))
    generic["extendedLocation"] = Field(custom_location)
    return obj(generic, "GenericResource (Azure Local)")


_RUN_COMMAND = MachineRunCommandsOperations
_MC = MaintenanceConfigurationsOperations
_CA = ConfigurationAssignmentsOperations
_CAS = ConfigurationAssignmentsForSubscriptionsOperations

CONTRACTS: Mapping[str, Contract] = {
    # Microsoft.Compute
    "vm.get": sdk(_VM.get, model(compute.VirtualMachine)),
    "vm.instanceView": sdk(_VM.instance_view, model(compute.VirtualMachineInstanceView)),
    "vm.update": sdk(_VM._update_initial, model(compute.VirtualMachine)),
    "vm.createOrUpdate": sdk(_VM._create_or_update_initial, model(compute.VirtualMachine)),
    "vm.assessPatches": sdk(
        _VM._assess_patches_initial,
        model(compute.VirtualMachineAssessPatchesResult),
        bodiless=[202],
    ),
    "vm.installPatches": sdk(
        _VM._install_patches_initial,
        model(compute.VirtualMachineInstallPatchesResult),
        bodiless=[202],
    ),
    "vm.list": sdk(_VM.list, page_of(compute.VirtualMachine)),
    "vmss.get": sdk(VirtualMachineScaleSetsOperations.get, model(compute.VirtualMachineScaleSet)),
    "vm.listAll": sdk(_VM.list_all, page_of(compute.VirtualMachine)),
    "compute.operation": polling([200, 202], _compute_operation, compute.CloudError),
    "images.listSkus": sdk(
        VirtualMachineImagesOperations.list_skus, array(model(compute.VirtualMachineImageResource))
    ),
    # Microsoft.HybridCompute
    "arc.get": sdk(_ARC.get, model(hybrid.Machine)),
    "arc.update": sdk(_ARC.update, model(hybrid.Machine)),
    "arc.list": sdk(_ARC.list_by_resource_group, page_of(hybrid.Machine)),
    "arc.listAll": sdk(_ARC.list_by_subscription, page_of(hybrid.Machine)),
    "arc.assessPatches": sdk(
        _ARC._assess_patches_initial, model(hybrid.MachineAssessPatchesResult), bodiless=[202]
    ),
    "arc.installPatches": sdk(
        _ARC._install_patches_initial, model(hybrid.MachineInstallPatchesResult), bodiless=[202]
    ),
    "arc.patchOperation": polling([200, 202], _arc_patch_operation, hybrid.ErrorResponse),
    "arc.license.get": sdk(_LICENSE.get, model(hybrid.LicenseProfile)),
    "arc.license.list": sdk(_LICENSE.list, page_of(hybrid.LicenseProfile)),
    "arc.license.put": sdk(_LICENSE._create_or_update_initial, model(hybrid.LicenseProfile)),
    # a PATCH answers 202 with the profile (recorded)
    "arc.license.patch": sdk(_LICENSE._update_initial, model(hybrid.LicenseProfile)),
    "arc.license.delete": sdk(_LICENSE._delete_initial, None),
    "arc.operationStatus": polling([200], _arc_operation_status, hybrid.ErrorResponse),
    "arc.operationResults": polling([200, 202, 204], _arc_operation_result, hybrid.ErrorResponse),
    "arc.runCommand.put": sdk(
        _RUN_COMMAND._create_or_update_initial, model(hybrid.MachineRunCommand)
    ),
    "arc.runCommand.get": sdk(_RUN_COMMAND.get, model(hybrid.MachineRunCommand)),
    "arc.runCommand.list": sdk(_RUN_COMMAND.list, page_of(hybrid.MachineRunCommand)),
    "arc.runCommand.delete": sdk(_RUN_COMMAND._delete_initial, None),
    # Microsoft.AzureStackHCI: no package of it is a dependency; the library reads an Azure
    # Local VM's instance and image with Resource Manager's generic read (see _azure_local)
    "hci.instance.get": sdk(ResourcesOperations.get_by_id, _azure_local()),
    "hci.image.get": sdk(ResourcesOperations.get_by_id, _azure_local()),
    # Microsoft.Features and Microsoft.Resources
    "features.get": sdk(FeaturesOperations.get, model(features.FeatureResult)),
    "features.register": sdk(FeaturesOperations.register, model(features.FeatureResult)),
    "features.unregister": sdk(FeaturesOperations.unregister, model(features.FeatureResult)),
    "features.list": sdk(FeaturesOperations.list, model(features.FeatureOperationsListResult)),
    "features.listAll": sdk(
        FeaturesOperations.list_all, model(features.FeatureOperationsListResult)
    ),
    "providers.get": sdk(ProvidersOperations.get, model(resources.Provider)),
    "providers.register": sdk(ProvidersOperations.register, model(resources.Provider)),
    "providers.unregister": sdk(ProvidersOperations.unregister, model(resources.Provider)),
    # Microsoft.Maintenance
    "mc.put": sdk(_MC.create_or_update, model(maintenance.MaintenanceConfiguration)),
    "mc.get": sdk(_MC.get, model(maintenance.MaintenanceConfiguration)),
    "mc.delete": sdk(_MC.delete, model(maintenance.MaintenanceConfiguration), bodiless=[204]),
    "mc.list_group": sdk(
        MaintenanceConfigurationsForResourceGroupOperations.list,
        model(maintenance.ListMaintenanceConfigurationsResult),
    ),
    "mc.list": sdk(_MC.list, model(maintenance.ListMaintenanceConfigurationsResult)),
    "ca.put": sdk(_CA.create_or_update, model(maintenance.ConfigurationAssignment)),
    "ca.get": sdk(_CA.get, model(maintenance.ConfigurationAssignment)),
    "ca.delete": sdk(_CA.delete, model(maintenance.ConfigurationAssignment), bodiless=[204]),
    "ca.list": sdk(_CA.list, model(maintenance.ListConfigurationAssignmentsResult)),
    "cas.put": sdk(_CAS.create_or_update, model(maintenance.ConfigurationAssignment)),
    "cas.get": sdk(_CAS.get, model(maintenance.ConfigurationAssignment)),
    "cas.delete": sdk(_CAS.delete, model(maintenance.ConfigurationAssignment), bodiless=[204]),
    "cas.list": sdk(
        ConfigurationAssignmentsWithinSubscriptionOperations.list,
        model(maintenance.ListConfigurationAssignmentsResult),
    ),
    # Azure Resource Graph
    "graph.resources": sdk(ResourceGraphOperations.resources, model(graph.QueryResponse)),
}


# --- checking a served response ------------------------------------------------------------------


def findings(served: ServedBody) -> list[Deviation]:
    """Every way one served response departs from its route's contract."""
    contract = CONTRACTS.get(served.route)
    if contract is None:
        return [Deviation("route", served.route, "", "", "no contract names this route")]
    if served.status >= 400:
        return _error_findings(served, contract)
    if served.status not in contract.statuses:
        detail = f"{served.status} is not one of {sorted(contract.statuses)} ({contract.source})"
        return [Deviation("status", served.route, str(served.status), "", detail)]
    shape = contract.answer(served)
    if shape is None:
        if served.body is None:
            return []
        return [Deviation("body", served.route, str(served.status), "", "a body where none is")]
    if served.body is None:
        return [Deviation("body", served.route, str(served.status), "", f"no {shape.name} body")]
    return list(check(served.body, shape))


def _error_findings(served: ServedBody, contract: Contract) -> list[Deviation]:
    """An error is read into the operation's error model; ARM's contract also requires its
    ``code`` and ``message``, which the models leave optional."""
    if served.status >= 600:
        return [Deviation("status", served.route, str(served.status), "", "not an HTTP error")]
    found = list(check(served.body, model(contract.error)))
    envelope = served.body.get("error") if isinstance(served.body, dict) else None
    for member in ("code", "message"):
        value = envelope.get(member) if isinstance(envelope, dict) else None
        if not (isinstance(value, str) and value):
            found.append(Deviation("missing", "ARM error", member, f"error.{member}", "required"))
    return found


# --- where recorded Azure traffic wins over the spec ---------------------------------------------


@dataclass(frozen=True)
class Allowance:
    """A departure from the published schema that recorded Azure traffic shows: ``recorded``
    is the exchange in tests/fixtures/recorded_azure.json whose body has it."""

    kind: str
    owner: str
    member: str
    recorded: str
    why: str

    @property
    def key(self) -> tuple[str, str, str]:
        return self.kind, self.owner, self.member


ALLOWED = (
    Allowance(
        "undeclared",
        "PatchInstallationDetail",
        "msrcSeverity",
        recorded="vm_install_result_windows",
        why="azure-cli test_vm_install_patches (2021-04): installed Windows patches carry "
        "msrcSeverity (Critical, Important), which PatchInstallationDetail does not declare",
    ),
    Allowance(
        "undeclared",
        "VirtualMachineImageResource",
        "properties",
        recorded="list_skus_canonical_westus",
        why="azure-cli test_vm_image_list_skus: every SKU carries "
        "properties.automaticOSUpgradeProperties, which VirtualMachineImageResource does not "
        "declare",
    ),
)


# --- recorded exchanges, as the emulator's routes would serve them -----------------------------


def recorded(
    route: str, status: int, body: Any, operation: str | None = None, monitor: bool = False
) -> ServedBody:
    parameters = ("api-version", "monitor") if monitor else ("api-version",)
    return ServedBody(route, "", status, "", parameters, operation, body)


# fixture name -> (route, operation, read through the monitor URL)
RECORDED_ROUTES: Mapping[str, tuple[str, str | None, bool]] = {
    "arc_license_get": ("arc.license.get", None, False),
    "arc_license_operation_status": ("arc.operationStatus", "licenseProfile", False),
    "arc_license_patch": ("arc.license.patch", None, False),
    "feature_register_pending": ("features.register", None, False),
    "features_list": ("features.list", None, False),
    "graph_page": ("graph.resources", None, False),
    "list_skus_canonical_westus": ("images.listSkus", None, False),
    "provider_registering": ("providers.register", None, False),
    "vm_assess_accepted": ("vm.assessPatches", None, False),
    "vm_assess_result": ("compute.operation", "assessPatches", True),
    "vm_assess_status_in_progress": ("compute.operation", "assessPatches", False),
    "vm_assess_status_succeeded": ("compute.operation", "assessPatches", False),
    "vm_get_automatic_by_os": ("vm.get", None, False),
    "vm_get_hotpatch_2024": ("vm.get", None, False),
    "vm_install_accepted_2024": ("vm.installPatches", None, False),
    "vm_install_bad_kb_2024": ("vm.installPatches", None, False),
    "vm_install_result_2024": ("compute.operation", "installPatches", True),
    "vm_install_result_linux": ("compute.operation", "installPatches", True),
    "vm_install_result_windows": ("compute.operation", "installPatches", True),
    "vm_install_status_succeeded_2024": ("compute.operation", "installPatches", False),
}
# Recorded exchanges that are not an emulator route (an ARM template deployment's status).
NOT_A_ROUTE = frozenset({"vm_hotpatch_rejected_deployment"})
