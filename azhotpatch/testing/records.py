"""What the emulator reports about itself: what Azure did to each machine (`AzureRecord`,
the ground truth a client's report is judged against) and what it has served (`EmulatorStats`).

Read from the world and the front door's counters, never from what a client was told, so a
test can tell a report that is right from one that merely looks plausible. The callers hold
the front door's lock and have settled the world's clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from azhotpatch.testing.arm.dispatch import Dispatcher
from azhotpatch.testing.world.machines import ArcMachine, Machine
from azhotpatch.testing.world.operations import Operation
from azhotpatch.testing.world.state import World

__all__ = ["AzureRecord", "EmulatorStats", "OperationRecord", "azure_record", "stats"]

# The operations that change a machine's settings: a VM's update, an Arc license's write.
_UPDATES = ("vmUpdate", "licenseProfile")


@dataclass(frozen=True)
class OperationRecord:
    """One long-running operation as Azure ran it: its status (a patch run's result status
    where it has one, e.g. ``CompletedWithWarnings``) and, if it failed, Azure's error code."""

    status: str
    error_code: str | None = None


@dataclass(frozen=True)
class AzureRecord:
    """What Azure did to one machine (`Emulator.azure_record`): whether it still exists,
    whether Hotpatch is on (a VM's settings, an Arc machine's own verdict), and every
    settings update, assessment and installation it ran, in order."""

    exists: bool
    enrolled: bool
    updates: tuple[OperationRecord, ...] = ()
    assessments: tuple[OperationRecord, ...] = ()
    installs: tuple[OperationRecord, ...] = ()
    reboots: int = 0  # restarts the machine went through (Arc: Run Command's restart script)

    def outcome(
        self, actions: Iterable[str] = ("enable", "assess", "install")
    ) -> tuple[str, str | None]:
        """What a run of ``actions`` must report for the machine, judged by what Azure did:
        ``("succeeded", None)`` when every step's work is done; ``("failed", code)`` with
        Azure's error code when the operation of a step failed, or ``("failed", None)`` when
        a step's work was never done."""
        wanted = tuple(actions)
        checks = (
            ("enable", self.enrolled, self.updates),
            ("assess", _succeeded(self.assessments), self.assessments),
            ("install", _succeeded(self.installs), self.installs),
        )
        for action, done, operations in checks:
            if action not in wanted or done:
                continue
            last = operations[-1] if operations else None
            return "failed", last.error_code if last else None
        return "succeeded", None


def _succeeded(operations: tuple[OperationRecord, ...]) -> bool:
    return bool(operations) and operations[-1].status == "Succeeded"


def _result(op: Operation) -> OperationRecord:
    status = str((op.output or {}).get("status") or op.status)
    return OperationRecord(status, (op.error or {}).get("code") if op.failed else None)


def _enrolled(machine: Machine) -> bool:
    if isinstance(machine, ArcMachine):
        return machine.hotpatch_status == "Enabled"
    mode = machine.patch_settings.get("patchMode")
    return (
        machine.hotpatch_enabled
        and mode == "AutomaticByPlatform"
        and machine.provisioning == "Succeeded"
    )


@dataclass(frozen=True)
class EmulatorStats:
    """What the emulator has served so far."""

    requests: int
    by_route: dict[str, int]
    by_status: dict[int, int]
    throttled: dict[str, int]
    faults: dict[str, int]
    in_flight: int
    installs: int
    machines_with_repeat_installs: int
    emulated_seconds: float

    @property
    def throttled_total(self) -> int:
        return sum(self.throttled.values())


def azure_record(world: World, key: str) -> AzureRecord:
    """What Azure did to the machine filed under ``key`` (a lower-cased resource id)."""
    machine = world.find_machine(key)
    if machine is None:
        return AzureRecord(exists=False, enrolled=False)
    operations = [op for op in world.operations.values() if op.target == key]
    return AzureRecord(
        exists=True,
        enrolled=_enrolled(machine),
        updates=tuple(_result(op) for op in operations if op.kind in _UPDATES),
        assessments=tuple(_result(op) for op in operations if op.kind == "assessPatches"),
        installs=tuple(_result(op) for op in operations if op.kind == "installPatches"),
        reboots=len(machine.hardware.boots) if isinstance(machine, ArcMachine) else 0,
    )


def stats(world: World, dispatcher: Dispatcher) -> EmulatorStats:
    """The front door's counters and the world's installs, as one snapshot."""
    by_route: Counter[str] = Counter()
    by_status: Counter[int] = Counter()
    for (route, status), count in dispatcher.counts.items():
        by_route[route] += count
        by_status[status] += count
    installs = world.install_requests
    return EmulatorStats(
        requests=sum(by_route.values()),
        by_route=dict(by_route),
        by_status=dict(by_status),
        throttled=dict(dispatcher.throttled),
        faults=dict(dispatcher.faults_served),
        in_flight=sum(1 for op in world.operations.values() if not op.done),
        installs=sum(len(v) for v in installs.values()),
        machines_with_repeat_installs=sum(1 for v in installs.values() if len(v) > 1),
        emulated_seconds=world.clock.seconds(),
    )
