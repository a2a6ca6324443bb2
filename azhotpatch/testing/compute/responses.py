"""Microsoft.Compute on the wire: each handler reads its request, asks `ComputeBackend`, and
renders the body and headers Azure sends.

Shapes follow the Compute REST spec and recorded traffic (see the reference notes):
assess/install answer 202 with an empty body and both ``Azure-AsyncOperation`` and
``Location`` (the same URL plus ``monitor=true``), no Retry-After; the status document carries
the result under ``properties.output`` once done, and the ``Location`` URL answers with the
bare result. VM PATCH/PUT answer 200 with the VM (``provisioningState: Updating``) and an
``Azure-AsyncOperation`` header.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from azhotpatch.testing.arm.errors import not_found
from azhotpatch.testing.arm.exchange import Request, Response, iso
from azhotpatch.testing.arm.paging import page
from azhotpatch.testing.compute.models import ComputeBackend, patch_error
from azhotpatch.testing.world.machines import (
    SCALE_SET_TYPE,
    VM_TYPE,
    ScaleSet,
    VirtualMachine,
    machine_key,
)
from azhotpatch.testing.world.operations import Operation
from azhotpatch.testing.world.state import World


class ComputeResponses:
    """The handlers of Compute's route table."""

    def __init__(self, backend: ComputeBackend) -> None:
        self.backend = backend
        self.world = backend.world

    def _vm(self, request: Request) -> VirtualMachine:
        p = request.params
        return self.world.require_vm(p["sub"], p["group"], p["name"])

    # --- reads ----------------------------------------------------------------------------

    def get(self, request: Request) -> Response:
        vm = self._vm(request)
        expand = request.query.get("$expand", "").lower()
        return Response(200, render_vm(self.world, vm, instance_view=expand == "instanceview"))

    def instance_view(self, request: Request) -> Response:
        return Response(200, render_instance_view(self.world, self._vm(request)))

    def list_group(self, request: Request) -> Response:
        p = request.params
        return self._page(request, self.world.listed(self.world.vms.values(), p["sub"], p["group"]))

    def list_all(self, request: Request) -> Response:
        return self._page(
            request, self.world.listed(self.world.vms.values(), request.params["sub"])
        )

    def _page(self, request: Request, vms: list[VirtualMachine]) -> Response:
        return page(request, vms, lambda vm: render_vm(self.world, vm), self.world.page_size)

    def scale_set(self, request: Request) -> Response:
        p = request.params
        key = machine_key(p["sub"], p["group"], SCALE_SET_TYPE, p["scaleSet"])
        found = self.world.scale_sets.get(key)
        if found is None:
            self.world.require_group(p["sub"], p["group"])
            raise not_found(SCALE_SET_TYPE, p["scaleSet"], p["group"])
        return Response(200, render_scale_set(found))

    def list_skus(self, request: Request) -> Response:
        p = request.params
        location = p["location"].lower()
        skus = self.backend.skus(location, p["publisher"], p["offer"])
        base = (
            f"/Subscriptions/{p['sub']}/Providers/Microsoft.Compute/Locations/{location}/"
            f"Publishers/{p['publisher']}/ArtifactTypes/VMImage/Offers/{p['offer']}/Skus/"
        )
        body = [
            {
                "properties": {
                    "automaticOSUpgradeProperties": {"automaticOSUpgradeSupported": False}
                },
                "location": location,
                "name": sku,
                "id": base + sku,
            }
            for sku in skus
        ]
        return Response(200, body)

    # --- writes ---------------------------------------------------------------------------

    def update(self, request: Request) -> Response:
        vm = self._vm(request)
        op = self.backend.update(vm, request.json_object(), request.api_version)
        return self._updating(request, vm, op, status=200)

    def create_or_update(self, request: Request) -> Response:
        p = request.params
        vm, op, created = self.backend.create_or_update(
            p["sub"], p["group"], p["name"], request.json_object(), request.api_version
        )
        return self._updating(request, vm, op, status=201 if created else 200)

    def _updating(
        self, request: Request, vm: VirtualMachine, op: Operation, *, status: int
    ) -> Response:
        headers = {"Azure-AsyncOperation": operation_url(request, op)}
        return Response(status, render_vm(self.world, vm), headers=headers)

    # --- patch operations -----------------------------------------------------------------

    def assess(self, request: Request) -> Response:
        return _accepted(request, self.backend.assess(self._vm(request)))

    def install(self, request: Request) -> Response:
        vm = self._vm(request)
        op = self.backend.install(vm, request.json_object(), request.principal)
        return _accepted(request, op)

    def operation(self, request: Request) -> Response:
        op = self.world.operation_polled(request.params["op"], request.params["location"])
        if request.query.get("monitor", "").lower() == "true":
            if not op.done:
                return Response(202, headers={"Location": monitor_url(request, op)})
            return Response(200, op.output if op.output is not None else _failed_result(op))
        return Response(200, operation_status(self.world, op))


