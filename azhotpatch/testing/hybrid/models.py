"""Microsoft.HybridCompute's rules, applied to the world's Arc machines: patch settings and
the agent's Hotpatch evaluation, the license profile and its product features, and assess and
install as the Connected Machine agent runs them.

Modelled where Azure's behaviour is not documented (marked "model" below): enabling Hotpatch on
a machine that is not Windows Server 2025 is rejected with 400; a disconnected machine accepts
a patch POST but the operation fails with ``MachineDisconnected``; the enablement evaluation
needs the license's Hotpatch feature ``Enabled`` and waits for it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from azhotpatch.testing.arm.errors import ArmError, bad_parameter
from azhotpatch.testing.arm.exchange import iso
from azhotpatch.testing.estate import ArcSpec
from azhotpatch.testing.hybrid.documents import arc_machine
from azhotpatch.testing.hybrid.runcommands import RunCommands
from azhotpatch.testing.patching.history import settle_history
from azhotpatch.testing.patching.installs import install_result, validate_install
from azhotpatch.testing.patching.releases import SoftwarePatch
from azhotpatch.testing.world.machines import ARC_TYPE, ArcMachine
from azhotpatch.testing.world.operations import InstallRecord, Operation, PatchRun
from azhotpatch.testing.world.state import World

LICENSE_TYPE = "Microsoft.HybridCompute/machines/licenseProfiles"
PUT_STATUSES = ("Enabled", "Disabled")
PATCH_STATUSES = ("Enable", "Disable")
_PRODUCT_TYPES = ("WindowsServer", "WindowsIoTEnterprise")
_TRANSIENT = {
    "Enabled": "Enabling",
    "Enable": "Enabling",
    "Disabled": "Disabling",
    "Disable": "Disabling",
}
# availablePatchCountByClassification keys, by Windows Update classification
_COUNT_KEYS = {
    "Security": "security",
    "Critical": "critical",
    "Definition": "definition",
    "UpdateRollUp": "updateRollup",
    "FeaturePack": "featurePack",
    "ServicePack": "servicePack",
    "Tools": "tools",
    "Updates": "updates",
}


class HybridBackend:
    """The Arc machines' side of Hybrid Compute."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.run_commands = RunCommands(world, on_boot=self._booted)

    # --- machines -------------------------------------------------------------------------

    def add_arc(self, spec: ArcSpec) -> ArcMachine:
        """The machine ``spec`` describes, as it stands after onboarding: its agent's report,
        its license and ``months_behind`` on its updates."""
        self.world.ensure_group(spec.subscription, spec.group)
        now = self.world.clock.now()
        machine = arc_machine(spec, created=now)
        settle_history(
            self.world,
            machine,
            spec.months_behind,
            spec.history,
            enrolled=spec.hotpatch_status == "Enabled",
        )
        self.world.arcs[machine.key] = machine
        self.world.changed()
        return machine

    def update(self, machine: ArcMachine, body: dict[str, Any]) -> None:
        """A machine PATCH (synchronous): tags, and the patch settings the agent acts on."""
        if isinstance(body.get("tags"), dict):
            machine.tags = {str(k): str(v) for k, v in body["tags"].items()}
        settings = (
            (body.get("properties") or {})
            .get("osProfile", {})
            .get("windowsConfiguration", {})
            .get("patchSettings")
        )
        if isinstance(settings, dict):
            self._apply_patch_settings(machine, settings)
        self.world.changed()

    def _apply_patch_settings(self, machine: ArcMachine, settings: dict[str, Any]) -> None:
        for field_name, attribute in (
            ("patchMode", "patch_mode"),
            ("assessmentMode", "assessment_mode"),
        ):
            if settings.get(field_name) is not None:
                setattr(machine, attribute, str(settings[field_name]))
        wanted = settings.get("enableHotpatching")
        if wanted is None or bool(wanted) == bool(machine.enable_hotpatching):
            return
        product = machine.product
        if wanted and (product is None or product.key != "ws2025"):
            # model: Hotpatch on Arc is for Windows Server 2025 only.
            raise bad_parameter(
                f"Hotpatch is supported only on Windows Server 2025 Datacenter and Standard; "
                f"machine '{machine.name}' runs '{machine.os_sku or machine.os_name}'.",
                "properties.osProfile.windowsConfiguration.patchSettings.enableHotpatching",
            )
        machine.enable_hotpatching = bool(wanted)
        machine.hotpatch_status = "PendingEvaluation"
        self._schedule_evaluation(machine)

    def _schedule_evaluation(self, machine: ArcMachine) -> None:
        self.world.scheduler.at(
            self.world.now() + self.world.durations.arc_enablement,
            lambda: self._evaluate(machine),
        )

    def _evaluate(self, machine: ArcMachine) -> None:
        """The agent's verdict on Hotpatch; stays PendingEvaluation while it cannot decide."""
        if machine.hotpatch_status != "PendingEvaluation":
            return
        if not machine.enable_hotpatching:
            machine.hotpatch_status = "Disabled"
        elif machine.status != "Connected" or not machine.licensed_for_hotpatch:
            return
        else:
            ready = machine.vbs_running and machine.hardware.chpe_off
            machine.hotpatch_status = "Enabled" if ready else "ActionRequired"
        self.world.changed()

    def _booted(self, machine: ArcMachine) -> None:
        """After a restart the agent evaluates Hotpatch again (model): VBS or CHPE may have
        changed with it."""
        if machine.enable_hotpatching:
            machine.hotpatch_status = "PendingEvaluation"
            self._schedule_evaluation(machine)

    # --- license profile ------------------------------------------------------------------

    def profile_owner(self, sub: str, group: str, name: str, profile: str) -> ArcMachine:
        """The machine a ``licenseProfiles/<profile>`` path addresses; only ``default``
        exists."""
        if self.world.find_arc(sub, group, name) is None:
            self.world.require_group(sub, group)
            raise ArmError(
                404,
                "ParentResourceNotFound",
                "Can not perform requested operation on nested resource. Parent resource "
                f"'{name}' not found.",
            )
        machine = self.world.require_arc(sub, group, name)
        if profile.lower() != "default":
            raise bad_parameter(
                f"The license profile name '{profile}' is not valid; it must be 'default'.",
                "licenseProfileName",
            )
        return machine

    def license(self, machine: ArcMachine) -> dict[str, Any]:
        if machine.license is None:
            raise _license_not_found(machine)
        return machine.license

    def put_license(self, machine: ArcMachine, body: dict[str, Any]) -> tuple[Operation, bool]:
        """A license profile PUT; returns its operation and whether it created the profile."""
        location = body.get("location")
        if not isinstance(location, str) or location.lower() != machine.location:
            raise bad_parameter(
                f"The license profile location '{location}' must be the machine's location "
                f"'{machine.location}'.",
                "location",
            )
        properties = body.get("properties") or {}
        product = properties.get("productProfile") or {}
        _check_product(product, PUT_STATUSES, "PUT")
        created = machine.license is None
        previous = machine.license or {}
        before = copy.deepcopy(previous.get("productProfile"))
        machine.license = {
            "softwareAssurance": properties.get("softwareAssurance")
            or previous.get("softwareAssurance"),
            "esuProfile": properties.get("esuProfile") or previous.get("esuProfile"),
            "productProfile": _transition(previous.get("productProfile") or {}, product, "PUT"),
        }
        return self._license_operation(machine, before), created

    def patch_license(self, machine: ArcMachine, body: dict[str, Any]) -> Operation:
        license_profile = self.license(machine)
        properties = body.get("properties") or {}
        product = properties.get("productProfile") or {}
        _check_product(product, PATCH_STATUSES, "PATCH")
        before = copy.deepcopy(license_profile.get("productProfile"))
        if properties.get("softwareAssurance") is not None:
            license_profile["softwareAssurance"] = properties["softwareAssurance"]
        license_profile["productProfile"] = _transition(
            license_profile.get("productProfile") or {}, product, "PATCH"
        )
        return self._license_operation(machine, before)

    def delete_license(self, machine: ArcMachine) -> Operation | None:
        """Start removing the profile; None when there is none (ARM answers 204)."""
        if machine.license is None:
            return None

        def done(op: Operation) -> None:
            machine.license = None
            machine.license_busy = None

        return self._license_busy(machine, "licenseDelete", done)

    def _license_operation(self, machine: ArcMachine, before: dict[str, Any] | None) -> Operation:
        """The update's operation; ``before`` is the product profile it started from, which a
        failed update leaves in place (model)."""

        def done(op: Operation) -> None:
            if op.failed and machine.license is not None:
                machine.license["productProfile"] = before or {}
                op.error = {
                    "code": "LicenseProfileUpdateFailed",
                    "message": f"The license profile of machine '{machine.name}' could not be "
                    "updated. Retry the operation.",
                }
            _settle_product(self.world, machine)
            machine.license_busy = None
            if machine.hotpatch_status == "PendingEvaluation":
                self._schedule_evaluation(machine)

        return self._license_busy(machine, "licenseProfile", done)

    def _license_busy(
        self, machine: ArcMachine, kind: str, on_done: Callable[[Operation], None]
    ) -> Operation:
        """The license profile's operation, which keeps it Updating until it ends."""
        op = self.world.new_operation(
            kind, on=machine, duration=self.world.durations.license_profile, on_done=on_done
        )
        machine.license_busy = op
        return op

    # --- patch operations -----------------------------------------------------------------

    def _patchable(self, machine: ArcMachine, action: str) -> ArcMachine:
        running = machine.patches.operation
        if running is not None and not running.done:
            # Model, an open question (see Compute's `_patchable`): whether Hybrid Compute
            # refuses a second patch operation while one runs, or passes it to the machine,
            # is not documented. The guest's patch extension, given a new request while an
            # older one runs, ends the older one (Azure/LinuxPatchExtension's enable
            # handler, published); the Windows extension's is not published. This answers
            # as Compute does, 409 `Conflict`: a second install never runs beside the first.
            # Were Azure to accept it, the library's read of the machine's record before each
            # install is the guard that remains (`azhotpatch._operations.install_guard`).
            raise ArmError(
                409,
                "Conflict",
                f"The operation '{action}' cannot be performed on machine '{machine.name}' "
                f"because another patch operation ('{running.kind}') is in progress.",
            )
        return machine

    def assess(self, machine: ArcMachine) -> Operation:
        self._patchable(machine, "assessPatches")
        return self._start(machine, "assessPatches", {})

    def install(self, machine: ArcMachine, parameters: dict[str, Any], principal: str) -> Operation:
        """An installPatches POST: checked, started, and remembered as a request."""
        validate_install(parameters, is_linux=machine.product is None, arc=True)
        self._patchable(machine, "installPatches")
        op = self._start(machine, "installPatches", parameters)
        self.world.install_requests[machine.key].append(
            InstallRecord(op.id, self.world.clock.at(op.start), parameters, principal)
        )
        return op

    def start_install(
        self, machine: ArcMachine, parameters: dict[str, Any], *, run_id: str, start: float
    ) -> Operation:
        """An install a maintenance schedule's window starts, which Resource Graph then
        shows as started by the platform."""
        return self._start(machine, "installPatches", parameters, run_id=run_id, start=start)

    def _start(
        self,
        machine: ArcMachine,
        kind: str,
        parameters: dict[str, Any],
        *,
        run_id: str | None = None,
        start: float | None = None,
    ) -> Operation:
        durations = self.world.durations
        duration = durations.assess if kind == "assessPatches" else durations.install
        run: PatchRun | None = None

        def done(op: Operation) -> None:
            result = self._finish(
                machine, op, parameters, started_by=run.started_by if run else "User"
            )
            op.output = result
            if run is not None:
                run.result = result

        op = self.world.new_operation(
            kind,
            on=machine,
            duration=duration,
            on_done=done,
            start=start,
        )
        run = PatchRun(
            machine.key, machine.id, kind, op, machine.os_family, maintenance_run_id=run_id
        )
        self.world.patch_runs[op.id] = run
        machine.patches.operation = op
        return op

    def _finish(
        self, machine: ArcMachine, op: Operation, parameters: dict[str, Any], *, started_by: str
    ) -> dict[str, Any]:
        clock = self.world.clock
        common = {
            "startDateTime": iso(clock.at(op.start)),
            "lastModifiedDateTime": iso(clock.at(op.end)),
            "startedBy": started_by,
            "patchServiceUsed": "WU" if machine.product else "APT",
            "osType": machine.os_family,
        }
        failure = _failure(machine, op)
        if op.kind == "assessPatches":
            offered = [] if failure else self.world.offered_patches(machine)
            result: dict[str, Any] = {
                **common,
                "status": "Failed" if failure else "Succeeded",
                "assessmentActivityId": op.id,
                "rebootPending": machine.patches.reboot_pending,
                "availablePatchCountByClassification": counts_by_classification(offered),
                "errorDetails": failure,
            }
            machine.patches.last_assessment = result
        elif failure:
            result = {
                **common,
                "status": "Failed",
                "installationActivityId": op.id,
                "errorDetails": failure,
            }
        else:
            full = install_result(self.world, machine, op, parameters)
            result = {
                **common,
                **{k: v for k, v in full.items() if k not in ("patches", "error", "startDateTime")},
                "errorDetails": None,
            }
        if op.kind == "installPatches":
            machine.patches.last_installation = result
        if failure:
            op.failed = True
            op.error = failure
        return result


