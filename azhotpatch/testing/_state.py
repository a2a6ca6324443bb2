"""The emulated world: subscriptions, machines, long-running operations, and time.

Handlers read and change this state; nothing here knows about HTTP. Time-driven changes
(operations finishing, features registering, Arc machines evaluating Hotpatch) are scheduled
on the emulated clock and applied in time order whenever the world is touched, so a client
that never polls still finds the machine patched once the operation's time has passed.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azhotpatch.testing._clock import Clock
from azhotpatch.testing._estate import Estate
from azhotpatch.testing._faults import FaultLedger, Faults
from azhotpatch.testing._patches import PRODUCTS, OsProduct, Patch, PatchModel

# --- configuration ----------------------------------------------------------------------------


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


HOTPATCH_SKUS_2025 = (
    "2025-datacenter-azure-edition",
    "2025-datacenter-azure-edition-smalldisk",
    "2025-datacenter-azure-edition-core",
    "2025-datacenter-azure-edition-core-smalldisk",
)
HOTPATCH_SKUS_2022 = (
    "2022-datacenter-azure-edition-core",
    "2022-datacenter-azure-edition-core-smalldisk",
    "2022-datacenter-azure-edition-hotpatch",
    "2022-datacenter-azure-edition-hotpatch-smalldisk",
)
OTHER_WINDOWS_SKUS = (
    "2022-datacenter-azure-edition",
    "2022-datacenter",
    "2022-datacenter-g2",
    "2025-datacenter",
    "2025-datacenter-g2",
    "2019-datacenter",
    "2019-datacenter-gensecond",
    "2016-datacenter",
)
DEFAULT_REGIONS = (
    "westeurope",
    "northeurope",
    "swedencentral",
    "uksouth",
    "francecentral",
    "germanywestcentral",
    "eastus",
    "eastus2",
    "centralus",
    "southcentralus",
    "westus",
    "westus2",
    "canadacentral",
    "westcentralus",
    "eastasia",
    "southeastasia",
    "australiaeast",
    "brazilsouth",
    "centralindia",
    "japaneast",
)
# Not every region offers the 2025 Azure Edition images (Microsoft Learn, Hotpatch page). Which
# ones lack them changes over time; the emulator's default picks three, configurable.
REGIONS_WITHOUT_2025 = ("brazilsouth", "centralindia", "japaneast")


def default_region_skus(
    regions: Iterable[str] = DEFAULT_REGIONS, without_2025: Iterable[str] = REGIONS_WITHOUT_2025
) -> dict[str, tuple[str, ...]]:
    lacking = {r.lower() for r in without_2025}
    table: dict[str, tuple[str, ...]] = {}
    for region in regions:
        skus: tuple[str, ...] = HOTPATCH_SKUS_2022 + OTHER_WINDOWS_SKUS
        if region.lower() not in lacking:
            skus = HOTPATCH_SKUS_2025 + skus
        table[region.lower()] = skus
    return table


# --- scheduling -------------------------------------------------------------------------------


class Scheduler:
    """Callbacks due at emulated instants, run in time order by `run_due`."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), callback))

    def run_due(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, _, callback = heapq.heappop(self._heap)
            callback()

    def __len__(self) -> int:
        return len(self._heap)


# --- operations -------------------------------------------------------------------------------


@dataclass
class Operation:
    """A long-running operation as its status endpoints report it."""

    id: str
    kind: str  # assessPatches | installPatches | vmUpdate | licenseProfile | licenseDelete
    subscription: str
    location: str
    target: str  # machine key (lower-cased id)
    start: float
    end: float
    failed: bool = False
    status: str = "InProgress"
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    polls: int = 0
    bare: bool = False  # its finished status leaves out the result (an injected fault)

    @property
    def done(self) -> bool:
        return self.status != "InProgress"


@dataclass
class PatchRun:
    """An assess or install as Resource Graph's patch tables show it."""

    machine: str  # key
    machine_id: str  # canonical id
    kind: str  # assessPatches | installPatches
    operation: Operation
    os_type: str
    result: dict[str, Any] | None = None
    maintenance_run_id: str | None = None  # set for a maintenance schedule's run

    @property
    def started_by(self) -> str:
        return "Platform" if self.maintenance_run_id else "User"


@dataclass
class MaintenanceConfiguration:
    """A ``Microsoft.Maintenance/maintenanceConfigurations`` resource. ``generation`` bumps on
    every write, so a window timer armed for an older version does nothing when it fires."""

    key: str
    id: str
    subscription: str
    group: str
    name: str
    location: str
    tags: dict[str, str]
    properties: dict[str, Any]
    generation: int = 0


@dataclass
class ConfigurationAssignment:
    """A configuration assignment: to one machine (``machine`` set) or a subscription-wide
    dynamic scope (``filter`` set)."""

    key: str
    id: str
    name: str
    subscription: str
    configuration: str  # lower-cased configuration id
    resource_id: str  # the machine's id, or /subscriptions/{sub}
    location: str
    machine: str | None = None
    filter: dict[str, Any] | None = None


@dataclass
class ApplyUpdate:
    """One machine's part of one scheduled run (Resource Graph ``applyupdates`` rows)."""

    name: str
    machine: str  # key
    machine_id: str
    configuration_id: str
    correlation_id: str
    start: float
    end: float
    operation: Operation | None = None


@dataclass
class InstallRecord:
    """One accepted installPatches POST (what tests check for double triggers)."""

    operation_id: str
    at: datetime
    parameters: dict[str, Any]
    principal: str


# --- machines ---------------------------------------------------------------------------------


@dataclass
class PatchState:
    """What a machine has installed and what its last patch operations said."""

    installed: set[str] = field(default_factory=set)
    reboot_pending: bool = False
    last_assessment: dict[str, Any] | None = None
    last_installation: dict[str, Any] | None = None
    last_assessment_patches: list[Patch] = field(default_factory=list)
    operation: Operation | None = None


@dataclass
class VirtualMachine:
    """An Azure VM. ``doc`` holds the writable ARM document (tags + properties), merged by
    PATCH; runtime facts (power, agent, patches) live beside it."""

    key: str
    id: str
    subscription: str
    group: str
    name: str
    location: str
    doc: dict[str, Any]
    vm_id: str
    created: datetime
    power: str = "running"
    agent_ready: bool = True
    provisioning: str = "Succeeded"
    patches: PatchState = field(default_factory=PatchState)
    update_op: Operation | None = None

    @property
    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = self.doc.setdefault("properties", {})
        return props

    @property
    def image(self) -> dict[str, Any]:
        image: dict[str, Any] = self.properties.get("storageProfile", {}).get("imageReference", {})
        return image

    @property
    def os_type(self) -> str:
        os_disk = self.properties.get("storageProfile", {}).get("osDisk", {})
        return str(os_disk.get("osType") or "Windows")

    @property
    def windows(self) -> dict[str, Any]:
        config: dict[str, Any] = self.properties.get("osProfile", {}).get(
            "windowsConfiguration", {}
        )
        return config

    @property
    def patch_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = self.windows.get("patchSettings", {})
        return settings

    @property
    def hotpatch_enabled(self) -> bool:
        return bool(self.patch_settings.get("enableHotpatching"))

    @property
    def product(self) -> OsProduct | None:
        if self.os_type.lower() == "linux":
            return None
        sku = str(self.image.get("sku", "")).lower()
        for year in ("2025", "2022", "2019", "2016"):
            if sku.startswith(year):
                return PRODUCTS[f"ws{year}"]
        return PRODUCTS["ws2022"]


@dataclass
class ArcMachine:
    """An Azure Arc-enabled server and what its Connected Machine agent reports."""

    key: str
    id: str
    subscription: str
    group: str
    name: str
    location: str
    tags: dict[str, str]
    status: str
    os_name: str
    os_sku: str | None
    os_version: str
    os_type: str
    detected: dict[str, str]
    vbs_running: bool
    vm_uuid: str
    created: datetime
    agent_version: str = "1.58.03228.2572"
    patch_mode: str | None = "AutomaticByPlatform"
    assessment_mode: str | None = "ImageDefault"
    enable_hotpatching: bool | None = None
    hotpatch_status: str = "Unknown"
    license: dict[str, Any] | None = None
    license_busy: Operation | None = None
    patches: PatchState = field(default_factory=PatchState)

    @property
    def product(self) -> OsProduct | None:
        if self.os_type.lower() != "windows":
            return None
        for year in ("2025", "2022", "2019", "2016"):
            if self.os_sku and year in self.os_sku:
                return PRODUCTS[f"ws{year}"]
        return PRODUCTS["ws2025"] if ".26100." in f".{self.os_version}." else PRODUCTS["ws2022"]

    def hotpatch_feature(self) -> dict[str, Any] | None:
        if not self.license:
            return None
        features = self.license.get("productProfile", {}).get("productFeatures") or []
        return next((f for f in features if str(f.get("name")).lower() == "hotpatch"), None)

    @property
    def licensed_for_hotpatch(self) -> bool:
        feature = self.hotpatch_feature()
        return bool(feature) and str(feature.get("subscriptionStatus")) == "Enabled"  # type: ignore[union-attr]


@dataclass
class FeatureState:
    name: str  # canonical "Namespace/Feature"
    state: str = "NotRegistered"


@dataclass
class Subscription:
    id: str
    groups: set[str] = field(default_factory=set)  # lower-cased names
    group_names: dict[str, str] = field(default_factory=dict)  # lower -> display
    features: dict[str, FeatureState] = field(default_factory=dict)  # "ns/name" lower
    providers: dict[str, str] = field(default_factory=dict)  # namespace lower -> state

    def add_group(self, name: str) -> None:
        self.groups.add(name.lower())
        self.group_names.setdefault(name.lower(), name)


# --- the world ----------------------------------------------------------------------------------


KNOWN_FEATURES = (
    "Microsoft.Compute/InGuestHotPatchVMPreview",
    "Microsoft.Compute/InGuestAutoPatchVMPreview",
    "Microsoft.Compute/InGuestPatchVMPreview",
)
REGISTERED_BY_DEFAULT = (
    "Microsoft.Compute",
    "Microsoft.HybridCompute",
    "Microsoft.Features",
    "Microsoft.Resources",
    "Microsoft.ResourceGraph",
)


class World:
    """All emulated state plus the clock, the scheduler and the patch model."""

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
        self.graph_ghosts: dict[str, VirtualMachine | ArcMachine] = {}
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
        self.operations: dict[str, Operation] = {}
        self.installs: dict[str, list[InstallRecord]] = defaultdict(list)
        self.maintenance_configurations: dict[str, MaintenanceConfiguration] = {}
        self.assignments: dict[str, ConfigurationAssignment] = {}
        self.apply_updates: list[ApplyUpdate] = []
        self._op_counts: dict[tuple[str, str], int] = defaultdict(int)
        self.version = 0  # bumps on every change; caches of rendered rows key on it

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
            sub = self.subscriptions[sub_id.lower()] = Subscription(sub_id.lower())
            for namespace in REGISTERED_BY_DEFAULT:
                sub.providers[namespace.lower()] = "Registered"
            for feature in KNOWN_FEATURES:
                sub.features[feature.lower()] = FeatureState(feature)
        return sub

    # --- operations -------------------------------------------------------------------------

    def new_operation(
        self,
        kind: str,
        *,
        subscription: str,
        location: str,
        target: str,
        duration: float,
        on_done: Callable[[Operation], None],
        start: float | None = None,
    ) -> Operation:
        """A new operation; ``start`` (emulated seconds) backdates one a timer started, since
        timers run when the world is next touched, possibly later than they were due."""
        number = self._op_counts[(kind, target)]
        self._op_counts[(kind, target)] += 1
        key = f"{kind}|{target}|{number}"
        op_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.seed}/{key}"))
        now = self.now() if start is None else start
        faults = self.faults
        slowdown = faults.slow_factor if self.aimed("slow_lro", kind, target) else 1.0
        op = Operation(
            id=op_id,
            kind=kind,
            subscription=subscription,
            location=location,
            target=target,
            start=now,
            end=now + duration * max(slowdown, faults.lro_slowdown(key)),
            failed=self.aimed("lro_failure", kind, target)
            or (kind in ("assessPatches", "installPatches") and faults.lro_fails(key)),
            bare=self.aimed("bare_status", kind, target) or faults.status_without_result(op_id),
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

    def aimed(self, kind: str, operation: str, target: str) -> bool:
        """Whether an aimed operation fault (`FaultRule`) of ``kind`` hits this new
        operation."""
        return any(
            rule.kind == kind
            and rule.operation == operation
            and rule.covers(target)
            and self.fault_ledger.take(rule, target)
            for rule in self.faults.rules
        )

    def remove_machine(self, key: str) -> None:
        """Delete a machine from ARM; Resource Graph keeps listing it (its index lags)."""
        machine = self.vms.pop(key, None) or self.arcs.pop(key, None)
        if machine is None:
            raise KeyError(f"no machine {key!r} in the emulator")
        self.graph_ghosts[key] = machine
        self.changed()

    def find_vm(self, sub: str, group: str, name: str) -> VirtualMachine | None:
        return self.vms.get(machine_key(sub, group, "Microsoft.Compute/virtualMachines", name))

    def find_arc(self, sub: str, group: str, name: str) -> ArcMachine | None:
        return self.arcs.get(machine_key(sub, group, "Microsoft.HybridCompute/machines", name))

    def offered_patches(self, machine: VirtualMachine | ArcMachine) -> list[Patch]:
        enrolled = (
            machine.hotpatch_enabled
            if isinstance(machine, VirtualMachine)
            else machine.hotpatch_status == "Enabled"
        )
        return self.patch_model.offered(
            machine.product,
            machine.key,
            enrolled=enrolled,
            installed=machine.patches.installed,
            now=self.clock.now(),
        )


def machine_key(sub: str, group: str, resource_type: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourcegroups/{group}/providers/{resource_type}/{name}".lower()


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """ARM-style PATCH: objects merge recursively, everything else replaces; JSON null means
    "not specified" (ARM ignores it rather than deleting)."""
    merged = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_patch(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
