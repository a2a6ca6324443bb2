"""Client-side pacing that mirrors Azure's throttling buckets.

Every request the SDK sends (including LRO polls and page fetches) first takes a token from
each Azure bucket it will draw from: ARM's per-subscription reads/writes/deletes, Compute's
per-region policy buckets (per subscription and per VM), Resource Graph's per-user quota.

Each bucket is a token bucket with a queue of waiters and, while anyone waits, one dispatcher
that hands out tokens as they refill: thousands of waiting tasks are woken one per token,
never in a herd. The queue is first in, first out within a priority; a request made while
``priority`` (a context variable) is higher goes first. The fleet engine sets it by the work
left after the request: earlier steps, and an Arc enrollment (the machine's own verdict still
follows) above a VM's. A machine's later steps wait on its own operations, so serving the
start of a chain first keeps work ready for the buckets, and the run ends on its last
installs rather than on chains started late (how deep the queue may grow is `Pacer.admit`'s
business, so machines still finish steadily).

Tokens never accumulate beyond what the bucket can hold, so a client that stalls (a busy
machine, a long garbage collection) cannot release a backlog all at once when it resumes.
Nor do they refill into room that requests still on their way may yet take: Azure counts a
request when it arrives, which is some time between its token and its answer, and a bucket
that is full meanwhile wastes its refill. So the model's tokens plus its requests in flight
never exceed what the bucket holds; then however late or bunched the arrivals (a busy event
loop, a queue for connections, thousands of requests at start-up), Azure's bucket holds at
least what the model does. A 429 pauses the whole bucket for its Retry-After.
Remaining-count headers from Azure are authoritative: when they show fewer tokens than the
model (another client shares the subscription, or the limits differ), the model drops to
match. The model never grants more than the documented limits, less a little headroom, so a
well-paced run does not trip.

`Pacer.admit` lets a fleet's machines in only as fast as their subscription's buckets drain,
so however large the fleet, the queues stay short and memory stays flat.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import heapq
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from azhotpatch.limits import Bucket, ThrottleLimits

BucketKey = tuple[str, ...]

DEFAULT_HEADROOM = 0.97
DEFAULT_RESERVE = 1.0
# Narrowest buckets first: a request waiting on one VM's bucket should not sit on tokens of
# the subscription's buckets that other machines could use meanwhile.
_ORDER = {"compute-resource": 0, "compute": 1, "graph": 1, "runcommand": 1, "arm": 2}

priority: contextvars.ContextVar[int] = contextvars.ContextVar("priority", default=0)
FRONT = 1 << 30  # a priority above any the engine sets: the front of the queue
_arrivals = itertools.count()


@dataclass
class Arrival:
    """A machine let into a run by `Pacer.admit` whose first request has not reached the
    pacer yet. Set it as ``arrival`` in the machine's task; its first request clears it."""

    subscription: str
    pending: bool = True


arrival: contextvars.ContextVar[Arrival | None] = contextvars.ContextVar("arrival", default=None)


@dataclass
class _Backlog:
    """Requests of one subscription waiting in any of its buckets, plus machines let in whose
    first request is still on its way."""

    queued: int = 0
    arriving: int = 0
    room: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def depth(self) -> int:
        return self.queued + self.arriving


