"""Hotpatch on Azure Arc-enabled servers: `ArcKind`, behind the `azhotpatch._operations.kinds.Kind`
protocol.

Enrollment has two knobs and both are set: the license profile's Hotpatch feature
(``licenseProfiles/default``; a PUT creates it with ``Enabled``, a PATCH changes it with
``Enable``/``Disable`` — the two verbs take different enums) and the machine's
``patchSettings.enableHotpatching``. The machine then evaluates itself and reports
``hotpatchEnablementStatus``; enrollment waits for that verdict, and ``ActionRequired``
(VBS not running, or CHPE on Arm64) comes back as a `PrerequisiteError` with the registry fix.

Arc machines carry no patch summaries, so state for `status` and for settling ambiguous
sends comes from Resource Graph's patch tables.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from azure.core.exceptions import ResourceNotFoundError as AzureNotFound
from azure.mgmt.hybridcompute.models import (
    LicenseProfile,
    LicenseProfileUpdate,
    MachineInstallPatchesParameters,
    MachineUpdate,
)

from azhotpatch import catalog, schedule
from azhotpatch._azure import graph
from azhotpatch._azure.cadence import cadence, wait_on_cadence
from azhotpatch._azure.errors import azure_code
from azhotpatch._azure.lro import (
    LroCall,
    OperationToken,
    PollTiming,
    StatusOutput,
    resource_from_status,
    wait_for_poller,
)
from azhotpatch._azure.retry import Deadline
from azhotpatch._azure.session import Session
from azhotpatch._azure.trigger import (
    Probe,
    Started,
    activity_of,
    succeeded_or_raise,
    wait_attached,
)
from azhotpatch._eligibility import arc_eligibility, azure_local_eligibility, refusal
from azhotpatch._facts import ArcFacts, Facts
from azhotpatch._operations.arc_remediation import ArcRemediator, RestartLedger
from azhotpatch._operations.install_guard import Run
from azhotpatch._operations.patch_operations import PatchOperations
from azhotpatch._parse import (
    arc_assessment,
    arc_facts,
    arc_status,
    get,
    installation,
    license_hotpatch_state,
)
from azhotpatch.errors import (
    AzureOperationError,
    DeadlineExceededError,
    OperationFailedError,
    PrerequisiteError,
)
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
from azhotpatch.posture_rules import GUEST_MANAGED
from azhotpatch.remediation import REMEDIABLE, RebootPolicy, Remediation

__all__ = ["HOTPATCH_FEATURE", "ArcKind"]

HOTPATCH_FEATURE = "Hotpatch"
# An Azure Local VM's instance, an extension resource of its Arc machine (Microsoft.AzureStackHCI
# virtualMachineInstances, always named "default"; Azure/bicep-types-az generated types), read
# at the GA api-version of Azure Local VM management.
LOCAL_INSTANCE = "providers/Microsoft.AzureStackHCI/virtualMachineInstances/default"
LOCAL_API = "2024-01-01"
_SETTLED = ("enabled", "actionrequired", "disabled")
# The license feature's state while an update turns it to each final state, and how often
# (Azure seconds) a profile on its way is read again: its updates take seconds.
_TOWARDS = {"Enabled": "Enabling", "Disabled": "Disabling"}
_LICENSE_REREAD = 5.0
# Azure seconds between Resource Graph sweeps for Arc verdicts while any are awaited. A
# verdict found late delays the rest of that machine's chain, and a sweep costs one query
# per 1,000 Arc machines in the subscriptions awaited (a 10,000-machine estate: about a
# third of Resource Graph's per-user quota, which `graph.rows` paces itself to).
VERDICT_SWEEP_EVERY = 10.0
_MACHINES = (
    "resources | where type =~ 'microsoft.hybridcompute/machines' "
    "| project id, location, tags, properties | order by id asc"
)
# Resource Graph's patch tables: the table, the row type's last segment, the activity key.
_TABLES = {
    Action.ASSESS: ("patchassessmentresources", "patchassessmentresults", "assessmentActivityId"),
    Action.INSTALL: (
        "patchinstallationresources",
        "patchinstallationresults",
        "installationActivityId",
    ),
}


class ArcKind(PatchOperations):
    """Arc-enabled servers. One per session (single calls: each machine's verdict read from
    ARM, polls at once) or per fleet run (``at_scale``: license updates polled when such updates
    are likely done, every awaited verdict from one Resource Graph sweep, and every machine's
    patch history from one batched query)."""

    kind: ClassVar[MachineKind] = MachineKind.ARC
    # the machine evaluates Hotpatch itself after the writes, for tens of seconds to minutes
    verdict_follows_enrollment: ClassVar[bool] = True
    _enrollment_cadence = "license"

    def __init__(self, session: Session, *, at_scale: bool = False) -> None:
        self.session = session
        self.at_scale = at_scale
        self.cadences = {
            "license": cadence(session, "license", learning=at_scale),
            Action.ASSESS: cadence(session, "assess", learning=at_scale, hit_rate=0.97),
            Action.INSTALL: cadence(session, "install", learning=at_scale, hit_rate=0.97),
        }
        self._verdicts = _VerdictSweep(self) if at_scale else None
        self._remediator = ArcRemediator(session)
        # machine key -> its Azure Local image (publisher/offer/sku) and image id
        self._local_images: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
        # (machine key, action) -> latest activity; None: the batched query failed
        self._history: dict[tuple[str, Action], str | None] | None = {}

    # --- what it is -----------------------------------------------------------------------

    @staticmethod
    def facts(row: Mapping[str, Any]) -> ArcFacts:
        return arc_facts(row)

    @staticmethod
    def schedule_fit(facts: Facts, proposed: schedule.Schedule) -> schedule.ScheduleFit:
        assert isinstance(facts, ArcFacts)
        return schedule.arc_fit(facts, proposed)

    @staticmethod
    def standing_eligibility(facts: Facts) -> Eligibility:
        """The rules an Arc machine is judged by for its posture, from Resource Graph alone:
        an Azure Local VM takes Hotpatch in its guest, where Azure holds nothing to judge."""
        assert isinstance(facts, ArcFacts)
        if facts.azure_local:
            return Eligibility(resource=facts.id, reasons=(GUEST_MANAGED,))
        return arc_eligibility(facts)

    async def read(self, rid: ResourceId, deadline: Deadline | None = None) -> ArcFacts:
        client = self.session.hybrid(rid.subscription_id)

        async def get() -> Any:
            return await client.machines.get(rid.resource_group, rid.name)

        model = await self.session.call(
            get, resource=str(rid), doing="reading the Arc machine", deadline=deadline
        )
        return arc_facts(model.as_dict())

    async def eligibility(self, rid: ResourceId, facts: Facts) -> Eligibility:
        """The rules over the facts; for an Azure Local VM, over its VM instance's image
        (read once per machine)."""
        assert isinstance(facts, ArcFacts)
        if not facts.azure_local:
            return arc_eligibility(facts)
        image, image_id = await self.local_image(rid)
        return azure_local_eligibility(facts, image=image, image_id=image_id)

    async def check(self, rid: ResourceId) -> Eligibility:
        return await self.eligibility(rid, await self.read(rid))

    async def local_image(
        self, rid: ResourceId, deadline: Deadline | None = None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """An Azure Local VM's image: its ``virtualMachineInstances/default``'s image
        reference, and that image's publisher, offer and SKU (None where not found)."""
        cached = self._local_images.get(rid.key)
        if cached is not None:
            return cached
        instance = await self._generic(rid, f"{rid}/{LOCAL_INSTANCE}", "its VM instance", deadline)
        image_id = get(instance, "properties", "storageProfile", "imageReference", "id")
        image = None
        if isinstance(image_id, str) and image_id:
            found = await self._generic(rid, image_id, "its VM instance's image", deadline)
            image = get(found, "properties", "identifier")
        result = (dict(image) if isinstance(image, dict) else None, image_id or None)
        self._local_images[rid.key] = result
        return result

    async def _generic(
        self, rid: ResourceId, resource_id: str, what: str, deadline: Deadline | None
    ) -> dict[str, Any] | None:
        """An Azure Local resource by id (Microsoft.AzureStackHCI has no client here: the
        generic ARM read serves it), or None when it is not there."""
        client = self.session.resources(rid.subscription_id)

        async def read() -> Any:
            try:
                return await client.resources.get_by_id(resource_id, api_version=LOCAL_API)
            except AzureNotFound:
                return None

        found = await self.session.call(
            read, resource=str(rid), doing=f"reading {what}", deadline=deadline
        )
        return None if found is None else dict(found.as_dict())

    # --- remediation (Run Command) ----------------------------------------------------------

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
        """Measure on the machine, and when ``fix``, set what VBS and CHPE need and restart
        as ``reboot`` allows (see `azhotpatch._operations.arc_remediation`). A machine with a reason
        no script fixes (not Windows Server 2025, disconnected, an Azure Local VM) is left alone
        with that reason."""
        found = facts if isinstance(facts, ArcFacts) else await self.read(rid, deadline)
        verdict = await self.eligibility(rid, found)
        others = tuple(r for r in verdict.blockers if r.rule not in REMEDIABLE)
        if others:
            return Remediation(str(rid), None, blockers=others, detail="no script can fix this")
        return await self._remediator.remediate(
            rid, found.location, fix=fix, reboot=reboot, ledger=ledger, deadline=deadline
        )

    async def status(self, rid: ResourceId) -> HotpatchStatus:
        facts = await self.read(rid)
        return arc_status(
            str(rid),
            facts,
            await self.latest_run(rid, Action.ASSESS),
            await self.latest_run(rid, Action.INSTALL),
        )

    # --- enrollment -------------------------------------------------------------------------

    async def enable(
        self, rid: ResourceId, *, wait: bool, force: bool, deadline: Deadline
    ) -> Enrollment:
        """``force`` overrides nothing here: every Arc rule is one Azure enforces too."""
        facts = await self.read(rid, deadline)
        verdict = await self.eligibility(rid, facts)
        if not verdict.ok:
            raise refusal(str(rid), verdict.blockers)
        return await self._enroll(rid, facts, wait=wait, deadline=deadline)

    async def disable(self, rid: ResourceId, *, wait: bool, deadline: Deadline) -> Enrollment:
        facts = await self.read(rid, deadline)
        before = facts.enrollment
        changes: list[str] = []
        if facts.enable_hotpatching:
            await self._set_machine_flag(rid, False, deadline)
            changes.append("enableHotpatching=False")
        changes += await self._set_license(rid, facts, enable=False, deadline=deadline)
        if not changes:
            return Enrollment(str(rid), self.kind, before, before, False, "already disabled")
        after = EnrollmentState.PENDING
        if wait:
            after = (await self._verdict(rid, deadline)).enrollment
        return Enrollment(str(rid), self.kind, before, after, True, "set " + ", ".join(changes))

    async def enroll(
        self, rid: ResourceId, facts: Facts, *, enable: bool, deadline: Deadline
    ) -> Enrollment:
        """A fleet's enrollment from the inventory's facts (no read first), waiting for the
        machine's verdict; turning Hotpatch off reads the machine and does not wait. The
        license profile is read before it is written anyway (PUT or PATCH depends on it),
        so a profile another run has enabled, or is enabling, is not written again; the
        machine's flag is a PATCH of the desired value, which a read would cost as much as."""
        assert isinstance(facts, ArcFacts)
        if not enable:
            return await self.disable(rid, wait=False, deadline=deadline)
        return await self._enroll(rid, facts, wait=True, deadline=deadline)

    async def _enroll(
        self, rid: ResourceId, facts: ArcFacts, *, wait: bool, deadline: Deadline
    ) -> Enrollment:
        """Set both knobs the facts show are off, then (``wait``) wait for the verdict."""
        before = facts.enrollment
        changes = await self._set_license(rid, facts, enable=True, deadline=deadline)
        if facts.enable_hotpatching is not True:
            await self._set_machine_flag(rid, True, deadline)
            changes.append("enableHotpatching=True")
        if not changes and before is EnrollmentState.ENROLLED:
            return Enrollment(str(rid), self.kind, before, before, False, "already enrolled")
        detail = "set " + ", ".join(changes) if changes else "waited for the machine's verdict"
        if not wait:
            return Enrollment(str(rid), self.kind, before, EnrollmentState.PENDING, True, detail)
        after = await self._verdict(rid, deadline)
        if after.enrollment is EnrollmentState.ACTION_REQUIRED:
            reasons = catalog.check_arc_state(
                status=after.status, hotpatch_enablement_status=after.enablement_status
            ).blockers
            raise PrerequisiteError(str(rid), reasons)
        return Enrollment(str(rid), self.kind, before, after.enrollment, bool(changes), detail)

    async def _license(self, rid: ResourceId, deadline: Deadline) -> dict[str, Any] | None:
        client = self.session.hybrid(rid.subscription_id)

        async def get() -> Any:
            try:
                return await client.license_profiles.get(rid.resource_group, rid.name)
            except AzureNotFound as error:
                if azure_code(error) == "ParentResourceNotFound":  # the machine is gone
                    raise
                return None

        found = await self.session.call(
            get, resource=str(rid), doing="reading the license profile", deadline=deadline
        )
        return None if found is None else dict(found.as_dict())

    async def _set_license(
        self, rid: ResourceId, facts: ArcFacts, *, enable: bool, deadline: Deadline
    ) -> list[str]:
        """Turn the license profile's Hotpatch feature on or off, polled when such updates
        are likely done; returns what changed. The profile is read before it is written (the
        write's verb depends on it), so one that another run is already turning the same way
        (``Enabling``) is waited out and not written again."""
        wanted = "Enabled" if enable else "Disabled"
        if facts.hotpatch_license == wanted:
            return []
        profile = await self._license(rid, deadline)
        if license_hotpatch_state(profile) == _TOWARDS[wanted]:
            profile = await self._settled_license(rid, deadline)
        if license_hotpatch_state(profile) == wanted or (profile is None and not enable):
            return []
        license_cadence = self.cadences["license"]
        poll = license_cadence.timing()
        call = _license_update(self.session, rid, facts, profile, wanted, poll)
        doing = "setting the license profile's Hotpatch feature"
        poller = await self.session.call(
            call.start, resource=str(rid), doing=doing, deadline=deadline
        )

        async def wait() -> StatusOutput:
            await poll.before_first_poll(deadline)
            found: StatusOutput = await wait_for_poller(
                self.session, poller, call.resume, resource=str(rid), doing=doing, deadline=deadline
            )
            return found

        status = await wait_on_cadence(
            license_cadence, poll, wait, learn=True, length=lambda found: found.seconds
        )
        result = status.output if status.output is not None else await self._license(rid, deadline)
        if license_hotpatch_state(result) == _TOWARDS[wanted]:
            # another write to the profile (another run's) overlapped ours and is still on
            # its way: the profile says how it ends
            result = await self._settled_license(rid, deadline)
        state = license_hotpatch_state(result)
        if state != wanted:
            raise OperationFailedError(
                f"the license profile's Hotpatch feature is {state!r} after the update, not "
                f"{wanted!r}",
                resource=str(rid),
                fix="check the license profile in the portal; the subscription may not allow it",
            )
        return [f"licenseProfile Hotpatch={wanted}"]

    async def _settled_license(self, rid: ResourceId, deadline: Deadline) -> dict[str, Any] | None:
        """The license profile once its Hotpatch feature is no longer on its way (``Enabling``
        or ``Disabling``), read every few Azure seconds until the deadline."""
        while True:
            await asyncio.sleep(
                min(self.session.polling_interval, self.session.azure_seconds(_LICENSE_REREAD))
            )
            profile = await self._license(rid, deadline)
            if license_hotpatch_state(profile) not in _TOWARDS.values():
                return profile
            if deadline.remaining() <= 0:
                raise DeadlineExceededError(
                    "the license profile's Hotpatch feature is still "
                    f"{license_hotpatch_state(profile)!r} (another update of it is running)",
                    resource=str(rid),
                    fix="wait for the other update to finish (see the license profile in the "
                    "portal), then run again",
                )

    async def _set_machine_flag(self, rid: ResourceId, value: bool, deadline: Deadline) -> None:
        client = self.session.hybrid(rid.subscription_id)
        settings = {"patchSettings": {"enableHotpatching": value}}
        body = {"properties": {"osProfile": {"windowsConfiguration": settings}}}

        async def update() -> Any:
            return await client.machines.update(rid.resource_group, rid.name, MachineUpdate(body))

        await self.session.call(
            update, resource=str(rid), doing="setting enableHotpatching", deadline=deadline
        )

    async def _verdict(self, rid: ResourceId, deadline: Deadline) -> ArcFacts:
        if self._verdicts is not None:
            return await self._verdicts.wait(rid, deadline)
        return await self.await_verdict(rid, deadline)

    async def await_verdict(self, rid: ResourceId, deadline: Deadline) -> ArcFacts:
        """Read the machine until it reports Enabled, ActionRequired or Disabled (one ARM
        read per poll interval; a fleet watches many machines through Resource Graph
        instead)."""
        while True:
            facts = await self.read(rid, deadline)
            if (facts.enablement_status or "").lower() in _SETTLED:
                return facts
            if deadline.remaining() <= 0:
                raise DeadlineExceededError(
                    f"the machine still reports hotpatchEnablementStatus "
                    f"{facts.enablement_status!r} after {deadline.seconds:.0f} s",
                    resource=str(rid),
                    fix="the agent evaluates Hotpatch on its own schedule: check `status` "
                    "later, and make sure the machine is connected",
                )
            await asyncio.sleep(min(self.session.polling_interval, max(0.0, deadline.remaining())))

    async def fix_for_schedule(self, rid: ResourceId, deadline: Deadline) -> None:
        """Nothing to change: an Arc machine's schedule conflicts (a disconnected agent, no
        Hotpatch, not Windows) are none of them settings azhotpatch sets, so its fit is
        never fixable and this is never asked for."""

    # --- status, assess, install -------------------------------------------------------------

    async def latest_run(self, rid: ResourceId, action: Action) -> dict[str, Any] | None:
        """The machine's latest assessment/installation summary from Resource Graph."""
        table, suffix, activity_key = _TABLES[action]
        query = (
            f"{table} | where type =~ 'microsoft.hybridcompute/machines/{suffix}' "
            f"| where tolower(id) startswith '{rid.key}/' "
            f"| extend started = todatetime(properties.startDateTime) "
            f"| order by started desc | take 1 | project id, properties"
        )
        async for row in graph.rows(self.session, query, subscriptions=[rid.subscription_id]):
            properties = dict(row.get("properties") or {})
            if action is Action.INSTALL:
                properties.setdefault(activity_key, str(row.get("id", "")).rsplit("/", 1)[-1])
            return properties
        return None

    async def prepare(self, machines: Sequence[ResourceId], actions: Sequence[Action]) -> None:
        """For a fleet's assessments and installs: every machine's latest activity of each
        kind, in a few Resource Graph queries (instead of one per machine). If they fail,
        each machine reads its own when its step comes."""
        subscriptions = sorted({rid.subscription_id for rid in machines})
        if not subscriptions or not {Action.ASSESS, Action.INSTALL} & set(actions):
            return
        try:
            self._history = await self._histories(subscriptions)
        except AzureOperationError:
            self._history = None

    async def _histories(self, subscriptions: list[str]) -> dict[tuple[str, Action], str | None]:
        latest: dict[tuple[str, Action], tuple[str, str | None]] = {}
        for action, (table, suffix, activity_key) in _TABLES.items():
            query = (
                f"{table} | where type =~ 'microsoft.hybridcompute/machines/{suffix}' "
                "| project id, properties"
            )
            async for row in graph.rows(self.session, query, subscriptions=subscriptions):
                machine = str(row.get("id", "")).lower().split(f"/{suffix}/")[0]
                properties = dict(row.get("properties") or {})
                if action is Action.INSTALL:
                    properties.setdefault(activity_key, str(row.get("id", "")).rsplit("/", 1)[-1])
                started = str(properties.get("startDateTime") or "")
                key = (machine, action)
                if key not in latest or started > latest[key][0]:
                    latest[key] = (started, _activity(properties, action))
        return {key: value for key, (_, value) in latest.items()}

    async def previous(self, rid: ResourceId, action: Action) -> str | None:
        """The machine's latest activity of this kind before ours."""
        if self._history is None:  # the batched query failed: read this machine's
            return _activity(await self.latest_run(rid, action), action)
        return self._history.get((rid.key, action))

    async def own_installs(self, rid: ResourceId) -> list[Run] | None:
        """None: an Arc machine's installs are recorded in Resource Graph only."""
        return None

    def forget(self, rid: ResourceId) -> None:
        """Nothing is kept per machine beyond its history entry, which costs little."""

    async def _latest(self, rid: ResourceId, action: Action) -> str | None:
        return _activity(await self.latest_run(rid, action), action)

    def _polling(self, timing: PollTiming) -> Callable[[], dict[str, Any]]:
        """The result is read at the operation's ``Location`` (Retry-After paced)."""
        return timing.sdk_options

    def _operation(
        self,
        rid: ResourceId,
        action: Action,
        options: InstallOptions | None,
        polling: Callable[[], dict[str, Any]],
    ) -> LroCall:
        machines = self.session.hybrid(rid.subscription_id).machines
        if action is Action.INSTALL:
            body = options.request_body() if options is not None else {}
            parameters = MachineInstallPatchesParameters(body)
            return LroCall(
                machines.begin_install_patches, (rid.resource_group, rid.name, parameters), polling
            )
        return LroCall(machines.begin_assess_patches, (rid.resource_group, rid.name), polling)

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
            body = await wait_attached(
                self.session,
                self._probe(rid, token.action),
                token.previous_activity,
                resource=str(rid),
                doing=doing,
                deadline=deadline,
            )
        else:
            call = self._operation(rid, token.action, None, self._polling(poll))
            poller = (
                started.poller
                if started and started.poller is not None
                else await call.resume(token.sdk_token)
            )
            result = await wait_for_poller(
                self.session,
                poller,
                call.resume,
                resource=str(rid),
                doing=doing,
                deadline=deadline,
                handle=token,
            )
            body = result.as_dict()
        if token.action is Action.INSTALL:
            return succeeded_or_raise(installation(str(rid), self.kind, body), doing)
        return succeeded_or_raise(arc_assessment(str(rid), body), doing)

    def _probe(self, rid: ResourceId, action: Action) -> Probe:
        async def latest() -> Any:
            return await self.latest_run(rid, action)

        async def holding() -> tuple[Any, bool]:
            """This kind's latest run, and whether a run of either kind is going on."""
            mine = await self.latest_run(rid, action)
            other = Action.ASSESS if action is Action.INSTALL else Action.INSTALL
            runs = (mine, await self.latest_run(rid, other))
            running = any(
                OperationStatus.parse((run or {}).get("status")) is OperationStatus.IN_PROGRESS
                for run in runs
            )
            return mine, running

        return Probe(latest, _keys(action), holding)

    async def close(self) -> None:
        if self._verdicts is not None:
            await self._verdicts.close()


