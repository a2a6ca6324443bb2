"""The one retry policy.

Who retries what, decided once:

* azure-core's own RetryPolicy is switched off (``retry_total=0``) on every client, so a
  failing call is never retried 10 x 10 times by stacked layers.
* This module retries, with tenacity, according to why the call failed (`errors.classify`)
  and whether the call is idempotent:

  - 429: no sleeping here. The pacer has paused the bucket for Retry-After; the retry waits
    in the pacer with everyone else instead of every task sleeping on its own.
  - 409 "another operation in progress": the request was not accepted; back off and retry.
  - connection refused/failed before sending: always safe to retry.
  - 5xx, resets and timeouts after sending: retried only for idempotent calls (GET, PUT and
    PATCH of desired state). For a POST such as installPatches, or a PUT that runs something
    (a run command), the request may have been accepted, so `AmbiguousSendError` goes up to
    the operation, which settles it by reading state and never by sending it again blindly.

* The HTTP transport (aiohttp) sends an idempotent request (GET, PUT, DELETE) once more by
  itself when a kept-alive connection drops, as HTTP allows. Inside `resend.sent_once` it
  does not: a PUT that runs a script must not run twice because the connection dropped
  after Azure received it.
* Every wait honours Retry-After (capped at ``retry_after_max``) and stops at the deadline.
* A call gives up once its failures in a row reach ``attempts``, or the waits between them
  add up to more than ``outage`` seconds of Azure time (`FailureStreak`); a wait on a
  long-running operation shares one streak across its polls, so that a status that cannot
  be read ends the wait within that budget however many polls the SDK sends per try.
"""

from __future__ import annotations

import asyncio
import random
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from azhotpatch._azure.errors import (
    AZURE,
    Failure,
    classify,
    response_headers,
    to_hotpatch_error,
)
from azhotpatch._azure.pacing import retry_after_seconds
from azhotpatch._proxy import shown
from azhotpatch.errors import (
    DeadlineExceededError,
    EndpointUnreachableError,
    InvalidArgumentError,
)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. ``backoff`` is the first wait after a transient failure; waits double
    up to ``backoff_max`` with full jitter. ``attempts`` counts every try, the first included.

    Six tries ride out about half a minute of failures with the default back-off. A try can
    be two requests: when Azure drops a kept-alive connection, the HTTP transport (aiohttp)
    sends an idempotent request once more on a new connection by itself, as HTTP allows
    (except inside `resend.sent_once`); so a fault that persists costs at most twelve requests per
    call, not a storm. ``outage`` bounds the same in Azure seconds: failures in a row whose
    waits (long Retry-After answers, say) add up to more end the call however few tries it
    made."""

    attempts: int = 6
    backoff: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 600.0
    outage: float = 900.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InvalidArgumentError("attempts", "must be at least 1", fix="pass attempts>=1")
        if self.backoff < 0 or self.backoff_max < self.backoff or self.retry_after_max < 0:
            raise InvalidArgumentError(
                "backoff",
                "needs 0 <= backoff <= backoff_max and retry_after_max >= 0",
                fix="e.g. RetryPolicy(backoff=1, backoff_max=60)",
            )
        if not self.outage > 0:
            raise InvalidArgumentError(
                "outage", "must be more than 0 seconds", fix="e.g. RetryPolicy(outage=900)"
            )

    def scaled(self, factor: float) -> RetryPolicy:
        """The same policy on a clock ``factor`` times faster (an emulator's time_scale)."""
        return RetryPolicy(
            self.attempts,
            self.backoff / factor,
            self.backoff_max / factor,
            self.retry_after_max / factor,
            self.outage / factor,
        )

    def backoff_for(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row: doubling from ``backoff``
        up to ``backoff_max``, with full jitter."""
        ceiling = min(self.backoff_max, self.backoff * 2 ** max(0, failures - 1))
        return random.uniform(0, ceiling)


class FailureStreak:
    """Failures in a row, for one call or for one wait across all its polls: exhausted once
    they number the policy's ``attempts``, or once the waits between them (back-off and
    Retry-After, slept here or in the pacer) add up to more than its ``outage``. What
    counts is the time the client chose to wait, in the policy's seconds (Azure time against
    an emulator, through `RetryPolicy.scaled`), not the time it took: a client slowed by its
    own machine is not failed sooner for it. An access token Azure refused as expired is
    no failure of Azure's (the request was not processed, and the next one carries a fresh
    token): such refusals are bounded apart, at twice the tries. `answered` starts the
    streak again: a wait calls it when a poll failed where polls had been answered, so an
    operation that runs for hours is not failed by faults spread over it."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.count = 0
        self.refused = 0
        self.waited = 0.0

    def failed(self, failure: Failure) -> None:
        if failure is Failure.REAUTHENTICATE:
            self.refused += 1
        else:
            self.count += 1

    def waits(self, seconds: float) -> None:
        """The wait before the next try (however it is spent) counts against the outage."""
        self.waited += max(0.0, seconds)

    def answered(self) -> None:
        self.count = self.refused = 0
        self.waited = 0.0

    def exhausted(self) -> bool:
        """Whether to give up rather than try again."""
        attempts = self.policy.attempts
        return (
            self.count >= attempts
            or self.refused >= 2 * attempts
            or self.waited > self.policy.outage
        )


