"""The fastest any client could take a fleet through a plan, from Azure's bucket parameters.

Every write a plan needs passes through the subscription's ARM write bucket, and every VM
settings update or patch operation through Compute's bucket for that subscription and
region. A bucket of ``burst`` tokens refilling at ``rate`` per second serves ``n`` requests
no sooner than ``max(0, n - burst) / rate`` seconds after the first. The last of them starts
an operation that takes at least the shortest final step's duration, so

    T_ideal = max over (subscription, region, bucket) of max(0, n - burst) / rate + d_tail

is a lower bound on the run's duration in Azure seconds. Reads are left out: how many an
engine needs depends on its choices (polls, paging), and leaving them out can only lower
the bound. So the ratio is strict: where reads bind (an assess-only run reads each VM's
last assessment before triggering one), no engine can reach 1.0.

An enrollment is charged only the writes for what the plan says will change (none for a
machine already enrolled). Steps a machine never gets to are not counted either: where the
emulator's ground truth says a machine fails, it is charged for its enrollment only (an Arc
machine that answers ActionRequired, a VM whose agent cannot run operations), since any
engine finds that out before the patch steps' writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from azhotpatch.limits import ThrottleLimits

FORMULA = "T_ideal = max over (subscription, region, bucket) of max(0, n - burst)/rate + d_tail"

# Writes and Compute policy draws per step (what the plan requires, nothing an engine adds).
WRITES = {
    ("vm", "enable"): 1,  # PATCH virtualMachines
    ("vm", "disable"): 1,
    ("vm", "assess"): 1,  # POST assessPatches
    ("vm", "install"): 1,  # POST installPatches
    ("arc", "enable"): 2,  # PUT licenseProfiles/default, PATCH machines (enableHotpatching)
    ("arc", "disable"): 2,
    ("arc", "assess"): 1,
    ("arc", "install"): 1,
}
COMPUTE_POLICY = {
    ("vm", "enable"): "UpdateVM",
    ("vm", "disable"): "UpdateVM",
    ("vm", "assess"): "VMGuestPatchOperation",
    ("vm", "install"): "VMGuestPatchOperation",
}


@dataclass(frozen=True)
class Step:
    """One machine's step as the plan lists it, with the writes it needs (None: the most
    such a step can need, from ``WRITES``)."""

    subscription: str
    region: str
    kind: str  # vm | arc
    action: str  # enable | disable | assess | install
    needs: int | None = None

    @property
    def writes(self) -> int:
        return WRITES[self.kind, self.action] if self.needs is None else self.needs


def enrollment_writes(kind: str, changes: int) -> int:
    """The writes enabling a machine needs, given how many settings the plan says will
    change: a VM's all go in one PATCH, an Arc machine's knobs in one write each, and a
    machine already enrolled needs none."""
    return min(changes, 1) if kind == "vm" else changes


def reachable(
    rows: Iterable[tuple[str, Step]], truth: Mapping[str, Mapping[str, str]] | None
) -> list[Step]:
    """The steps of (resource, step) ``rows`` that a machine gets to, given the ground truth
    (None: all of them)."""
    if truth is None:
        return [step for _, step in rows]
    return [
        step
        for resource, step in rows
        if step.action in ("enable", "disable") or not _fails(truth.get(resource))
    ]


def _fails(machine: Mapping[str, str] | None) -> bool:
    return machine is not None and "failed" in (machine.get("enable"), machine.get("patch"))


@dataclass(frozen=True)
class Ceiling:
    seconds: float  # Azure seconds
    binding: str  # which bucket sets it
    tail: float

    def ratio(self, actual_seconds: float) -> float:
        return self.seconds / actual_seconds if actual_seconds > 0 else 0.0


def final_step_seconds(durations: Mapping[str, float], kinds: Iterable[str], last: str) -> float:
    """The shortest time the last operation of a run can take."""
    by_kind = {
        "vm": {
            "enable": "vm_update",
            "disable": "vm_update",
            "assess": "assess",
            "install": "install",
        },
        "arc": {"assess": "assess", "install": "install"},
    }
    spans: list[float] = []
    for kind in set(kinds):
        if kind == "arc" and last in ("enable", "disable"):
            spans.append(durations["license_profile"])
        else:
            spans.append(durations[by_kind[kind][last]])
    return min(spans) if spans else 0.0


def ceiling(steps: Iterable[Step], limits: ThrottleLimits, tail: float) -> Ceiling:
    """The lower bound above, for the steps a plan requires (Azure seconds)."""
    writes: Counter[str] = Counter()
    compute: Counter[tuple[str, str, str]] = Counter()
    for step in steps:
        writes[step.subscription] += step.writes
        policy = COMPUTE_POLICY.get((step.kind, step.action))
        if policy is not None and step.writes:
            compute[step.subscription, step.region, policy] += 1
    worst, binding = 0.0, "none"
    for subscription, n in writes.items():
        seconds = max(0.0, n - limits.arm_writes.capacity) / limits.arm_writes.per_second
        if seconds > worst:
            worst, binding = seconds, f"ARM writes, subscription {subscription[:8]}: {n} writes"
    for (subscription, region, policy), n in compute.items():
        bucket = limits.compute[policy][0]
        seconds = max(0.0, n - bucket.capacity) / bucket.per_second
        if seconds > worst:
            worst, binding = seconds, f"Compute {policy}, {subscription[:8]}/{region}: {n} calls"
    return Ceiling(worst + tail, binding, tail)
