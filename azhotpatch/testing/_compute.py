"""Microsoft.Compute: virtual machines, their patch operations, and the platform image catalog.

Shapes follow the Compute REST spec and recorded traffic (see the reference notes):
assess/install answer 202 with an empty body and both ``Azure-AsyncOperation`` and
``Location`` (the same URL plus ``monitor=true``), no Retry-After; the status document carries
the result under ``properties.output`` once done, and the ``Location`` URL answers with the
bare result. VM PATCH/PUT answer 200 with the VM (``provisioningState: Updating``) and an
``Azure-AsyncOperation`` header. Validation errors reuse Azure's recorded codes and messages.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from azhotpatch import catalog
from azhotpatch.testing._arm import ArmError, Request, Response, Route, bad_parameter, iso
from azhotpatch.testing._arm import not_found as _not_found
from azhotpatch.testing._arm import route as _route
from azhotpatch.testing._paging import page
from azhotpatch.testing._patches import WINDOWS_CLASSIFICATIONS, Patch, select
from azhotpatch.testing._state import (
    InstallRecord,
    Operation,
    PatchRun,
    VirtualMachine,
    World,
    machine_key,
    merge_patch,
)

VM_TYPE = "Microsoft.Compute/virtualMachines"
_VM = "/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines"
_OPS = "/subscriptions/{sub}/providers/Microsoft.Compute/locations/{location}/operations/{op}"
_SKUS = (
    "/subscriptions/{sub}/providers/Microsoft.Compute/locations/{location}/publishers/"
    "{publisher}/artifacttypes/vmimage/offers/{offer}/skus"
)
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", re.IGNORECASE)
_KB = re.compile(r"^(KB)?\d{6,8}$", re.IGNORECASE)
_HOTPATCH_DOCS = "https://aka.ms/HotpatchCompatibility"
_PATCH_TARGET = "windowsConfiguration.patchSettings"
_LINUX_SKUS = {("canonical", "ubuntuserver"): ("18.04-lts", "20_04-lts", "22_04-lts")}


def require_group(world: World, sub: str, group: str) -> None:
    subscription = world.subscription(sub)
    if subscription is None:
        raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
    if group.lower() not in subscription.groups:
        raise ArmError(
            404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found."
        )


def parse_duration(text: str) -> timedelta | None:
    match = _ISO_DURATION.match(text)
    if not match or text.upper() in ("P", "PT"):
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


class ComputeApi:
    """Handlers for the Compute operations azhotpatch (and its users' automation) call."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        vm = f"{_VM}/{{name}}"
        compute = "Microsoft.Compute"
        return [
            _route(
                "vm.get",
                "GET",
                vm,
                self.get,
                provider=compute,
                action=f"{VM_TYPE}/read",
                compute=self._vm_policy("LowCostGet"),
            ),
            _route(
                "vm.instanceView",
                "GET",
                f"{vm}/instanceView",
                self.instance_view,
                provider=compute,
                action=f"{VM_TYPE}/read",
                compute=self._vm_policy("LowCostGet"),
            ),
            _route(
                "vm.update",
                "PATCH",
                vm,
                self.update,
                provider=compute,
                action=f"{VM_TYPE}/write",
                machine_write=True,
                compute=self._vm_policy("UpdateVM"),
            ),
            _route(
                "vm.createOrUpdate",
                "PUT",
                vm,
                self.create_or_update,
                provider=compute,
                action=f"{VM_TYPE}/write",
                machine_write=True,
                compute=self._vm_policy("UpdateVM"),
            ),
            _route(
                "vm.assessPatches",
                "POST",
                f"{vm}/assessPatches",
                self.assess,
                provider=compute,
                action=f"{VM_TYPE}/assessPatches/action",
                machine_write=True,
                compute=self._vm_policy("VMGuestPatchOperation"),
            ),
            _route(
                "vm.installPatches",
                "POST",
                f"{vm}/installPatches",
                self.install,
                provider=compute,
                action=f"{VM_TYPE}/installPatches/action",
                machine_write=True,
                compute=self._vm_policy("VMGuestPatchOperation"),
            ),
            _route(
                "vm.list",
                "GET",
                _VM,
                self.list_group,
                provider=compute,
                action=f"{VM_TYPE}/read",
                compute=lambda r: ("HighCostGet", "global", None),
            ),
            _route(
                "vm.listAll",
                "GET",
                "/subscriptions/{sub}/providers/Microsoft.Compute/virtualMachines",
                self.list_all,
                provider=compute,
                action=f"{VM_TYPE}/read",
                compute=lambda r: ("HighCostGet", "global", None),
            ),
            _route(
                "compute.operation",
                "GET",
                _OPS,
                self.operation,
                provider=compute,
                action="Microsoft.Compute/locations/operations/read",
                compute=self._operation_policy,
            ),
            _route(
                "images.listSkus",
                "GET",
                _SKUS,
                self.list_skus,
                provider=compute,
                action="Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/read",
            ),
        ]

    # --- throttling keys --------------------------------------------------------------------

    def _vm_policy(self, policy: str) -> Any:
        def key(request: Request) -> tuple[str, str, str | None] | None:
            p = request.params
            vm = self.world.find_vm(p["sub"], p["group"], p["name"])
            return (policy, vm.location, vm.key) if vm else None

        return key

    def _operation_policy(self, request: Request) -> tuple[str, str, str | None]:
        op = self.world.operations.get(request.params["op"].lower())
        return ("GetOperation", request.params["location"], op.target if op else None)

    # --- reads ----------------------------------------------------------------------------

    def _vm(self, request: Request) -> VirtualMachine:
        p = request.params
        require_group(self.world, p["sub"], p["group"])
        vm = self.world.find_vm(p["sub"], p["group"], p["name"])
        if vm is None:
            raise _not_found(VM_TYPE, p["name"], p["group"])
        return vm

    def get(self, request: Request) -> Response:
        vm = self._vm(request)
        expand = request.query.get("$expand", "").lower()
        return Response(200, render_vm(self.world, vm, instance_view=expand == "instanceview"))

    def instance_view(self, request: Request) -> Response:
        return Response(200, render_instance_view(self.world, self._vm(request)))

    def list_group(self, request: Request) -> Response:
        p = request.params
        require_group(self.world, p["sub"], p["group"])
        vms = [
            vm
            for vm in self.world.vms.values()
            if vm.subscription == p["sub"].lower() and vm.group.lower() == p["group"].lower()
        ]
        return self._page(request, vms)

    def list_all(self, request: Request) -> Response:
        sub = request.params["sub"].lower()
        if self.world.subscription(sub) is None:
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found."
            )
        return self._page(request, [vm for vm in self.world.vms.values() if vm.subscription == sub])

    def _page(self, request: Request, vms: list[VirtualMachine]) -> Response:
        vms.sort(key=lambda vm: vm.key)
        return page(request, vms, lambda vm: render_vm(self.world, vm), self.world.page_size)

    # --- writes ---------------------------------------------------------------------------

    def update(self, request: Request) -> Response:
        vm = self._vm(request)
        body = request.json_object()
        changes = {
            k: v for k, v in body.items() if k in ("properties", "zones", "identity", "plan")
        }
        merged = merge_patch(vm.doc, changes)
        if isinstance(body.get("tags"), dict):
            merged["tags"] = body["tags"]
        _reject_readonly_changes(vm.doc, merged)
        validate_patch_settings(merged, vm.location, request.api_version)
        return self._apply(request, vm, merged, status=200)

    def create_or_update(self, request: Request) -> Response:
        p = request.params
        require_group(self.world, p["sub"], p["group"])
        body = request.json_object()
        vm = self.world.find_vm(p["sub"], p["group"], p["name"])
        doc = {
            k: v
            for k, v in body.items()
            if k in ("properties", "tags", "zones", "identity", "plan")
        }
        if vm is not None:
            _reject_readonly_changes(vm.doc, doc)
            validate_patch_settings(doc, vm.location, request.api_version)
            return self._apply(request, vm, doc, status=200)
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise bad_parameter("The 'location' property is required.", "location")
        self._check_image_offered(doc, location)
        validate_patch_settings(doc, location, request.api_version)
        vm = self.world_add_vm(p["sub"], p["group"], p["name"], location.lower(), doc)
        return self._apply(request, vm, doc, status=201)

    def world_add_vm(
        self, sub: str, group: str, name: str, location: str, doc: dict[str, Any]
    ) -> VirtualMachine:
        vm = new_vm(self.world, sub, group, name, location, doc)
        self.world.vms[vm.key] = vm
        return vm

    def _check_image_offered(self, doc: dict[str, Any], location: str) -> None:
        image = doc.get("properties", {}).get("storageProfile", {}).get("imageReference", {})
        publisher, offer, sku = (str(image.get(k, "")) for k in ("publisher", "offer", "sku"))
        if not (publisher and offer and sku):
            return
        offered = self.world.region_skus.get(location.lower(), ())
        is_windows = (publisher.lower(), offer.lower()) == (
            "microsoftwindowsserver",
            "windowsserver",
        )
        if is_windows and sku.lower() not in offered:
            raise ArmError(
                404,
                "PlatformImageNotFound",
                f"The platform image '{publisher}:{offer}:{sku}:{image.get('version', 'latest')}' "
                "is not available. Verify that all fields in the storage profile are correct. For "
                "more details about storage profile information, please refer to "
                "https://aka.ms/storageprofile",
                target="imageReference",
            )

    def _apply(
        self, request: Request, vm: VirtualMachine, doc: dict[str, Any], *, status: int
    ) -> Response:
        vm.doc = doc
        vm.provisioning = "Updating"

        def done(op: Operation) -> None:
            if op.failed:  # model: the settings stay written; the VM says the update failed
                op.error = _update_error(vm)
            if vm.update_op is op:
                vm.provisioning = "Failed" if op.failed else "Succeeded"
                vm.update_op = None

        op = self.world.new_operation(
            "vmUpdate",
            subscription=vm.subscription,
            location=vm.location,
            target=vm.key,
            duration=self.world.durations.vm_update,
            on_done=done,
        )
        vm.update_op = op
        headers = {"Azure-AsyncOperation": operation_url(request, op)}
        return Response(status, render_vm(self.world, vm), headers=headers)

    # --- patch operations -----------------------------------------------------------------

    def _patchable(self, request: Request, action: str) -> VirtualMachine:
        vm = self._vm(request)
        if vm.power != "running":
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation '{action}' is not allowed on VM '{vm.name}' since the VM is "
                "deallocated or marked to be deallocated.",
            )
        running = vm.patches.operation
        if running is not None and not running.done:
            raise ArmError(
                409,
                "Conflict",
                f"The operation '{action}' cannot be performed on VM '{vm.name}' because another "
                f"patch operation ('{running.kind}') is in progress. Retry after it completes.",
            )
        return vm

    def assess(self, request: Request) -> Response:
        vm = self._patchable(request, "assessPatches")
        op = self.world.new_operation(
            "assessPatches",
            subscription=vm.subscription,
            location=vm.location,
            target=vm.key,
            duration=self.world.durations.assess,
            on_done=lambda op: self._finish_assessment(vm, op),
        )
        vm.patches.operation = op
        self.world.patch_runs[op.id] = PatchRun(vm.key, vm.id, "assessPatches", op, vm.os_type)
        return _accepted(request, op)

    def install(self, request: Request) -> Response:
        vm = self._vm(request)
        parameters = request.json_object()
        validate_install(parameters, is_linux=vm.os_type.lower() == "linux", arc=False)
        vm = self._patchable(request, "installPatches")
        op = self.start_install(vm, parameters)
        self.world.installs[vm.key].append(
            InstallRecord(op.id, self.world.clock.at(op.start), parameters, request.principal)
        )
        return _accepted(request, op)

    def start_install(
        self,
        vm: VirtualMachine,
        parameters: dict[str, Any],
        *,
        run_id: str | None = None,
        start: float | None = None,
    ) -> Operation:
        """Start an install on the VM: on request, or (with ``run_id``) for a maintenance
        schedule's window, which Resource Graph then shows as started by the platform."""
        op = self.world.new_operation(
            "installPatches",
            subscription=vm.subscription,
            location=vm.location,
            target=vm.key,
            duration=self.world.durations.install,
            on_done=lambda op: self._finish_installation(vm, op, parameters),
            start=start,
        )
        vm.patches.operation = op
        self.world.patch_runs[op.id] = PatchRun(
            vm.key,
            vm.id,
            "installPatches",
            op,
            vm.os_type,
            maintenance_run_id=run_id,
        )
        return op

    def _finish_assessment(self, vm: VirtualMachine, op: Operation) -> None:
        if not op.failed and not vm.agent_ready:
            op.failed = True
        if op.failed:
            op.error = _agent_error(vm) if not vm.agent_ready else _patch_error("assessment")
            result = _assessment_summary(self.world, vm, op, [], status="Failed")
            result["error"] = op.error
            vm.patches.last_assessment = result
            self.world.patch_runs[op.id].result = result
            return
        offered = self.world.offered_patches(vm)
        vm.patches.last_assessment_patches = offered
        summary = _assessment_summary(self.world, vm, op, offered, status="Succeeded")
        vm.patches.last_assessment = summary
        op.output = {
            **summary,
            "availablePatches": [_available(p, op) for p in offered],
            "error": _success_error(),
        }
        self.world.patch_runs[op.id].result = op.output

    def _finish_installation(
        self, vm: VirtualMachine, op: Operation, parameters: dict[str, Any]
    ) -> None:
        if not op.failed and not vm.agent_ready:
            op.failed = True
        if op.failed:
            op.error = _agent_error(vm) if not vm.agent_ready else _patch_error("installation")
            vm.patches.last_installation = {
                "status": "Failed",
                "installationActivityId": op.id,
                "startTime": iso(self.world.clock.at(op.start)),
                "lastModifiedTime": iso(self.world.clock.at(op.end)),
                "error": op.error,
            }
            self.world.patch_runs[op.id].result = vm.patches.last_installation
            return
        result = install_result(self.world, vm, op, parameters)
        op.output = result
        self.world.patch_runs[op.id].result = result
        vm.patches.last_installation = {
            k: result[k]
            for k in (
                "status",
                "installationActivityId",
                "maintenanceWindowExceeded",
                "notSelectedPatchCount",
                "excludedPatchCount",
                "pendingPatchCount",
                "installedPatchCount",
                "failedPatchCount",
                "error",
            )
        } | {
            "startTime": result["startDateTime"],
            "lastModifiedTime": iso(self.world.clock.at(op.end)),
        }

    # --- operation status -----------------------------------------------------------------

    def operation(self, request: Request) -> Response:
        op = self.world.operations.get(request.params["op"].lower())
        if op is None or op.location.lower() != request.params["location"].lower():
            raise ArmError(
                404, "NotFound", f"The operation '{request.params['op']}' was not found."
            )
        op.polls += 1
        if request.query.get("monitor", "").lower() == "true":
            if not op.done:
                return Response(202, headers={"Location": monitor_url(request, op)})
            return Response(200, op.output if op.output is not None else _failed_result(op))
        return Response(200, operation_status(self.world, op))

    # --- image catalog --------------------------------------------------------------------

    def list_skus(self, request: Request) -> Response:
        p = request.params
        location = p["location"].lower()
        key = (p["publisher"].lower(), p["offer"].lower())
        if key == ("microsoftwindowsserver", "windowsserver"):
            skus = self.world.region_skus.get(location)
        else:
            skus = _LINUX_SKUS.get(key)
        if skus is None:
            raise ArmError(404, "NotFound", "Artifact: VMImage was not found.")
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


