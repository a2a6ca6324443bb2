"""Hotpatch on Azure Arc-enabled servers, one machine at a time.

Enrollment has two knobs and both are set: the license profile's Hotpatch feature
(``licenseProfiles/default``; a PUT creates it with ``Enabled``, a PATCH changes it with
``Enable``/``Disable`` — the two verbs take different enums) and the machine's
``patchSettings.enableHotpatching``. The machine then evaluates itself and reports
``hotpatchEnablementStatus``; `enable` waits for that verdict, and ``ActionRequired``
(VBS not running, or CHPE on Arm64) comes back as a `PrerequisiteError` with the registry fix.

Arc machines carry no patch summaries, so state for `status` and for settling ambiguous
sends comes from Resource Graph's patch tables.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from azure.core.exceptions import ResourceNotFoundError as AzureNotFound
from azure.mgmt.hybridcompute.models import (
    LicenseProfile,
    LicenseProfileUpdate,
    MachineInstallPatchesParameters,
    MachineUpdate,
)

from azhotpatch import catalog
from azhotpatch._azure import graph, trigger
from azhotpatch._azure.errors import azure_code
from azhotpatch._azure.lro import (
    IMMEDIATE,
    OperationToken,
    PollClock,
    PollTiming,
    StatusOutput,
    resource_from_status,
    wait_for_poller,
)
from azhotpatch._azure.policies import counting
from azhotpatch._azure.retry import Deadline
from azhotpatch._azure.session import Session
from azhotpatch._azure.trigger import (
    Probe,
    Settled,
    Started,
    activity_of,
    succeeded_or_raise,
    wait_attached,
)
from azhotpatch.eligibility import arc_eligibility, refusal
from azhotpatch.errors import DeadlineExceededError, OperationFailedError, PrerequisiteError
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
    ArcFacts,
    arc_assessment,
    arc_facts,
    arc_status,
    installation,
    license_hotpatch_state,
)

HOTPATCH_FEATURE = "Hotpatch"
_SETTLED = ("enabled", "actionrequired", "disabled")


async def read(session: Session, rid: ResourceId, deadline: Deadline | None = None) -> ArcFacts:
    client = session.hybrid(rid.subscription_id)

    async def get() -> Any:
        return await client.machines.get(rid.resource_group, rid.name)

    model = await session.call(
        get, resource=str(rid), doing="reading the Arc machine", deadline=deadline
    )
    return arc_facts(model.as_dict())


async def check(session: Session, rid: ResourceId) -> Eligibility:
    return arc_eligibility(await read(session, rid))


# --- enrollment ---------------------------------------------------------------------------------


async def enable(
    session: Session, rid: ResourceId, *, wait: bool, deadline: Deadline
) -> Enrollment:
    facts = await read(session, rid, deadline)
    verdict = arc_eligibility(facts)
    if not verdict.ok:
        raise refusal(str(rid), verdict.blockers)
    return await enroll(session, rid, facts, wait=wait, deadline=deadline)


VerdictWaiter = Callable[[ResourceId, Deadline], Awaitable[ArcFacts]]


async def enroll(
    session: Session,
    rid: ResourceId,
    facts: ArcFacts,
    *,
    wait: bool,
    deadline: Deadline,
    watch_verdict: VerdictWaiter | None = None,
    license_clock: PollClock | None = None,
) -> Enrollment:
    """Set both knobs the facts show are off, then (``wait``) wait for the machine's verdict.
    ``watch_verdict`` lets a fleet wait on one shared Resource Graph watcher instead of one
    poll loop per machine, and ``license_clock`` poll the license update when it is likely
    done rather than at once and then at Azure's 30 s cadence."""
    before = facts.enrollment
    changes = await _set_license(
        session, rid, facts, enable=True, deadline=deadline, clock=license_clock
    )
    if facts.enable_hotpatching is not True:
        await _set_machine_flag(session, rid, True, deadline)
        changes.append("enableHotpatching=True")
    if not changes and before is EnrollmentState.ENROLLED:
        return Enrollment(str(rid), MachineKind.ARC, before, before, False, "already enrolled")
    detail = "set " + ", ".join(changes) if changes else "waited for the machine's verdict"
    if not wait:
        return Enrollment(str(rid), MachineKind.ARC, before, EnrollmentState.PENDING, True, detail)
    waiter = watch_verdict or (lambda r, d: await_verdict(session, r, d))
    after = await waiter(rid, deadline)
    if after.enrollment is EnrollmentState.ACTION_REQUIRED:
        reasons = catalog.check_arc_state(
            status=after.status, hotpatch_enablement_status=after.enablement_status
        ).blockers
        raise PrerequisiteError(str(rid), reasons)
    return Enrollment(str(rid), MachineKind.ARC, before, after.enrollment, bool(changes), detail)