# --- rendering --------------------------------------------------------------------------------


def render_vm(world: World, vm: VirtualMachine, *, instance_view: bool = False) -> dict[str, Any]:
    properties = dict(vm.properties)
    properties["vmId"] = vm.vm_id
    properties["provisioningState"] = vm.provisioning
    properties["timeCreated"] = iso(vm.created)
    if instance_view:
        properties["instanceView"] = render_instance_view(world, vm)
    body: dict[str, Any] = {
        "name": vm.name,
        "id": vm.id,
        "type": VM_TYPE,
        "location": vm.location,
        "tags": vm.doc.get("tags") or {},
        "properties": properties,
    }
    for extra in ("zones", "identity", "plan"):
        if extra in vm.doc:
            body[extra] = vm.doc[extra]
    return body


def render_instance_view(world: World, vm: VirtualMachine) -> dict[str, Any]:
    now = iso(world.clock.now())
    view: dict[str, Any] = {
        "computerName": vm.properties.get("osProfile", {}).get("computerName", vm.name[:15]),
        **_os_of(vm),
        "hyperVGeneration": "V2",
        "statuses": [
            {
                "code": f"ProvisioningState/{vm.provisioning.lower()}",
                "level": "Info",
                "displayStatus": f"Provisioning {vm.provisioning.lower()}",
                "time": now,
            },
            {"code": f"PowerState/{vm.power}", "level": "Info", "displayStatus": f"VM {vm.power}"},
        ],
        "patchStatus": _patch_status(world, vm),
    }
    if vm.power == "running":
        view["vmAgent"] = _agent_view(vm, now)
    return view


def _os_of(vm: VirtualMachine) -> dict[str, str]:
    """``osName`` and ``osVersion`` as the guest agent reports them (the build's revision
    where the VM's patch history models it)."""
    product = vm.product
    return {
        "osName": product.display if product else "ubuntu",
        "osVersion": f"10.0.{product.build}.{vm.patches.revision or 0}" if product else "22.04",
    }


def _agent_view(vm: VirtualMachine, now: str | None) -> dict[str, Any]:
    ready = vm.agent_ready
    return {
        "vmAgentVersion": "2.7.41491.1157" if ready else "Unknown",
        "statuses": [
            {
                "code": "ProvisioningState/succeeded" if ready else "ProvisioningState/Unavailable",
                "level": "Info" if ready else "Warning",
                "displayStatus": "Ready" if ready else "Not Ready",
                "message": "GuestAgent is running and processing the extensions."
                if ready
                else "VM status blob is found but not yet populated.",
                "time": now,
            }
        ],
    }


def _patch_status(world: World, vm: VirtualMachine) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if vm.patches.last_assessment is not None:
        status["availablePatchSummary"] = dict(vm.patches.last_assessment)
    running = vm.patches.operation
    in_progress = running is not None and not running.done
    if in_progress and running is not None and running.kind == "assessPatches":
        status["availablePatchSummary"] = {
            "status": "InProgress",
            "assessmentActivityId": running.id,
            "startTime": iso(world.clock.at(running.start)),
        }
    if in_progress and running is not None and running.kind == "installPatches":
        status["lastPatchInstallationSummary"] = {
            "status": "InProgress",
            "installationActivityId": running.id,
            "startTime": iso(world.clock.at(running.start)),
        }
    elif vm.patches.last_installation is not None:
        status["lastPatchInstallationSummary"] = vm.patches.last_installation
    mode = vm.patch_settings.get("patchMode") or "AutomaticByOS"
    status["configurationStatuses"] = [
        {
            "code": "PatchModeConfigurationState/Ready",
            "level": "Info",
            "displayStatus": "Status_PatchModeConfigurationState_Ready",
            "message": f"patchMode={mode}",
        },
    ]
    return status