@dataclass
class _Cell:
    """One bucket: tokens refilled continuously, capped at what may be spent at once."""

    rate: float  # tokens per second
    usable: float  # the most tokens that may be spent at once (capacity less the reserve)
    capacity: float
    tokens: float
    last: float
    paused_until: float = 0.0
    # (-priority, arrival, future): a heap, so the highest priority and then the earliest
    waiters: list[tuple[int, int, asyncio.Future[int]]] = field(default_factory=list)
    dispatching: bool = False
    acquired: int = 0
    pending: list[int] = field(default_factory=list)  # sequence numbers still in flight
    subscription: str | None = None

    @property
    def in_flight(self) -> int:
        return len(self.pending)

    def refill(self, now: float) -> None:
        """Refill, but only into room that no request in flight may still take (see the
        module docstring): a request granted long ago that has not arrived yet is still
        owed its token by Azure's bucket, even if that bucket has been full all along."""
        if now > self.last:
            room = self.usable - self.in_flight
            if self.tokens < room:
                self.tokens = min(room, self.tokens + (now - self.last) * self.rate)
            self.last = now

    def ready(self, now: float) -> bool:
        self.refill(now)
        return now >= self.paused_until and self.tokens >= 1.0

    def take(self) -> int:
        self.tokens -= 1.0
        self.acquired += 1
        self.pending.append(self.acquired)
        return self.acquired

    def wait(self, now: float) -> float:
        """Seconds until the next token (or the end of a pause)."""
        missing = 1.0 - self.tokens
        refill = missing / self.rate if missing > 0 and self.rate > 0 else 0.0
        return max(self.paused_until - now, refill, 1e-4)

    def landed(self, now: float, sequence: int) -> int:
        """Forget a request that got its answer; how many sent after it are still out."""
        self.refill(now)  # it was in flight until now
        index = bisect.bisect_left(self.pending, sequence)
        if index < len(self.pending) and self.pending[index] == sequence:
            del self.pending[index]
        return len(self.pending) - bisect.bisect_right(self.pending, sequence)

    def align(self, now: float, server_remaining: float) -> bool:
        """Drop to Azure's count when it is lower than the model's. ``server_remaining``
        must already discount requests still on their way to Azure."""
        self.refill(now)
        if server_remaining >= self.tokens - 1.0:
            return False
        self.tokens = max(server_remaining, -self.capacity)
        return True

    def pause(self, now: float, seconds: float, *, tighten: bool = True) -> None:
        """Nothing until ``seconds`` have passed. After a 429 (``tighten``) also two tokens
        less burst from now on: something the model does not see spends from this bucket
        (another client, or limits other than the documented ones)."""
        self.refill(now)
        self.paused_until = max(self.paused_until, now + seconds)
        self.tokens = min(self.tokens, 0.0)
        if tighten:
            self.usable = max(1.0, self.usable - 2.0)


@dataclass
class Ticket:
    """A granted request; settle it with the response so the model learns from it."""

    keys: tuple[BucketKey, ...]
    sequence: dict[BucketKey, int]
    sent_at: float


@dataclass
class PacerStats:
    reservations: int = 0
    waited_seconds: float = 0.0
    realigned: int = 0
    pauses: int = 0