async def disable(
    session: Session, rid: ResourceId, *, wait: bool, deadline: Deadline
) -> Enrollment:
    facts = await read(session, rid, deadline)
    before = facts.enrollment
    changes: list[str] = []
    if facts.enable_hotpatching:
        await _set_machine_flag(session, rid, False, deadline)
        changes.append("enableHotpatching=False")
    changes += await _set_license(session, rid, facts, enable=False, deadline=deadline)
    if not changes:
        return Enrollment(str(rid), MachineKind.ARC, before, before, False, "already disabled")
    after = EnrollmentState.PENDING
    if wait:
        after = (await await_verdict(session, rid, deadline)).enrollment
    return Enrollment(str(rid), MachineKind.ARC, before, after, True, "set " + ", ".join(changes))


async def _license(session: Session, rid: ResourceId, deadline: Deadline) -> dict[str, Any] | None:
    client = session.hybrid(rid.subscription_id)

    async def get() -> Any:
        try:
            return await client.license_profiles.get(rid.resource_group, rid.name)
        except AzureNotFound as error:
            if azure_code(error) == "ParentResourceNotFound":  # the machine is gone
                raise
            return None

    found = await session.call(
        get, resource=str(rid), doing="reading the license profile", deadline=deadline
    )
    return None if found is None else dict(found.as_dict())


async def _set_license(
    session: Session,
    rid: ResourceId,
    facts: ArcFacts,
    *,
    enable: bool,
    deadline: Deadline,
    clock: PollClock | None = None,
) -> list[str]:
    """Turn the license profile's Hotpatch feature on or off; returns what changed."""
    wanted = "Enabled" if enable else "Disabled"
    if facts.hotpatch_license == wanted:
        return []
    profile = await _license(session, rid, deadline)
    current = license_hotpatch_state(profile)
    if current == wanted or (profile is None and not enable):
        return []
    client = session.hybrid(rid.subscription_id)
    poll = clock.timing() if clock is not None else IMMEDIATE

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

        async def begin() -> Any:
            return await client.license_profiles.begin_create_or_update(
                rid.resource_group, rid.name, LicenseProfile(body), **polling()
            )

        async def resume(token: str) -> Any:
            return await client.license_profiles.begin_create_or_update(
                rid.resource_group,
                rid.name,
                LicenseProfile(body),
                continuation_token=token,
                **polling(),
            )
    else:
        verb = "Enable" if enable else "Disable"
        body = {
            "properties": {
                "productProfile": {
                    "productFeatures": [{"name": HOTPATCH_FEATURE, "subscriptionStatus": verb}]
                }
            }
        }

        async def begin() -> Any:
            return await client.license_profiles.begin_update(
                rid.resource_group, rid.name, LicenseProfileUpdate(body), **polling()
            )

        async def resume(token: str) -> Any:
            return await client.license_profiles.begin_update(
                rid.resource_group,
                rid.name,
                LicenseProfileUpdate(body),
                continuation_token=token,
                **polling(),
            )

    doing = "setting the license profile's Hotpatch feature"
    poller = await session.call(begin, resource=str(rid), doing=doing, deadline=deadline)
    waited = time.monotonic()
    await poll.before_first_poll(deadline)
    with counting() as sent:
        status: StatusOutput = await wait_for_poller(
            session, poller, resume, resource=str(rid), doing=doing, deadline=deadline
        )
    if clock is not None:  # the first poll found it done if it was the only one
        found_after = time.monotonic() - waited
        clock.observe(poll, sent.requests <= 1, found_after=found_after, length=status.seconds)
    result = status.output if status.output is not None else await _license(session, rid, deadline)
    state = license_hotpatch_state(result)
    if state != wanted:
        raise OperationFailedError(
            f"the license profile's Hotpatch feature is {state!r} after the update, not {wanted!r}",
            resource=str(rid),
            fix="check the license profile in the portal; the subscription may not allow it",
        )
    return [f"licenseProfile Hotpatch={wanted}"]


