"""Azure's REST JSON, as typed results.

Pure functions over the wire shapes (camelCase dicts, as ``as_dict()`` of an SDK model, a
Resource Graph row, or a recorded response body), so the same parsers serve live calls,
inventories and the recordings the test suite replays. Missing fields are tolerated: Azure
omits what it has not computed yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from azhotpatch._facts import ArcFacts, VmFacts, VmRuntime
from azhotpatch.ids import MachineKind
from azhotpatch.models import (
    Assessment,
    HotpatchStatus,
    Installation,
    InstallationState,
    InstalledPatch,
    OperationError,
    OperationStatus,
    Patch,
    PatchSummary,
    RebootBehavior,
    RebootStatus,
)

Json = Mapping[str, Any]
_FRACTION = re.compile(r"(\.\d{6})\d+")
_ARC_COUNT_KEYS = (
    "critical",
    "security",
    "definition",
    "updateRollup",
    "featurePack",
    "servicePack",
    "tools",
    "updates",
    "other",
)


def get(data: Any, *path: str) -> Any:
    """``data[path[0]][path[1]]...``, or None as soon as something is missing."""
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def timestamp(value: Any) -> datetime | None:
    """ARM timestamps (7 fractional digits, ``Z``, sometimes no zone at all) as aware UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _error(value: Any) -> OperationError | None:
    """Azure's error object, or None for "no error" (which Compute spells ``code: Success``
    or ``code: "0"`` on successful operations)."""
    if not isinstance(value, Mapping):
        return None
    code = str(value.get("code") or "")
    if code in ("", "Success", "0"):
        return None
    return OperationError(code, str(value.get("message") or ""))


# --- patch operation results -------------------------------------------------------------------


def _patch(item: Json) -> Patch:
    return Patch(
        name=str(item.get("name") or ""),
        kb_id=item.get("kbId"),
        classifications=tuple(str(c) for c in item.get("classifications") or ()),
        reboot_behavior=RebootBehavior.parse(item.get("rebootBehavior")),
        published=timestamp(item.get("publishedDate")),
        patch_id=item.get("patchId"),
    )


def vm_assessment(resource: str, body: Json) -> Assessment:
    """``VirtualMachineAssessPatchesResult``."""
    patches = tuple(_patch(p) for p in body.get("availablePatches") or ())
    counts = {
        "critical_and_security": _int(body.get("criticalAndSecurityPatchCount")),
        "other": _int(body.get("otherPatchCount")),
    }
    for patch in patches:
        for name in patch.classifications:
            key = name[0].lower() + name[1:]
            counts[key] = counts.get(key, 0) + 1
    return Assessment(
        resource=resource,
        kind=MachineKind.VM,
        status=OperationStatus.parse(body.get("status")),
        activity_id=body.get("assessmentActivityId"),
        started=timestamp(body.get("startDateTime")),
        reboot_pending=body.get("rebootPending"),
        counts=counts,
        patches=patches,
        error=_error(body.get("error")),
    )


def arc_assessment(resource: str, body: Json) -> Assessment:
    """``MachineAssessPatchesResult``: counts by classification, no patch list."""
    by_class = body.get("availablePatchCountByClassification") or {}
    return Assessment(
        resource=resource,
        kind=MachineKind.ARC,
        status=OperationStatus.parse(body.get("status")),
        activity_id=body.get("assessmentActivityId"),
        started=timestamp(body.get("startDateTime")),
        reboot_pending=body.get("rebootPending"),
        counts={k: _int(by_class.get(k)) for k in _ARC_COUNT_KEYS if k in by_class},
        patches=None,
        error=_error(body.get("errorDetails")),
        finished=timestamp(body.get("lastModifiedDateTime")),
    )


