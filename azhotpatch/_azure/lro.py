"""Long-running operations: waiting on SDK pollers under the retry policy and a deadline,
resuming them from continuation tokens, and the serialisable handle callers keep.

A poll that fails (429, 5xx, reset) is retried by resuming a fresh poller from the
continuation token taken right after the operation started; polling is a read, so this is
always safe, and it never re-sends the request that started the operation. Failed polls
spend one budget per wait, in tries and in Azure time (`wait_for_poller`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from azure.core.polling.base_polling import LocationPolling, StatusCheckPolling
from azure.mgmt.core.polling.arm_polling import AzureAsyncOperationPolling, BodyContentPolling
from azure.mgmt.core.polling.async_arm_polling import AsyncARMPolling

from azhotpatch._azure.policies import counting
from azhotpatch._azure.retry import Deadline, FailureStreak
from azhotpatch._azure.session import Session
from azhotpatch._parse import timestamp
from azhotpatch.errors import DeadlineExceededError, InvalidArgumentError
from azhotpatch.models import Action

Resume = Callable[[str], Awaitable[Any]]

_TOKEN_VERSION = 1


@dataclass(frozen=True)
class OperationToken:
    """Everything needed to find a started operation again, as one opaque string.

    ``sdk_token`` is the SDK poller's continuation token (None when the operation was found by
    reading the machine's state after an ambiguous send). ``previous_activity`` is the activity
    id of the machine's latest operation of this kind *before* ours was sent: a different id in
    the machine's state later means ours was accepted, with no clocks to compare.
    """

    action: Action  # assess or install
    resource: str
    previous_activity: str | None = None
    sdk_token: str | None = None

    def encode(self) -> str:
        payload = {"v": _TOKEN_VERSION, **asdict(self)}
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()

    @classmethod
    def decode(cls, text: str) -> OperationToken:
        try:
            payload = json.loads(base64.urlsafe_b64decode(text.encode()))
            if payload.pop("v") != _TOKEN_VERSION:
                raise ValueError("version")
            payload["action"] = Action(payload["action"])
            return cls(**payload)
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise InvalidArgumentError(
                "token",
                "is not an operation handle from this version of azhotpatch",
                fix="pass the string from PendingOperation.token (or a journal) unchanged",
            ) from None


@dataclass(frozen=True)
class PollTiming:
    """When to poll a long-running operation: ``first`` wall seconds after it started (the
    SDK's first poll is immediate), then every ``every`` seconds (None: the client's interval).
    Azure's own Retry-After, when it sends one, still wins between polls."""

    first: float = 0.0
    every: float | None = None

    def sdk_options(self) -> dict[str, Any]:
        """Keyword arguments for an SDK ``begin_*`` call."""
        return {} if self.every is None else {"polling_interval": self.every}

    async def before_first_poll(self, deadline: Deadline) -> None:
        if self.first > 0:
            await asyncio.sleep(min(self.first, max(0.0, deadline.remaining())))


IMMEDIATE = PollTiming()