def _license_update(
    session: Session,
    rid: ResourceId,
    facts: ArcFacts,
    profile: dict[str, Any] | None,
    wanted: str,
    poll: PollTiming,
) -> LroCall:
    """The license profile update: a PUT that creates it with the feature ``Enabled``, or a
    PATCH of an existing one with ``Enable``/``Disable``. Its poller returns the profile as
    the operation's status carries it."""
    profiles = session.hybrid(rid.subscription_id).license_profiles

    def polling() -> dict[str, Any]:  # a fresh poller's state for each (re)start
        return resource_from_status(session, poll)

    if profile is None:
        body: dict[str, Any] = {
            "location": facts.location,
            "properties": {
                "productProfile": {
                    "productType": "WindowsServer",
                    "productFeatures": [{"name": HOTPATCH_FEATURE, "subscriptionStatus": wanted}],
                }
            },
        }
        return LroCall(
            profiles.begin_create_or_update,
            (rid.resource_group, rid.name, LicenseProfile(body)),
            polling,
        )
    verb = "Enable" if wanted == "Enabled" else "Disable"
    feature = {"name": HOTPATCH_FEATURE, "subscriptionStatus": verb}
    body = {"properties": {"productProfile": {"productFeatures": [feature]}}}
    return LroCall(
        profiles.begin_update, (rid.resource_group, rid.name, LicenseProfileUpdate(body)), polling
    )