class Pacer:
    """Take a token from every Azure bucket a request draws from before it is sent."""

    def __init__(
        self,
        limits: ThrottleLimits | None = None,
        *,
        headroom: float = DEFAULT_HEADROOM,
        reserve: float = DEFAULT_RESERVE,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not 0 < headroom <= 1:
            raise ValueError("headroom must be in (0, 1]")
        self.limits = limits or ThrottleLimits()
        self.headroom = headroom
        self.reserve = reserve
        self.enabled = enabled
        self.clock = clock
        self.sleep = sleep
        self.stats = PacerStats()
        self._cells: dict[BucketKey, _Cell] = {}
        self._prune_at = _PRUNE_FROM
        self._dispatchers: set[asyncio.Task[None]] = set()  # strong references while running
        self._backlogs: dict[str, _Backlog] = {}

    # --- taking tokens ------------------------------------------------------------------------

    async def acquire(self, keys: Sequence[BucketKey]) -> Ticket:
        """Wait until every bucket in ``keys`` gives a token (narrowest bucket first)."""
        asked = self.clock()
        first = arrival.get()
        if first is not None and first.pending:
            self.arrived(first)
        if not self.enabled:
            return Ticket(tuple(keys), {}, asked)
        sequence: dict[BucketKey, int] = {}
        try:
            for key in sorted(keys, key=lambda k: _ORDER.get(k[0], 1)):
                sequence[key] = await self._take(self._cell(key, self.clock()))
        except BaseException:  # cancelled while waiting: the tokens taken are not in flight
            self.settle(Ticket(tuple(sequence), sequence, asked), None, {})
            raise
        granted = self.clock()
        self.stats.reservations += 1
        self.stats.waited_seconds += granted - asked
        return Ticket(tuple(keys), sequence, granted)

    async def _take(self, cell: _Cell) -> int:
        """A token from one bucket: at once if there is one and nobody is queued ahead."""
        if not cell.waiters and cell.ready(self.clock()):
            return cell.take()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[int] = loop.create_future()
        heapq.heappush(cell.waiters, (-priority.get(), next(_arrivals), waiter))
        if cell.subscription is not None:
            self._backlog(cell.subscription).queued += 1
        if not cell.dispatching:
            cell.dispatching = True
            self._dispatchers.add(loop.create_task(self._dispatch(cell)))
        try:
            return await waiter
        except asyncio.CancelledError:  # cancelled just after its token was handed over
            if waiter.done() and not waiter.cancelled():
                cell.landed(self.clock(), waiter.result())
            raise

    async def _dispatch(self, cell: _Cell) -> None:
        """Hand tokens to waiters in order as the bucket refills."""
        try:
            while cell.waiters:
                now = self.clock()
                while cell.waiters and cell.ready(now):
                    _, _, waiter = heapq.heappop(cell.waiters)
                    if cell.subscription is not None:
                        self._shrink(cell.subscription, queued=1)
                    if not waiter.done():  # a cancelled waiter takes no token
                        waiter.set_result(cell.take())
                if cell.waiters:
                    await self.sleep(cell.wait(now))
        finally:
            cell.dispatching = False
            task = asyncio.current_task()
            if task is not None:
                self._dispatchers.discard(task)

    def give_back(self, ticket: Ticket) -> None:
        """Return the tokens of a request that will not be sent now: Azure never counted it,
        so its tokens go back to the buckets (as far as they hold) for whoever is next."""
        if not self.enabled:
            return
        now = self.clock()
        for key in ticket.keys:
            cell = self._cell(key, now)
            cell.landed(now, ticket.sequence.get(key, 0))
            cell.tokens = min(cell.usable - cell.in_flight, cell.tokens + 1.0)

    def settle(self, ticket: Ticket, status: int | None, headers: Mapping[str, str]) -> None:
        """Learn from a response (or from no response: ``status`` None)."""
        if not self.enabled:
            return
        now = self.clock()
        remaining = parse_remaining(headers)
        for key in ticket.keys:
            cell = self._cell(key, now)
            still_out = cell.landed(now, ticket.sequence.get(key, 0))
            if key[0] == "graph":
                self._settle_graph(cell, headers, now)
                continue
            reported = remaining.get(_header_name(key))
            # Requests sent after this one and already answered were counted by Azure
            # before it answered this one (or just after); only those still out are not.
            if reported is not None and cell.align(now, reported - still_out):
                self.stats.realigned += 1
        if status == 429:
            self._pause(ticket, headers, remaining, now)

    def _settle_graph(self, cell: _Cell, headers: Mapping[str, str], now: float) -> None:
        """Resource Graph counts queries in fixed windows and says when the window resets:
        with the quota nearly spent, hold everything until then."""
        quota = _int_header(headers, "x-ms-user-quota-remaining")
        resets = parse_timespan(headers.get("x-ms-user-quota-resets-after"))
        if quota is not None and resets is not None and quota <= self.reserve:
            cell.pause(now, resets, tighten=False)
            self.stats.pauses += 1

    def _pause(
        self, ticket: Ticket, headers: Mapping[str, str], remaining: dict[str, int], now: float
    ) -> None:
        """Pause the buckets that are empty (all of the request's if none says so)."""
        wait = retry_after_seconds(headers) or 1.0
        empty = [k for k in ticket.keys if remaining.get(_header_name(k)) == 0]
        for key in empty or ticket.keys:
            self._cell(key, now).pause(now, wait)
            self.stats.pauses += 1

    # --- letting machines in --------------------------------------------------------------

    def admission_depth(self, horizon: float = 0.0) -> int:
        """How many requests a subscription may have queued before no more machines are let
        in: what its write bucket refills in a second plus ``horizon`` seconds.

        The second keeps the buckets from running dry while a newly let-in machine's first
        request is on its way. The horizon is for chains of steps: a machine's later requests
        wait on its own operations, so when the last machines have been let in, the queue
        must hold enough work to keep the buckets busy until those chains catch up. Give it
        the time from a machine's first request to its last."""
        return 16 + math.ceil(self.limits.arm_writes.per_second * (1.0 + max(0.0, horizon)))

    async def admit(self, subscription: str, depth: int | None = None) -> Arrival:
        """Wait until the subscription's buckets have fewer than ``depth`` requests queued
        (counting machines let in whose first request has not arrived), then let one more
        in. A fleet that lets machines in this way keeps only as many in flight as Azure's
        buckets can serve, however large the fleet: no herd of queued requests, and machines
        finish steadily from the start."""
        limit = self.admission_depth() if depth is None else depth
        backlog = self._backlog(subscription.lower())
        while self.enabled and backlog.depth >= limit:
            backlog.room.clear()
            await backlog.room.wait()
        backlog.arriving += 1
        return Arrival(subscription.lower())

    def arrived(self, machine: Arrival) -> None:
        """The machine's first request reached the pacer (or it needed none)."""
        if machine.pending:
            machine.pending = False
            self._shrink(machine.subscription, arriving=1)

    def backlog(self, subscription: str) -> int:
        return self._backlog(subscription.lower()).depth

    def _backlog(self, subscription: str) -> _Backlog:
        found = self._backlogs.get(subscription)
        if found is None:
            found = self._backlogs[subscription] = _Backlog()
        return found

    def _shrink(self, subscription: str, *, queued: int = 0, arriving: int = 0) -> None:
        backlog = self._backlog(subscription)
        backlog.queued -= queued
        backlog.arriving -= arriving
        backlog.room.set()

    # --- buckets ------------------------------------------------------------------------------

    def _cell(self, key: BucketKey, now: float) -> _Cell:
        cell = self._cells.get(key)
        if cell is None:
            if len(self._cells) >= self._prune_at:
                self._prune(now)
            cell = self._cells[key] = self._new_cell(self._limit(key), now)
            cell.subscription = _subscription_of(key)
        return cell

    def _prune(self, now: float) -> None:
        """Forget buckets that a fresh one would equal: full, unpaused, with nobody waiting
        and nothing in flight. Compute keeps a bucket per VM, so a run over a large fleet
        would otherwise keep one per machine it ever touched. Pruning when the count has
        doubled keeps the cost at a constant per bucket made."""
        for key, cell in list(self._cells.items()):
            cell.refill(now)
            idle = not cell.waiters and not cell.dispatching and not cell.pending
            if idle and now >= cell.paused_until and cell.tokens >= cell.usable:
                del self._cells[key]
        self._prune_at = max(_PRUNE_FROM, 2 * len(self._cells))

    def _new_cell(self, bucket: Bucket, now: float) -> _Cell:
        usable = max(1.0, bucket.capacity - self.reserve)
        return _Cell(bucket.per_second * self.headroom, usable, bucket.capacity, usable, now)

    def _limit(self, key: BucketKey) -> Bucket:
        family = key[0]
        if family == "graph":
            return _graph_bucket(self.limits, self.reserve)
        if family == "arm":
            return self.limits.arm(key[2])
        if family == "runcommand":
            return self.limits.arc_run_commands
        subscription_bucket, resource_bucket = self.limits.compute[key[1]]
        if family == "compute":
            return subscription_bucket
        assert resource_bucket is not None
        return resource_bucket

    def ceiling(self, key: BucketKey) -> Bucket:
        """The bucket a key stands for as the limits state it, before headroom and reserve:
        the ceiling a run's timeline draws each bucket's traffic against."""
        if key[0] == "graph":
            return self.limits.graph
        return self._limit(key)

    @property
    def buckets(self) -> int:
        """How many buckets the model holds now; for reports/tests."""
        return len(self._cells)

    def bucket_state(self, key: BucketKey) -> tuple[float, int]:
        """(tokens the model holds now, requests in flight) for a bucket; for reports/tests."""
        cell = self._cell(key, self.clock())
        cell.refill(self.clock())
        return cell.tokens, cell.in_flight


_PRUNE_FROM = 4096  # buckets kept before idle ones are first looked for


def _graph_bucket(limits: ThrottleLimits, reserve: float) -> Bucket:
    """A token bucket that can never exceed Resource Graph's fixed-window quota: any window of
    ``span`` seconds admits at most burst + rate x span = quota - reserve queries."""
    quota, span = limits.graph_queries_per_window, limits.graph_window_seconds
    burst = 2.0
    sustained = max(1.0, quota - reserve - burst)
    return Bucket(burst + reserve, sustained * 60.0 / span)


# --- bucket keys and header names ---------------------------------------------------------------


def arm_key(subscription: str, request_type: str) -> BucketKey:
    return ("arm", subscription.lower(), request_type)


def compute_key(policy: str, subscription: str, region: str) -> BucketKey:
    return ("compute", policy, subscription.lower(), region.lower())


def compute_resource_key(policy: str, resource: str) -> BucketKey:
    return ("compute-resource", policy, resource.lower())


def graph_key(principal: str = "self") -> BucketKey:
    return ("graph", principal)


def run_command_key(subscription: str) -> BucketKey:
    """Arc run command writes of a subscription (see `ThrottleLimits.arc_run_commands`)."""
    return ("runcommand", subscription.lower())


def _subscription_of(key: BucketKey) -> str | None:
    family = key[0]
    if family in ("arm", "runcommand"):
        return key[1]
    if family == "compute":
        return key[2]
    if family == "compute-resource":
        parts = key[2].split("/")
        return parts[2] if len(parts) > 2 else None
    return None


def _header_name(key: BucketKey) -> str:
    """The name under which Azure reports this bucket's remaining count."""
    family = key[0]
    if family == "arm":
        return f"x-ms-ratelimit-remaining-subscription-{key[2]}"
    if family == "compute":
        return f"Microsoft.Compute/{key[1]}SubscriptionMaximum"
    if family == "compute-resource":
        return f"Microsoft.Compute/{key[1]}Resource"
    if family == "runcommand":
        return "x-ms-ratelimit-remaining-runcommands"  # Azure reports none: the model rules
    return "x-ms-user-quota-remaining"


def parse_remaining(headers: Mapping[str, str]) -> dict[str, int]:
    """All remaining counts in a response: ARM's per-kind headers and Compute's
    comma-separated ``Policy;remaining`` pairs."""
    found: dict[str, int] = {}
    for kind in ("reads", "writes", "deletes"):
        name = f"x-ms-ratelimit-remaining-subscription-{kind}"
        value = _int_header(headers, name)
        if value is not None:
            found[name] = value
    pairs = headers.get("x-ms-ratelimit-remaining-resource")
    if pairs:
        for pair in pairs.split(","):
            name, _, count = pair.strip().partition(";")
            if count.strip().lstrip("-").isdigit():
                found[name.strip()] = int(count)
    return found


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms`` / ``x-ms-retry-after-ms`` first (finer), then ``Retry-After``
    (seconds; an HTTP date is not used by ARM and is ignored)."""
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / 1000.0)
            except ValueError:
                pass
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    return None


def parse_timespan(text: str | None) -> float | None:
    """``hh:mm:ss[.fffffff]`` (Resource Graph's quota reset) to seconds."""
    if not text:
        return None
    try:
        hours, minutes, seconds = text.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None