class PollCadence(Protocol):
    """What learns when to poll one type of operation (each machine kind keeps one per operation
    it waits on): the timing to use next, and what a wait with that timing found: ``hit`` when
    its first poll found the operation done, ``found_after`` the wall seconds from the start of
    the wait to the poll that did, ``length`` the operation's own length in Azure seconds where
    Azure reports it."""

    def timing(self) -> PollTiming: ...

    def observe(
        self,
        used: PollTiming,
        hit: bool,
        *,
        found_after: float | None = None,
        length: float | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class StatusOutput:
    """A finished operation as its Azure-AsyncOperation status told it: the result object
    (Compute's ``properties.output``, or the resource Hybrid Compute puts in ``properties``;
    None if the status carried none) and when it started and ended."""

    output: dict[str, Any] | None
    started: str | None
    ended: str | None

    @property
    def seconds(self) -> float | None:
        """The operation's length by Azure's clock, where the status says both ends."""
        start, end = timestamp(self.started), timestamp(self.ended)
        return None if start is None or end is None else (end - start).total_seconds()


def output_from_status(session: Session, poll: PollTiming) -> dict[str, Any]:
    """SDK keyword arguments for a Compute POST operation (assessPatches, installPatches)
    whose result is taken from its Azure-AsyncOperation status rather than from a further
    GET of its ``Location``. Azure puts the same object in both places (recorded traffic), so
    this is one read fewer per operation, and the status also says when the operation
    ended, which tells the fleet engine how long such operations take. The poller then
    returns a `StatusOutput`."""
    return {
        "polling": _arm_polling(
            session, poll, lro_options={"final-state-via": "azure-async-operation"}
        ),
        "cls": _status_output,
    }


def _arm_polling(session: Session, poll: PollTiming, **options: Any) -> AsyncARMPolling:
    """The SDK's ARM poller, with our polling interval and the client's endpoint."""
    interval = poll.every if poll.every is not None else session.polling_interval
    return AsyncARMPolling(
        interval, path_format_arguments={"endpoint": session.settings.endpoint}, **options
    )


class _EndAtStatus(AzureAsyncOperationPolling[Any, Any]):
    """Azure-AsyncOperation polling that ends when the status says the update is done,
    keeping the resource as the update's own response showed it (no GET after)."""

    def __init__(self) -> None:
        super().__init__()
        self.status_polled = False
        self.initial: dict[str, Any] | None = None

    def set_initial_status(self, pipeline_response: Any) -> str:
        self.status_polled = True
        self.initial = _json_object(pipeline_response)
        status: str = super().set_initial_status(pipeline_response)
        return status

    def get_final_get_url(self, pipeline_response: Any) -> str | None:
        return None


def resource_from_update(session: Session, poll: PollTiming = IMMEDIATE) -> dict[str, Any]:
    """SDK keyword arguments for a PUT or PATCH whose poller should return the resource as
    the request's own response showed it (a dict), without the GET of the resource that the
    SDK otherwise sends once Azure-AsyncOperation says it is done. That response already
    holds what was written, and the status says it took effect: the GET would only repeat
    both, at a read and a full model's parsing per machine. Updates that Azure answers
    without Azure-AsyncOperation are polled as the SDK would, and return what that found."""

    def resource(ending: _EndAtStatus, last: dict[str, Any] | None) -> dict[str, Any]:
        return (ending.initial if ending.status_polled else last) or {}

    return _ending_at_status(session, poll, resource)


def resource_from_status(session: Session, poll: PollTiming = IMMEDIATE) -> dict[str, Any]:
    """SDK keyword arguments for a PUT or PATCH whose Azure-AsyncOperation status carries
    the finished resource in ``properties``, as Hybrid Compute's license profile does
    (recorded traffic): the poller returns a `StatusOutput` holding that resource and the
    operation's times, without the GET of the resource the SDK otherwise sends. The
    update's own response is no substitute there: it may still show the change in progress.
    ``output`` is None when the status carried no resource; an update Azure answers without
    Azure-AsyncOperation returns what the SDK's own polling found, with no times."""

    def resource(ending: _EndAtStatus, last: dict[str, Any] | None) -> StatusOutput:
        if not ending.status_polled:
            return StatusOutput(last, None, None)
        return _status(last, (last or {}).get("properties"))

    return _ending_at_status(session, poll, resource)


def _ending_at_status(
    session: Session, poll: PollTiming, result: Callable[[_EndAtStatus, dict[str, Any] | None], Any]
) -> dict[str, Any]:
    """SDK keyword arguments for an update polled by `_EndAtStatus` where Azure sends
    Azure-AsyncOperation (as the SDK would otherwise), whose poller returns ``result`` of
    the polling and the last response's body."""
    ending = _EndAtStatus()

    def deserialize(pipeline_response: Any, _deserialized: Any, _headers: Any) -> Any:
        return result(ending, _json_object(pipeline_response))

    algorithms = [ending, LocationPolling(), BodyContentPolling(), StatusCheckPolling()]
    return {"polling": _arm_polling(session, poll, lro_algorithms=algorithms), "cls": deserialize}


def _json_object(pipeline_response: Any) -> dict[str, Any] | None:
    """The response's JSON object, if it holds one. Read through ``text()``, the one reader
    every response azure-core hands a poller has: a poller resumed from a continuation token
    gets its initial response rebuilt as a minimal object without ``json()``."""
    try:
        body = json.loads(pipeline_response.http_response.text())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _status_output(pipeline_response: Any, _deserialized: Any, _headers: Any) -> StatusOutput:
    body = _json_object(pipeline_response)
    return _status(body, ((body or {}).get("properties") or {}).get("output"))


def _status(body: dict[str, Any] | None, output: Any) -> StatusOutput:
    """An operation status ``body`` with the part of it that holds the result."""
    if body is None:
        return StatusOutput(None, None, None)
    return StatusOutput(
        dict(output) if isinstance(output, dict) else None,
        body.get("startTime"),
        body.get("endTime"),
    )


@dataclass(frozen=True)
class LroCall:
    """One SDK long-running call, and the same call resumed from a continuation token: the
    SDK's ``begin_*`` method and its arguments, said once. ``polling`` gives each poller its
    own options (a poller's state is its own)."""

    begin: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...]
    polling: Callable[[], dict[str, Any]] = dict

    async def start(self) -> Any:
        return await self.begin(*self.args, **self.polling())

    async def resume(self, token: str) -> Any:
        return await self.begin(*self.args, continuation_token=token, **self.polling())


