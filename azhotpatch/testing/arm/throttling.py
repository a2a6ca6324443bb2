"""Azure's throttling, as token buckets on the emulator's clock.

Two families, as documented:

* ARM's own buckets, per principal, subscription and operation type (reads, writes,
  deletes), plus a subscription-wide "global" bucket 15x larger across all principals
  (learn.microsoft.com: "Understand how Azure Resource Manager throttles requests").
* Microsoft.Compute's per-region policies, each a pair of buckets, one per subscription and
  one per resource, counted per minute ("Compute throttling limits"). Headers report them as
  comma-separated ``Microsoft.Compute/<Policy>;<remaining>`` pairs, as in recorded traffic.

Resource Graph has its own per-user quota in fixed windows (15 queries per 5 s by default).

A request passes only if every bucket it touches holds a token; then one token is taken from
each. A rejected request takes nothing. Buckets refill continuously.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from azhotpatch.limits import Bucket, ThrottleLimits


@dataclass(frozen=True)
class Limits:
    """The throttling the emulator enforces: Azure's documented limits by default (the same
    `azhotpatch.limits.ThrottleLimits` the client pacer mirrors), or none at all."""

    enabled: bool = True
    buckets: ThrottleLimits = field(default_factory=ThrottleLimits)

    @classmethod
    def unlimited(cls) -> Limits:
        return cls(enabled=False)

    def arm(self, kind: str) -> Bucket:
        return self.buckets.arm(kind)

    def compute_policy(self, name: str) -> tuple[Bucket, Bucket | None]:
        """(subscription bucket, per-resource bucket) of a Compute policy."""
        return self.buckets.compute[name]

    @property
    def arm_global_factor(self) -> float:
        return self.buckets.arm_global_factor

    @property
    def graph_queries_per_window(self) -> int:
        return self.buckets.graph_queries_per_window

    @property
    def graph_window_seconds(self) -> float:
        return self.buckets.graph_window_seconds


class TokenBucket:
    """A continuously refilled bucket on emulated seconds."""

    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, limit: Bucket, now: float) -> None:
        self.capacity = limit.capacity
        self.rate = limit.per_second
        self.tokens = limit.capacity
        self.last = now

    def refill(self, now: float) -> None:
        if now > self.last:
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
            self.last = now

    def remaining(self) -> int:
        return max(0, math.floor(self.tokens))

    def wait_for_token(self) -> float:
        """Emulated seconds until one whole token is available (after a refill)."""
        missing = 1.0 - self.tokens
        if missing <= 0:
            return 0.0
        return missing / self.rate if self.rate > 0 else math.inf


@dataclass(frozen=True)
class Charge:
    """One bucket a request draws from, and how its remaining count is reported."""

    key: tuple[str, ...]
    limit: Bucket
    header: str  # header name, or "resource:<Policy>" for the Compute pair header
    label: str  # what a 429 message names (e.g. "write", "VMGuestPatchOperationResource")


@dataclass
class Draw:
    """The outcome of drawing from a request's buckets."""

    allowed: bool
    headers: dict[str, str]
    rejected_by: Charge | None = None
    wait_seconds: float = 0.0  # emulated


@dataclass
class GraphWindow:
    start: float
    count: int = 0


class Throttler:
    """Holds every bucket, created on first use, and answers "may this request pass?"."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}
        self._graph: dict[str, GraphWindow] = {}
        self.rejections = 0

    # --- charges a route declares -----------------------------------------------------------

    def arm_charges(self, principal: str, subscription: str, kind: str) -> list[Charge]:
        """ARM's per-principal bucket and the subscription-wide global bucket."""
        limit = self.limits.arm(kind)
        factor = self.limits.arm_global_factor
        return [
            Charge(
                ("arm", principal, subscription, kind),
                limit,
                f"x-ms-ratelimit-remaining-subscription-{kind}",
                kind.rstrip("s"),
            ),
            Charge(
                ("arm-global", subscription, kind),
                limit.scaled(factor),
                f"x-ms-ratelimit-remaining-subscription-global-{kind}",
                f"global {kind.rstrip('s')}",
            ),
        ]

    def tenant_charges(self, principal: str, kind: str) -> list[Charge]:
        return [
            Charge(
                ("tenant", principal, kind),
                self.limits.arm(kind),
                f"x-ms-ratelimit-remaining-tenant-{kind}",
                f"tenant {kind.rstrip('s')}",
            )
        ]

    def compute_charges(
        self, policy: str, subscription: str, region: str, resource: str | None
    ) -> list[Charge]:
        sub_limit, resource_limit = self.limits.compute_policy(policy)
        charges = [
            Charge(
                ("compute", policy, subscription, region.lower()),
                sub_limit,
                f"resource:{policy}SubscriptionMaximum",
                f"{policy}SubscriptionMaximum",
            )
        ]
        if resource_limit is not None and resource is not None:
            charges.append(
                Charge(
                    ("compute", policy, "resource", resource.lower()),
                    resource_limit,
                    f"resource:{policy}Resource",
                    f"{policy}Resource",
                )
            )
        return charges

    # --- drawing ------------------------------------------------------------------------------

    def draw(self, charges: list[Charge], now: float) -> Draw:
        """All or nothing: take one token from each bucket, or reject and take none."""
        if not self.limits.enabled or not charges:
            return Draw(True, {})
        buckets = [self._bucket(c, now) for c in charges]
        for charge, bucket in zip(charges, buckets, strict=True):
            if bucket.tokens < 1.0:
                self.rejections += 1
                return Draw(
                    False,
                    _headers(charges, buckets),
                    rejected_by=charge,
                    wait_seconds=bucket.wait_for_token(),
                )
        for bucket in buckets:
            bucket.tokens -= 1.0
        return Draw(True, _headers(charges, buckets))

    def _bucket(self, charge: Charge, now: float) -> TokenBucket:
        bucket = self._buckets.get(charge.key)
        if bucket is None:
            bucket = self._buckets[charge.key] = TokenBucket(charge.limit, now)
        else:
            bucket.refill(now)
        return bucket

    def graph_draw(self, principal: str, now: float) -> tuple[bool, int, float]:
        """(allowed, remaining, seconds until the window resets) for a Resource Graph query."""
        quota = self.limits.graph_queries_per_window
        span = self.limits.graph_window_seconds
        window = self._graph.get(principal)
        if window is None or now >= window.start + span:
            window = self._graph[principal] = GraphWindow(start=now)
        resets = window.start + span - now
        if not self.limits.enabled:
            return True, quota, resets
        if window.count >= quota:
            self.rejections += 1
            return False, 0, resets
        window.count += 1
        return True, quota - window.count, resets


def _headers(charges: list[Charge], buckets: list[TokenBucket]) -> dict[str, str]:
    headers: dict[str, str] = {}
    pairs: list[str] = []
    for charge, bucket in zip(charges, buckets, strict=True):
        if charge.header.startswith("resource:"):
            pairs.append(f"Microsoft.Compute/{charge.header[9:]};{bucket.remaining()}")
        else:
            headers[charge.header] = str(bucket.remaining())
    if pairs:
        headers["x-ms-ratelimit-remaining-resource"] = ",".join(pairs)
    return headers
