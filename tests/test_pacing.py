"""The client-side pacer: GCRA buckets that mirror Azure's, on a fake clock."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import pytest

from azhotpatch._azure import pacing
from azhotpatch._azure.pacing import (
    Pacer,
    arm_key,
    compute_key,
    compute_resource_key,
    graph_key,
    parse_remaining,
    retry_after_seconds,
)
from azhotpatch._azure.routing import bucket_keys
from azhotpatch.limits import Bucket, ThrottleLimits
from azhotpatch.testing.arm.throttling import TokenBucket


class FakeClock:
    """Time that moves only when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.slept.append(delay)
        self.now += delay
        await asyncio.sleep(0)  # let the tasks the sleeper woke run, as a real sleep does


def pacer_on(clock: FakeClock, **options: float) -> Pacer:
    return Pacer(ThrottleLimits(), clock=clock, sleep=clock.sleep, **options)  # type: ignore[arg-type]


def reservations(pacer: Pacer, clock: FakeClock, key: tuple[str, ...], count: int) -> list[float]:
    """Departure times of ``count`` back-to-back requests (sleeps advance the fake clock)."""
    times: list[float] = []

    async def run() -> None:
        for _ in range(count):
            ticket = await pacer.acquire([key])
            times.append(ticket.sent_at)
            pacer.settle(ticket, 200, {})

    asyncio.run(run())
    return times


def test_burst_then_documented_rate_with_headroom() -> None:
    clock = FakeClock()
    pacer = pacer_on(clock, headroom=0.95, reserve=1)
    times = reservations(pacer, clock, arm_key("s", "writes"), 260)
    start = times[0]
    burst = sum(1 for t in times if t == start)
    assert burst == 199  # 200 tokens, one held back
    steady = times[burst:]
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    assert rate == pytest.approx(10 * 0.95, rel=1e-4)  # 10 writes/s, 5% headroom


def test_a_stalled_client_cannot_release_a_backlog_at_once() -> None:
    """Waiters queued before a long stall are released no faster than the bucket refills:
    tokens never pile up beyond what it can hold."""
    clock = FakeClock()
    pacer = pacer_on(clock)
    key = compute_key("VMGuestPatchOperation", "s", "westeurope")
    granted: list[float] = []

    async def one() -> None:
        ticket = await pacer.acquire([key])
        granted.append(ticket.sent_at)
        pacer.settle(ticket, 200, {})

    async def run() -> None:
        first = [asyncio.create_task(one()) for _ in range(700)]
        await asyncio.sleep(0)
        clock.now += 3600.0  # the whole process froze for an hour
        await asyncio.gather(*first)

    asyncio.run(run())
    for i, start in enumerate(granted):
        in_window = sum(1 for t in granted[i:] if t < start + 60)
        assert in_window <= 600 + 200


def test_never_exceeds_any_window() -> None:
    """Over any 60 s window, the guest-patch bucket (600 + 200/min) is never overdrawn."""
    clock = FakeClock()
    pacer = pacer_on(clock)
    key = compute_key("VMGuestPatchOperation", "s", "westeurope")
    times = reservations(pacer, clock, key, 1200)
    for i, start in enumerate(times):
        in_window = sum(1 for t in times[i:] if t < start + 60)
        assert in_window <= 600 + 200


def test_graph_quota_is_respected_in_fixed_windows() -> None:
    clock = FakeClock()
    pacer = pacer_on(clock)
    times = reservations(pacer, clock, graph_key(), 100)
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 5.0) <= 15 - 1


def test_server_remaining_realigns_the_model() -> None:
    """Another client is spending the same subscription's writes: Azure's count wins."""
    clock = FakeClock()
    pacer = pacer_on(clock)
    key = arm_key("s", "writes")

    async def run() -> tuple[float, float]:
        ticket = await pacer.acquire([key])
        before = pacer.bucket_state(key)[0]
        pacer.settle(ticket, 200, {"x-ms-ratelimit-remaining-subscription-writes": "20"})
        return before, pacer.bucket_state(key)[0]

    before, after = asyncio.run(run())
    assert before == pytest.approx(198)  # 200, one held back, one taken
    assert after == pytest.approx(20)
    assert pacer.stats.realigned == 1


def test_429_pauses_the_bucket_for_retry_after() -> None:
    clock = FakeClock()
    pacer = pacer_on(clock)
    key = compute_key("VMGuestPatchOperation", "s", "westeurope")

    async def run() -> float:
        ticket = await pacer.acquire([key])
        pacer.settle(
            ticket,
            429,
            {
                "Retry-After": "17",
                "x-ms-ratelimit-remaining-resource": "Microsoft.Compute/VMGuestPatchOperationSubscriptionMaximum;0",
            },
        )
        await pacer.acquire([key])
        return sum(clock.slept)

    assert asyncio.run(run()) == pytest.approx(17.0)
    assert pacer.stats.pauses == 1