async def _set_machine_flag(
    session: Session, rid: ResourceId, value: bool, deadline: Deadline
) -> None:
    client = session.hybrid(rid.subscription_id)
    body = {
        "properties": {
            "osProfile": {"windowsConfiguration": {"patchSettings": {"enableHotpatching": value}}}
        }
    }

    async def update() -> Any:
        return await client.machines.update(rid.resource_group, rid.name, MachineUpdate(body))

    await session.call(
        update, resource=str(rid), doing="setting enableHotpatching", deadline=deadline
    )


async def await_verdict(session: Session, rid: ResourceId, deadline: Deadline) -> ArcFacts:
    """Read the machine until it reports Enabled, ActionRequired or Disabled (one ARM read
    per poll interval; a fleet watches many machines through Resource Graph instead)."""
    while True:
        facts = await read(session, rid, deadline)
        if (facts.enablement_status or "").lower() in _SETTLED:
            return facts
        if deadline.remaining() <= 0:
            raise DeadlineExceededError(
                f"the machine still reports hotpatchEnablementStatus "
                f"{facts.enablement_status!r} after {deadline.seconds:.0f} s",
                resource=str(rid),
                fix="the agent evaluates Hotpatch on its own schedule: check `status` later, "
                "and make sure the machine is connected",
            )
        await asyncio.sleep(min(session.poll_every, max(0.0, deadline.remaining())))


# --- status, assess, install --------------------------------------------------------------------


_TABLES = {
    "assess": ("patchassessmentresources", "patchassessmentresults", "assessmentActivityId"),
    "install": ("patchinstallationresources", "patchinstallationresults", "installationActivityId"),
}


async def latest_run(session: Session, rid: ResourceId, action: str) -> dict[str, Any] | None:
    """The machine's latest assessment/installation summary from Resource Graph."""
    table, suffix, activity = _TABLES[action]
    query = (
        f"{table} | where type =~ 'microsoft.hybridcompute/machines/{suffix}' "
        f"| where tolower(id) startswith '{rid.key}/' "
        f"| extend started = todatetime(properties.startDateTime) "
        f"| order by started desc | take 1 | project id, properties"
    )
    async for row in graph.rows(session, query, subscriptions=[rid.subscription_id]):
        properties = dict(row.get("properties") or {})
        if action == "install":
            properties.setdefault(activity, str(row.get("id", "")).rsplit("/", 1)[-1])
        return properties
    return None


async def status(session: Session, rid: ResourceId) -> HotpatchStatus:
    facts = await read(session, rid)
    return arc_status(
        str(rid),
        facts,
        await latest_run(session, rid, "assess"),
        await latest_run(session, rid, "install"),
    )


def _probe(session: Session, rid: ResourceId, action: str) -> Probe:
    async def latest() -> Any:
        return await latest_run(session, rid, action)

    return Probe(latest, _keys(action))


def _keys(action: str) -> tuple[str, ...]:
    """Installation rows carry an activity id; assessment rows only their start time."""
    return (_TABLES[action][2], "startDateTime")


def activity(summary: dict[str, Any] | None, action: str) -> str | None:
    """The activity a patch-run summary describes (see `_keys`)."""
    return activity_of(summary, _keys(action))


async def start(
    session: Session,
    rid: ResourceId,
    action: str,
    options: InstallOptions | None,
    deadline: Deadline,
) -> tuple[OperationToken, Started]:
    previous = activity(await latest_run(session, rid, action), action)
    return await begin(session, rid, action, options, previous, deadline)