def counts_by_classification(patches: Iterable[SoftwarePatch]) -> dict[str, int]:
    """``availablePatchCountByClassification`` as Arc reports it."""
    counts = dict.fromkeys((*_COUNT_KEYS.values(), "other"), 0)
    for patch in patches:
        counts[_COUNT_KEYS.get(patch.classification, "other")] += 1
    return counts


def _failure(machine: ArcMachine, op: Operation) -> dict[str, Any] | None:
    if machine.status != "Connected":
        # model: a disconnected agent never picks the operation up.
        return {
            "code": "MachineDisconnected",
            "message": f"The Connected Machine agent on '{machine.name}' is "
            f"{machine.status.lower()}; the operation could not be delivered.",
        }
    if op.failed:
        return {
            "code": "InternalExecutionError",
            "message": f"The patch operation on '{machine.name}' did not complete; retry it.",
        }
    return None


def _license_not_found(machine: ArcMachine) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{ARC_TYPE}/{machine.name}/licenseProfiles/default' under resource group "
        f"'{machine.group}' was not found. For more details please go to "
        "https://aka.ms/ARMResourceNotFoundFix",
    )


# --- the product profile ------------------------------------------------------------------------


def _check_product(product: dict[str, Any], allowed: tuple[str, ...], verb: str) -> None:
    status = product.get("subscriptionStatus")
    # The recorded PATCH sends the product-level status as "Enabled" and Azure accepted it,
    # so a PATCH tolerates the PUT spelling at product level; features are strict.
    product_allowed = allowed + (PUT_STATUSES if verb == "PATCH" else ())
    if status is not None and status not in product_allowed:
        raise bad_parameter(
            f"The value '{status}' is not valid for 'productProfile.subscriptionStatus' in a "
            f"{verb} request. Valid values are {', '.join(repr(a) for a in allowed)}.",
            "properties.productProfile.subscriptionStatus",
        )
    product_type = product.get("productType")
    if product_type is not None and product_type not in _PRODUCT_TYPES:
        raise bad_parameter(
            f"The value '{product_type}' is not valid for 'productProfile.productType'.",
            "properties.productProfile.productType",
        )
    for index, feature in enumerate(product.get("productFeatures") or []):
        value = feature.get("subscriptionStatus") if isinstance(feature, dict) else None
        if value not in allowed:
            raise bad_parameter(
                f"The value '{value}' is not valid for 'productFeatures[{index}]."
                f"subscriptionStatus' in a {verb} request. Valid values are "
                f"{', '.join(repr(a) for a in allowed)}.",
                f"properties.productProfile.productFeatures[{index}].subscriptionStatus",
            )


