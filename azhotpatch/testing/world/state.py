"""The emulated world: subscriptions, machines, long-running operations, and time.

Services read and change this state; nothing here knows about HTTP. Time-driven changes
(operations finishing, features registering, Arc machines evaluating Hotpatch) are scheduled
on the emulated clock and applied in time order whenever the world is touched, so a client
that never polls still finds the machine patched once the operation's time has passed.

What only one service keeps (maintenance configurations, Resource Graph's paging snapshots)
lives in that service's models; what several read (machines, operations, patch runs) lives
here.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from azhotpatch.testing._faults import FaultLedger, Faults
from azhotpatch.testing.arm.errors import (
    group_not_found,
    not_found,
    operation_not_found,
    subscription_not_found,
)
from azhotpatch.testing.arm.estate import Estate
from azhotpatch.testing.patching.releases import PatchModel, SoftwarePatch
from azhotpatch.testing.world.clock import Clock, Scheduler
from azhotpatch.testing.world.machines import (
    ARC_TYPE,
    VM_TYPE,
    ArcMachine,
    Machine,
    ScaleSet,
    VirtualMachine,
    machine_key,
)
from azhotpatch.testing.world.operations import InstallRecord, Operation, PatchRun
from azhotpatch.testing.world.subscriptions import Subscription

MachineT = TypeVar("MachineT", VirtualMachine, ArcMachine)


@dataclass(frozen=True)
class Durations:
    """How long things take in Azure (emulated seconds). Observed: assess ~2 min, Windows
    install 2-5 min, feature registration up to ~15 min (recordings and docs)."""

    assess: float = 120.0
    install: float = 300.0
    vm_update: float = 15.0
    license_profile: float = 20.0
    arc_enablement: float = 300.0
    feature_registration: float = 300.0
    provider_registration: float = 60.0
    run_command: float = 20.0
    restart: float = 120.0


class World:
    """The state the services share, with the clock, the scheduler and the patch model."""

    def __init__(
        self,
        clock: Clock,
        *,
        seed: int,
        faults: Faults,
        durations: Durations,
        region_skus: dict[str, tuple[str, ...]],
        pending_features: Iterable[str] = (),
        tenant_id: str = "00000000-0000-0000-0000-00000000feed",
        page_size: int = 50,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.faults = faults
        self.fault_ledger = FaultLedger()
        self.estate = Estate()
        # machines deleted from ARM that Resource Graph's lagging index still lists
        self.graph_ghosts: dict[str, Machine] = {}
        self.durations = durations
        self.region_skus = {k.lower(): v for k, v in region_skus.items()}
        self.pending_features = {f.lower() for f in pending_features}
        self.tenant_id = tenant_id
        self.page_size = page_size
        self.management_groups: dict[str, set[str]] = {}
        self.patch_runs: dict[str, PatchRun] = {}
        self.scheduler = Scheduler()
        self.patch_model = PatchModel(seed)
        self.subscriptions: dict[str, Subscription] = {}
        self.vms: dict[str, VirtualMachine] = {}
        self.arcs: dict[str, ArcMachine] = {}
        self.scale_sets: dict[str, ScaleSet] = {}
        self.operations: dict[str, Operation] = {}
        self.install_requests: dict[str, list[InstallRecord]] = defaultdict(list)
        self._op_counts: dict[tuple[str, str], int] = defaultdict(int)
        self.version = 0  # bumps on every change; caches of rendered rows key on it
        # Resource Graph's patch tables show each run as it was this many Azure seconds ago
        # (Microsoft documents that its data can trail the resources by minutes): a run
        # started since is missing, one ended since still shows InProgress. 0: no lag.
        self.graph_lag = 0.0

    # --- time ---------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.seconds()

    def settle(self) -> float:
        now = self.clock.seconds()
        self.scheduler.run_due(now)
        return now

    def changed(self) -> None:
        self.version += 1

    # --- subscriptions --------------------------------------------------------------------

    def subscription(self, sub_id: str, *, create: bool = False) -> Subscription | None:
        sub = self.subscriptions.get(sub_id.lower())
        if sub is None and create:
            sub = self.subscriptions[sub_id.lower()] = Subscription.new(sub_id)
        return sub

    def require_subscription(self, sub_id: str) -> Subscription:
        """The subscription, or the 404 ARM answers for one it does not know."""
        sub = self.subscription(sub_id)
        if sub is None:
            raise subscription_not_found(sub_id)
        return sub

    def ensure_group(self, sub_id: str, group: str) -> None:
        """The subscription and resource group exist from now on, as a deployment that put a
        machine there would have left them."""
        subscription = self.subscription(sub_id, create=True)
        assert subscription is not None
        subscription.add_group(group)

    def require_group(self, sub_id: str, group: str) -> None:
        """The 404 ARM answers for an unknown subscription or resource group, if either is."""
        if group.lower() not in self.require_subscription(sub_id).groups:
            raise group_not_found(group)

    # --- operations -------------------------------------------------------------------------

    def new_operation(
        self,
        kind: str,
        *,
        on: Machine,
        duration: float,
        on_done: Callable[[Operation], None],
        start: float | None = None,
        subject: str | None = None,
    ) -> Operation:
        """A new operation on a machine, reported in the machine's subscription and region;
        ``start`` (emulated seconds) backdates one a timer started, since timers run when the
        world is next touched, possibly later than they were due; ``subject`` says which one
        of its kind it is (see `Operation.subject`)."""
        target = on.key
        number = self._op_counts[(kind, target)]
        self._op_counts[(kind, target)] += 1
        key = f"{kind}|{target}|{number}"
        op_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.seed}/{key}"))
        now = self.now() if start is None else start
        faults = self.faults
        aimed = (kind, subject)
        slowdown = faults.slow_factor if self.aimed("slow_lro", aimed, target) else 1.0
        op = Operation(
            id=op_id,
            kind=kind,
            subscription=on.subscription,
            location=on.location,
            target=target,
            start=now,
            end=now + duration * max(slowdown, faults.lro_slowdown(key)),
            failed=self.aimed("lro_failure", aimed, target)
            or (kind in ("assessPatches", "installPatches") and faults.lro_fails(key)),
            bare=self.aimed("bare_status", aimed, target) or faults.status_without_result(op_id),
            subject=subject,
        )
        self.operations[op_id] = op

        def finish() -> None:
            on_done(op)
            if op.status == "InProgress":
                op.status = "Failed" if op.failed else "Succeeded"
            self.changed()

        self.scheduler.at(op.end, finish)
        self.changed()
        return op

    def aimed(self, kind: str, operation: tuple[str, str | None], target: str) -> bool:
        """Whether an aimed operation fault (`FaultRule`) of ``kind`` hits this new
        operation, named by its kind or its subject (see `Operation.subject`)."""
        return any(
            rule.kind == kind
            and rule.operation in operation
            and rule.covers(target)
            and self.fault_ledger.take(rule, target)
            for rule in self.faults.rules
        )

    def operation_polled(self, op_id: str, location: str) -> Operation:
        """The operation a status URL names (404 for another region's), counting the poll."""
        op = self.operations.get(op_id.lower())
        if op is None or op.location.lower() != location.lower():
            raise operation_not_found(op_id)
        op.polls += 1
        return op

    # --- machines ---------------------------------------------------------------------------

    def remove_machine(self, key: str) -> None:
        """Delete a machine from ARM; Resource Graph keeps listing it (its index lags)."""
        machine = self.vms.pop(key, None) or self.arcs.pop(key, None)
        if machine is None:
            raise KeyError(f"no machine {key!r} in the emulator")
        self.graph_ghosts[key] = machine
        self.changed()

    def listed(
        self, machines: Iterable[MachineT], sub: str, group: str | None = None
    ) -> list[MachineT]:
        """A subscription's (or one of its groups') machines of one type in id order, as
        ARM lists them, or the 404 ARM answers for an unknown subscription or group."""
        if group is None:
            self.require_subscription(sub.lower())
        else:
            self.require_group(sub, group)
        listed = (
            m
            for m in machines
            if m.subscription == sub.lower() and (group is None or m.group.lower() == group.lower())
        )
        return sorted(listed, key=lambda m: m.key)

    def require_vm(self, sub: str, group: str, name: str) -> VirtualMachine:
        """The VM, or the 404 ARM answers (for the VM, its group or its subscription)."""
        return _required(self.find_vm, self.require_group, VM_TYPE, sub, group, name)

    def require_arc(self, sub: str, group: str, name: str) -> ArcMachine:
        """The Arc machine, or the 404 ARM answers (for it, its group or its subscription)."""
        return _required(self.find_arc, self.require_group, ARC_TYPE, sub, group, name)

    def find_vm(self, sub: str, group: str, name: str) -> VirtualMachine | None:
        return self.vms.get(machine_key(sub, group, VM_TYPE, name))

    def find_arc(self, sub: str, group: str, name: str) -> ArcMachine | None:
        return self.arcs.get(machine_key(sub, group, ARC_TYPE, name))

    def find_machine(self, key: str) -> Machine | None:
        """The VM or Arc machine filed under ``key`` (a lower-cased resource id)."""
        return self.vms.get(key) or self.arcs.get(key)

    def machines_in(self, subscription: str) -> list[Machine]:
        """Every VM, then every Arc machine, of a subscription."""
        vms: list[Machine] = [vm for vm in self.vms.values() if vm.subscription == subscription]
        return vms + [m for m in self.arcs.values() if m.subscription == subscription]

    def offered_patches(self, machine: Machine) -> list[SoftwarePatch]:
        return self.patch_model.offered(
            machine.product,
            machine.key,
            enrolled=machine.hotpatch_active,
            installed=machine.patches.installed,
            now=self.clock.now(),
        )


def _required(
    find: Callable[[str, str, str], MachineT | None],
    require_group: Callable[[str, str], None],
    resource_type: str,
    sub: str,
    group: str,
    name: str,
) -> MachineT:
    require_group(sub, group)
    found = find(sub, group, name)
    if found is None:
        raise not_found(resource_type, name, group)
    return found
