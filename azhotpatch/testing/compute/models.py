"""Microsoft.Compute's rules, applied to the world's VMs: what a settings change may be, how
assess and install run, what they record, and which platform images each region offers.

Validation errors reuse Azure's recorded codes and messages (see the reference notes); where
Azure documents no behaviour, the code says "model".
"""

from __future__ import annotations

from typing import Any

from azhotpatch import catalog
from azhotpatch.testing.arm.errors import ArmError, bad_parameter
from azhotpatch.testing.arm.exchange import iso, merge_patch
from azhotpatch.testing.compute.documents import scale_set, vm_document
from azhotpatch.testing.estate import VmSpec
from azhotpatch.testing.patching.history import settle_history
from azhotpatch.testing.patching.installs import install_result, success_error, validate_install
from azhotpatch.testing.patching.releases import SoftwarePatch
from azhotpatch.testing.world.machines import ScaleSet, VirtualMachine
from azhotpatch.testing.world.operations import InstallRecord, Operation, PatchRun
from azhotpatch.testing.world.state import World

_HOTPATCH_DOCS = "https://aka.ms/HotpatchCompatibility"
_PATCH_TARGET = "windowsConfiguration.patchSettings"
_LINUX_SKUS = {("canonical", "ubuntuserver"): ("18.04-lts", "20_04-lts", "22_04-lts")}
_WINDOWS_SERVER = ("microsoftwindowsserver", "windowsserver")
# What a PATCH may change (tags are replaced whole) and what a PUT keeps of its body.
_PATCHABLE = ("properties", "zones", "identity", "plan")
_PUTTABLE = ("properties", "tags", "zones", "identity", "plan")


class ComputeBackend:
    """The VMs' side of Compute: the image catalog, settings writes that start update
    operations, and the guest patch operations."""

    def __init__(self, world: World) -> None:
        self.world = world

    # --- the image catalog ----------------------------------------------------------------

    def skus(self, location: str, publisher: str, offer: str) -> tuple[str, ...]:
        """The image SKUs a region offers for a publisher's offer (the platform catalog)."""
        key = (publisher.lower(), offer.lower())
        skus = (
            self.world.region_skus.get(location.lower())
            if key == _WINDOWS_SERVER
            else _LINUX_SKUS.get(key)
        )
        if skus is None:
            raise ArmError(404, "NotFound", "Artifact: VMImage was not found.")
        return skus

    # --- resources a deployment left (added without a request) ----------------------------

    def add_vm(self, spec: VmSpec) -> VirtualMachine:
        """The VM ``spec`` describes, as it stands after its deployment: powered as asked,
        its agent ready or not, and ``months_behind`` on its updates."""
        self.world.ensure_group(spec.subscription, spec.group)
        now = self.world.clock.now()
        vm = VirtualMachine.create(
            spec.subscription,
            spec.group,
            spec.name,
            spec.location,
            vm_document(spec),
            seed=self.world.seed,
            created=now,
        )
        vm.power = spec.power
        vm.agent_ready = spec.agent_ready
        settle_history(
            self.world, vm, spec.months_behind, spec.history, enrolled=spec.hotpatch_enrolled
        )
        self.world.vms[vm.key] = vm
        self.world.changed()
        return vm

    def add_scale_set(
        self,
        subscription: str,
        group: str,
        name: str,
        location: str,
        *,
        mode: str,
        hotpatch: bool,
        sku: str,
    ) -> ScaleSet:
        """A scale set whose model has Hotpatch on or off (see `documents.scale_set`)."""
        self.world.ensure_group(subscription, group)
        added = scale_set(
            subscription, group, name, location, mode=mode, hotpatch=hotpatch, sku=sku
        )
        self.world.scale_sets[added.key] = added
        self.world.changed()
        return added

    # --- settings -------------------------------------------------------------------------

    def update(self, vm: VirtualMachine, body: dict[str, Any], api_version: str) -> Operation:
        """A PATCH: merge, check, write, and start the update operation."""
        merged = merge_patch(vm.doc, {k: v for k, v in body.items() if k in _PATCHABLE})
        if isinstance(body.get("tags"), dict):
            merged["tags"] = body["tags"]
        _reject_readonly_changes(vm.doc, merged)
        validate_patch_settings(merged, api_version)
        return self._write(vm, merged)

    def create_or_update(
        self, sub: str, group: str, name: str, body: dict[str, Any], api_version: str
    ) -> tuple[VirtualMachine, Operation, bool]:
        """A PUT: replace an existing VM's document, or create one; returns the VM, its
        update operation and whether it was created."""
        self.world.require_group(sub, group)
        doc = {k: v for k, v in body.items() if k in _PUTTABLE}
        vm = self.world.find_vm(sub, group, name)
        if vm is not None:
            _reject_readonly_changes(vm.doc, doc)
            validate_patch_settings(doc, api_version)
            return vm, self._write(vm, doc), False
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise bad_parameter("The 'location' property is required.", "location")
        self._check_image_offered(doc, location)
        validate_patch_settings(doc, api_version)
        vm = VirtualMachine.create(
            sub, group, name, location, doc, seed=self.world.seed, created=self.world.clock.now()
        )
        self.world.vms[vm.key] = vm
        return vm, self._write(vm, doc), True

    def _check_image_offered(self, doc: dict[str, Any], location: str) -> None:
        image = doc.get("properties", {}).get("storageProfile", {}).get("imageReference", {})
        publisher, offer, sku = (str(image.get(k, "")) for k in ("publisher", "offer", "sku"))
        if not (publisher and offer and sku):
            return
        offered = self.world.region_skus.get(location.lower(), ())
        is_windows = (publisher.lower(), offer.lower()) == _WINDOWS_SERVER
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

    def _write(self, vm: VirtualMachine, doc: dict[str, Any]) -> Operation:
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
            on=vm,
            duration=self.world.durations.vm_update,
            on_done=done,
        )
        vm.update_op = op
        return op

    # --- patch operations -----------------------------------------------------------------

    def _patchable(self, vm: VirtualMachine, action: str) -> VirtualMachine:
        if vm.power != "running":
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation '{action}' is not allowed on VM '{vm.name}' since the VM is "
                "deallocated or marked to be deallocated.",
            )
        running = vm.patches.operation
        if running is not None and not running.done:
            # Model, an open question: what Compute answers to an assessPatches or
            # installPatches while another runs on the VM is in no published spec example,
            # SDK test, recording or page we could find. One guest patch operation at a time
            # is what the patch extension runs; that Compute refuses the second at the door
            # with 409 is what operators report and what this answers (`Conflict`, naming the
            # running operation, and not whose it is: the caller must read the VM). The
            # library does not lean on the wording: any 409 is read as "something holds the
            # machine" and the machine's state says what (`azhotpatch._azure.trigger`).
            raise ArmError(
                409,
                "Conflict",
                f"The operation '{action}' cannot be performed on VM '{vm.name}' because another "
                f"patch operation ('{running.kind}') is in progress. Retry after it completes.",
            )
        return vm

    def assess(self, vm: VirtualMachine) -> Operation:
        self._patchable(vm, "assessPatches")
        op = self.world.new_operation(
            "assessPatches",
            on=vm,
            duration=self.world.durations.assess,
            on_done=lambda op: self._finish_assessment(vm, op),
        )
        vm.patches.operation = op
        self.world.patch_runs[op.id] = PatchRun(vm.key, vm.id, "assessPatches", op, vm.os_type)
        return op

    def install(self, vm: VirtualMachine, parameters: dict[str, Any], principal: str) -> Operation:
        """An installPatches POST: checked, started, and remembered as a request."""
        validate_install(parameters, is_linux=vm.os_type.lower() == "linux", arc=False)
        self._patchable(vm, "installPatches")
        op = self.start_install(vm, parameters)
        self.world.install_requests[vm.key].append(
            InstallRecord(op.id, self.world.clock.at(op.start), parameters, principal)
        )
        return op

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
            on=vm,
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
        finished = iso(self.world.clock.at(op.end))
        if op.failed:
            op.error = _agent_error(vm) if not vm.agent_ready else patch_error("assessment")
            result = {
                **_assessment_result(self.world, vm, op, [], status="Failed"),
                "error": op.error,
            }
            vm.patches.last_assessment = _available_patch_summary(result, finished, op.error)
            self.world.patch_runs[op.id].result = result
            return
        offered = self.world.offered_patches(vm)
        summary = _assessment_result(self.world, vm, op, offered, status="Succeeded")
        vm.patches.last_assessment = _available_patch_summary(summary, finished, None)
        op.output = {
            **summary,
            "availablePatches": [_available(p, op) for p in offered],
            "error": success_error(),
        }
        self.world.patch_runs[op.id].result = op.output

    def _finish_installation(
        self, vm: VirtualMachine, op: Operation, parameters: dict[str, Any]
    ) -> None:
        if not op.failed and not vm.agent_ready:
            op.failed = True
        if op.failed:
            op.error = _agent_error(vm) if not vm.agent_ready else patch_error("installation")
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


