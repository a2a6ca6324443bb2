"""Hotpatch on Azure VMs: read, check, enroll, assess, install, one machine at a time.

Enrollment is a read-compare-write PATCH of ``osProfile.windowsConfiguration`` (only what
differs is sent: every VM update spends a token of Compute's per-VM bucket, 4 per minute).
Assess and install go through `azhotpatch._azure.trigger`, which never sends the same POST
twice when the first may have been accepted.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from azure.mgmt.compute.models import VirtualMachineInstallPatchesParameters, VirtualMachineUpdate

from azhotpatch._azure import trigger
from azhotpatch._azure.lro import (
    IMMEDIATE,
    OperationToken,
    PollTiming,
    StatusOutput,
    output_from_status,
    resource_from_update,
    wait_for_poller,
)
from azhotpatch._azure.retry import Deadline
from azhotpatch._azure.session import Session
from azhotpatch._azure.trigger import Probe, Settled, Started, succeeded_or_raise, wait_attached
from azhotpatch.eligibility import OVERRIDABLE, refusal, vm_eligibility
from azhotpatch.ids import MachineKind, ResourceId, parse_resource_id
from azhotpatch.models import (
    Assessment,
    Eligibility,
    Enrollment,
    EnrollmentState,
    HotpatchStatus,
    Installation,
    InstallOptions,
)
from azhotpatch.parse import (
    VmFacts,
    VmRuntime,
    installation,
    timestamp,
    vm_assessment,
    vm_facts,
    vm_runtime,
    vm_status,
)

_ASSESS_ACTIVITY = "assessmentActivityId"
_INSTALL_ACTIVITY = "installationActivityId"


async def read(session: Session, rid: ResourceId, deadline: Deadline | None = None) -> VmFacts:
    """The VM with its instance view (power, agent, patch summaries)."""
    client = session.compute(rid.subscription_id)

    async def get() -> Any:
        return await client.virtual_machines.get(
            rid.resource_group, rid.name, expand="instanceView"
        )

    model = await session.call(get, resource=str(rid), doing="reading the VM", deadline=deadline)
    facts = vm_facts(model.as_dict())
    session.regions[rid.key] = facts.location
    return facts


async def patch_status(
    session: Session, rid: ResourceId, deadline: Deadline | None = None
) -> VmRuntime:
    """Just the instance view: power, agent and patch summaries. Smaller than the VM with
    its instance view, which matters when a fleet reads it once per machine per operation."""
    client = session.compute(rid.subscription_id)

    async def get() -> Any:
        return await client.virtual_machines.instance_view(rid.resource_group, rid.name)

    model = await session.call(
        get, resource=str(rid), doing="reading the VM's instance view", deadline=deadline
    )
    return vm_runtime(model.as_dict())


async def offered_skus(session: Session, rid: ResourceId, facts: VmFacts) -> tuple[str, ...] | None:
    """The region's live SKU list for the VM's publisher/offer, cached per region and offer."""
    publisher = str(facts.image.get("publisher") or "")
    offer = str(facts.image.get("offer") or "")
    if not (publisher and offer and facts.location):
        return None
    key = (facts.location, publisher.lower(), offer.lower())
    cached = session.sku_cache.get(key)
    if cached is not None:
        return cached
    client = session.compute(rid.subscription_id)

    async def list_skus() -> Any:
        return await client.virtual_machine_images.list_skus(facts.location, publisher, offer)

    found = await session.call(
        list_skus, resource=str(rid), doing=f"listing image SKUs offered in {facts.location}"
    )
    skus = tuple(str(item.name) for item in found)
    session.sku_cache[key] = skus
    return skus


async def check(session: Session, rid: ResourceId) -> Eligibility:
    facts = await read(session, rid)
    return vm_eligibility(facts, offered_skus=await offered_skus(session, rid, facts))


# --- enrollment -----------------------------------------------------------------------------


def enrollment_patch(facts: VmFacts, *, enable: bool) -> dict[str, Any] | None:
    """The smallest PATCH body that gives the VM the settings Hotpatch needs (or turns it
    off), None when it already has them."""
    settings: dict[str, Any] = {}
    windows: dict[str, Any] = {}
    if enable:
        if (facts.patch_mode or "").lower() != "automaticbyplatform":
            settings["patchMode"] = "AutomaticByPlatform"
        if facts.enable_hotpatching is not True:
            settings["enableHotpatching"] = True
        if facts.bypass_platform_safety_checks:
            settings["automaticByPlatformSettings"] = {
                "bypassPlatformSafetyChecksOnUserSchedule": False
            }
        if facts.enable_automatic_updates is False:
            windows["enableAutomaticUpdates"] = True
    elif facts.enable_hotpatching:
        settings["enableHotpatching"] = False
    if settings:
        if "enableHotpatching" in settings and "patchMode" not in settings:
            # Compute validates the whole patchSettings object; restate the mode with the flag.
            settings["patchMode"] = facts.patch_mode or "AutomaticByPlatform"
        windows["patchSettings"] = settings
    if not windows:
        return None
    return {"properties": {"osProfile": {"windowsConfiguration": windows}}}


def _describe(body: dict[str, Any]) -> str:
    windows = body["properties"]["osProfile"]["windowsConfiguration"]
    settings = windows.get("patchSettings", {})
    parts = [f"{k}={v}" for k, v in settings.items() if not isinstance(v, dict)]
    if "automaticByPlatformSettings" in settings:
        parts.append("bypassPlatformSafetyChecksOnUserSchedule=False")
    if "enableAutomaticUpdates" in windows:
        parts.append("enableAutomaticUpdates=True")
    return "set " + ", ".join(parts)


async def enable(
    session: Session, rid: ResourceId, *, wait: bool, force: bool, deadline: Deadline
) -> Enrollment:
    facts = await read(session, rid, deadline)
    verdict = vm_eligibility(facts, offered_skus=await offered_skus(session, rid, facts))
    blockers = [r for r in verdict.blockers if not (force and r.rule in OVERRIDABLE)]
    if blockers:
        raise refusal(str(rid), blockers)
    return await apply(session, rid, facts, enable=True, wait=wait, deadline=deadline)


async def disable(
    session: Session, rid: ResourceId, *, wait: bool, deadline: Deadline
) -> Enrollment:
    facts = await read(session, rid, deadline)
    return await apply(session, rid, facts, enable=False, wait=wait, deadline=deadline)


async def apply(
    session: Session,
    rid: ResourceId,
    facts: VmFacts,
    *,
    enable: bool,
    wait: bool,
    deadline: Deadline,
    poll: PollTiming = IMMEDIATE,
) -> Enrollment:
    """Write the enrollment settings the facts show are missing (no read of its own: the
    fleet passes facts from its inventory, and its learned ``poll`` timing)."""
    before = facts.enrollment
    body = enrollment_patch(facts, enable=enable)
    if body is None:
        return Enrollment(
            str(rid), MachineKind.VM, before, before, changed=False, detail="already as requested"
        )
    client = session.compute(rid.subscription_id)
    doing = "enabling Hotpatch" if enable else "disabling Hotpatch"

    async def start() -> Any:
        return await client.virtual_machines.begin_update(
            rid.resource_group,
            rid.name,
            VirtualMachineUpdate(body),
            **resource_from_update(session, poll),
        )

    async def resume(token: str) -> Any:
        return await client.virtual_machines.begin_update(
            rid.resource_group,
            rid.name,
            VirtualMachineUpdate(body),
            continuation_token=token,
            **resource_from_update(session, poll),
        )

    poller = await session.call(start, resource=str(rid), doing=doing, deadline=deadline)
    if not wait:
        return Enrollment(
            str(rid), MachineKind.VM, before, EnrollmentState.PENDING, True, _describe(body)
        )
    await poll.before_first_poll(deadline)
    updated: dict[str, Any] = await wait_for_poller(
        session, poller, resume, resource=str(rid), doing=doing, deadline=deadline
    )
    after = vm_facts(updated).enrollment
    return Enrollment(str(rid), MachineKind.VM, before, after, changed=True, detail=_describe(body))


CUSTOMER_MANAGED_SCHEDULES = {
    "properties": {
        "osProfile": {
            "windowsConfiguration": {
                "enableAutomaticUpdates": True,
                "patchSettings": {
                    "patchMode": "AutomaticByPlatform",
                    "automaticByPlatformSettings": {
                        "bypassPlatformSafetyChecksOnUserSchedule": True
                    },
                },
            }
        }
    }
}


async def use_customer_managed_schedules(
    session: Session, rid: ResourceId, deadline: Deadline
) -> None:
    """Patch orchestration "Customer Managed Schedules", which an Update Manager schedule
    needs on a VM (patchMode AutomaticByPlatform, bypassPlatformSafetyChecksOnUserSchedule
    true, and the automatic updates AutomaticByPlatform requires). Compute refuses it while
    Hotpatch is on, or without the VM agent; callers check both first."""
    client = session.compute(rid.subscription_id)
    doing = "setting patch orchestration to Customer Managed Schedules"
    body = VirtualMachineUpdate(CUSTOMER_MANAGED_SCHEDULES)

    async def start() -> Any:
        return await client.virtual_machines.begin_update(rid.resource_group, rid.name, body)

    async def resume(token: str) -> Any:
        return await client.virtual_machines.begin_update(
            rid.resource_group, rid.name, body, continuation_token=token
        )

    poller = await session.call(start, resource=str(rid), doing=doing, deadline=deadline)
    await wait_for_poller(
        session, poller, resume, resource=str(rid), doing=doing, deadline=deadline
    )


async def status(session: Session, rid: ResourceId) -> HotpatchStatus:
    return vm_status(str(rid), await read(session, rid))


# --- assess and install -----------------------------------------------------------------------


def _probe(session: Session, rid: ResourceId, action: str) -> Probe:
    key = "lastPatchInstallationSummary" if action == "install" else "availablePatchSummary"

    async def latest() -> Any:
        facts = await read(session, rid)
        return facts.patch_status.get(key)

    return Probe(latest, (_INSTALL_ACTIVITY if action == "install" else _ASSESS_ACTIVITY,))


def latest_activity(facts: VmFacts | VmRuntime, action: str) -> str | None:
    """The activity id of the VM's latest operation of this kind, from its instance view."""
    key = "lastPatchInstallationSummary" if action == "install" else "availablePatchSummary"
    summary = facts.patch_status.get(key) or {}
    value = summary.get(_INSTALL_ACTIVITY if action == "install" else _ASSESS_ACTIVITY)
    return str(value) if value else None


