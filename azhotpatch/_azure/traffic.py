"""Requests per throttling bucket over time: what a run's timeline draws against each
bucket's ceiling.

The pacing policy hands every request it sends (first attempts, retries, LRO polls, page
fetches) to the recorders a session has running, with the buckets the request drew from and
the status it got. A recorder counts requests and 429s per bucket in bins of time. Bins start
at one Azure second (the unit the limits are stated in) and double in width whenever a run
outgrows ``max_bins``, so a recorder's memory stays bounded however long the run.

Compute's per-machine buckets are not recorded: a fleet has one per VM, each far below its
subscription's bucket, and the timeline shows the subscription and region buckets that bound
a fleet run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from azhotpatch.limits import Bucket

__all__ = ["Traffic", "TrafficRow", "bucket_name"]

BucketKey = tuple[str, ...]
_UNRECORDED = frozenset({"compute-resource"})


@dataclass(frozen=True, slots=True)
class TrafficRow:
    """Requests sent (and 429s answered) to one bucket in one bin of wall-clock time."""

    bucket: str  # `bucket_name` of the bucket key
    at: float  # the bin's start, seconds since the epoch
    width: float  # the bin's length in seconds
    requests: int
    throttled: int


def bucket_name(key: BucketKey) -> str:
    """A bucket key as text, e.g. ``arm/<subscription>/writes`` or
    ``compute/VMGuestPatchOperation/<subscription>/westeurope``."""
    return "/".join(key)


class Traffic:
    """Counts per bucket and bin; see the module docstring."""

    def __init__(
        self,
        ceiling: Callable[[BucketKey], Bucket],
        *,
        width: float = 1.0,
        max_bins: int = 512,
        clock: Callable[[], float] = time.time,
        drained: bool = False,
    ) -> None:
        self._ceiling = ceiling
        self._clock = clock
        self.origin = clock()
        self.width = width
        self.max_bins = max_bins
        self.ceilings: dict[str, Bucket] = {}
        self._bins: dict[str, dict[int, list[int]]] = {}
        # what `drain` has not handed out yet: (bucket, bin start, width) -> [requests, 429s]
        self._unsaved: dict[tuple[str, float, float], list[int]] = {}
        # kept only for a caller that drains it (a run's journal): otherwise it would only
        # grow, a second copy of the bins that the collector walks for the whole run
        self._drained = drained

    def record(
        self, keys: Sequence[BucketKey], status: int | None, at: float | None = None
    ) -> None:
        """One request that drew from ``keys`` and was sent at ``at`` (now if None)."""
        moment = self._clock() if at is None else at
        index = max(0, int((moment - self.origin) / self.width))
        if index >= self.max_bins:
            self._widen(index)
            index = max(0, int((moment - self.origin) / self.width))
        throttled = 1 if status == 429 else 0
        start = self.origin + index * self.width
        for key in keys:
            if key[0] in _UNRECORDED:
                continue
            name = bucket_name(key)
            if name not in self.ceilings:
                self.ceilings[name] = self._ceiling(key)
            counts = self._bins.setdefault(name, {}).setdefault(index, [0, 0])
            counts[0] += 1
            counts[1] += throttled
            if self._drained:
                unsaved = self._unsaved.setdefault((name, start, self.width), [0, 0])
                unsaved[0] += 1
                unsaved[1] += throttled

    def _widen(self, index: int) -> None:
        """Double the bins' width until ``index`` fits, merging neighbours."""
        factor = 2 ** math.ceil(math.log2((index + 1) / self.max_bins))
        self.width *= factor
        for name, bins in self._bins.items():
            merged: dict[int, list[int]] = {}
            for old, (requests, throttled) in bins.items():
                counts = merged.setdefault(old // factor, [0, 0])
                counts[0] += requests
                counts[1] += throttled
            self._bins[name] = merged

    def rows(self) -> list[TrafficRow]:
        """Everything recorded, bin by bin."""
        return [
            TrafficRow(name, self.origin + index * self.width, self.width, *counts)
            for name, bins in sorted(self._bins.items())
            for index, counts in sorted(bins.items())
        ]

    def drain(self) -> list[TrafficRow]:
        """What was recorded since the last drain (for a journal to add to its own)."""
        rows = [
            TrafficRow(name, start, width, *counts)
            for (name, start, width), counts in self._unsaved.items()
        ]
        self._unsaved = {}
        return rows
