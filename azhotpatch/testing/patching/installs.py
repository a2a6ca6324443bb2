"""installPatches as Azure runs it on any machine, VM or Arc: the input checks, the way a
request's filters sort the offered patches, and the result a finished install reports.

Compute and Hybrid Compute share this because the guest side is the same Windows Update (or
package manager) run; each provider then shapes its own result document from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from azhotpatch.testing.arm.errors import bad_parameter
from azhotpatch.testing.arm.exchange import iso
from azhotpatch.testing.patching.releases import (
    LINUX_CLASSIFICATIONS,
    WINDOWS_CLASSIFICATIONS,
    SoftwarePatch,
)
from azhotpatch.testing.world.machines import Machine
from azhotpatch.testing.world.operations import Operation
from azhotpatch.testing.world.state import World

REBOOT_SETTINGS = ("IfRequired", "Never", "Always")
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", re.IGNORECASE)
_KB = re.compile(r"(KB)?\d{6,8}", re.IGNORECASE)
_LONGEST_INSTALL = timedelta(hours=4)


def is_kb_number(value: object) -> bool:
    """A KB id as Azure accepts it: ``KB4512508`` or ``4512508``."""
    return _KB.fullmatch(str(value)) is not None


def parse_duration(text: str) -> timedelta | None:
    """An ISO 8601 duration (``PT2H``), or None when it is not one."""
    match = _ISO_DURATION.match(text)
    if not match or text.upper() in ("P", "PT"):
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


# --- input checks -------------------------------------------------------------------------------


def validate_install(parameters: dict[str, Any], *, is_linux: bool, arc: bool) -> None:
    """installPatches input checks, shared by VMs and Arc (Arc requires maximumDuration)."""
    _check_reboot_setting(parameters.get("rebootSetting"))
    _check_maximum_duration(parameters.get("maximumDuration"), required=arc)
    section_name = "linuxParameters" if is_linux else "windowsParameters"
    section = parameters.get(section_name)
    if not isinstance(section, dict):
        raise bad_parameter(
            f"'{section_name}' must be specified for a {'Linux' if is_linux else 'Windows'} "
            "machine.",
            section_name,
        )
    allowed = LINUX_CLASSIFICATIONS if is_linux else WINDOWS_CLASSIFICATIONS
    for value in section.get("classificationsToInclude") or []:
        if value not in allowed:
            raise bad_parameter(
                f"The value '{value}' in 'classificationsToInclude' is not valid. Allowed values "
                f"are {', '.join(allowed)}.",
                f"{section_name}.classificationsToInclude",
            )
    for field_name in ("kbNumbersToInclude", "kbNumbersToExclude"):
        for value in section.get(field_name) or []:
            if not is_kb_number(value):
                raise bad_parameter(
                    f"The entry in '{field_name}' with value '{value}' is not valid. It must be a "
                    "KBID such as KB4512508.",
                    f"{section_name}.{field_name}",
                )
    _check_publish_date(section.get("maxPatchPublishDate"), section_name)


def _check_reboot_setting(reboot: object) -> None:
    if reboot not in REBOOT_SETTINGS:
        raise bad_parameter(
            f"The value '{reboot}' of parameter 'rebootSetting' is not valid. Allowed values "
            "are 'IfRequired', 'Never', 'Always'.",
            "rebootSetting",
        )


def _check_maximum_duration(duration: object, *, required: bool) -> None:
    if duration is None:
        if required:
            raise bad_parameter(
                "Required parameter 'maximumDuration' is missing (null).", "maximumDuration"
            )
        return
    parsed = parse_duration(str(duration))
    if parsed is None or parsed <= timedelta(0) or parsed > _LONGEST_INSTALL:
        raise bad_parameter(
            f"The value '{duration}' of parameter 'maximumDuration' is not valid. It must be "
            "an ISO 8601 duration greater than zero and at most PT4H, such as PT2H.",
            "maximumDuration",
        )


def _check_publish_date(published: object, section_name: str) -> None:
    if published is None:
        return
    try:
        datetime.fromisoformat(str(published).replace("Z", "+00:00"))
    except ValueError:
        raise bad_parameter(
            f"The value '{published}' of 'maxPatchPublishDate' is not a valid date-time.",
            f"{section_name}.maxPatchPublishDate",
        ) from None


# --- selection ----------------------------------------------------------------------------------


@dataclass
class Selection:
    """How an install request sorts the offered patches."""

    installed: list[SoftwarePatch] = field(default_factory=list)
    failed: list[SoftwarePatch] = field(default_factory=list)
    excluded: list[SoftwarePatch] = field(default_factory=list)
    not_selected: list[SoftwarePatch] = field(default_factory=list)
    pending: list[SoftwarePatch] = field(default_factory=list)


def select(
    offered: list[SoftwarePatch],
    parameters: dict[str, object],
    *,
    is_linux: bool,
    fails: set[str],
) -> Selection:
    """Apply an install request's filters to the offered patches, as Azure documents them:
    classifications and KBs to include select, KBs to exclude and (optionally) reboot-needing
    KBs are excluded, and nothing published after ``maxPatchPublishDate`` is installed."""
    section = parameters.get("linuxParameters" if is_linux else "windowsParameters")
    options = section if isinstance(section, dict) else {}
    classes = {str(c).lower() for c in options.get("classificationsToInclude") or []}
    include = _kb_set(options.get("kbNumbersToInclude"))
    exclude = _kb_set(options.get("kbNumbersToExclude"))
    skip_reboot = bool(options.get("excludeKbsRequiringReboot"))
    latest = _parse_date(options.get("maxPatchPublishDate"))
    selection = Selection()
    for patch in offered:
        kb = (patch.kb or "").upper()
        if (
            kb in exclude
            or (skip_reboot and patch.needs_reboot)
            or (latest is not None and patch.published > latest)
        ):
            selection.excluded.append(patch)
        elif patch.classification.lower() in classes or (kb and kb in include):
            (selection.failed if patch.key in fails else selection.installed).append(patch)
        else:
            selection.not_selected.append(patch)
    return selection


def _kb_set(values: object) -> set[str]:
    if not isinstance(values, list):
        return set()
    return {str(v).upper().removeprefix("KB") for v in values}


def _parse_date(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# --- the result ---------------------------------------------------------------------------------


def install_result(
    world: World, machine: Machine, op: Operation, parameters: dict[str, Any]
) -> dict[str, Any]:
    """Apply an install to any machine (VM or Arc) and return the VM-shaped result."""
    is_linux = machine.product is None
    offered = world.offered_patches(machine)
    fails = {p.key for p in offered if world.faults.patch_fails(f"{op.id}|{p.key}")}
    selection = select(offered, parameters, is_linux=is_linux, fails=fails)
    machine.patches.installed.update(p.key for p in selection.installed)
    reboot_status = _reboot(machine, selection, str(parameters.get("rebootSetting", "IfRequired")))
    _new_build(world, machine, selection.installed, rebooted=reboot_status == "Completed")
    states = (
        [(p, "Installed") for p in selection.installed]
        + [(p, "Failed") for p in selection.failed]
        + [(p, "Excluded") for p in selection.excluded]
        + [(p, "NotSelected") for p in selection.not_selected]
    )
    return {
        "status": "CompletedWithWarnings" if selection.failed else "Succeeded",
        "installationActivityId": op.id,
        "rebootStatus": reboot_status,
        "maintenanceWindowExceeded": False,
        "excludedPatchCount": len(selection.excluded),
        "notSelectedPatchCount": len(selection.not_selected),
        "pendingPatchCount": len(selection.pending),
        "installedPatchCount": len(selection.installed),
        "failedPatchCount": len(selection.failed),
        "patches": [_installed(p, state) for p, state in states],
        "startDateTime": iso(world.clock.at(op.start)),
        "error": success_error(),
    }


def _reboot(machine: Machine, selection: Selection, reboot_setting: str) -> str:
    """The result's ``rebootStatus``, leaving the machine with a reboot pending when one was
    needed and not allowed. A restart an earlier install left pending is one the machine
    requires, so ``IfRequired`` makes it too."""
    needs = any(p.needs_reboot for p in selection.installed) or machine.patches.reboot_pending
    if reboot_setting == "Always" or (needs and reboot_setting == "IfRequired"):
        machine.patches.reboot_pending = False
        return "Completed"
    if needs:
        machine.patches.reboot_pending = True
        return "Required"
    return "NotNeeded"


def _new_build(
    world: World, machine: Machine, installed: list[SoftwarePatch], *, rebooted: bool
) -> None:
    """The OS build after an install, on a machine whose build is modelled: the newest
    release it installed, once applied (a hotpatch at once; a cumulative update at the
    restart, until which the build it brings is pending)."""
    state, product = machine.patches, machine.product
    if state.revision is None or product is None:
        return
    releases = [p for p in installed if p.release is not None]
    if releases:
        newest = max(releases, key=lambda p: (p.release, not p.hotpatch))
        revision = world.patch_model.revision_of(product, newest)
        if rebooted or not any(p.needs_reboot for p in releases):
            state.revision, state.pending_revision = max(state.revision, revision), None
            return
        state.pending_revision = max(state.pending_revision or 0, revision)
    if rebooted and state.pending_revision is not None:
        state.revision = max(state.revision, state.pending_revision)
        state.pending_revision = None


def _installed(patch: SoftwarePatch, state: str) -> dict[str, Any]:
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


def success_error() -> dict[str, Any]:
    """The ``error`` a successful patch result carries, as recorded: code ``Success``."""
    return {"details": [], "code": "Success", "message": "0 error/s reported."}