class Patience:
    """How long to keep waiting for something the service's clock decides (a run command's
    end, a machine's return, a report's export): spent once ``seconds`` have passed (the
    caller's span of service time, as wall seconds: `Session.azure_seconds`) *and* ``tries``
    reads were made, so that a client slowed by its own machine (or by an emulator's fast
    clock) is not failed for time it could not use."""

    def __init__(
        self, seconds: float, tries: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock = clock
        self.until = clock() + seconds
        self.tries = tries
        self.made = 0

    def tick(self) -> None:
        self.made += 1

    def spent(self) -> bool:
        return self.made >= self.tries and self.clock() >= self.until


class Deadline:
    """An absolute point in (monotonic) time an operation must finish by."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.at = clock() + seconds

    def remaining(self) -> float:
        return self.at - self.clock()

    def expired(self) -> bool:
        return self.remaining() <= 0


class AmbiguousSendError(Exception):
    """A non-idempotent request failed after it may have reached Azure."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def should_retry(error: BaseException, *, idempotent: bool, conflicts: bool = True) -> bool:
    failure = classify(error)
    if failure is Failure.CONFLICT:
        return conflicts
    if failure in (Failure.THROTTLED, Failure.NOT_SENT, Failure.REAUTHENTICATE):
        return True
    return failure is Failure.TRANSIENT and idempotent


class _Wait:
    def __init__(
        self, policy: RetryPolicy, deadline: Deadline, streak: FailureStreak, *, paced: bool
    ) -> None:
        self.policy = policy
        self.deadline = deadline
        self.streak = streak
        self.paced = paced

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if error is None:
            return 0.0
        failure = classify(error)
        told = retry_after_seconds(response_headers(error))
        if failure is Failure.REAUTHENTICATE:
            return 0.0
        if failure is Failure.THROTTLED:
            waiting = told if told is not None else self.policy.backoff
            # paced: the pacer has paused the bucket for Retry-After, and the retry waits
            # there (with every other request to that bucket), not here
            wait = 0.0 if self.paced else waiting
        elif told is not None:
            wait = waiting = told
        else:
            wait = waiting = self.policy.backoff_for(self.streak.count + 1)
        self.streak.waits(min(waiting, self.policy.retry_after_max))
        wait = min(wait, self.policy.retry_after_max)
        return max(0.0, min(wait, self.deadline.remaining()))


@dataclass(frozen=True)
class Reachability:
    """When to stop trying to connect to an endpoint that has never answered: after
    ``within`` wall seconds of failing to connect (refused, no route, no name, or no
    answer), instead of the whole retry budget. A wrong or unreachable endpoint then fails
    in seconds; once ``answered`` says the endpoint has answered anything in this session,
    a passing outage is retried through like any other transient failure. ``proxy`` is the
    proxy requests go through (from HTTPS_PROXY), which the message then blames when it is
    the proxy that could not be reached."""

    endpoint: str
    within: float
    answered: Callable[[], bool]
    proxy: str | None = None
    service: str = AZURE

    def gives_up(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        return (
            error is not None
            and classify(error) is Failure.NOT_SENT
            and not self.answered()
            and (state.seconds_since_start or 0.0) + state.upcoming_sleep >= self.within
        )

    def unreachable(self, error: BaseException, resource: str) -> EndpointUnreachableError:
        said = to_hotpatch_error(error, resource, doing="connecting", service=self.service)
        within = f"within {self.within:.0f} s ({said.problem})"
        timeout = "the connect timeout is Hotpatch(connect_timeout=...)"
        if self.proxy is None:
            return EndpointUnreachableError(
                f"could not connect to {self.endpoint} {within}",
                resource=resource,
                fix="check the endpoint (cloud, --endpoint), DNS, proxy (HTTPS_PROXY) and "
                f"firewall, then retry; {timeout}",
            )
        proxy = shown(self.proxy)
        host = urllib.parse.urlsplit(self.endpoint).hostname or self.endpoint
        if _proxy_refused(error):
            return EndpointUnreachableError(
                f"could not connect to the proxy {proxy} (HTTPS_PROXY) on the way to "
                f"{self.endpoint} {within}",
                resource=resource,
                fix=f"check that the proxy {proxy} runs and can be reached, or correct "
                f"HTTPS_PROXY; to reach {host} without a proxy, add it to NO_PROXY; {timeout}",
            )
        return EndpointUnreachableError(
            f"could not connect to {self.endpoint} through the proxy {proxy} (HTTPS_PROXY) "
            f"{within}",
            resource=resource,
            fix=f"check that the proxy {proxy} lets connections to {host} through (its log "
            f"says why it did not), and the endpoint (cloud, --endpoint); {timeout}",
        )


def _proxy_refused(error: BaseException) -> bool:
    """Whether the failure was connecting to the proxy itself (aiohttp tells it apart)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, aiohttp.ClientProxyConnectionError):
            return True
        cause = getattr(cause, "inner_exception", None) or cause.__cause__ or cause.__context__
    return False


class _Stop:
    """Called after each failure the policy would retry: counts it in the streak."""

    def __init__(
        self, deadline: Deadline, reachability: Reachability | None, streak: FailureStreak
    ) -> None:
        self.deadline = deadline
        self.reachability = reachability
        self.streak = streak

    def __call__(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        self.streak.failed(classify(error) if error is not None else Failure.TRANSIENT)
        if self.reachability is not None and self.reachability.gives_up(state):
            return True
        return self.streak.exhausted() or self.deadline.expired()


async def call(
    operation: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    deadline: Deadline,
    idempotent: bool,
    resource: str,
    doing: str,
    paced: bool = True,
    retry_conflicts: bool = True,
    streak: FailureStreak | None = None,
    reachability: Reachability | None = None,
    service: str = AZURE,
) -> T:
    """Run ``operation`` under the retry policy; failures leave as `HotpatchError`s, except
    a possibly-accepted non-idempotent request, which leaves as `AmbiguousSendError`.
    ``streak`` is the failures-in-a-row budget to count against (a fresh one by default)."""
    failures = streak if streak is not None else FailureStreak(policy)
    retrying = AsyncRetrying(
        stop=_Stop(deadline, reachability, failures),
        wait=_Wait(policy, deadline, failures, paced=paced),
        retry=retry_if_exception(
            lambda e: should_retry(e, idempotent=idempotent, conflicts=retry_conflicts)
        ),
        reraise=True,
        sleep=asyncio.sleep,
    )
    try:
        async for attempt in retrying:
            with attempt:
                return await operation()
    except Exception as error:
        failure = classify(error)
        if not idempotent and failure is Failure.TRANSIENT:
            raise AmbiguousSendError(error) from error
        if failure is Failure.NOT_SENT and reachability and not reachability.answered():
            raise reachability.unreachable(error, resource) from error
        if deadline.expired() and failure is not Failure.FATAL:
            raise DeadlineExceededError(
                f"gave up {doing} at the deadline ({deadline.seconds:.0f} s); last error: "
                f"{to_hotpatch_error(error, resource, doing=doing, service=service).problem}",
                resource=resource,
                fix="raise the deadline, or resume later from the operation's handle",
            ) from error
        raise to_hotpatch_error(error, resource, doing=doing, service=service) from error
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