def test_time_scale_speeds_refill_only() -> None:
    limits = ThrottleLimits().sped_up(600)
    assert limits.arm_writes == Bucket(200, 10 * 60 * 600)
    assert limits.compute["VMGuestPatchOperation"][0].capacity == 600
    assert limits.graph_window_seconds == pytest.approx(5 / 600)


def test_bucket_keys_for_each_call() -> None:
    regions = {
        "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm": "westeurope"
    }.get
    base = "https://management.azure.com"
    vm = f"{base}/subscriptions/S/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"
    assert bucket_keys("POST", f"{vm}/installPatches?api-version=1", regions) == [
        arm_key("s", "writes"),
        compute_key("VMGuestPatchOperation", "s", "westeurope"),
        compute_resource_key("VMGuestPatchOperation", vm.split(base)[1].lower()),
    ]
    assert bucket_keys("PATCH", vm, regions)[1] == compute_key("UpdateVM", "s", "westeurope")
    assert bucket_keys("GET", f"{vm}?$expand=instanceView", regions)[1][1] == "LowCostGet"
    op = f"{base}/subscriptions/s/providers/Microsoft.Compute/locations/westus/operations/1?p=x"
    assert bucket_keys("GET", op, regions) == [
        arm_key("s", "reads"),
        compute_key("GetOperation", "s", "westus"),
    ]
    arc = f"{base}/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m"
    assert bucket_keys("PATCH", arc, regions) == [arm_key("s", "writes")]
    assert bucket_keys("POST", f"{base}/providers/Microsoft.ResourceGraph/resources", regions) == [
        graph_key()
    ]
    assert bucket_keys("DELETE", f"{arc}/licenseProfiles/default", regions) == [
        arm_key("s", "deletes")
    ]


def test_header_parsing_edge_cases() -> None:
    assert parse_remaining(
        {"x-ms-ratelimit-remaining-resource": "Microsoft.Compute/A;3, Microsoft.Compute/B;x"}
    ) == {"Microsoft.Compute/A": 3}
    assert retry_after_seconds({"retry-after-ms": "250", "Retry-After": "1"}) == 0.25
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}) is None


def one_write_per_second() -> Pacer:
    """A pacer whose write bucket holds one token and refills one a second, exactly."""
    clock = FakeClock()
    return Pacer(
        ThrottleLimits(arm_writes=Bucket(1, 60)),
        clock=clock,
        sleep=clock.sleep,  # type: ignore[arg-type]
        headroom=1.0,
        reserve=0,
    )


def test_later_steps_go_first_within_a_bucket() -> None:
    """Requests queued behind an empty bucket leave by priority, then in arrival order."""
    pacer = one_write_per_second()
    key = arm_key("s", "writes")
    order: list[str] = []

    async def request(name: str, level: int) -> None:
        pacing.priority.set(level)
        ticket = await pacer.acquire([key])
        order.append(name)
        pacer.settle(ticket, 200, {})

    async def run() -> None:
        first = await pacer.acquire([key])  # empties the one-token bucket
        tasks = [
            asyncio.create_task(request(name, level))
            for name, level in [("a0", 0), ("b0", 0), ("c2", 2), ("d1", 1), ("e2", 2)]
        ]
        await asyncio.sleep(0)
        pacer.settle(first, 200, {})
        await asyncio.gather(*tasks)

    asyncio.run(run())
    assert order == ["c2", "e2", "d1", "a0", "b0"]


def test_admission_waits_while_the_subscription_has_a_backlog() -> None:
    """`admit` lets a machine in only while fewer than ``depth`` of the subscription's
    requests wait (machines let in but not yet asking count too), and again as they leave."""
    pacer = one_write_per_second()
    key = arm_key("sub-a", "writes")
    admitted: list[int] = []
    depths: list[int] = []

    async def machine(number: int) -> None:
        arrival = await pacer.admit("SUB-A", depth=3)
        admitted.append(number)
        depths.append(pacer.backlog("sub-a"))
        pacing.arrival.set(arrival)
        ticket = await pacer.acquire([key])
        pacer.settle(ticket, 200, {})

    async def run() -> None:
        await asyncio.gather(*(machine(n) for n in range(12)))

    asyncio.run(run())
    assert sorted(admitted) == list(range(12))
    assert max(depths) <= 3
    assert pacer.backlog("sub-a") == 0
    assert pacer.backlog("sub-b") == 0


