"""The emulator's clock: Azure time, sped up, and the callbacks due on it.

Everything time-based in the emulator (token-bucket refills, LRO durations, feature
registration, Arc enablement, Retry-After values) reads this clock, so one knob,
``time_scale``, makes an hour of Azure behaviour take a minute of wall time. Tests can also
freeze it or jump it forward (past a Patch Tuesday, past a long LRO) deterministically.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone


class Clock:
    """Emulated seconds = wall seconds x ``time_scale`` + manual advances."""

    def __init__(self, time_scale: float = 1.0, start: datetime | None = None) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self.time_scale = float(time_scale)
        self.start = (start or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self._lock = threading.Lock()
        self._wall0 = time.monotonic()
        self._offset = 0.0
        self._frozen_at: float | None = None

    def seconds(self) -> float:
        """Emulated seconds since ``start``; monotonic."""
        if self._frozen_at is not None:
            return self._frozen_at
        return (time.monotonic() - self._wall0) * self.time_scale + self._offset

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds())

    def at(self, seconds: float) -> datetime:
        """The emulated wall-clock time of an emulated instant."""
        return self.start + timedelta(seconds=seconds)

    def advance(self, delta: timedelta | float) -> None:
        """Jump forward: buckets refill, operations finish, registrations complete."""
        step = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if step < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += step
            else:
                self._offset += step

    def to_wall(self, emulated_seconds: float) -> float:
        """How long a client really waits for ``emulated_seconds`` of Azure time."""
        return emulated_seconds / self.time_scale

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Stop time (e.g. to count bucket tokens exactly); `advance` still works inside."""
        with self._lock:
            self._frozen_at = self.seconds()
        try:
            yield
        finally:
            with self._lock:
                assert self._frozen_at is not None
                self._offset = self._frozen_at - (time.monotonic() - self._wall0) * self.time_scale
                self._frozen_at = None


class Scheduler:
    """Callbacks due at emulated instants, run in time order by `run_due`."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), callback))

    def run_due(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, _, callback = heapq.heappop(self._heap)
            callback()

    def __len__(self) -> int:
        return len(self._heap)