async def start(
    session: Session,
    rid: ResourceId,
    action: str,
    options: InstallOptions | None,
    deadline: Deadline,
) -> tuple[OperationToken, Started]:
    """Send assessPatches/installPatches once; return the handle and how to wait for it."""
    facts = await read(session, rid, deadline)
    return await begin(session, rid, action, options, latest_activity(facts, action), deadline)


async def begin(
    session: Session,
    rid: ResourceId,
    action: str,
    options: InstallOptions | None,
    previous: str | None,
    deadline: Deadline,
    poll: PollTiming = IMMEDIATE,
) -> tuple[OperationToken, Started]:
    """Send the request, knowing the machine's latest activity id before it (``previous``)."""
    client = session.compute(rid.subscription_id)

    async def send() -> Any:
        if action == "install":
            assert options is not None
            return await client.virtual_machines.begin_install_patches(
                rid.resource_group,
                rid.name,
                VirtualMachineInstallPatchesParameters(options.request_body()),
                **output_from_status(session, poll),
            )
        return await client.virtual_machines.begin_assess_patches(
            rid.resource_group, rid.name, **output_from_status(session, poll)
        )

    started = await trigger.trigger(
        session,
        send,
        _probe(session, rid, action),
        previous,
        resource=str(rid),
        doing=_doing(action),
        deadline=deadline,
    )
    sdk_token = started.poller.continuation_token() if started.poller is not None else None
    return OperationToken(action, str(rid), previous, sdk_token), started


