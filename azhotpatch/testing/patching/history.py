"""A machine's past, put into the world when it is added: what it has installed, the OS build
that left it on, and the assessments and installs the platform ran on it before the emulator
started (`azhotpatch.testing.histories.PatchHistory`), recorded as patch runs so Resource
Graph's ``patchassessmentresources`` and ``patchinstallationresources`` hold their rows.

The runs are backdated (negative emulated seconds: before the clock's start) and are not the
world's operations: no status endpoint serves them and `Emulator.azure_record`, which says
what Azure did while the emulator ran, does not count them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from azhotpatch.testing.arm.exchange import iso
from azhotpatch.testing.histories import PatchHistory
from azhotpatch.testing.patching.releases import SoftwarePatch, month_of, shift
from azhotpatch.testing.world.machines import ArcMachine, Machine
from azhotpatch.testing.world.operations import Operation, PatchRun
from azhotpatch.testing.world.state import World

__all__ = ["classification_counts", "settle_history"]

# what a VM's instance view leaves out of an install's summary (it names the times otherwise)
_NOT_IN_INSTANCE_VIEW = ("patches", "rebootStatus", "startDateTime", "lastModifiedDateTime")

_CLASSIFICATION_KEYS = {
    "Security": "security",
    "Critical": "critical",
    "Definition": "definition",
    "UpdateRollUp": "updateRollup",
    "FeaturePack": "featurePack",
    "ServicePack": "servicePack",
    "Tools": "tools",
    "Updates": "updates",
}


def settle_history(
    world: World,
    machine: Machine,
    months_behind: int,
    history: PatchHistory | None,
    *,
    enrolled: bool,
) -> None:
    """Give the machine what it has installed ``months_behind`` releases after its last
    patch and, with a ``history``, its build and its recorded runs."""
    model, now = world.patch_model, world.clock.now()
    product = machine.product
    # a pending restart is for a cumulative update one release newer than the running build
    pending = max(months_behind, 1)
    behind = pending + 1 if history and history.restart_pending else months_behind
    installed, revision = model.initial_state(product, now, behind, enrolled=enrolled)
    machine.patches.installed = installed
    if history is None or product is None:
        return
    machine.patches.revision = revision
    if history.installed and behind:
        release = shift(*month_of(now), behind)
        applied = [
            p
            for p in (model.lcu(product, *release), model.hotpatch(product, *release))
            if p.key in installed
        ]
        _record_install(world, machine, applied, history)
    if history.restart_pending:
        update = model.lcu(product, *shift(*month_of(now), pending))
        machine.patches.installed.add(update.key)
        machine.patches.reboot_pending = True
        machine.patches.pending_revision = model.revision_of(product, update)
        _record_install(world, machine, [update], history, reboot="Required")
    if history.assessed_days_ago is not None:
        _record_assessment(world, machine, now - timedelta(days=history.assessed_days_ago))


def _seconds(world: World, at: datetime) -> float:
    return (at - world.clock.start).total_seconds()


def _run(world: World, machine: Machine, kind: str, at: datetime, duration: float) -> PatchRun:
    start = _seconds(world, at)
    op = Operation(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{world.seed}/history/{kind}/{machine.key}")),
        kind=kind,
        subscription=machine.subscription,
        location=machine.location,
        target=machine.key,
        start=start,
        end=start + duration,
        status="Succeeded",
    )
    os_type = "Windows" if machine.product else "Linux"
    run = PatchRun(machine.key, machine.id, kind, op, os_type)
    world.patch_runs[op.id] = run
    return run


def _record_install(
    world: World,
    machine: Machine,
    patches: list[SoftwarePatch],
    history: PatchHistory,
    *,
    reboot: str = "Completed",
) -> None:
    """The install that took ``patches``, the day after their Patch Tuesday."""
    at = max(p.published for p in patches) + timedelta(days=1)
    if at >= world.clock.now():
        return
    run = _run(world, machine, "installPatches", at, world.durations.install)
    if history.started_by_platform:
        run.maintenance_run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"run/{at.date()}"))
    op = run.operation
    run.result = {
        "status": "Succeeded",
        "installationActivityId": op.id,
        "rebootStatus": reboot,
        "maintenanceWindowExceeded": False,
        "excludedPatchCount": 0,
        "notSelectedPatchCount": 0,
        "pendingPatchCount": 0,
        "installedPatchCount": len(patches),
        "failedPatchCount": 0,
        "patches": [
            {"patchId": p.patch_id, "name": p.name, "kbId": p.kb, "installationState": "Installed"}
            for p in patches
        ],
        "startDateTime": iso(world.clock.at(op.start)),
        "lastModifiedDateTime": iso(world.clock.at(op.end)),
    }
    if isinstance(machine, ArcMachine):
        machine.patches.last_installation = dict(run.result)
        return
    summary = {k: v for k, v in run.result.items() if k not in _NOT_IN_INSTANCE_VIEW}
    machine.patches.last_installation = summary | {
        "startTime": run.result["startDateTime"],
        "lastModifiedTime": run.result["lastModifiedDateTime"],
        "error": None,
    }


def _record_assessment(world: World, machine: Machine, at: datetime) -> None:
    run = _run(world, machine, "assessPatches", at, world.durations.assess)
    op = run.operation
    offered = world.offered_patches(machine)
    counts = classification_counts(p.classification for p in offered)
    run.result = {
        "status": "Succeeded",
        "assessmentActivityId": op.id,
        "rebootPending": machine.patches.reboot_pending,
        "availablePatchCountByClassification": counts,
        "startDateTime": iso(world.clock.at(op.start)),
        "lastModifiedDateTime": iso(world.clock.at(op.end)),
    }
    if isinstance(machine, ArcMachine):
        machine.patches.last_assessment = dict(run.result)
        return
    critical = counts["critical"] + counts["security"]
    machine.patches.last_assessment = {
        "status": "Succeeded",
        "assessmentActivityId": op.id,
        "rebootPending": machine.patches.reboot_pending,
        "criticalAndSecurityPatchCount": critical,
        "otherPatchCount": len(offered) - critical,
        "startTime": iso(world.clock.at(op.start)),
        "lastModifiedTime": iso(world.clock.at(op.end)),
        "error": None,
    }


def classification_counts(classifications: Iterable[str]) -> dict[str, int]:
    """``availablePatchCountByClassification``: the available updates by classification
    (each update's first)."""
    counts = dict.fromkeys((*_CLASSIFICATION_KEYS.values(), "other"), 0)
    for classification in classifications:
        counts[_CLASSIFICATION_KEYS.get(classification, "other")] += 1
    return counts