def installation(resource: str, kind: MachineKind, body: Json) -> Installation:
    """``VirtualMachineInstallPatchesResult`` or ``MachineInstallPatchesResult``."""
    listed = body.get("patches")
    patches = None
    if listed is not None:
        patches = tuple(
            InstalledPatch(
                name=str(p.get("name") or ""),
                kb_id=p.get("kbId"),
                classifications=tuple(str(c) for c in p.get("classifications") or ()),
                state=InstallationState.parse(p.get("installationState")),
            )
            for p in listed
        )
    return Installation(
        resource=resource,
        kind=kind,
        status=OperationStatus.parse(body.get("status")),
        activity_id=body.get("installationActivityId"),
        started=timestamp(body.get("startDateTime") or body.get("startTime")),
        reboot_status=RebootStatus.parse(body.get("rebootStatus")),
        maintenance_window_exceeded=bool(body.get("maintenanceWindowExceeded")),
        installed=_int(body.get("installedPatchCount")),
        failed=_int(body.get("failedPatchCount")),
        pending=_int(body.get("pendingPatchCount")),
        excluded=_int(body.get("excludedPatchCount")),
        not_selected=_int(body.get("notSelectedPatchCount")),
        patches=patches,
        error=_error(body.get("error") or body.get("errorDetails")),
        finished=timestamp(body.get("lastModifiedDateTime")),
    )


# --- machines --------------------------------------------------------------------------------


def vm_facts(body: Json) -> VmFacts:
    properties = body.get("properties") or {}
    windows = get(properties, "osProfile", "windowsConfiguration") or {}
    settings = windows.get("patchSettings") or {}
    view = properties.get("instanceView") or get(properties, "extended", "instanceView") or {}
    return VmFacts(
        id=str(body.get("id") or ""),
        location=str(body.get("location") or "").lower(),
        os_type=get(properties, "storageProfile", "osDisk", "osType"),
        image=get(properties, "storageProfile", "imageReference") or {},
        patch_mode=settings.get("patchMode"),
        provision_vm_agent=windows.get("provisionVMAgent"),
        enable_automatic_updates=windows.get("enableAutomaticUpdates"),
        bypass_platform_safety_checks=get(
            settings, "automaticByPlatformSettings", "bypassPlatformSafetyChecksOnUserSchedule"
        ),
        enable_hotpatching=settings.get("enableHotpatching"),
        power_state=_power_state(view),
        vm_agent_status=_agent_status(view),
        provisioning_state=properties.get("provisioningState"),
        tags=dict(body.get("tags") or {}),
        patch_status=view.get("patchStatus") or {},
        scale_set=get(properties, "virtualMachineScaleSet", "id"),
        os_version=view.get("osVersion"),
        assessment_mode=settings.get("assessmentMode"),
    )


def vm_runtime(view: Json) -> VmRuntime:
    """``VirtualMachineInstanceView`` (the ``instanceView`` endpoint's body)."""
    return VmRuntime(_power_state(view), _agent_status(view), view.get("patchStatus") or {})


def _power_state(view: Json) -> str | None:
    code = get(view, "powerState", "code")
    if not code:
        code = next(
            (
                s.get("code")
                for s in view.get("statuses") or ()
                if str(s.get("code", "")).startswith("PowerState/")
            ),
            None,
        )
    return str(code).split("/", 1)[1] if code and "/" in str(code) else None


def _agent_status(view: Json) -> str | None:
    statuses = get(view, "vmAgent", "statuses") or ()
    return next((str(s.get("displayStatus")) for s in statuses if s.get("displayStatus")), None)


