"""Starting a non-idempotent operation (assessPatches, installPatches) exactly once.

The POST is sent under the retry policy, which resends it only when Azure provably did not
accept it (429, 409 "in progress", connection refused). When it may have been accepted (5xx,
reset or timeout after sending), the machine's own record decides: its latest operation of
this kind had activity id ``previous`` before we sent; a different id now means ours was
accepted, and we attach to it by reading state instead of polling an LRO URL we never got.
Only when several reads still show nothing new is the POST sent once more, and a 409 to that
second POST means the first one is running after all, so we attach to it too.

A 409 to the first POST (another patch operation holds the machine) is never retried blindly:
Azure refused ours, so an operation of this kind newer than ``previous`` on the machine is
someone else's (another run, a person, the platform's schedule), and we attach to it instead
of queueing a second one behind it (`Started.theirs`). A patch operation of the other kind
holding the machine (an assessment while we install) is waited out by reading the machine,
within `BUSY_BUDGET` of Azure time, and the POST is sent again only once it has ended; a 409
with nothing visible holding the machine is sent again as often as the retry policy tries any
request, reading the machine before each, then stands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from azhotpatch._azure import policies
from azhotpatch._azure.lro import IMMEDIATE, PollTiming, timed_out
from azhotpatch._azure.retry import AmbiguousSendError, Deadline
from azhotpatch._azure.session import Session
from azhotpatch.errors import (
    RETRY_FAILED,
    AmbiguousOperationError,
    ConflictError,
    Fix,
    OperationFailedError,
)
from azhotpatch.models import Assessment, Installation, OperationStatus

Summary = Mapping[str, Any]
Result = TypeVar("Result", bound=Assessment | Installation)
_SIGHTINGS = 3


@dataclass(frozen=True)
class Probe:
    """How to read the machine's latest operation of one kind. ``activity_keys`` name what
    identifies an operation, first match wins (Resource Graph's assessment rows carry no
    activity id, only their start time). ``holding`` reads what holds the machine: that
    latest operation, and whether any patch operation (of either kind) is running on it."""

    read: Callable[[], Awaitable[Summary | None]]
    activity_keys: tuple[str, ...]
    holding: Callable[[], Awaitable[tuple[Summary | None, bool]]] | None = None

    def activity(self, summary: Summary | None) -> str | None:
        return activity_of(summary, self.activity_keys)

    async def hold(self) -> tuple[Summary | None, bool]:
        if self.holding is None:
            return await self.read(), False
        return await self.holding()


def activity_of(summary: Summary | None, keys: tuple[str, ...]) -> str | None:
    """What identifies the operation a summary describes: the first of ``keys`` it has."""
    for key in keys:
        value = (summary or {}).get(key)
        if value:
            return str(value)
    return None


@dataclass(frozen=True)
class Started:
    """Either an SDK poller to wait on, or (attached) nothing but the machine's state, and
    when to poll it (what the poller was made with). ``theirs`` is the activity of another
    client's operation Azure refused ours for (409): attached to it, it is not ours."""

    poller: Any | None
    timing: PollTiming = IMMEDIATE
    theirs: str | None = None

    @property
    def attached(self) -> bool:
        return self.poller is None


async def trigger(
    session: Session,
    start: Callable[[], Awaitable[Any]],
    probe: Probe,
    previous: str | None,
    *,
    resource: str,
    doing: str,
    deadline: Deadline,
) -> Started:
    try:
        try:
            poller = await _post(session, start, resource, doing, deadline)
            return Started(poller)
        except ConflictError as refused:
            return await _while_busy(
                session, start, probe, previous, refused, resource, doing, deadline
            )
    except AmbiguousSendError as first:
        if await _appeared(session, probe, previous, resource, doing, deadline):
            return Started(None)
        try:
            # the probe just read the machine; a check before the request leaves could find
            # our first attempt and take it for someone else's
            with policies.unchecked():
                poller = await session.call(
                    start,
                    resource=resource,
                    doing=doing,
                    idempotent=False,
                    deadline=deadline,
                    retry_conflicts=False,
                )
            return Started(poller)
        except ConflictError:
            # Our first request, running after all, or another operation holding the
            # machine: only the machine's state tells which (attaching to nothing would
            # wait for an operation that does not exist).
            if await _appeared(session, probe, previous, resource, doing, deadline):
                return Started(None)
            raise
        except AmbiguousSendError as second:
            if await _appeared(session, probe, previous, resource, doing, deadline):
                return Started(None)
            raise AmbiguousOperationError(
                f"{doing}: twice the request may or may not have reached Azure ({first}; "
                f"{second}) and the machine shows no new operation",
                resource=resource,
                fix="check the machine's patch history (status) before starting it again",
            ) from second


# How long, in Azure seconds, a machine held by a patch operation of the other kind (an
# assessment while we install, an install while we assess) is waited out before the 409
# stands: longer than an assessment takes, and than most installs.
BUSY_BUDGET = 3600.0
# The first wait after a 409 (Azure seconds); each next one doubles, up to `_BUSY_MOST`.
_BUSY_FIRST = 10.0
_BUSY_MOST = 300.0