def resource_graph_documents(world: World) -> Iterator[tuple[VirtualMachine, dict[str, Any]]]:
    """Every VM as Resource Graph indexes it (deleted ones its index still lists too): the
    ARM document plus ``properties.extended.instanceView`` with the power state."""
    ghosts = (m for m in world.graph_ghosts.values() if isinstance(m, VirtualMachine))
    for vm in (*world.vms.values(), *ghosts):
        document = render_vm(world, vm)
        properties = dict(document["properties"])
        # the OS is what the guest agent reports: nothing while it is not ready or stopped
        reporting = vm.power == "running" and vm.agent_ready
        properties["extended"] = {
            "instanceView": {
                "computerName": vm.name[:15],
                **(_os_of(vm) if reporting else {}),
                "powerState": {
                    "code": f"PowerState/{vm.power}",
                    "level": "Info",
                    "displayStatus": f"VM {vm.power}",
                },
            }
        }
        yield vm, {**document, "properties": properties}


# --- long-running operations ------------------------------------------------------------------


def _operation_path(op: Operation) -> str:
    return (
        f"/subscriptions/{op.subscription}/providers/Microsoft.Compute/locations/{op.location}"
        f"/operations/{op.id}"
    )


def _opaque(op: Operation) -> str:
    """The ``p=`` Azure puts in operation URLs (stable per operation)."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, op.id))


def operation_url(request: Request, op: Operation) -> str:
    return request.url(_operation_path(op), p=_opaque(op), **request.same_api_version())


def monitor_url(request: Request, op: Operation) -> str:
    return request.url(
        _operation_path(op), p=_opaque(op), monitor="true", **request.same_api_version()
    )


def _accepted(request: Request, op: Operation) -> Response:
    return Response(
        202,
        headers={
            "Azure-AsyncOperation": operation_url(request, op),
            "Location": monitor_url(request, op),
            "azure-asyncnotification": "Enabled",
        },
    )


def operation_status(world: World, op: Operation) -> dict[str, Any]:
    body: dict[str, Any] = {"startTime": iso(world.clock.at(op.start)), "status": op.status}
    if op.done:
        body["endTime"] = iso(world.clock.at(op.end))
        if op.status == "Succeeded" and op.output is not None and not op.bare:
            body["properties"] = {"output": op.output}
        if op.status == "Failed":
            body["error"] = op.error or patch_error(op.kind)
    body["name"] = op.id
    return body


def _failed_result(op: Operation) -> dict[str, Any]:
    return {"status": op.status, "error": op.error}


def render_scale_set(scale_set: ScaleSet) -> dict[str, Any]:
    """A scale set as ``VirtualMachineScaleSet``: its mode and its model's patch settings."""
    profile: dict[str, Any] = {
        "osProfile": {
            "computerNamePrefix": scale_set.name[:9],
            "adminUsername": "azureuser",
            "windowsConfiguration": {
                "provisionVMAgent": True,
                "enableAutomaticUpdates": True,
                "patchSettings": dict(scale_set.model_patch_settings),
            },
        },
        "storageProfile": {"imageReference": dict(scale_set.image)},
    }
    properties: dict[str, Any] = {
        "orchestrationMode": scale_set.mode,
        "provisioningState": "Succeeded",
        "uniqueId": str(uuid.uuid5(uuid.NAMESPACE_URL, scale_set.key)),
        "virtualMachineProfile": profile,
    }
    if scale_set.mode.lower() == "flexible":
        properties["platformFaultDomainCount"] = 1
    else:
        properties["upgradePolicy"] = {"mode": "Manual"}
    return {
        "id": scale_set.id,
        "name": scale_set.name,
        "type": SCALE_SET_TYPE,
        "location": scale_set.location,
        "sku": {"name": "Standard_D4s_v3", "tier": "Standard", "capacity": 2},
        "properties": properties,
    }