def arc_facts(body: Json) -> ArcFacts:
    properties = body.get("properties") or {}
    settings = get(properties, "osProfile", "windowsConfiguration", "patchSettings") or {}
    features = get(properties, "licenseProfile", "productProfile", "productFeatures") or ()
    hotpatch: Json = next((f for f in features if str(f.get("name", "")).lower() == "hotpatch"), {})
    detected = properties.get("detectedProperties") or {}
    cores = detected.get("coreCount") or detected.get("logicalCoreCount")
    return ArcFacts(
        id=str(body.get("id") or ""),
        location=str(body.get("location") or "").lower(),
        status=properties.get("status"),
        os_name=properties.get("osName"),
        os_sku=properties.get("osSku"),
        os_version=properties.get("osVersion"),
        os_type=properties.get("osType"),
        enable_hotpatching=settings.get("enableHotpatching"),
        enablement_status=get(settings, "status", "hotpatchEnablementStatus"),
        patch_mode=settings.get("patchMode"),
        hotpatch_license=hotpatch.get("subscriptionStatus"),
        cores=_int(cores) or None,
        tags=dict(body.get("tags") or {}),
        arc_kind=body.get("kind"),
        parent_cluster=properties.get("parentClusterResourceId"),
        assessment_mode=settings.get("assessmentMode"),
    )


def license_hotpatch_state(profile: Json | None) -> str | None:
    """The Hotpatch feature's ``subscriptionStatus`` in a license profile, None if absent."""
    features = get(profile, "properties", "productProfile", "productFeatures") or ()
    feature = next((f for f in features if str(f.get("name", "")).lower() == "hotpatch"), None)
    return None if feature is None else str(feature.get("subscriptionStatus"))


# --- status ----------------------------------------------------------------------------------


def _summary(body: Json | None, *, installation: bool) -> PatchSummary | None:
    if not body:
        return None
    if installation:
        counts = {
            k: _int(body.get(f"{k}PatchCount"))
            for k in ("installed", "failed", "pending", "excluded", "notSelected")
            if f"{k}PatchCount" in body
        }
    else:
        by_class = body.get("availablePatchCountByClassification")
        if isinstance(by_class, Mapping):
            counts = {k: _int(v) for k, v in by_class.items()}
        else:
            counts = {
                "critical_and_security": _int(body.get("criticalAndSecurityPatchCount")),
                "other": _int(body.get("otherPatchCount")),
            }
    reboot = body.get("rebootStatus")
    return PatchSummary(
        status=OperationStatus.parse(body.get("status")),
        activity_id=body.get("installationActivityId" if installation else "assessmentActivityId"),
        started=timestamp(body.get("startTime") or body.get("startDateTime")),
        finished=timestamp(body.get("lastModifiedTime") or body.get("lastModifiedDateTime")),
        counts=counts,
        reboot_status=RebootStatus.parse(reboot) if reboot else None,
        error=_error(body.get("error") or body.get("errorDetails")),
    )


def vm_status(resource: str, facts: VmFacts) -> HotpatchStatus:
    patch_status = facts.patch_status
    assessment = patch_status.get("availablePatchSummary")
    return HotpatchStatus(
        resource=resource,
        kind=MachineKind.VM,
        enrollment=facts.enrollment,
        enablement_status=None,
        patch_mode=facts.patch_mode,
        location=facts.location,
        reboot_pending=(assessment or {}).get("rebootPending"),
        last_assessment=_summary(assessment, installation=False),
        last_installation=_summary(
            patch_status.get("lastPatchInstallationSummary"), installation=True
        ),
        power_state=facts.power_state,
    )


def arc_status(
    resource: str, facts: ArcFacts, assessment: Json | None, installation_row: Json | None
) -> HotpatchStatus:
    """Arc machines do not carry patch summaries; they come from Resource Graph's
    ``patchassessmentresources`` / ``patchinstallationresources`` rows (their properties)."""
    return HotpatchStatus(
        resource=resource,
        kind=MachineKind.ARC,
        enrollment=facts.enrollment,
        enablement_status=facts.enablement_status,
        patch_mode=facts.patch_mode,
        location=facts.location,
        reboot_pending=(assessment or {}).get("rebootPending"),
        last_assessment=_summary(assessment, installation=False),
        last_installation=_summary(installation_row, installation=True),
        connection=facts.status,
    )
