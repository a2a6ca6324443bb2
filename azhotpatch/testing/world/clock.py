"""The emulator's clock: Azure time, sped up, and the callbacks due on it.

Everything time-based in the emulator (token-bucket refills, LRO durations, feature
registration, Arc enablement, Retry-After values) reads this clock, so one knob,
``time_scale``, makes an hour of Azure behaviour take a minute of wall time. Tests can also
freeze it or jump it forward (past a Patch Tuesday, past a long LRO) deterministically.

A sped-up clock still follows the wall clock, so what a client sees depends on how fast it
runs: at 2400x, a status read that takes 10 ms more on a busy machine is 24 emulated
seconds later, and an operation is found done one read sooner. A test whose verdict is the
exact sequence of answers (the same seed, the same results) steps the clock instead
(`Clock.stepped`): each request moves it on by a fixed amount, so the emulated timeline is
a function of the requests alone.
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
        self._step = 0.0  # emulated seconds each request moves a stepped clock on

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

    def tick(self) -> None:
        """A request arrives: a stepped clock moves on by its step; any other does nothing."""
        with self._lock:
            if self._step and self._frozen_at is not None:
                self._frozen_at += self._step

    def to_wall(self, emulated_seconds: float) -> float:
        """How long a client really waits for ``emulated_seconds`` of Azure time."""
        return emulated_seconds / self.time_scale

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Stop time (e.g. to count bucket tokens exactly); `advance` still works inside.
        Inside a frozen (or stepped) clock, it changes nothing."""
        with self._lock:
            outer = self._frozen_at is not None
            if not outer:
                self._frozen_at = self.seconds()
        try:
            yield
        finally:
            if not outer:
                with self._lock:
                    assert self._frozen_at is not None
                    wall = (time.monotonic() - self._wall0) * self.time_scale
                    self._offset = self._frozen_at - wall
                    self._frozen_at = None

    @contextmanager
    def stepped(self, per_request: float = 30.0) -> Iterator[None]:
        """Time stands still between requests and moves on by ``per_request`` emulated
        seconds as each one arrives (30 s: Azure's polling cadence). Operations finish,
        buckets refill and faults fall by the requests a client sends, not by how fast it
        sends them, so a sequential script gets the same answers on a busy machine as on an
        idle one. With clients running concurrently, time moves as fast as they send:
        meant for scripts, not fleet runs."""
        if per_request <= 0:
            raise ValueError(f"per_request must be > 0 emulated seconds, got {per_request!r}")
        with self.frozen():
            self._step = float(per_request)
            try:
                yield
            finally:
                self._step = 0.0


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