# --- rendering --------------------------------------------------------------------------------


def new_vm(
    world: World, sub: str, group: str, name: str, location: str, doc: dict[str, Any]
) -> VirtualMachine:
    key = machine_key(sub, group, VM_TYPE, name)
    canonical = f"/subscriptions/{sub}/resourceGroups/{group}/providers/{VM_TYPE}/{name}"
    return VirtualMachine(
        key=key,
        id=canonical,
        subscription=sub.lower(),
        group=group,
        name=name,
        location=location.lower(),
        doc=doc,
        vm_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{world.seed}/{key}")),
        created=world.clock.now(),
    )


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
    product = vm.product
    view: dict[str, Any] = {
        "computerName": vm.properties.get("osProfile", {}).get("computerName", vm.name[:15]),
        "osName": product.display if product else "ubuntu",
        "osVersion": f"10.0.{product.build}.0" if product else "22.04",
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
        ready = vm.agent_ready
        view["vmAgent"] = {
            "vmAgentVersion": "2.7.41491.1157" if ready else "Unknown",
            "statuses": [
                {
                    "code": "ProvisioningState/succeeded"
                    if ready
                    else "ProvisioningState/Unavailable",
                    "level": "Info" if ready else "Warning",
                    "displayStatus": "Ready" if ready else "Not Ready",
                    "message": "GuestAgent is running and processing the extensions."
                    if ready
                    else "VM status blob is found but not yet populated.",
                    "time": now,
                }
            ],
        }
    return view


def _patch_status(world: World, vm: VirtualMachine) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if vm.patches.last_assessment is not None:
        summary = vm.patches.last_assessment
        status["availablePatchSummary"] = {
            "status": summary.get("status"),
            "assessmentActivityId": summary.get("assessmentActivityId"),
            "rebootPending": summary.get("rebootPending", False),
            "criticalAndSecurityPatchCount": summary.get("criticalAndSecurityPatchCount", 0),
            "otherPatchCount": summary.get("otherPatchCount", 0),
            "startTime": summary.get("startDateTime"),
            "lastModifiedTime": summary.get("lastModifiedDateTime"),
            "error": summary.get("error"),
        }
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


def operation_url(request: Request, op: Operation) -> str:
    path = (
        f"/subscriptions/{op.subscription}/providers/Microsoft.Compute/locations/{op.location}"
        f"/operations/{op.id}"
    )
    return request.url(
        path, p=str(uuid.uuid5(uuid.NAMESPACE_OID, op.id)), **{"api-version": request.api_version}
    )


def monitor_url(request: Request, op: Operation) -> str:
    path = (
        f"/subscriptions/{op.subscription}/providers/Microsoft.Compute/locations/{op.location}"
        f"/operations/{op.id}"
    )
    return request.url(
        path,
        p=str(uuid.uuid5(uuid.NAMESPACE_OID, op.id)),
        monitor="true",
        **{"api-version": request.api_version},
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
            body["error"] = op.error or _patch_error(op.kind)
    body["name"] = op.id
    return body


def _failed_result(op: Operation) -> dict[str, Any]:
    return {"status": op.status, "error": op.error}


def _success_error() -> dict[str, Any]:
    return {"details": [], "code": "Success", "message": "0 error/s reported."}


def _update_error(vm: VirtualMachine) -> dict[str, Any]:
    return {
        "code": "InternalOperationError",
        "message": f"The update of VM '{vm.name}' did not complete because of an internal "
        "execution error. Retry the operation.",
    }


def _patch_error(what: str) -> dict[str, Any]:
    return {
        "code": "InternalExecutionError",
        "message": f"The patch {what} operation did not complete; the guest agent reported an "
        "internal error. Retry the operation.",
    }


def _agent_error(vm: VirtualMachine) -> dict[str, Any]:
    return {
        "code": "VMAgentStatusCommunicationError",
        "message": f"VM '{vm.name}' has not reported status for VM agent or extensions. Verify "
        "that the OS is up and healthy, the VM has a running VM agent, and that it can establish "
        "outbound connections to Azure storage.",
    }


def _available(patch: Patch, op: Operation) -> dict[str, Any]:
    item: dict[str, Any] = {
        "patchId": patch.patch_id,
        "name": patch.name,
        "classifications": [patch.classification],
        "rebootBehavior": patch.reboot,
        "activityId": op.id,
        "publishedDate": iso(patch.published),
        "lastModifiedDateTime": iso(patch.published),
        "assessmentState": "Available",
    }
    if patch.kb is not None:
        item["kbId"] = patch.kb
    if patch.version is not None:
        item["version"] = patch.version
    return item


def _assessment_summary(
    world: World, vm: VirtualMachine, op: Operation, offered: list[Patch], *, status: str
) -> dict[str, Any]:
    critical = sum(1 for p in offered if p.classification in ("Critical", "Security"))
    return {
        "status": status,
        "assessmentActivityId": op.id,
        "rebootPending": vm.patches.reboot_pending,
        "criticalAndSecurityPatchCount": critical,
        "otherPatchCount": len(offered) - critical,
        "startDateTime": iso(world.clock.at(op.start)),
        "lastModifiedDateTime": iso(world.clock.at(op.end)),
    }


def install_result(
    world: World, machine: Any, op: Operation, parameters: dict[str, Any]
) -> dict[str, Any]:
    """Apply an install to any machine (VM or Arc) and return the VM-shaped result."""
    is_linux = machine.product is None
    offered = world.offered_patches(machine)
    fails = {p.key for p in offered if world.faults.patch_fails(f"{op.id}|{p.key}")}
    chosen = select(offered, parameters, is_linux=is_linux, fails=fails)
    machine.patches.installed.update(p.key for p in chosen.installed)
    reboot_setting = str(parameters.get("rebootSetting", "IfRequired"))
    needs = any(p.needs_reboot for p in chosen.installed)
    if reboot_setting == "Always" or (needs and reboot_setting == "IfRequired"):
        reboot_status = "Completed"
        machine.patches.reboot_pending = False
    elif needs:
        reboot_status = "Required"
        machine.patches.reboot_pending = True
    else:
        reboot_status = "NotNeeded"
    states = (
        [(p, "Installed") for p in chosen.installed]
        + [(p, "Failed") for p in chosen.failed]
        + [(p, "Excluded") for p in chosen.excluded]
        + [(p, "NotSelected") for p in chosen.not_selected]
    )
    return {
        "status": "CompletedWithWarnings" if chosen.failed else "Succeeded",
        "installationActivityId": op.id,
        "rebootStatus": reboot_status,
        "maintenanceWindowExceeded": False,
        "excludedPatchCount": len(chosen.excluded),
        "notSelectedPatchCount": len(chosen.not_selected),
        "pendingPatchCount": len(chosen.pending),
        "installedPatchCount": len(chosen.installed),
        "failedPatchCount": len(chosen.failed),
        "patches": [_installed(p, state) for p, state in states],
        "startDateTime": iso(world.clock.at(op.start)),
        "error": _success_error(),
    }


def _installed(patch: Patch, state: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "patchId": patch.patch_id,
        "name": patch.name,
        "classifications": [patch.classification],
        "installationState": state,
    }
    if patch.kb is not None:
        item["kbId"] = patch.kb
    if patch.version is not None:
        item["version"] = patch.version
    if patch.msrc_severity and state == "Installed":
        item["msrcSeverity"] = patch.msrc_severity
    return item


# --- validation ---------------------------------------------------------------------------------


def _reject_readonly_changes(before: dict[str, Any], after: dict[str, Any]) -> None:
    old_props, new_props = before.get("properties", {}), after.get("properties", {})
    old_win = old_props.get("osProfile", {}).get("windowsConfiguration", {})
    new_win = new_props.get("osProfile", {}).get("windowsConfiguration", {})
    if old_win.get("provisionVMAgent", True) != new_win.get("provisionVMAgent", True):
        raise ArmError(
            400,
            "PropertyChangeNotAllowed",
            "Changing property 'windowsConfiguration.provisionVMAgent' is not allowed.",
            target="windowsConfiguration.provisionVMAgent",
        )
    old_image = old_props.get("storageProfile", {}).get("imageReference", {})
    new_image = new_props.get("storageProfile", {}).get("imageReference", {})
    for part in ("publisher", "offer", "sku"):
        if str(old_image.get(part, "")).lower() != str(new_image.get(part, "")).lower():
            raise ArmError(
                400,
                "PropertyChangeNotAllowed",
                "Changing property 'imageReference' is not allowed.",
                target="imageReference",
            )


def validate_patch_settings(doc: dict[str, Any], location: str, api_version: str) -> None:
    """The rules Compute applies to ``windowsConfiguration`` on PUT/PATCH."""
    properties = doc.get("properties", {})
    windows = properties.get("osProfile", {}).get("windowsConfiguration")
    if not isinstance(windows, dict):
        return
    settings = windows.get("patchSettings") or {}
    mode = settings.get("patchMode")
    agent = windows.get("provisionVMAgent", True)
    updates = windows.get("enableAutomaticUpdates", True)
    for wanted, prop, value in (
        ("AutomaticByPlatform", "provisionVMAgent", agent),
        ("AutomaticByPlatform", "enableAutomaticUpdates", updates),
        ("AutomaticByOS", "enableAutomaticUpdates", updates),
    ):
        if mode == wanted and value is False:
            raise bad_parameter(
                f"The patchMode '{mode}' is invalid. For patchMode '{mode}', the property "
                f"'{prop}' must be set to true.",
                f"{_PATCH_TARGET}.patchMode",
            )
    if settings.get("enableHotpatching") is not True:
        return
    if api_version[:10] < "2020-06-01":
        raise ArmError(
            400,
            "BadRequest",
            "Hotpatch compatible VMs cannot be created or updated with an API version lower "
            "than '2020-06-01'.",
        )
    image = properties.get("storageProfile", {}).get("imageReference", {})
    if not catalog.find_image(
        str(image.get("publisher", "")), str(image.get("offer", "")), str(image.get("sku", ""))
    ):
        raise bad_parameter(
            "The selected VM image is not supported for hotpatching. Learn more at: "
            f"{_HOTPATCH_DOCS}",
            f"{_PATCH_TARGET}.enableHotpatching",
        )
    if mode != "AutomaticByPlatform" or agent is False:
        raise bad_parameter(
            "EnableHotpatching cannot be set to true. For enableHotpatching, the "
            "'provisionVMAgent' must be set to true and 'patchMode' must be set to "
            "'AutomaticByPlatform'.",
            f"{_PATCH_TARGET}.enableHotpatching",
        )
    by_platform = settings.get("automaticByPlatformSettings") or {}
    if by_platform.get("bypassPlatformSafetyChecksOnUserSchedule") is True:
        raise bad_parameter(
            "Hotpatch updates require platform safety checks. The "
            "'BypassPlatformSafetyChecksOnUserSchedule' flag must be set to false to enable "
            "hotpatching.",
            f"{_PATCH_TARGET}.automaticByPlatformSettings.bypassPlatformSafetyChecksOnUserSchedule",
        )


def validate_install(parameters: dict[str, Any], *, is_linux: bool, arc: bool) -> None:
    """installPatches input checks, shared by VMs and Arc (Arc requires maximumDuration)."""
    reboot = parameters.get("rebootSetting")
    if reboot not in ("IfRequired", "Never", "Always"):
        raise bad_parameter(
            f"The value '{reboot}' of parameter 'rebootSetting' is not valid. Allowed values "
            "are 'IfRequired', 'Never', 'Always'.",
            "rebootSetting",
        )
    duration = parameters.get("maximumDuration")
    if duration is None and arc:
        raise bad_parameter(
            "Required parameter 'maximumDuration' is missing (null).", "maximumDuration"
        )
    if duration is not None:
        parsed = parse_duration(str(duration))
        if parsed is None or parsed <= timedelta(0) or parsed > timedelta(hours=4):
            raise bad_parameter(
                f"The value '{duration}' of parameter 'maximumDuration' is not valid. It must be "
                "an ISO 8601 duration greater than zero and at most PT4H, such as PT2H.",
                "maximumDuration",
            )
    section_name = "linuxParameters" if is_linux else "windowsParameters"
    section = parameters.get(section_name)
    if not isinstance(section, dict):
        raise bad_parameter(
            f"'{section_name}' must be specified for a {'Linux' if is_linux else 'Windows'} "
            "machine.",
            section_name,
        )
    allowed = ("Critical", "Security", "Other") if is_linux else WINDOWS_CLASSIFICATIONS
    for value in section.get("classificationsToInclude") or []:
        if value not in allowed:
            raise bad_parameter(
                f"The value '{value}' in 'classificationsToInclude' is not valid. Allowed values "
                f"are {', '.join(allowed)}.",
                f"{section_name}.classificationsToInclude",
            )
    for field_name in ("kbNumbersToInclude", "kbNumbersToExclude"):
        for value in section.get(field_name) or []:
            if not _KB.match(str(value)):
                raise bad_parameter(
                    f"The entry in '{field_name}' with value '{value}' is not valid. It must be a "
                    "KBID such as KB4512508.",
                    f"{section_name}.{field_name}",
                )
    published = section.get("maxPatchPublishDate")
    if published is not None:
        try:
            datetime.fromisoformat(str(published).replace("Z", "+00:00"))
        except ValueError:
            raise bad_parameter(
                f"The value '{published}' of 'maxPatchPublishDate' is not a valid date-time.",
                f"{section_name}.maxPatchPublishDate",
            ) from None