# --- what operations record ---------------------------------------------------------------------


def _update_error(vm: VirtualMachine) -> dict[str, Any]:
    return {
        "code": "InternalOperationError",
        "message": f"The update of VM '{vm.name}' did not complete because of an internal "
        "execution error. Retry the operation.",
    }


def patch_error(what: str) -> dict[str, Any]:
    """The error a guest patch operation that failed in the guest reports."""
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


def _available(patch: SoftwarePatch, op: Operation) -> dict[str, Any]:
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


def _assessment_result(
    world: World,
    vm: VirtualMachine,
    op: Operation,
    offered: list[SoftwarePatch],
    *,
    status: str,
) -> dict[str, Any]:
    """The head of a ``VirtualMachineAssessPatchesResult``. It has no finish time: neither
    the spec nor recorded traffic gives the result one (the instance view's summary has
    ``lastModifiedTime``)."""
    critical = sum(1 for p in offered if p.classification in ("Critical", "Security"))
    return {
        "status": status,
        "assessmentActivityId": op.id,
        "rebootPending": vm.patches.reboot_pending,
        "criticalAndSecurityPatchCount": critical,
        "otherPatchCount": len(offered) - critical,
        "startDateTime": iso(world.clock.at(op.start)),
    }


def _available_patch_summary(
    result: dict[str, Any], finished: str | None, error: dict[str, Any] | None
) -> dict[str, Any]:
    """The instance view's ``patchStatus.availablePatchSummary`` after an assessment."""
    return {
        "status": result["status"],
        "assessmentActivityId": result["assessmentActivityId"],
        "rebootPending": result["rebootPending"],
        "criticalAndSecurityPatchCount": result["criticalAndSecurityPatchCount"],
        "otherPatchCount": result["otherPatchCount"],
        "startTime": result["startDateTime"],
        "lastModifiedTime": finished,
        "error": error,
    }


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


def validate_patch_settings(doc: dict[str, Any], api_version: str) -> None:
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
