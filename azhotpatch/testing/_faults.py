"""Seeded, order-independent fault injection, and faults aimed at chosen requests.

A fault decision is a pure function of (seed, what the request is, how many times that same
request has been seen). Concurrency changes the order in which requests arrive, but not which
ones fail, so the same seed and the same requests give the same faults, the same LRO outcomes
and the same results run after run. How many times a client reads an operation's status is
not fixed, though: on a sped-up clock it depends on how fast the client runs, and a fault
that falls on the fifth read falls only where there is a fifth read. A script that must get
the same answers on any machine runs on a stepped clock (`Clock.stepped`), where time moves
with the requests and not with the wall clock.

Rates spread faults over everything. A `FaultRule` aims one fault at one place instead (a
route, the operation a status route reports on, a machine or subscription, and which of the
requests there), which is what a test needs to say what must happen after exactly that fault.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "OPERATION_FAULTS",
    "POSITIONS",
    "REQUEST_FAULTS",
    "FaultLedger",
    "FaultRule",
    "FaultState",
    "Faults",
]


def chance(seed: int, *key: object) -> float:
    """A deterministic number in [0, 1) for ``key``."""
    text = "|".join(str(k) for k in (seed, *key)).encode()
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


_RATES = (
    "server_error",
    "reset",
    "reset_after_commit",
    "conflict",
    "throttle",
    "lro_failure",
    "slow_lro",
    "patch_failure",
    "bare_status",
)

# What a request fault does: answer 500 or 503 (with Retry-After) before processing; drop the
# connection before or after processing; answer 409 "another operation in progress"; answer a
# spurious 429 with Retry-After.
REQUEST_FAULTS = (
    "internal_error",
    "unavailable",
    "reset",
    "reset_after_commit",
    "conflict",
    "throttle",
)
# What an operation fault does: the operation ends Failed; takes `Faults.slow_factor` times
# longer; its finished status leaves out the result Azure puts there.
OPERATION_FAULTS = ("lro_failure", "slow_lro", "bare_status")
# Which of the requests a rule covers, per target: the first; the first once the operation it
# reports on has finished (status routes: the read that carries the result); every one.
POSITIONS = ("first", "done", "every")


@dataclass(frozen=True)
class FaultRule:
    """One fault aimed at chosen requests or operations.

    * ``kind``: one of `REQUEST_FAULTS` or `OPERATION_FAULTS`.
    * ``route``: for a request fault, the route name as the request log shows it
      (``vm.update``, ``compute.operation``, ``graph.resources``...).
    * ``operation``: the kind of operation (``vmUpdate``, ``assessPatches``,
      ``installPatches``, ``licenseProfile``, ``runCommand``): for a status route, the one
      whose status is read; for an operation fault, the one affected. For Resource Graph,
      the table a query reads (``resources``, ``patchinstallationresources``...). For Run
      Command, the script (``measure``, ``restart``...) also names its PUT, reads, status
      and operation.
    * ``scope``: a resource id (a machine, a resource group, a subscription) the request or
      operation must concern; None for anywhere. Resource Graph queries concern the
      subscriptions they name; Microsoft Graph requests the app that sends them
      (``app:<principal>``).
    * ``at``: one of `POSITIONS`; ``first`` and ``done`` fire once per machine (or, for
      requests that concern no machine, per subscription), ``every`` on each match.
    """

    kind: str
    route: str | None = None
    operation: str | None = None
    scope: str | None = None
    at: str = "first"

    def __post_init__(self) -> None:
        if self.kind not in REQUEST_FAULTS + OPERATION_FAULTS:
            known = ", ".join(REQUEST_FAULTS + OPERATION_FAULTS)
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {known}")
        if self.at not in POSITIONS:
            raise ValueError(f"unknown position {self.at!r}; choose one of {POSITIONS}")
        if self.kind in REQUEST_FAULTS and not self.route:
            raise ValueError(f"a {self.kind} rule needs the route it hits")
        if self.kind in OPERATION_FAULTS and not self.operation:
            raise ValueError(f"a {self.kind} rule needs the kind of operation it hits")

    def covers(self, target: str) -> bool:
        """Whether a request or operation concerning ``target`` (a lower-cased id) is in
        scope."""
        if self.scope is None:
            return True
        scope = self.scope.lower().rstrip("/")
        return target == scope or target.startswith(scope + "/")


class FaultLedger:
    """Where aimed rules have fired: a ``first`` or ``done`` rule fires once per target."""

    def __init__(self) -> None:
        self.fired: Counter[tuple[FaultRule, str]] = Counter()
        self.hits: Counter[FaultRule] = Counter()

    def take(self, rule: FaultRule, target: str) -> bool:
        """Fire ``rule`` on ``target`` if its position allows; record it if so."""
        if rule.at != "every" and self.fired[rule, target]:
            return False
        self.fired[rule, target] += 1
        self.hits[rule] += 1
        return True


@dataclass(frozen=True)
class Faults:
    """Rates (0..1) of each fault the emulator can inject, and aimed `FaultRule` s. None by
    default.

    * ``server_error``: 500, or 503 with Retry-After, returned before the request is processed.
    * ``reset``: the connection is dropped before the request is processed.
    * ``reset_after_commit``: the request *is* processed, then the connection is dropped, so
      the client cannot know whether a POST was accepted (the case that tests idempotency).
    * ``conflict``: 409 "another operation is in progress" on writes and patch actions.
    * ``throttle``: a spurious 429 with Retry-After, beyond what the buckets would do.
    * ``lro_failure``: a long-running operation ends ``Failed``.
    * ``slow_lro``: a long-running operation takes ``slow_factor`` times longer.
    * ``patch_failure``: an individual patch fails to install (CompletedWithWarnings).
    * ``bare_status``: a finished operation's status leaves out the result Azure puts there
      (Compute's ``properties.output``, Hybrid Compute's license profile), so a client must
      read it where the SDK would (``Location``, or the resource itself).

    ``routes`` limits the request faults at rates to those operations (names as in the
    request log, e.g. ``("vm.installPatches",)``); empty means every operation. ``rules``
    apply on top of the rates.
    """

    seed: int = 0
    server_error: float = 0.0
    reset: float = 0.0
    reset_after_commit: float = 0.0
    conflict: float = 0.0
    throttle: float = 0.0
    lro_failure: float = 0.0
    slow_lro: float = 0.0
    slow_factor: float = 5.0
    patch_failure: float = 0.0
    bare_status: float = 0.0
    routes: tuple[str, ...] = ()
    rules: tuple[FaultRule, ...] = ()

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault rate {name}={value!r} must be between 0 and 1")

    @classmethod
    def chaos(cls, rate: float = 0.1, *, seed: int = 0) -> Faults:
        """``rate`` of requests hit *some* transport or service fault, spread evenly; LROs fail
        and run slow at the same rate."""
        share = rate / 5.0
        return cls(
            seed=seed,
            server_error=share,
            reset=share,
            reset_after_commit=share,
            conflict=share,
            throttle=share,
            lro_failure=rate / 2.0,
            slow_lro=rate,
            patch_failure=rate / 2.0,
        )

    @classmethod
    def aimed(cls, *rules: FaultRule, seed: int = 0) -> Faults:
        """Only the given rules: no fault anywhere else."""
        return cls(seed=seed, rules=rules)

    @property
    def active(self) -> bool:
        return bool(self.rules) or any(getattr(self, name) > 0 for name in _RATES)

    def request_fault(
        self, key: str, attempt: int, *, is_write: bool, route: str = ""
    ) -> str | None:
        """Which transport/service fault (if any) the rates put on this request: one of
        `REQUEST_FAULTS`."""
        if self.routes and route not in self.routes:
            return None
        roll = chance(self.seed, "request", key, attempt)
        for name, rate, writes_only in (
            ("server_error", self.server_error, False),
            ("reset", self.reset, False),
            ("reset_after_commit", self.reset_after_commit, False),
            ("conflict", self.conflict, True),
            ("throttle", self.throttle, False),
        ):
            if writes_only and not is_write:
                continue
            if roll < rate:
                if name == "server_error":
                    unavailable = chance(self.seed, "unavailable", key, attempt) < 0.5
                    return "unavailable" if unavailable else "internal_error"
                return name
            roll -= rate
        return None

    def lro_fails(self, key: str) -> bool:
        return chance(self.seed, "lro-fail", key) < self.lro_failure

    def lro_slowdown(self, key: str) -> float:
        return self.slow_factor if chance(self.seed, "lro-slow", key) < self.slow_lro else 1.0

    def patch_fails(self, key: str) -> bool:
        return chance(self.seed, "patch-fail", key) < self.patch_failure

    def status_without_result(self, operation: str) -> bool:
        """Whether the finished operation's status leaves out its result (``bare_status``)."""
        return self.bare_status > 0 and chance(self.seed, "bare", operation) < self.bare_status


class FaultState(Protocol):
    """Where a front finds the faults in force and the ledger of aimed rules (the emulated
    world's, so Resource Manager's and Graph's fronts share one set of rules)."""

    faults: Faults
    fault_ledger: FaultLedger