def _keys(action: Action) -> tuple[str, ...]:
    """Installation rows carry an activity id; assessment rows only their start time."""
    return (_TABLES[action][2], "startDateTime")


def _activity(summary: Mapping[str, Any] | None, action: Action) -> str | None:
    """The activity a patch-run summary describes (see `_keys`)."""
    return activity_of(summary, _keys(action))


class _VerdictSweep:
    """Waits for many Arc machines' Hotpatch verdicts with one Resource Graph sweep per
    interval, instead of a read per machine per interval. If a sweep fails past its
    retries, the machines awaited read their own verdict from ARM."""

    def __init__(self, kind: ArcKind) -> None:
        self.kind = kind
        self.pending: dict[str, asyncio.Future[ArcFacts]] = {}
        self.task: asyncio.Task[None] | None = None

    async def wait(self, rid: ResourceId, deadline: Deadline) -> ArcFacts:
        future: asyncio.Future[ArcFacts] = asyncio.get_running_loop().create_future()
        self.pending[rid.key] = future
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._sweep())
        try:
            return await asyncio.wait_for(future, timeout=max(0.0, deadline.remaining()))
        except _SweepFailedError:  # Resource Graph failed past its retries: ask ARM instead
            self.pending.pop(rid.key, None)
            return await self.kind.await_verdict(rid, deadline)
        except asyncio.TimeoutError:
            raise DeadlineExceededError(
                "the machine gave no Hotpatch verdict (still PendingEvaluation) before the "
                "deadline",
                resource=str(rid),
                fix="the agent evaluates on its own schedule: check `status` later, and make "
                "sure the machine stays connected",
            ) from None
        finally:
            self.pending.pop(rid.key, None)

    async def _sweep(self) -> None:
        session = self.kind.session
        interval = session.azure_seconds(VERDICT_SWEEP_EVERY)
        while self.pending:
            await asyncio.sleep(interval)
            try:
                await self._sweep_once()
            except AzureOperationError as error:
                for future in self.pending.values():
                    if not future.done():
                        future.set_exception(_SweepFailedError(error))

    async def _sweep_once(self) -> None:
        subscriptions = sorted({key.split("/")[2] for key in self.pending})
        async for row in graph.rows(self.kind.session, _MACHINES, subscriptions=subscriptions):
            future = self.pending.get(str(row.get("id", "")).lower())
            if future is None or future.done():
                continue
            facts = arc_facts(row)
            if (facts.enablement_status or "").lower() in _SETTLED:
                future.set_result(facts)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class _SweepFailedError(Exception):
    """A verdict sweep failed past its retries; waiters read their machine from ARM."""

    def __init__(self, cause: AzureOperationError) -> None:
        super().__init__(str(cause))
        self.cause = cause