def _transition(current: dict[str, Any], requested: dict[str, Any], verb: str) -> dict[str, Any]:
    """The product profile while the operation runs: requested states become Enabling or
    Disabling; features not named in a PATCH are kept."""
    product = dict(current)
    if requested.get("productType"):
        product["productType"] = requested["productType"]
    if requested.get("subscriptionStatus"):
        product["subscriptionStatus"] = _TRANSIENT[requested["subscriptionStatus"]]
    features = {str(f.get("name")).lower(): dict(f) for f in current.get("productFeatures") or []}
    if verb == "PUT":
        features = {}
    for feature in requested.get("productFeatures") or []:
        name = str(feature.get("name"))
        entry = features.get(name.lower(), {"name": name})
        entry["subscriptionStatus"] = _TRANSIENT[feature["subscriptionStatus"]]
        features[name.lower()] = entry
    product["productFeatures"] = list(features.values())
    return product


def _settle_product(world: World, machine: ArcMachine) -> None:
    if machine.license is None:
        return
    now = iso(world.clock.now())
    product = machine.license.get("productProfile") or {}
    for entry in [product, *(product.get("productFeatures") or [])]:
        state = entry.get("subscriptionStatus")
        if state == "Enabling":
            entry.update(subscriptionStatus="Enabled", enrollmentDate=now, billingStartDate=now)
            entry.pop("disenrollmentDate", None)
            entry.pop("billingEndDate", None)
        elif state == "Disabling":
            entry.update(subscriptionStatus="Disabled", disenrollmentDate=now, billingEndDate=now)
    world.changed()