async def begin(
    session: Session,
    rid: ResourceId,
    action: str,
    options: InstallOptions | None,
    previous: str | None,
    deadline: Deadline,
    poll: PollTiming = IMMEDIATE,
) -> tuple[OperationToken, Started]:
    """Send the request, knowing the machine's latest activity of this kind before it."""
    client = session.hybrid(rid.subscription_id)
    polling = poll.sdk_options()

    async def send() -> Any:
        if action == "install":
            assert options is not None
            return await client.machines.begin_install_patches(
                rid.resource_group,
                rid.name,
                MachineInstallPatchesParameters(options.request_body()),
                **polling,
            )
        return await client.machines.begin_assess_patches(rid.resource_group, rid.name, **polling)

    doing = "installing patches" if action == "install" else "assessing patches"
    started = await trigger.trigger(
        session,
        send,
        _probe(session, rid, action),
        previous,
        resource=str(rid),
        doing=doing,
        deadline=deadline,
    )
    sdk_token = started.poller.continuation_token() if started.poller is not None else None
    return OperationToken(action, str(rid), previous, sdk_token), started


async def settle(
    session: Session, rid: ResourceId, action: str, previous: str | None, *, again: bool = False
) -> Settled:
    """After a crash between recording an intent and hearing back, or on retrying a step
    that failed (see `vm.settle`)."""
    return await trigger.settle(_probe(session, rid, action), previous, again=again)


async def history(session: Session, subscriptions: list[str]) -> dict[tuple[str, str], str | None]:
    """(machine key, action) -> latest activity, for every Arc machine in the subscriptions,
    in a few Resource Graph queries (the fleet's stand-in for one probe per machine)."""
    latest: dict[tuple[str, str], tuple[str, str | None]] = {}
    for action, (table, suffix, _) in _TABLES.items():
        query = (
            f"{table} | where type =~ 'microsoft.hybridcompute/machines/{suffix}' "
            "| project id, properties"
        )
        async for row in graph.rows(session, query, subscriptions=subscriptions):
            machine = str(row.get("id", "")).lower().split(f"/{suffix}/")[0]
            properties = dict(row.get("properties") or {})
            if action == "install":
                properties.setdefault(_TABLES[action][2], str(row.get("id", "")).rsplit("/", 1)[-1])
            started = str(properties.get("startDateTime") or "")
            key = (machine, action)
            if key not in latest or started > latest[key][0]:
                latest[key] = (started, activity(properties, action))
    return {key: value for key, (_, value) in latest.items()}


async def finish(
    session: Session,
    token: OperationToken,
    started: Started | None,
    deadline: Deadline,
    poll: PollTiming = IMMEDIATE,
) -> Assessment | Installation:
    """Wait for an operation from `begin` (or from a resumed handle) and parse its result."""
    rid = parse_resource_id(token.resource)
    doing = "installing patches" if token.action == "install" else "assessing patches"
    polling = poll.sdk_options()
    await poll.before_first_poll(deadline)
    if token.sdk_token is None:
        body = await wait_attached(
            session,
            _probe(session, rid, token.action),
            token.previous_activity,
            resource=str(rid),
            doing=doing,
            deadline=deadline,
        )
    else:
        machines = session.hybrid(rid.subscription_id).machines

        async def resume(sdk_token: str) -> Any:
            if token.action == "install":
                return await machines.begin_install_patches(
                    rid.resource_group,
                    rid.name,
                    MachineInstallPatchesParameters({}),
                    continuation_token=sdk_token,
                    **polling,
                )
            return await machines.begin_assess_patches(
                rid.resource_group, rid.name, continuation_token=sdk_token, **polling
            )

        poller = (
            started.poller
            if started and started.poller is not None
            else await resume(token.sdk_token)
        )
        result = await wait_for_poller(
            session, poller, resume, resource=str(rid), doing=doing, deadline=deadline, handle=token
        )
        body = result.as_dict()
    if token.action == "install":
        return succeeded_or_raise(installation(str(rid), MachineKind.ARC, body), doing)
    return succeeded_or_raise(arc_assessment(str(rid), body), doing)