async def run_to_end(
    session: Session,
    call: LroCall,
    *,
    resource: str,
    doing: str,
    deadline: Deadline,
    poll: PollTiming = IMMEDIATE,
) -> Any:
    """Start an idempotent long-running call (a PUT or PATCH of desired state) under the
    retry policy and wait for its result, polling as ``poll`` says."""
    poller = await session.call(call.start, resource=resource, doing=doing, deadline=deadline)
    await poll.before_first_poll(deadline)
    return await wait_for_poller(
        session, poller, call.resume, resource=resource, doing=doing, deadline=deadline
    )


async def wait_for_poller(
    session: Session,
    poller: Any,
    resume: Resume,
    *,
    resource: str,
    doing: str,
    deadline: Deadline,
    handle: OperationToken | None = None,
) -> Any:
    """The poller's result, retrying failed polls by resuming from its continuation token.

    Failed polls spend one budget for the whole wait (a `FailureStreak`: the retry policy's
    tries, and its outage in Azure seconds), paced and backed off like every other read. A
    try counts as one failure however many requests the SDK sent in it. The budget starts
    again only when the request that failed went where an earlier one in the same try was
    answered (a status poll that failed after others were answered: the operation was still
    being polled), so an operation that runs for hours is not failed by a handful of faults
    spread over its hundreds of polls; a status answered "done" followed by a final read
    that fails is no progress, so a status or result that cannot be read ends the wait
    within the budget, with its cause's code. (The SDK poller's own status cannot tell:
    azure-core marks it Failed on any error answer to a poll.)"""
    token: str = poller.continuation_token()
    current: Any = poller
    streak = FailureStreak(session.settings.retry)

    async def attempt() -> Any:
        nonlocal current
        if current is None:
            current = await resume(token)
        polling = current
        with counting() as sent:
            try:
                return await _bounded(polling.result(), deadline, resource, doing, handle)
            except BaseException:
                current = None
                if sent.failed is not None and sent.failed in sent.answered:
                    streak.answered()
                raise

    return await session.call(
        attempt,
        resource=resource,
        doing=doing,
        idempotent=True,
        deadline=deadline,
        streak=streak,
    )


async def _bounded(
    awaitable: Awaitable[Any],
    deadline: Deadline,
    resource: str,
    doing: str,
    handle: OperationToken | None,
) -> Any:
    try:
        return await asyncio.wait_for(awaitable, timeout=max(0.0, deadline.remaining()))
    except asyncio.TimeoutError:
        raise timed_out(resource, doing, deadline, handle) from None


def timed_out(
    resource: str, doing: str, deadline: Deadline, handle: OperationToken | None
) -> DeadlineExceededError:
    resumable = handle is not None
    return DeadlineExceededError(
        f"{doing} did not finish within {deadline.seconds:.0f} s"
        + ("; it is still running in Azure" if resumable else ""),
        resource=resource,
        fix="resume waiting with Hotpatch.resume(error.handle_token)"
        if resumable
        else "raise the deadline and retry",
        handle_token=handle.encode() if handle else None,
    )
