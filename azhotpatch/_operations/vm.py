"""Hotpatch on Azure VMs: `VmKind`, the VM behind the `azhotpatch._operations.kinds.Kind` protocol.

Enrollment is a read-compare-write PATCH of ``osProfile.windowsConfiguration`` (only what
differs is sent: every VM update spends a token of Compute's per-VM bucket, 4 per minute).
Assess and install go through `azhotpatch._azure.trigger`, which never sends the same POST
twice when the first may have been accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from azure.mgmt.compute.models import VirtualMachineInstallPatchesParameters, VirtualMachineUpdate

from azhotpatch import catalog, schedule
from azhotpatch._azure.cadence import cadence
from azhotpatch._azure.lro import (
    IMMEDIATE,
    LroCall,
    OperationToken,
    PollTiming,
    StatusOutput,
    output_from_status,
    resource_from_update,
    run_to_end,
    wait_for_poller,
)
from azhotpatch._azure.policies import counting
from azhotpatch._azure.retry import Deadline
from azhotpatch._azure.session import Session
from azhotpatch._azure.trigger import Probe, Started, succeeded_or_raise, wait_attached
from azhotpatch._eligibility import OVERRIDABLE, refusal, vm_eligibility
from azhotpatch._facts import Facts, VmFacts, VmRuntime
from azhotpatch._operations.arc_remediation import RestartLedger
from azhotpatch._operations.install_guard import Run, other_install
from azhotpatch._operations.patch_operations import PatchOperations
from azhotpatch._parse import (
    get,
    installation,
    timestamp,
    vm_assessment,
    vm_facts,
    vm_runtime,
    vm_status,
)
from azhotpatch.errors import ConflictError, PrerequisiteError
from azhotpatch.ids import MachineKind, ResourceId, parse_resource_id
from azhotpatch.models import (
    Action,
    Assessment,
    Eligibility,
    Enrollment,
    EnrollmentState,
    HotpatchStatus,
    Installation,
    InstallOptions,
    OperationStatus,
)
from azhotpatch.remediation import RebootPolicy, Remediation

__all__ = ["CUSTOMER_MANAGED_SCHEDULES", "VmKind", "enrollment_patch", "latest_activity"]

# What identifies each kind of operation in the instance view's patch summaries.
_SUMMARY = {
    Action.ASSESS: ("availablePatchSummary", "assessmentActivityId"),
    Action.INSTALL: ("lastPatchInstallationSummary", "installationActivityId"),
}

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


class VmKind(PatchOperations):
    """Azure VMs. One per session (single calls: polls at once) or per fleet run (``at_scale``:
    poll cadences that learn how long updates, assessments and installs take, and each VM's
    instance view read once for its first patch step and reused by the next)."""

    kind: ClassVar[MachineKind] = MachineKind.VM
    # a VM's enrollment ends with its settings update; nothing to wait for after it
    verdict_follows_enrollment: ClassVar[bool] = False

    def __init__(self, session: Session, *, at_scale: bool = False) -> None:
        self.session = session
        self._scale_sets: dict[str, dict[str, Any]] = {}  # scale set key -> its document
        self.cadences = {
            "update": cadence(session, "update", learning=at_scale),
            Action.ASSESS: cadence(session, "assess", learning=at_scale),
            Action.INSTALL: cadence(session, "install", learning=at_scale),
        }
        self._runtimes: dict[str, VmRuntime] = {}

    # --- what it is -----------------------------------------------------------------------

    @staticmethod
    def facts(row: Mapping[str, Any]) -> VmFacts:
        return vm_facts(row)

    @staticmethod
    def schedule_fit(facts: Facts, proposed: schedule.Schedule) -> schedule.ScheduleFit:
        assert isinstance(facts, VmFacts)
        return schedule.vm_fit(facts, proposed)

    @staticmethod
    def standing_eligibility(facts: Facts) -> Eligibility:
        """The rules an existing VM is judged by for its posture, from Resource Graph alone:
        not the region's catalog (an existing VM keeps its image) nor its scale set's model."""
        assert isinstance(facts, VmFacts)
        return vm_eligibility(facts)

    async def read(self, rid: ResourceId, deadline: Deadline | None = None) -> VmFacts:
        """The VM with its instance view (power, agent, patch summaries)."""
        client = self.session.compute(rid.subscription_id)

        async def get() -> Any:
            return await client.virtual_machines.get(
                rid.resource_group, rid.name, expand="instanceView"
            )

        model = await self.session.call(
            get, resource=str(rid), doing="reading the VM", deadline=deadline
        )
        found = vm_facts(model.as_dict())
        self.session.regions[rid.key] = found.location
        return found

    async def runtime(self, rid: ResourceId, deadline: Deadline | None = None) -> VmRuntime:
        """Just the instance view: power, agent and patch summaries. Smaller than the VM
        with its instance view, which matters when a fleet reads it once per machine."""
        client = self.session.compute(rid.subscription_id)

        async def get() -> Any:
            return await client.virtual_machines.instance_view(rid.resource_group, rid.name)

        model = await self.session.call(
            get, resource=str(rid), doing="reading the VM's instance view", deadline=deadline
        )
        return vm_runtime(model.as_dict())

    async def offered_skus(self, rid: ResourceId, facts: VmFacts) -> tuple[str, ...] | None:
        """The region's live SKU list for the VM's publisher/offer, cached per region and
        offer."""
        publisher = str(facts.image.get("publisher") or "")
        offer = str(facts.image.get("offer") or "")
        if not (publisher and offer and facts.location):
            return None
        key = (facts.location, publisher.lower(), offer.lower())
        cached = self.session.sku_cache.get(key)
        if cached is not None:
            return cached
        client = self.session.compute(rid.subscription_id)

        async def list_skus() -> Any:
            return await client.virtual_machine_images.list_skus(facts.location, publisher, offer)

        found = await self.session.call(
            list_skus, resource=str(rid), doing=f"listing image SKUs offered in {facts.location}"
        )
        skus = tuple(str(item.name) for item in found)
        self.session.sku_cache[key] = skus
        return skus

    async def eligibility(self, rid: ResourceId, facts: Facts) -> Eligibility:
        """The rules over the facts, with the region's live image catalog, fetched only for a
        supported image (once per region)."""
        assert isinstance(facts, VmFacts)
        image = facts.image
        supported = catalog.find_image(
            str(image.get("publisher") or ""),
            str(image.get("offer") or ""),
            str(image.get("sku") or ""),
        )
        skus = await self.offered_skus(rid, facts) if supported is not None else None
        return await self._with_scale_set(rid, facts, vm_eligibility(facts, offered_skus=skus))

    async def check(self, rid: ResourceId) -> Eligibility:
        """Every rule, over a fresh read and the region's catalog for the image's offer."""
        facts = await self.read(rid)
        verdict = vm_eligibility(facts, offered_skus=await self.offered_skus(rid, facts))
        return await self._with_scale_set(rid, facts, verdict)

    async def _with_scale_set(
        self, rid: ResourceId, facts: VmFacts, verdict: Eligibility
    ) -> Eligibility:
        """A Flexible scale set's instance is a VM like any other; its scale set's model is
        read (once per scale set) to say whether it agrees."""
        if not facts.scale_set:
            return verdict
        model = await self.scale_set(rid, facts.scale_set)
        scale_set = catalog.check_scale_set(
            scale_set=facts.scale_set,
            orchestration_mode=get(model, "properties", "orchestrationMode"),
            model_settings=get(
                model,
                "properties",
                "virtualMachineProfile",
                "osProfile",
                "windowsConfiguration",
                "patchSettings",
            )
            or {},
        )
        return Eligibility.combine([verdict, scale_set], resource=verdict.resource)

    async def scale_set(self, rid: ResourceId, scale_set: str) -> dict[str, Any]:
        """A scale set's ARM document (its model), read once per session."""
        key = scale_set.lower()
        cached = self._scale_sets.get(key)
        if cached is not None:
            return cached
        subscription, group, name = _scale_set_parts(scale_set, rid)
        client = self.session.compute(subscription)

        async def read() -> Any:
            return await client.virtual_machine_scale_sets.get(group, name)

        found = await self.session.call(
            read, resource=str(rid), doing=f"reading its scale set {name}"
        )
        document: dict[str, Any] = dict(found.as_dict())
        self._scale_sets[key] = document
        return document

    async def remediate(
        self,
        rid: ResourceId,
        facts: Facts | None,
        *,
        fix: bool,
        reboot: RebootPolicy,
        ledger: RestartLedger | None,
        deadline: Deadline,
    ) -> Remediation:
        """Nothing to run on a VM: its prerequisites are settings `enable` writes, or its
        image, which no script changes."""
        return Remediation(str(rid), None, detail="an Azure VM: nothing to remediate in the guest")

    async def status(self, rid: ResourceId) -> HotpatchStatus:
        return vm_status(str(rid), await self.read(rid))

    # --- enrollment -------------------------------------------------------------------------

    async def enable(
        self, rid: ResourceId, *, wait: bool, force: bool, deadline: Deadline
    ) -> Enrollment:
        facts = await self.read(rid, deadline)
        verdict = vm_eligibility(facts, offered_skus=await self.offered_skus(rid, facts))
        blockers = [r for r in verdict.blockers if not (force and r.rule in OVERRIDABLE)]
        if blockers:
            raise refusal(str(rid), blockers)
        return await self._apply(rid, facts, enable=True, wait=wait, deadline=deadline)

    async def disable(self, rid: ResourceId, *, wait: bool, deadline: Deadline) -> Enrollment:
        facts = await self.read(rid, deadline)
        return await self._apply(rid, facts, enable=False, wait=wait, deadline=deadline)

    async def enroll(
        self, rid: ResourceId, facts: Facts, *, enable: bool, deadline: Deadline
    ) -> Enrollment:
        """A fleet's enrollment: the settings the inventory's facts show are missing, with
        no read of its own, polled when such updates are likely done. Another run may have
        written them since the inventory; a GET per machine to find out would cost as much
        as the PATCH it could save (both spend a token of the VM's buckets), and the PATCH
        states the desired settings, so writing them again changes nothing. Only when Azure
        refuses it (409: another update holds the VM past the retries) is the VM read, once,
        and the write is then not repeated."""
        assert isinstance(facts, VmFacts)
        update = self.cadences["update"]
        timing = update.timing()
        with counting() as sent:
            try:
                result = await self._apply(
                    rid, facts, enable=enable, wait=True, deadline=deadline, poll=timing
                )
            except ConflictError as refused:
                return await self._enrolled_meanwhile(
                    rid, facts, refused, enable=enable, deadline=deadline
                )
        if result.changed:  # the PATCH and its status polls (no GET after it): on time
            # if one poll found it done (no length: the status's times are not read here)
            update.observe(timing, sent.requests <= 2)
        return result

    async def _enrolled_meanwhile(
        self,
        rid: ResourceId,
        facts: VmFacts,
        refused: ConflictError,
        *,
        enable: bool,
        deadline: Deadline,
    ) -> Enrollment:
        """Another update held the VM past the retries (409): it may have been another run
        enrolling it. One read says; what is still missing is not written again here (the
        409 stands), and nothing is when the settings are already as asked."""
        found = await self.read(rid, deadline)
        if enrollment_patch(found, enable=enable) is not None:
            raise refused
        return Enrollment(
            str(rid),
            self.kind,
            facts.enrollment,
            found.enrollment,
            changed=False,
            detail="already as requested (another update set it while this run waited)",
        )

    async def _apply(
        self,
        rid: ResourceId,
        facts: VmFacts,
        *,
        enable: bool,
        wait: bool,
        deadline: Deadline,
        poll: PollTiming = IMMEDIATE,
    ) -> Enrollment:
        """Write the enrollment settings the facts show are missing."""
        before = facts.enrollment
        body = enrollment_patch(facts, enable=enable)
        if body is None:
            return Enrollment(
                str(rid), self.kind, before, before, changed=False, detail="already as requested"
            )
        doing = (Action.ENABLE if enable else Action.DISABLE).doing
        call = self._update(rid, body, lambda: resource_from_update(self.session, poll))
        if not wait:
            await self.session.call(call.start, resource=str(rid), doing=doing, deadline=deadline)
            return Enrollment(
                str(rid), self.kind, before, EnrollmentState.PENDING, True, _describe(body)
            )
        updated: dict[str, Any] = await run_to_end(
            self.session, call, resource=str(rid), doing=doing, deadline=deadline, poll=poll
        )
        after = vm_facts(updated).enrollment
        return Enrollment(str(rid), self.kind, before, after, changed=True, detail=_describe(body))

    def _update(self, rid: ResourceId, body: dict[str, Any], polling: Any = dict) -> LroCall:
        client = self.session.compute(rid.subscription_id)
        return LroCall(
            client.virtual_machines.begin_update,
            (rid.resource_group, rid.name, VirtualMachineUpdate(body)),
            polling,
        )

    async def fix_for_schedule(self, rid: ResourceId, deadline: Deadline) -> None:
        """Patch orchestration "Customer Managed Schedules", which an Update Manager schedule
        needs on a VM (patchMode AutomaticByPlatform, bypassPlatformSafetyChecksOnUserSchedule
        true, and the automatic updates AutomaticByPlatform requires). Compute refuses it
        while Hotpatch is on, or without the VM agent; callers check both first."""
        await run_to_end(
            self.session,
            self._update(rid, CUSTOMER_MANAGED_SCHEDULES),
            resource=str(rid),
            doing="setting patch orchestration to Customer Managed Schedules",
            deadline=deadline,
        )

    # --- assess and install -----------------------------------------------------------------

    async def prepare(self, machines: Sequence[ResourceId], actions: Sequence[Action]) -> None:
        """Nothing to fetch ahead: each VM's history is in its own instance view."""

    async def previous(self, rid: ResourceId, action: Action) -> str | None:
        """The VM's latest activity of this kind before ours, from one read of its instance
        view, which also shows whether its agent can run the operation at all; it holds both
        patch summaries, so an install after an assessment reuses it (an assessment does not
        change the installation summary)."""
        runtime = self._runtimes.get(rid.key)
        if runtime is None:
            runtime = self._runtimes[rid.key] = await self.runtime(rid)
            verdict = catalog.check_vm_runtime(
                power_state=runtime.power_state, vm_agent_status=runtime.vm_agent_status
            )
            if verdict.blockers:
                raise PrerequisiteError(str(rid), verdict.blockers)
        return latest_activity(runtime, action)

    async def own_installs(self, rid: ResourceId) -> list[Run] | None:
        """The VM's latest install as its instance view shows it (status, start, activity;
        not who started it), for when Resource Graph cannot be read: one GET."""
        summary = (await self.runtime(rid)).patch_status.get("lastPatchInstallationSummary")
        if not summary:
            return []
        properties = dict(summary)
        return [(other_install(properties, ""), properties)]

    def forget(self, rid: ResourceId) -> None:
        """The machine is done with: its instance view is not needed any more."""
        self._runtimes.pop(rid.key, None)

    async def _latest(self, rid: ResourceId, action: Action) -> str | None:
        return latest_activity(await self.read(rid), action)

    def _polling(self, timing: PollTiming) -> Callable[[], dict[str, Any]]:
        """The result is read from the operation's status (Compute puts it there)."""
        return lambda: output_from_status(self.session, timing)

    def _operation(
        self,
        rid: ResourceId,
        action: Action,
        options: InstallOptions | None,
        polling: Callable[[], dict[str, Any]],
    ) -> LroCall:
        operations = self.session.compute(rid.subscription_id).virtual_machines
        if action is Action.INSTALL:
            body = options.request_body() if options is not None else {}
            parameters = VirtualMachineInstallPatchesParameters(body)
            return LroCall(
                operations.begin_install_patches,
                (rid.resource_group, rid.name, parameters),
                polling,
            )
        return LroCall(operations.begin_assess_patches, (rid.resource_group, rid.name), polling)

    async def _result(
        self,
        token: OperationToken,
        started: Started | None,
        deadline: Deadline,
        poll: PollTiming,
    ) -> Assessment | Installation:
        rid = parse_resource_id(token.resource)
        doing = token.action.doing
        if token.sdk_token is None:
            summary = await wait_attached(
                self.session,
                self._probe(rid, token.action),
                token.previous_activity,
                resource=str(rid),
                doing=doing,
                deadline=deadline,
            )
            return succeeded_or_raise(_from_summary(rid, token.action, summary), doing)
        from_status = self._operation(rid, token.action, None, self._polling(poll))
        poller = (
            started.poller
            if started and started.poller is not None
            else await from_status.resume(token.sdk_token)
        )
        status: StatusOutput = await wait_for_poller(
            self.session,
            poller,
            from_status.resume,
            resource=str(rid),
            doing=doing,
            deadline=deadline,
            handle=token,
        )
        body = status.output
        if body is None:  # a status without the result: read it where the SDK would have
            plain = self._operation(rid, token.action, None, poll.sdk_options)
            fetched = await wait_for_poller(
                self.session,
                await plain.resume(token.sdk_token),
                plain.resume,
                resource=str(rid),
                doing=doing,
                deadline=deadline,
                handle=token,
            )
            body = fetched.as_dict()
        result: Assessment | Installation = (
            succeeded_or_raise(installation(str(rid), self.kind, body), doing)
            if token.action is Action.INSTALL
            else succeeded_or_raise(vm_assessment(str(rid), body), doing)
        )
        ended = timestamp(status.ended)
        if ended is None:
            return result
        return replace(result, started=result.started or timestamp(status.started), finished=ended)

    def _probe(self, rid: ResourceId, action: Action) -> Probe:
        summary_key, activity_key = _SUMMARY[action]

        async def latest() -> Any:
            facts = await self.read(rid)
            return facts.patch_status.get(summary_key)

        async def holding() -> tuple[Any, bool]:
            """The instance view holds both summaries: this kind's latest, and whether an
            assessment or an install is running."""
            status = (await self.runtime(rid)).patch_status
            running = any(
                OperationStatus.parse((status.get(key) or {}).get("status"))
                is OperationStatus.IN_PROGRESS
                for key, _ in _SUMMARY.values()
            )
            return status.get(summary_key), running

        return Probe(latest, (activity_key,), holding)

    async def close(self) -> None:
        self._runtimes.clear()


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


def latest_activity(facts: VmFacts | VmRuntime, action: Action) -> str | None:
    """The activity id of the VM's latest operation of this kind, from its instance view."""
    summary_key, activity_key = _SUMMARY[action]
    value = (facts.patch_status.get(summary_key) or {}).get(activity_key)
    return str(value) if value else None


def _from_summary(rid: ResourceId, action: Action, summary: Any) -> Assessment | Installation:
    """Results read back from the instance view (counts only: no patch list there)."""
    if action is Action.INSTALL:
        return installation(str(rid), MachineKind.VM, summary)
    return replace(vm_assessment(str(rid), summary), patches=None)


def _scale_set_parts(scale_set: str, rid: ResourceId) -> tuple[str, str, str]:
    """(subscription, group, name) of a scale set id; the VM's own when it is malformed."""
    parts = scale_set.strip("/").split("/")
    if len(parts) == 8:
        return parts[1], parts[3], parts[7]
    return rid.subscription_id, rid.resource_group, parts[-1]
