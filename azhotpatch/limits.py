"""Azure's documented throttling limits, as data.

The client-side pacer mirrors these buckets so a fleet run approaches Azure's ceiling without
tripping it, and the emulator enforces the same numbers by default. Sources:

* ARM: learn.microsoft.com, "Understand how Azure Resource Manager throttles requests"
  (token bucket per region, per subscription and principal, per operation type; a global
  subscription limit 15x that across principals). Sovereign clouds keep the older hourly
  limits until the end of 2026.
* Compute: learn.microsoft.com, "Compute throttling limits" (per region, per minute, a bucket
  per subscription and one per resource).
* Resource Graph: learn.microsoft.com, "Guidance for throttled requests" (15 queries per 5 s
  per user, "subject to change").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

__all__ = ["COMPUTE_POLICIES", "Bucket", "GraphLimits", "ThrottleLimits"]


@dataclass(frozen=True)
class Bucket:
    """A token bucket: ``capacity`` tokens (the burst), refilled at ``per_minute``."""

    capacity: float
    per_minute: float

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0

    def scaled(self, factor: float) -> Bucket:
        return Bucket(self.capacity * factor, self.per_minute * factor)

    def sped_up(self, time_scale: float) -> Bucket:
        """The same bucket seen from a clock running ``time_scale`` times faster."""
        return Bucket(self.capacity, self.per_minute * time_scale)


def _per_second(capacity: float, per_second: float) -> Bucket:
    return Bucket(capacity, per_second * 60.0)


# Compute policy -> (per subscription and region, per resource). Names as Compute reports them
# in x-ms-ratelimit-remaining-resource ("<Policy>SubscriptionMaximum", "<Policy>Resource").
COMPUTE_POLICIES: Mapping[str, tuple[Bucket, Bucket | None]] = MappingProxyType(
    {
        "VMGuestPatchOperation": (Bucket(600, 200), Bucket(6, 2)),
        "UpdateVM": (Bucket(1500, 500), Bucket(12, 4)),
        "LowCostGet": (Bucket(24000, 8000), Bucket(36, 12)),
        "HighCostGet": (Bucket(900, 300), None),
        "GetOperation": (Bucket(15000, 5000), Bucket(45, 15)),
    }
)


@dataclass(frozen=True)
class ThrottleLimits:
    """Every limit in one place. ``time_scale`` > 1 describes an emulator whose clock runs
    faster (its buckets refill that much faster per wall-clock second)."""

    arm_reads: Bucket = field(default_factory=lambda: _per_second(250, 25))
    arm_writes: Bucket = field(default_factory=lambda: _per_second(200, 10))
    arm_deletes: Bucket = field(default_factory=lambda: _per_second(200, 10))
    arm_global_factor: float = 15.0
    compute: Mapping[str, tuple[Bucket, Bucket | None]] = field(
        default_factory=lambda: COMPUTE_POLICIES
    )
    graph_queries_per_window: int = 15
    graph_window_seconds: float = 5.0

    @classmethod
    def sovereign(cls) -> ThrottleLimits:
        """The hourly limits national clouds still use (reads 12,000/h, writes 1,200/h,
        deletes 15,000/h), expressed as buckets of one hour's worth."""
        return cls(
            arm_reads=Bucket(12000, 200),
            arm_writes=Bucket(1200, 20),
            arm_deletes=Bucket(15000, 250),
        )

    def arm(self, kind: str) -> Bucket:
        return {"reads": self.arm_reads, "writes": self.arm_writes, "deletes": self.arm_deletes}[
            kind
        ]

    @property
    def graph(self) -> Bucket:
        """Resource Graph's window quota as an equivalent bucket."""
        return Bucket(
            self.graph_queries_per_window,
            self.graph_queries_per_window * 60.0 / self.graph_window_seconds,
        )

    def sped_up(self, time_scale: float) -> ThrottleLimits:
        return replace(
            self,
            arm_reads=self.arm_reads.sped_up(time_scale),
            arm_writes=self.arm_writes.sped_up(time_scale),
            arm_deletes=self.arm_deletes.sped_up(time_scale),
            compute={
                name: (sub.sped_up(time_scale), res.sped_up(time_scale) if res else None)
                for name, (sub, res) in self.compute.items()
            },
            graph_window_seconds=self.graph_window_seconds / time_scale,
        )


def _per_twenty_seconds(capacity: float) -> Bucket:
    return Bucket(capacity, capacity * 3.0)


@dataclass(frozen=True)
class GraphLimits:
    """Intune's documented limits on Microsoft Graph, per app (one client is one app; the
    tenant-wide limits are shared with every other app, and their 429s are met by backing
    off). Sources: microsoftgraph/microsoft-graph-docs-contrib ``concepts/throttling-limits.md``
    (Intune service limits: any Intune request 1,000 per 20 s per app; the Intune update
    service's writes, where Windows quality update policies live, 100 per 20 s per app) and
    MicrosoftDocs/memdocs ``intune/device-management/reports/export-graph-apis.md``
    (``exportJobs``: 100 a minute per tenant, 48 per app, 8 per user)."""

    intune: Bucket = field(default_factory=lambda: _per_twenty_seconds(1000))
    update_writes: Bucket = field(default_factory=lambda: _per_twenty_seconds(100))
    exports: Bucket = field(default_factory=lambda: Bucket(48, 48))
    # Graph answers some 429s with no Retry-After: back off from here, doubling, to the cap
    backoff: float = 2.0
    backoff_max: float = 64.0

    @classmethod
    def for_user(cls) -> GraphLimits:
        """Signed in as a user (delegated), export jobs are limited to 8 a minute."""
        return cls(exports=Bucket(8, 8))

    def bucket(self, family: str) -> Bucket:
        return {
            "intune": self.intune,
            "intune-update-writes": self.update_writes,
            "intune-exports": self.exports,
        }[family]

    def sped_up(self, time_scale: float) -> GraphLimits:
        return replace(
            self,
            intune=self.intune.sped_up(time_scale),
            update_writes=self.update_writes.sped_up(time_scale),
            exports=self.exports.sped_up(time_scale),
            backoff=self.backoff / time_scale,
            backoff_max=self.backoff_max / time_scale,
        )
