"""When to poll a type of operation: at once (a single call has nothing to learn from), or
when such operations are likely done, learned from the ones a fleet run has seen.

Each kind of machine owns one cadence per operation it waits on; `PollCadence` is what a wait
asks of it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from azhotpatch._azure.lro import IMMEDIATE, PollCadence, PollTiming
from azhotpatch._azure.policies import counting
from azhotpatch._azure.session import Session

__all__ = ["ImmediateCadence", "LearnedCadence", "cadence", "wait_on_cadence"]


class ImmediateCadence:
    """Poll at once, then at the client's interval; learns nothing."""

    def timing(self) -> PollTiming:
        return IMMEDIATE

    def observe(
        self,
        used: PollTiming,
        hit: bool,
        *,
        found_after: float | None = None,
        length: float | None = None,
    ) -> None:
        return None


class LearnedCadence:
    """When to poll one type of operation first, and how often after that.

    The first poll goes out when a share ``hit_rate`` of such operations are expected to be
    done. The estimate starts from ``Settings.operation_seconds`` and learns from every
    operation whether its first poll found it done: each outcome pulls the estimate a little
    towards the wait that operation used, raised by ``STEP`` after a miss and lowered by
    ``STEP * (1 - hit_rate) / hit_rate`` after a hit, so it settles where that share of first
    polls hit. Pulling towards the wait used (rather than compounding steps) keeps it steady
    when hundreds of operations started together report at once.

    That alone would let operations started together miss together, whenever the estimate
    drifts just below their length; and one miss among the last operations of a run delays
    the whole run (on Arc, by Azure's 60 s Retry-After). So the first poll is never aimed
    earlier than the slowest of the last ``WINDOW`` operations that have shown how long they
    took: Arc results and Compute's operation status say when they ended; an operation
    whose first poll missed, with no such record, was done at the latest when a poll found
    it done. The rest are polled every twentieth of the
    aim (at most at Azure's 30 s cadence, at least a second apart): a late one costs a few
    reads, not a stall."""

    STEP = 0.1
    PULL = 0.1
    WINDOW = 64
    MARGIN = 1.05  # over the slowest measured length
    SLACK = 1.0  # Azure seconds, for timestamps rounded to the second

    def __init__(self, session: Session, action: str, *, hit_rate: float = 0.9) -> None:
        self.session = session
        self.hit_rate = hit_rate
        self.estimate = session.settings.operation_seconds.get(action, 30.0)  # Azure seconds
        self.lengths: deque[float] = deque(maxlen=self.WINDOW)  # Azure seconds

    def timing(self) -> PollTiming:
        aim = self.estimate
        if self.lengths:
            aim = max(aim, max(self.lengths) * self.MARGIN + self.SLACK)
        first = self.session.azure_seconds(aim)
        every = min(self.session.polling_interval, max(first / 20, self.session.azure_seconds(1.0)))
        return PollTiming(first, every)

    def observe(
        self,
        used: PollTiming,
        hit: bool,
        *,
        found_after: float | None = None,
        length: float | None = None,
    ) -> None:
        """``hit``: the first poll found it done; ``found_after``: wall seconds from the start
        of the wait to the poll that found it done, where known; ``length``: the operation's
        own length in Azure seconds, where Azure reports it."""
        scale = self.session.settings.time_scale
        waited = used.first * scale  # back in Azure seconds
        if hit:
            target = waited * (1 - self.STEP * (1 - self.hit_rate) / self.hit_rate)
        else:
            target = waited * (1 + self.STEP)
        self.estimate += self.PULL * (target - self.estimate)
        if length is not None and length >= 0:
            self.lengths.append(length)
        elif not hit and found_after is not None:
            self.lengths.append(found_after * scale)


def cadence(
    session: Session, operation: str, *, learning: bool, hit_rate: float = 0.9
) -> LearnedCadence | ImmediateCadence:
    """A learned cadence for ``operation`` (a key of ``Settings.operation_seconds``) in a
    fleet run, an immediate one for single calls."""
    return LearnedCadence(session, operation, hit_rate=hit_rate) if learning else ImmediateCadence()


R = TypeVar("R")


async def wait_on_cadence(
    cadence: PollCadence,
    timing: PollTiming,
    wait: Callable[[], Awaitable[R]],
    *,
    learn: bool,
    length: Callable[[R], float | None] = lambda _: None,
) -> R:
    """Run ``wait`` (which waits as ``timing`` says, its first poll included) and, with
    ``learn`` (that first poll was aimed by the cadence), teach the cadence what it found:
    whether one poll was enough, when the poll that found it done went out, and the
    operation's own length where Azure reports it."""
    began = time.monotonic()
    with counting() as sent:
        result = await wait()
    if learn:
        cadence.observe(
            timing, sent.requests <= 1, found_after=time.monotonic() - began, length=length(result)
        )
    return result
