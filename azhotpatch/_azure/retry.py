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
    PATCH of desired state). For a POST such as installPatches the request may have been
    accepted, so `AmbiguousSendError` goes up to the operation, which settles it by reading
    state and never by sending the POST again blindly.

* Every wait honours Retry-After (capped at ``retry_after_max``) and stops at the deadline.
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
    sends an idempotent request once more on a new connection by itself, as HTTP allows; so
    a fault that persists costs at most twelve requests per call, not a storm."""

    attempts: int = 6
    backoff: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 600.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InvalidArgumentError("attempts", "must be at least 1", fix="pass attempts>=1")
        if self.backoff < 0 or self.backoff_max < self.backoff or self.retry_after_max < 0:
            raise InvalidArgumentError(
                "backoff",
                "needs 0 <= backoff <= backoff_max and retry_after_max >= 0",
                fix="e.g. RetryPolicy(backoff=1, backoff_max=60)",
            )

    def scaled(self, factor: float) -> RetryPolicy:
        """The same policy on a clock ``factor`` times faster (an emulator's time_scale)."""
        return RetryPolicy(
            self.attempts,
            self.backoff / factor,
            self.backoff_max / factor,
            self.retry_after_max / factor,
        )


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
    def __init__(self, policy: RetryPolicy, deadline: Deadline, *, paced: bool) -> None:
        self.policy = policy
        self.deadline = deadline
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
            wait = 0.0 if self.paced else (told if told is not None else self.policy.backoff)
        elif told is not None:
            wait = told
        else:
            ceiling = min(
                self.policy.backoff_max, self.policy.backoff * 2 ** (state.attempt_number - 1)
            )
            wait = random.uniform(0, ceiling)
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
    def __init__(
        self, policy: RetryPolicy, deadline: Deadline, reachability: Reachability | None
    ) -> None:
        self.policy = policy
        self.deadline = deadline
        self.reachability = reachability

    def __call__(self, state: RetryCallState) -> bool:
        if self.reachability is not None and self.reachability.gives_up(state):
            return True
        return state.attempt_number >= self.policy.attempts or self.deadline.expired()


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
    reachability: Reachability | None = None,
    service: str = AZURE,
) -> T:
    """Run ``operation`` under the retry policy; failures leave as `HotpatchError`s, except
    a possibly-accepted non-idempotent request, which leaves as `AmbiguousSendError`."""
    retrying = AsyncRetrying(
        stop=_Stop(policy, deadline, reachability),
        wait=_Wait(policy, deadline, paced=paced),
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