async def settle(
    session: Session, rid: ResourceId, action: str, previous: str | None, *, again: bool = False
) -> Settled:
    """After a crash between recording an intent and hearing back, or on retrying a step that
    failed: whether the machine shows the request was received (see `trigger.settle`)."""
    return await trigger.settle(_probe(session, rid, action), previous, again=again)


async def finish(
    session: Session,
    token: OperationToken,
    started: Started | None,
    deadline: Deadline,
    poll: PollTiming = IMMEDIATE,
) -> Assessment | Installation:
    """Wait for an operation from `begin` (or from a resumed handle) and parse its result."""
    rid = parse_resource_id(token.resource)
    doing = _doing(token.action)
    await poll.before_first_poll(deadline)
    if token.sdk_token is None:
        summary = await wait_attached(
            session,
            _probe(session, rid, token.action),
            token.previous_activity,
            resource=str(rid),
            doing=doing,
            deadline=deadline,
        )
        return succeeded_or_raise(_from_summary(rid, token.action, summary), doing)
    operations = session.compute(rid.subscription_id).virtual_machines

    async def resume(sdk_token: str, *, from_status: bool = True) -> Any:
        polling = output_from_status(session, poll) if from_status else poll.sdk_options()
        if token.action == "install":
            return await operations.begin_install_patches(
                rid.resource_group,
                rid.name,
                VirtualMachineInstallPatchesParameters({}),
                continuation_token=sdk_token,
                **polling,
            )
        return await operations.begin_assess_patches(
            rid.resource_group, rid.name, continuation_token=sdk_token, **polling
        )

    poller = (
        started.poller if started and started.poller is not None else await resume(token.sdk_token)
    )
    status: StatusOutput = await wait_for_poller(
        session, poller, resume, resource=str(rid), doing=doing, deadline=deadline, handle=token
    )
    body = status.output
    if body is None:  # a status without the result: read it where the SDK would have

        async def resume_plain(sdk_token: str) -> Any:
            return await resume(sdk_token, from_status=False)

        fetched = await wait_for_poller(
            session,
            await resume_plain(token.sdk_token),
            resume_plain,
            resource=str(rid),
            doing=doing,
            deadline=deadline,
            handle=token,
        )
        body = fetched.as_dict()
    result: Assessment | Installation = (
        succeeded_or_raise(installation(str(rid), MachineKind.VM, body), doing)
        if token.action == "install"
        else succeeded_or_raise(vm_assessment(str(rid), body), doing)
    )
    ended = timestamp(status.ended)
    if ended is None:
        return result
    return replace(result, started=result.started or timestamp(status.started), finished=ended)


def _from_summary(rid: ResourceId, action: str, summary: Any) -> Assessment | Installation:
    """Results read back from the instance view (counts only: no patch list there)."""
    if action == "install":
        return installation(str(rid), MachineKind.VM, summary)
    assessment = vm_assessment(str(rid), summary)
    return Assessment(
        resource=assessment.resource,
        kind=MachineKind.VM,
        status=assessment.status,
        activity_id=assessment.activity_id,
        started=assessment.started,
        reboot_pending=assessment.reboot_pending,
        counts=assessment.counts,
        patches=None,
        error=assessment.error,
    )


def _doing(action: str) -> str:
    return "installing patches" if action == "install" else "assessing patches"


__all__ = [
    "apply",
    "begin",
    "check",
    "disable",
    "enable",
    "enrollment_patch",
    "finish",
    "latest_activity",
    "offered_skus",
    "patch_status",
    "read",
    "settle",
    "start",
    "status",
]
