"""Seeded, order-independent fault injection.

A fault decision is a pure function of (seed, what the request is, how many times that same
request has been seen). Concurrency changes the order in which requests arrive, but not which
ones fail, so the same seed reproduces the same faults, the same LRO outcomes and the same
results run after run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


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


@dataclass(frozen=True)
class Faults:
    """Rates (0..1) of each fault the emulator can inject. All zero by default.

    * ``server_error``: 500 or 503 returned before the request is processed.
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

    ``routes`` limits the request faults to those operations (names as in the request log,
    e.g. ``("vm.installPatches",)``); empty means every operation.
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

    @property
    def active(self) -> bool:
        return any(getattr(self, name) > 0 for name in _RATES)

    def request_fault(
        self, key: str, attempt: int, *, is_write: bool, route: str = ""
    ) -> str | None:
        """Which transport/service fault (if any) hits this request."""
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
