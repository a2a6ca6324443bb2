"""When things happened in a fleet run, for the pictures of its report: when each machine's
outcome was known, and the requests sent per throttling bucket over time with each bucket's
ceiling. Times are wall-clock seconds since the epoch; against an emulator whose clock runs
``time_scale`` times faster, the ceilings are per wall-clock second too (the limits sped
up), so the two always compare."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azhotpatch._azure.session import TrafficRow
    from azhotpatch.limits import Bucket

__all__ = ["Timeline"]


@dataclass(frozen=True)
class Timeline:
    """A run's times. ``attempts`` are the (start, end) of each process's part of it (a run
    resumed after a crash has several); ``finished`` maps a machine's resource id (lower
    case) to when its outcome was known, for the machines concluded within them;
    ``unfinished`` names machines begun but not concluded when the record ends (a run that
    crashed, read back from its journal)."""

    attempts: tuple[tuple[float, float], ...]
    finished: Mapping[str, float] = field(default_factory=dict)
    traffic: tuple[TrafficRow, ...] = ()
    ceilings: Mapping[str, Bucket] = field(default_factory=dict)
    time_scale: float = 1.0
    today: date | None = None  # the day the run was planned (its calendar)
    unfinished: tuple[str, ...] = ()

    @property
    def started(self) -> float:
        return min((start for start, _ in self.attempts), default=0.0)

    @property
    def ended(self) -> float:
        return max((end for _, end in self.attempts), default=0.0)