@dataclass
class Flight:
    """A request between its token and its answer, in the test below."""

    ticket: pacing.Ticket
    arrival: float  # when Azure counts it
    answer: float
    arrived: bool = False


@pytest.mark.parametrize("seed", range(5))
def test_late_and_bunched_arrivals_never_overdraw_azures_bucket(seed: int) -> None:
    """Azure counts a request when it arrives, anywhere between its token and its answer.
    Requests held up for seconds after their token (a busy client, thousands sent at
    start-up), then arriving all at once, must still find a token in Azure's bucket: the
    emulator's own bucket stands in for Azure's, fed in arrival order."""
    rng = random.Random(seed)
    clock = FakeClock()
    pacer = pacer_on(clock, headroom=1.0, reserve=0)
    key = arm_key("s", "writes")
    server = TokenBucket(ThrottleLimits().arm("writes"), clock.now)
    flights: list[Flight] = []
    rejected = accepted = 0

    async def run() -> None:
        nonlocal rejected, accepted
        for _ in range(4000):
            if pacer.bucket_state(key)[0] >= 1.0 and rng.random() < 0.8:
                ticket = await pacer.acquire([key])  # a token is there: no wait
                stall = rng.choice([0.0, 0.05, 0.5, 3.0]) if rng.random() < 0.3 else 0.0
                arrival = clock.now + stall + rng.random() * 0.02
                flights.append(Flight(ticket, arrival, arrival + rng.random() * 0.05))
            clock.now += rng.random() * 0.02
            for flight in sorted(flights, key=lambda f: f.arrival):
                if flight.arrival <= clock.now and not flight.arrived:
                    server.refill(flight.arrival)
                    if server.tokens >= 1.0:
                        server.tokens -= 1.0
                        accepted += 1
                    else:
                        rejected += 1
                    flight.arrived = True
            for flight in [f for f in flights if f.arrived and f.answer <= clock.now]:
                flights.remove(flight)
                pacer.settle(flight.ticket, 200, {})

    asyncio.run(run())
    assert accepted > 500  # the bucket was kept busy well past its burst
    assert rejected == 0


def test_idle_per_vm_buckets_are_forgotten_but_drawn_ones_are_kept() -> None:
    """Compute keeps a bucket per VM; a run over a large fleet must not keep one per
    machine it ever touched, and forgetting buckets must not refill one that was drawn on."""
    clock = FakeClock()
    pacer = pacer_on(clock)
    vm = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm-{}"
    busy = compute_resource_key("VMGuestPatchOperation", vm.format("busy"))

    async def touch(name: object) -> None:
        ticket = await pacer.acquire(
            [compute_resource_key("VMGuestPatchOperation", vm.format(name))]
        )
        pacer.settle(ticket, 200, {})

    async def vms(first: int, last: int) -> None:
        for i in range(first, last):
            await touch(i)
            if i % 100 == 99:
                clock.now += 1.0  # a VM's one token refills some 3,000 VMs later

    async def run() -> float:
        for _ in range(6):  # the busy VM's burst (6, refilling 2 a minute), all spent
            await touch("busy")
        await vms(0, 5_000)  # buckets are first looked over at 4,096
        busy_tokens, _ = pacer.bucket_state(busy)
        await vms(5_000, 20_000)
        return busy_tokens

    busy_tokens = asyncio.run(run())
    assert busy_tokens < 2  # 50 s refilled under two tokens: kept, not a fresh bucket of 5
    assert pacer.buckets < 3 * 4096  # not 20,001: idle, full buckets were forgotten


def test_tokens_given_back_serve_the_next_request_at_once() -> None:
    """A request that will not be sent now (its check is being made again) returns its
    token: the next request leaves without waiting for a refill, and no more tokens than the
    bucket holds come back."""
    pacer = one_write_per_second()
    key = arm_key("s", "writes")

    async def run() -> tuple[float, float, float]:
        first = await pacer.acquire([key])  # empties the one-token bucket
        pacer.give_back(first)
        second = await pacer.acquire([key])  # the returned token: no wait
        pacer.give_back(second)
        pacer.give_back(second)  # given back twice: still one token
        third = await pacer.acquire([key])
        pacer.settle(third, 200, {})
        fourth = await pacer.acquire([key])  # the bucket is empty: a refill's wait
        return first.sent_at, third.sent_at, fourth.sent_at

    first, third, fourth = asyncio.run(run())
    assert third == first
    assert fourth - third >= 0.9
