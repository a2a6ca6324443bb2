"""Each kind of machine behind one protocol, looked up once by its `MachineKind`.

The facade and the fleet engine never ask which kind a machine is: they look its `Kind` up
in a `Kinds` table and call it. Each kind owns what differs: how its facts are read and
checked, how it is enrolled (a VM's settings update; an Arc machine's license profile, flag
and its own verdict), where its patch history lives (a VM's instance view; Resource Graph's
patch tables for Arc), and the poll cadences that learn how long its operations take.

Adding a kind (Azure Local VMs, scale-set instances) is a class implementing `Kind` and a
line in `KINDS`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from azhotpatch._azure.lro import OperationToken
from azhotpatch._azure.retry import Deadline
from azhotpatch._azure.session import Session
from azhotpatch._azure.trigger import Settled, Started
from azhotpatch._facts import Facts
from azhotpatch._operations.arc import ArcKind
from azhotpatch._operations.arc_remediation import RestartLedger
from azhotpatch._operations.install_guard import Run
from azhotpatch._operations.vm import VmKind
from azhotpatch.ids import MachineKind, ResourceId
from azhotpatch.models import (
    Action,
    Assessment,
    Eligibility,
    Enrollment,
    HotpatchStatus,
    Installation,
    InstallOptions,
)
from azhotpatch.remediation import RebootPolicy, Remediation
from azhotpatch.schedule import Schedule, ScheduleFit

__all__ = ["KINDS", "Deadline", "Kind", "Kinds", "OperationToken", "Settled", "Started"]


class Kind(Protocol):
    """What azhotpatch does with one kind of machine."""

    kind: ClassVar[MachineKind]
    # whether the machine evaluates Hotpatch itself after enrollment's writes (a fleet lets
    # such machines in first, since their chain is longer)
    verdict_follows_enrollment: ClassVar[bool]

    @staticmethod
    def facts(row: Mapping[str, Any]) -> Facts:
        """The facts in an ARM body or a Resource Graph row."""
        ...

    @staticmethod
    def schedule_fit(facts: Facts, proposed: Schedule) -> ScheduleFit:
        """Whether the machine can follow an Update Manager schedule, and why not."""
        ...

    # single machine
    async def check(self, rid: ResourceId) -> Eligibility: ...
    async def eligibility(self, rid: ResourceId, facts: Facts) -> Eligibility: ...
    async def status(self, rid: ResourceId) -> HotpatchStatus: ...
    async def enable(
        self, rid: ResourceId, *, wait: bool, force: bool, deadline: Deadline
    ) -> Enrollment: ...
    async def disable(self, rid: ResourceId, *, wait: bool, deadline: Deadline) -> Enrollment: ...
    async def start(
        self, rid: ResourceId, action: Action, options: InstallOptions | None, deadline: Deadline
    ) -> tuple[OperationToken, Started]: ...

    # fleets
    async def prepare(self, machines: Sequence[ResourceId], actions: Sequence[Action]) -> None: ...
    async def enroll(
        self, rid: ResourceId, facts: Facts, *, enable: bool, deadline: Deadline
    ) -> Enrollment: ...
    async def previous(self, rid: ResourceId, action: Action) -> str | None: ...
    async def begin(
        self,
        rid: ResourceId,
        action: Action,
        options: InstallOptions | None,
        previous: str | None,
        deadline: Deadline,
    ) -> tuple[OperationToken, Started]: ...
    async def settle(
        self, rid: ResourceId, action: Action, previous: str | None, *, again: bool = False
    ) -> Settled: ...
    async def finish(
        self,
        token: OperationToken,
        started: Started | None,
        deadline: Deadline,
        *,
        fresh: bool = False,
    ) -> Assessment | Installation: ...
    async def fix_for_schedule(self, rid: ResourceId, deadline: Deadline) -> None: ...
    async def own_installs(self, rid: ResourceId) -> list[Run] | None:
        """The machine's install runs as the machine itself records them, for when Resource
        Graph cannot be read (see `azhotpatch._operations.install_guard`); None where it keeps
        none."""
        ...

    async def remediate(
        self,
        rid: ResourceId,
        facts: Facts | None,
        *,
        fix: bool,
        reboot: RebootPolicy,
        ledger: RestartLedger | None,
        deadline: Deadline,
    ) -> Remediation:
        """Measure the machine's prerequisites in the guest and, when ``fix``, set them
        (Arc: through Run Command; VMs: nothing to run)."""
        ...

    def expected_seconds(self, action: Action) -> float: ...
    def forget(self, rid: ResourceId) -> None: ...
    async def close(self) -> None: ...


class _KindClass(Protocol):
    """What `Kinds` builds each kind from: its class, which also answers what needs no
    session (facts from a row, the fit for a schedule)."""

    verdict_follows_enrollment: bool

    def __call__(self, session: Session, *, at_scale: bool = False) -> Kind: ...

    @staticmethod
    def facts(row: Mapping[str, Any]) -> Facts: ...

    @staticmethod
    def schedule_fit(facts: Facts, proposed: Schedule) -> ScheduleFit: ...

    @staticmethod
    def standing_eligibility(facts: Facts) -> Eligibility:
        """The rules a machine's posture is judged by, from Resource Graph's row alone."""
        ...


KINDS: Mapping[MachineKind, _KindClass] = {MachineKind.VM: VmKind, MachineKind.ARC: ArcKind}


class Kinds:
    """One `Kind` object per kind of machine, for a session (single calls) or a fleet run
    (``at_scale``: learned poll cadences, shared watchers, batched history)."""

    def __init__(self, session: Session, *, at_scale: bool = False) -> None:
        self._table: dict[MachineKind, Kind] = {
            kind: cls(session, at_scale=at_scale) for kind, cls in KINDS.items()
        }

    def __getitem__(self, kind: MachineKind) -> Kind:
        return self._table[kind]

    def of(self, rid: ResourceId) -> Kind:
        return self._table[rid.kind]

    def __iter__(self) -> Iterator[Kind]:
        return iter(self._table.values())

    async def close(self) -> None:
        for kind in self:
            await kind.close()
