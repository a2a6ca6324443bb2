"""The azure-core pipeline policy through which every request the SDK sends is paced and
counted: first attempts, retries, LRO polls and page fetches alike."""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlsplit

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy

from azhotpatch._azure import pacing
from azhotpatch._azure.pacing import BucketKey, Pacer, Ticket
from azhotpatch._azure.routing import RegionLookup, bucket_keys
from azhotpatch._azure.traffic import Traffic

# (method, url, region lookup) -> the buckets a request draws from
Router = Callable[[str, str, RegionLookup], list[BucketKey]]


@dataclass
class Metrics:
    """What this client sent and what came back (for reports and benchmarks)."""

    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    throttled: int = 0
    transport_errors: int = 0
    server_date: datetime | None = None  # the service's clock, from a response's Date header
    server_date_seen: float = 0.0  # time.monotonic() when it was read
    _date_header: str = ""
    # running `Traffic` recorders (a fleet run's timeline); see `Session.recording`
    recorders: list[Traffic] = field(default_factory=list)

    def observe_date(self, header: str | None) -> None:
        """Keep the service's time (parsed only when the header changes: once a second)."""
        if not header or header == self._date_header:
            return
        try:
            self.server_date = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return
        self._date_header = header
        self.server_date_seen = time.monotonic()

    def service_now(self, time_scale: float = 1.0) -> datetime:
        """The service's current time: its last Date header moved on by the time since (sped
        up against an emulator), or this machine's clock before any response."""
        seen = self.server_date
        if seen is None:
            return datetime.now(timezone.utc)
        elapsed = (time.monotonic() - self.server_date_seen) * time_scale
        return seen + timedelta(seconds=elapsed)

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "throttled": self.throttled,
            "transport_errors": self.transport_errors,
            "by_status": dict(sorted(self.by_status.items())),
        }


@dataclass
class Tally:
    """Requests sent by one task while `counting` (e.g. how many polls an operation took);
    a count inside another counts in both. The innermost also keeps the paths Azure
    answered and the path of the last request that failed: a poll that fails where polls
    were answered before is progress interrupted, not a read that never succeeds."""

    requests: int = 0
    outer: Tally | None = field(default=None, repr=False)
    answered: set[str] = field(default_factory=set, repr=False)
    failed: str | None = None

    def add(self) -> None:
        tally: Tally | None = self
        while tally is not None:
            tally.requests += 1
            tally = tally.outer

    def settle(self, path: str, status: int | None) -> None:
        """What became of a request to ``path``: its status, None when no answer came."""
        if status is not None and status < 400:
            self.answered.add(path)
        else:
            self.failed = path


_tally: contextvars.ContextVar[Tally | None] = contextvars.ContextVar("tally", default=None)


@contextlib.contextmanager
def counting() -> Iterator[Tally]:
    """Count the requests the current task sends inside the block: how many polls an
    operation needed is what tells the fleet engine whether it polled too early, and wall
    time cannot (against an emulator, latency is most of it)."""
    tally = Tally(outer=_tally.get())
    reset = _tally.set(tally)
    try:
        yield tally
    finally:
        _tally.reset(reset)


class Check(Protocol):
    """What must still hold when a request leaves the pacer (see `checked`): which requests
    it concerns, whether the decision that let them go is too old by now, and how to make it
    again (raising to keep the request from going)."""

    def concerns(self, method: str, url: str) -> bool: ...

    def stale(self) -> bool: ...

    async def refresh(self) -> None: ...


_check: contextvars.ContextVar[Check | None] = contextvars.ContextVar("check", default=None)


@contextlib.contextmanager
def checked(check: Check) -> Iterator[None]:
    """Make ``check`` again when a request it concerns, sent by the current task inside the
    block, has been admitted by the pacer and its decision has gone stale. A decision read
    from Azure before a write can be minutes old by the time the pacer lets the write go (a
    bucket refilling, a 429's Retry-After): this is where it is made again, as late as it
    can be. The request gives its place back while the check reads (a request holding a
    token while it waits for another could starve the bucket both need), then queues
    again; requests the check sends are not checked."""
    reset = _check.set(check)
    try:
        yield
    finally:
        _check.reset(reset)


@contextlib.contextmanager
def unchecked() -> Iterator[None]:
    """Send the writes inside the block without the check `checked` set around them: where
    what the check would find may be the caller's own earlier attempt (a request that may
    have reached Azure, sent again), which it cannot tell from someone else's."""
    reset = _check.set(None)
    try:
        yield
    finally:
        _check.reset(reset)


class RegionCache(dict[str, str]):
    """VM resource key (lower-cased id) -> region, learned from reads and inventories, so
    Compute's per-region buckets can be told apart."""

    def lookup(self, resource: str) -> str | None:
        return self.get(resource.lower())


class PacingPolicy(AsyncHTTPPolicy):  # type: ignore[type-arg]
    """Reserve the request's Azure buckets, send, then teach the pacer from the response.
    ``route`` reads the buckets off a request (Resource Manager's by default)."""

    def __init__(
        self,
        pacer: Pacer,
        regions: RegionCache,
        metrics: Metrics,
        route: Router = bucket_keys,
    ) -> None:
        super().__init__()
        self.pacer = pacer
        self.regions = regions
        self.metrics = metrics
        self.route = route

    async def send(self, request: PipelineRequest) -> PipelineResponse:  # type: ignore[type-arg]
        http = request.http_request
        keys = self.route(http.method, http.url, self.regions.lookup)
        ticket = await self._admitted(keys, http.method, http.url)
        sent = time.time()
        self.metrics.requests += 1
        tally = _tally.get()
        if tally is not None:
            tally.add()
        try:
            response: PipelineResponse = await self.next.send(request)  # type: ignore[type-arg]
        except Exception:
            self.metrics.transport_errors += 1
            self.pacer.settle(ticket, None, {})
            self._record(keys, None, sent)
            if tally is not None:
                tally.settle(urlsplit(http.url).path.lower(), None)
            raise
        except BaseException:  # cancelled: whether or not it reached Azure, it is not in flight
            self.pacer.settle(ticket, None, {})
            raise
        status = response.http_response.status_code
        self.metrics.by_status[status] += 1
        if status == 429:
            self.metrics.throttled += 1
        self.pacer.settle(ticket, status, response.http_response.headers)
        self.metrics.observe_date(response.http_response.headers.get("Date"))
        self._record(keys, status, sent)
        if tally is not None:
            tally.settle(urlsplit(http.url).path.lower(), status)
        return response

    async def _admitted(self, keys: list[BucketKey], method: str, url: str) -> Ticket:
        """The request's tokens, once any check on it (`checked`) holds when they are given.

        A check found stale is made again with the tokens given back, so the buckets serve
        other requests while the record is read (Resource Graph draws from buckets of its
        own). The request then takes its tokens again at the front of the queue, and goes:
        read again once, not until a read happens to be quick, which a slow read or a long
        queue would never allow."""
        ticket = await self.pacer.acquire(keys)
        check = _check.get()
        if check is None or not check.concerns(method, url) or not check.stale():
            return ticket
        self.pacer.give_back(ticket)
        reset = _check.set(None)  # what the check reads (and tasks it starts) is not checked
        try:
            await check.refresh()
        finally:
            _check.reset(reset)
        front = pacing.priority.set(pacing.FRONT)
        try:
            return await self.pacer.acquire(keys)
        finally:
            pacing.priority.reset(front)

    def _record(self, keys: list[tuple[str, ...]], status: int | None, sent: float) -> None:
        for recorder in self.metrics.recorders:
            recorder.record(keys, status, sent)
