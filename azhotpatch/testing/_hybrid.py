"""Microsoft.HybridCompute: Arc-enabled servers, their license profile, and patch operations.

Shapes follow the HybridCompute REST spec and recorded traffic: machine PATCH is synchronous;
``licenseProfiles/default`` PUT/PATCH/DELETE are long-running with both ``Location``
(``operationresults``) and ``Azure-AsyncOperation`` (``operationstatus``) headers, the status
document's ``properties`` holding the whole profile; PUT takes ``Enabled``/``Disabled`` and
PATCH ``Enable``/``Disable``. Assess/install answer 202 with ``Location`` only
(``updateCenterOperationResults``) and ``Retry-After: 60``; polling it answers 202 with a fresh
``Location`` until the result is ready.

Modelled where Azure's behaviour is not documented (marked "model" below): enabling Hotpatch on
a machine that is not Windows Server 2025 is rejected with 400; a disconnected machine accepts
a patch POST but the operation fails with ``MachineDisconnected``; the enablement evaluation
needs the license's Hotpatch feature ``Enabled`` and waits for it.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from azhotpatch.testing._arm import (
    ArmError,
    Request,
    Response,
    Route,
    bad_parameter,
    iso,
    not_found,
    retry_after,
)
from azhotpatch.testing._arm import route as _route
from azhotpatch.testing._compute import install_result, require_group, validate_install
from azhotpatch.testing._paging import page
from azhotpatch.testing._patches import arc_counts
from azhotpatch.testing._state import (
    ArcMachine,
    InstallRecord,
    Operation,
    PatchRun,
    World,
    machine_key,
)

ARC_TYPE = "Microsoft.HybridCompute/machines"
LICENSE_TYPE = "Microsoft.HybridCompute/machines/licenseProfiles"
_RG = "/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.HybridCompute/machines"
_LOC = "/subscriptions/{sub}/providers/Microsoft.HybridCompute/locations/{location}"
_PUT_STATUSES = ("Enabled", "Disabled")
_PATCH_STATUSES = ("Enable", "Disable")
_PRODUCT_TYPES = ("WindowsServer", "WindowsIoTEnterprise")
_ARC_POLL_SECONDS = 60.0  # recorded Retry-After on Arc patch operations


class HybridApi:
    """Handlers for the Arc operations azhotpatch calls."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        machine = f"{_RG}/{{name}}"
        lic = f"{machine}/licenseProfiles/{{profile}}"
        hc = "Microsoft.HybridCompute"
        return [
            _route("arc.get", "GET", machine, self.get, provider=hc, action=f"{ARC_TYPE}/read"),
            _route(
                "arc.update",
                "PATCH",
                machine,
                self.update,
                provider=hc,
                action=f"{ARC_TYPE}/write",
                machine_write=True,
            ),
            _route("arc.list", "GET", _RG, self.list_group, provider=hc, action=f"{ARC_TYPE}/read"),
            _route(
                "arc.listAll",
                "GET",
                f"/subscriptions/{{sub}}/providers/{ARC_TYPE}",
                self.list_all,
                provider=hc,
                action=f"{ARC_TYPE}/read",
            ),
            _route(
                "arc.assessPatches",
                "POST",
                f"{machine}/assessPatches",
                self.assess,
                provider=hc,
                action=f"{ARC_TYPE}/assessPatches/action",
                machine_write=True,
            ),
            _route(
                "arc.installPatches",
                "POST",
                f"{machine}/installPatches",
                self.install,
                provider=hc,
                action=f"{ARC_TYPE}/installPatches/action",
                machine_write=True,
            ),
            _route(
                "arc.patchOperation",
                "GET",
                f"{_LOC}/updateCenterOperationResults/{{op}}",
                self.patch_operation,
                provider=hc,
                action="Microsoft.HybridCompute/locations/updateCenterOperationResults/read",
            ),
            _route(
                "arc.license.get",
                "GET",
                lic,
                self.license_get,
                provider=hc,
                action=f"{LICENSE_TYPE}/read",
            ),
            _route(
                "arc.license.list",
                "GET",
                f"{machine}/licenseProfiles",
                self.license_list,
                provider=hc,
                action=f"{LICENSE_TYPE}/read",
            ),
            _route(
                "arc.license.put",
                "PUT",
                lic,
                self.license_put,
                provider=hc,
                action=f"{LICENSE_TYPE}/write",
                machine_write=True,
            ),
            _route(
                "arc.license.patch",
                "PATCH",
                lic,
                self.license_patch,
                provider=hc,
                action=f"{LICENSE_TYPE}/write",
                machine_write=True,
            ),
            _route(
                "arc.license.delete",
                "DELETE",
                lic,
                self.license_delete,
                provider=hc,
                action=f"{LICENSE_TYPE}/delete",
                machine_write=True,
            ),
            _route(
                "arc.operationStatus",
                "GET",
                f"{_LOC}/operationStatus/{{op}}",
                self.operation_status,
                provider=hc,
                action="Microsoft.HybridCompute/locations/operationstatus/read",
            ),
            _route(
                "arc.operationResults",
                "GET",
                f"{_LOC}/operationResults/{{op}}",
                self.operation_result,
                provider=hc,
                action="Microsoft.HybridCompute/locations/operationresults/read",
            ),
        ]

    # --- machines -------------------------------------------------------------------------

    def _machine(self, request: Request) -> ArcMachine:
        p = request.params
        require_group(self.world, p["sub"], p["group"])
        machine = self.world.find_arc(p["sub"], p["group"], p["name"])
        if machine is None:
            raise not_found(ARC_TYPE, p["name"], p["group"])
        return machine

    def get(self, request: Request) -> Response:
        return Response(200, render_arc(self.world, self._machine(request)))

    def list_group(self, request: Request) -> Response:
        p = request.params
        require_group(self.world, p["sub"], p["group"])
        machines = [
            m
            for m in self.world.arcs.values()
            if m.subscription == p["sub"].lower() and m.group.lower() == p["group"].lower()
        ]
        return self._page(request, machines)

    def list_all(self, request: Request) -> Response:
        sub = request.params["sub"].lower()
        if self.world.subscription(sub) is None:
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found."
            )
        return self._page(request, [m for m in self.world.arcs.values() if m.subscription == sub])

    def _page(self, request: Request, machines: list[ArcMachine]) -> Response:
        machines.sort(key=lambda m: m.key)
        return page(request, machines, lambda m: render_arc(self.world, m), self.world.page_size)

    def update(self, request: Request) -> Response:
        machine = self._machine(request)
        body = request.json_object()
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
        return Response(200, render_arc(self.world, machine))

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
            machine.hotpatch_status = "Enabled" if machine.vbs_running else "ActionRequired"
        self.world.changed()

    # --- license profile ------------------------------------------------------------------

    def _profile(self, request: Request) -> ArcMachine:
        p = request.params
        if self.world.find_arc(p["sub"], p["group"], p["name"]) is None:
            require_group(self.world, p["sub"], p["group"])
            raise ArmError(
                404,
                "ParentResourceNotFound",
                "Can not perform requested operation on nested resource. Parent resource "
                f"'{p['name']}' not found.",
            )
        machine = self._machine(request)
        if request.params["profile"].lower() != "default":
            raise bad_parameter(
                f"The license profile name '{request.params['profile']}' is not valid; it must be "
                "'default'.",
                "licenseProfileName",
            )
        return machine

    def license_get(self, request: Request) -> Response:
        machine = self._profile(request)
        if machine.license is None:
            raise _license_not_found(machine)
        return Response(200, render_license(machine))

    def license_list(self, request: Request) -> Response:
        machine = self._machine(request)
        return Response(200, {"value": [render_license(machine)] if machine.license else []})

    def license_put(self, request: Request) -> Response:
        machine = self._profile(request)
        body = request.json_object()
        location = body.get("location")
        if not isinstance(location, str) or location.lower() != machine.location:
            raise bad_parameter(
                f"The license profile location '{location}' must be the machine's location "
                f"'{machine.location}'.",
                "location",
            )
        properties = body.get("properties") or {}
        product = properties.get("productProfile") or {}
        _check_product(product, _PUT_STATUSES, "PUT")
        created = machine.license is None
        previous = machine.license or {}
        before = copy.deepcopy(previous.get("productProfile"))
        machine.license = {
            "softwareAssurance": properties.get("softwareAssurance")
            or previous.get("softwareAssurance"),
            "esuProfile": properties.get("esuProfile") or previous.get("esuProfile"),
            "productProfile": _transition(previous.get("productProfile") or {}, product, "PUT"),
        }
        op = self._license_operation(machine, before)
        return Response(
            201 if created else 200, render_license(machine), headers=_lro_headers(request, op)
        )

    def license_patch(self, request: Request) -> Response:
        machine = self._profile(request)
        if machine.license is None:
            raise _license_not_found(machine)
        properties = request.json_object().get("properties") or {}
        product = properties.get("productProfile") or {}
        _check_product(product, _PATCH_STATUSES, "PATCH")
        before = copy.deepcopy(machine.license.get("productProfile"))
        if properties.get("softwareAssurance") is not None:
            machine.license["softwareAssurance"] = properties["softwareAssurance"]
        machine.license["productProfile"] = _transition(
            machine.license.get("productProfile") or {}, product, "PATCH"
        )
        op = self._license_operation(machine, before)
        return Response(202, render_license(machine), headers=_lro_headers(request, op))

    def license_delete(self, request: Request) -> Response:
        machine = self._profile(request)
        if machine.license is None:
            return Response(204)

        def done(op: Operation) -> None:
            machine.license = None
            machine.license_busy = None

        op = self.world.new_operation(
            "licenseDelete",
            subscription=machine.subscription,
            location=machine.location,
            target=machine.key,
            duration=self.world.durations.license_profile,
            on_done=done,
        )
        machine.license_busy = op
        return Response(202, headers=_lro_headers(request, op))

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

        op = self.world.new_operation(
            "licenseProfile",
            subscription=machine.subscription,
            location=machine.location,
            target=machine.key,
            duration=self.world.durations.license_profile,
            on_done=done,
        )
        machine.license_busy = op
        return op

    def operation_status(self, request: Request) -> Response:
        op = self._operation(request)
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
            elif machine is not None and machine.license is not None and not op.bare:
                body["properties"] = render_license(machine)
        return Response(200, body)

    def operation_result(self, request: Request) -> Response:
        op = self._operation(request)
        if not op.done:
            return Response(
                202,
                headers={
                    "Location": request.url(request.path, **{"api-version": request.api_version})
                },
            )
        machine = self.world.arcs.get(op.target)
        if machine is None or machine.license is None:
            return Response(204)
        return Response(200, render_license(machine))

    def _operation(self, request: Request) -> Operation:
        op = self.world.operations.get(request.params["op"].lower())
        if op is None or op.location.lower() != request.params["location"].lower():
            raise ArmError(
                404, "NotFound", f"The operation '{request.params['op']}' was not found."
            )
        op.polls += 1
        return op

    # --- patch operations -----------------------------------------------------------------

    def _patchable(self, request: Request, action: str) -> ArcMachine:
        machine = self._machine(request)
        running = machine.patches.operation
        if running is not None and not running.done:
            raise ArmError(
                409,
                "Conflict",
                f"The operation '{action}' cannot be performed on machine '{machine.name}' "
                f"because another patch operation ('{running.kind}') is in progress.",
            )
        return machine

    def assess(self, request: Request) -> Response:
        machine = self._patchable(request, "assessPatches")
        return self._start(request, machine, "assessPatches", {})

    def install(self, request: Request) -> Response:
        machine = self._machine(request)
        parameters = request.json_object()
        validate_install(parameters, is_linux=machine.product is None, arc=True)
        machine = self._patchable(request, "installPatches")
        response = self._start(request, machine, "installPatches", parameters)
        op = machine.patches.operation
        assert op is not None
        self.world.installs[machine.key].append(
            InstallRecord(op.id, self.world.clock.at(op.start), parameters, request.principal)
        )
        return response

    def _start(
        self, request: Request, machine: ArcMachine, kind: str, parameters: dict[str, Any]
    ) -> Response:
        op = self.start_operation(machine, kind, parameters)
        headers = {"Location": self._patch_location(request, op, 0)}
        headers.update(self._retry_after())
        return Response(202, headers=headers)

    def start_operation(
        self,
        machine: ArcMachine,
        kind: str,
        parameters: dict[str, Any],
        *,
        run_id: str | None = None,
        start: float | None = None,
    ) -> Operation:
        """Start an assess or install: on request, or (with ``run_id``) for a maintenance
        schedule's window, which Resource Graph then shows as started by the platform."""
        duration = (
            self.world.durations.assess if kind == "assessPatches" else self.world.durations.install
        )
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
            subscription=machine.subscription,
            location=machine.location,
            target=machine.key,
            duration=duration,
            on_done=done,
            start=start,
        )
        run = PatchRun(
            machine.key,
            machine.id,
            kind,
            op,
            "Windows" if machine.product else "Linux",
            maintenance_run_id=run_id,
        )
        self.world.patch_runs[op.id] = run
        machine.patches.operation = op
        return op

    def _retry_after(self) -> dict[str, str]:
        clock = self.world.clock
        return retry_after(clock.to_wall(_ARC_POLL_SECONDS), precise=clock.time_scale != 1.0)

    def _patch_location(self, request: Request, op: Operation, tick: int) -> str:
        path = (
            f"/subscriptions/{op.subscription}/providers/Microsoft.HybridCompute/locations/"
            f"{op.location}/updateCenterOperationResults/{op.id}"
        )
        return request.url(path, **{"api-version": request.api_version, "t": str(tick)})

    def _finish(
        self, machine: ArcMachine, op: Operation, parameters: dict[str, Any], *, started_by: str
    ) -> dict[str, Any]:
        clock = self.world.clock
        common = {
            "startDateTime": iso(clock.at(op.start)),
            "lastModifiedDateTime": iso(clock.at(op.end)),
            "startedBy": started_by,
            "patchServiceUsed": "WU" if machine.product else "APT",
            "osType": "Windows" if machine.product else "Linux",
        }
        failure = _failure(machine, op)
        if op.kind == "assessPatches":
            offered = [] if failure else self.world.offered_patches(machine)
            result: dict[str, Any] = {
                **common,
                "status": "Failed" if failure else "Succeeded",
                "assessmentActivityId": op.id,
                "rebootPending": machine.patches.reboot_pending,
                "availablePatchCountByClassification": arc_counts(offered),
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

    def patch_operation(self, request: Request) -> Response:
        op = self._operation(request)
        if not op.done:
            tick = op.polls
            headers = {"Location": self._patch_location(request, op, tick)}
            headers.update(self._retry_after())
            return Response(202, headers=headers)
        return Response(200, op.output)


# --- rendering and helpers --------------------------------------------------------------------


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


def _check_product(product: dict[str, Any], allowed: tuple[str, ...], verb: str) -> None:
    status = product.get("subscriptionStatus")
    # The recorded PATCH sends the product-level status as "Enabled" and Azure accepted it,
    # so a PATCH tolerates the PUT spelling at product level; features are strict.
    product_allowed = allowed + (_PUT_STATUSES if verb == "PATCH" else ())
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


_TRANSIENT = {
    "Enabled": "Enabling",
    "Enable": "Enabling",
    "Disabled": "Disabling",
    "Disable": "Disabling",
}


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


def _lro_headers(request: Request, op: Operation) -> dict[str, str]:
    base = (
        f"/subscriptions/{op.subscription}/providers/Microsoft.HybridCompute/locations/"
        f"{op.location}"
    )
    version = {"api-version": request.api_version}
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


def render_arc(world: World, machine: ArcMachine) -> dict[str, Any]:
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
        "osVersion": machine.os_version,
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
    return {
        "id": machine.id,
        "name": machine.name,
        "type": ARC_TYPE,
        "location": machine.location,
        "tags": dict(machine.tags),
        "properties": properties,
    }


def new_arc_key(sub: str, group: str, name: str) -> str:
    return machine_key(sub, group, ARC_TYPE, name)