async def _while_busy(
    session: Session,
    start: Callable[[], Awaitable[Any]],
    probe: Probe,
    previous: str | None,
    refused: ConflictError,
    resource: str,
    doing: str,
    deadline: Deadline,
) -> Started:
    """Azure refused the request: another operation holds the machine. One of our kind,
    newer than ``previous``, is someone else's, and we attach to it; one of the other kind
    is waited out by reading the machine; a 409 with nothing visible holding the machine is
    sent again a few times. The machine is read before each new request, so an operation of
    our kind that started, or even ended, meanwhile is found instead of being repeated."""
    refusals, waited, wait = 1, 0.0, _BUSY_FIRST
    while True:
        summary, running = await session.call(
            probe.hold,
            resource=resource,
            doing=f"reading what holds the machine ({doing})",
            deadline=deadline,
        )
        found = probe.activity(summary)
        if found is not None and (found != previous or _running(summary)):
            # newer than what the machine showed before we sent, or running (Azure refused
            # ours, so a running one of our kind is not ours, even if it was "previous")
            return Started(None, theirs=found)
        # 409s in a row with nothing visible holding the machine: as many as the retry
        # policy tries any request (what a 409 had before it was handled here)
        if not running and refusals >= session.settings.retry.attempts:
            raise refused
        if waited >= BUSY_BUDGET or deadline.remaining() <= session.azure_seconds(wait):
            raise refused
        await asyncio.sleep(session.azure_seconds(wait))
        waited, wait = waited + wait, min(2 * wait, _BUSY_MOST)
        if running:
            continue  # read again; send only once nothing runs
        try:
            return Started(await _post(session, start, resource, doing, deadline))
        except ConflictError as again:
            refused, refusals = again, refusals + 1


def _running(summary: Summary | None) -> bool:
    return OperationStatus.parse((summary or {}).get("status")) is OperationStatus.IN_PROGRESS


async def _post(
    session: Session,
    start: Callable[[], Awaitable[Any]],
    resource: str,
    doing: str,
    deadline: Deadline,
) -> Any:
    """The POST, retried only where Azure provably did not take it, and not on a 409: what
    holds the machine decides what to do next (see `_while_busy`)."""
    return await session.call(
        start,
        resource=resource,
        doing=doing,
        idempotent=False,
        deadline=deadline,
        retry_conflicts=False,
    )


async def _appeared(
    session: Session,
    probe: Probe,
    previous: str | None,
    resource: str,
    doing: str,
    deadline: Deadline,
) -> bool:
    """Did an operation newer than ``previous`` show up? Looks a few times, since Azure can
    take a moment to record an accepted operation."""
    for sighting in range(_SIGHTINGS):
        summary = await session.call(
            probe.read,
            resource=resource,
            doing=f"checking whether {doing} started",
            deadline=deadline,
        )
        found = probe.activity(summary)
        if found is not None and found != previous:
            return True
        if sighting + 1 < _SIGHTINGS:
            await asyncio.sleep(min(session.polling_interval, max(0.0, deadline.remaining())))
    return False


@dataclass(frozen=True)
class Settled:
    """What the machine's state says about a request that may have reached Azure (recorded
    before a crash, or attempted before a failure): ``received`` (attach to it and wait), or
    send it, knowing ``previous``, the latest activity of its kind before the new send."""

    received: bool
    previous: str | None


async def settle(probe: Probe, previous: str | None, *, again: bool = False) -> Settled:
    """An operation newer than ``previous`` in the machine's state means the request was
    received. With ``again`` (a retry of a step that failed), a received one that ended
    unsuccessfully is sent once more, as a new attempt; one still running, or one that
    succeeded, never is."""
    summary = await probe.read()
    found = probe.activity(summary)
    if found is None or found == previous:
        return Settled(False, found if found is not None else previous)
    status = OperationStatus.parse((summary or {}).get("status"))
    if again and status.done and status is not OperationStatus.SUCCEEDED:
        return Settled(False, found)
    return Settled(True, previous)


def succeeded_or_raise(result: Result, doing: str) -> Result:
    """The finished operation's result, or `OperationFailedError` when Azure says it ended
    Failed: what the SDK's poller raises for a VM operation whose status says so, for the
    results it cannot see fail (an Arc patch run's, read at its ``Location``; one read back
    from the machine's state). A result that completed with warnings is returned."""
    if result.status is not OperationStatus.FAILED:
        return result
    error = result.error
    raise OperationFailedError(
        f"{doing} ended Failed in Azure" + (f" ({error})" if error else ""),
        resource=result.resource,
        fix=Fix.of(
            "retry it (a fleet: rerun with the same journal and ",
            RETRY_FAILED,
            "); if it keeps failing, check the machine's guest agent and Windows Update logs",
        ),
        azure_code=error.code if error else None,
    )


async def wait_attached(
    session: Session,
    probe: Probe,
    previous: str | None,
    *,
    resource: str,
    doing: str,
    deadline: Deadline,
) -> Summary:
    """Read the machine's state until the operation newer than ``previous`` is done."""
    while True:
        summary = await session.call(probe.read, resource=resource, doing=doing, deadline=deadline)
        found = probe.activity(summary)
        if summary and found != previous and OperationStatus.parse(summary.get("status")).done:
            return summary
        if deadline.remaining() <= 0:
            raise timed_out(resource, doing, deadline, None)
        await asyncio.sleep(min(session.polling_interval, max(0.0, deadline.remaining())))
