"""The machines of the emulated world: Azure VMs and Arc-enabled servers, with what their
agents report and what they have installed.

Several services act on the same machine (Compute or Hybrid Compute patch it, Update Manager
schedules it, Resource Graph lists it), so the records live here, beside the services, and
each service applies its own rules to them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from azhotpatch.testing.patching.releases import PRODUCTS, OsProduct
from azhotpatch.testing.world.operations import Operation

VM_TYPE = "Microsoft.Compute/virtualMachines"
ARC_TYPE = "Microsoft.HybridCompute/machines"
SCALE_SET_TYPE = "Microsoft.Compute/virtualMachineScaleSets"


@dataclass
class PatchState:
    """What a machine has installed and what its last patch operations said."""

    installed: set[str] = field(default_factory=set)
    reboot_pending: bool = False
    last_assessment: dict[str, Any] | None = None
    last_installation: dict[str, Any] | None = None
    operation: Operation | None = None
    # the OS build's revision the machine runs (None: not modelled, e.g. a machine added
    # without a patch history), and the one a pending restart will bring
    revision: int | None = None
    pending_revision: int | None = None


@dataclass
class ResourceAddress:
    """Where a resource is in ARM: its id (and ``key``, the id lower-cased, which it is filed
    under), subscription (lower-cased), resource group, name and region."""

    key: str
    id: str
    subscription: str
    group: str
    name: str
    location: str


@dataclass
class VirtualMachine(ResourceAddress):
    """An Azure VM. ``doc`` holds the writable ARM document (tags + properties), merged by
    PATCH; runtime facts (power, agent, patches) live beside it."""

    RESOURCE_TYPE: ClassVar[str] = VM_TYPE

    doc: dict[str, Any]
    vm_id: str
    created: datetime
    power: str = "running"
    agent_ready: bool = True
    provisioning: str = "Succeeded"
    patches: PatchState = field(default_factory=PatchState)
    update_op: Operation | None = None

    @classmethod
    def create(
        cls,
        sub: str,
        group: str,
        name: str,
        location: str,
        doc: dict[str, Any],
        *,
        seed: int,
        created: datetime,
    ) -> VirtualMachine:
        """A new VM; its ``vmId`` is a function of the world's seed and the VM's id, so the
        same world hands out the same ids run after run."""
        key = machine_key(sub, group, VM_TYPE, name)
        return cls(
            key=key,
            id=f"/subscriptions/{sub}/resourceGroups/{group}/providers/{VM_TYPE}/{name}",
            subscription=sub.lower(),
            group=group,
            name=name,
            location=location.lower(),
            doc=doc,
            vm_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{seed}/{key}")),
            created=created,
        )

    @property
    def properties(self) -> dict[str, Any]:
        props: dict[str, Any] = self.doc.setdefault("properties", {})
        return props

    @property
    def tags(self) -> dict[str, str]:
        tags: dict[str, str] = self.doc.get("tags") or {}
        return tags

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
    def hotpatch_active(self) -> bool:
        """Whether Windows Update offers it hotpatches: on a VM, the setting is enough."""
        return self.hotpatch_enabled

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
class ArcMachine(ResourceAddress):
    """An Azure Arc-enabled server and what its Connected Machine agent reports."""

    RESOURCE_TYPE: ClassVar[str] = ARC_TYPE

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
    # what only the machine knows (Run Command reads and changes it; see `hybrid.runcommands`)
    hardware: Hardware = field(default_factory=lambda: Hardware())
    # Azure Local: the machine's kind ("HCI") and its cluster; its VM instance's image SKU
    arc_kind: str | None = None
    parent_cluster: str | None = None
    local_image: str | None = None
    run_commands: dict[str, RunCommand] = field(default_factory=dict)

    @staticmethod
    def key_for(sub: str, group: str, name: str) -> str:
        return machine_key(sub, group, ARC_TYPE, name)

    @property
    def hotpatch_active(self) -> bool:
        """Whether Windows Update offers it hotpatches: on Arc, once the agent's own
        evaluation says Enabled."""
        return self.hotpatch_status == "Enabled"

    @property
    def os_family(self) -> str:
        """``Windows`` or ``Linux``, as patch results and Resource Graph spell it."""
        return "Windows" if self.product else "Linux"

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


Machine = VirtualMachine | ArcMachine


@dataclass
class Hardware:
    """An Arc machine's firmware, processor and registry, as Windows reports them: what the
    measuring script reads, what the fixing scripts set, and what a restart turns into VBS
    running (only where the firmware and processor allow it)."""

    uefi: bool = True
    secure_boot: bool = True
    virtualization: bool = True
    architecture: str = "x64"  # or "ARM64"
    vbs_configured: bool = True  # DeviceGuard\EnableVirtualizationBasedSecurity = 1
    chpe_restricted: bool = True  # HotPatchRestrictions = 1 (Arm64)
    chpe_off: bool = True  # CHPE off since the last start
    boots: list[float] = field(default_factory=list)  # emulated seconds of each restart
    down_until: float | None = None  # restarting until then

    @property
    def vbs_possible(self) -> bool:
        return self.uefi and self.secure_boot and self.virtualization

    @property
    def arm64(self) -> bool:
        return self.architecture.upper() == "ARM64"


@dataclass
class RunCommand:
    """A ``machines/runCommands`` resource: its script, and how its last execution went."""

    name: str
    script: str
    operation: Operation
    created: float
    tags: dict[str, str] = field(default_factory=dict)  # as its last PUT wrote them
    output: str = ""
    error: str = ""
    exit_code: int | None = None
    state: str = "Pending"  # executionState
    started: float | None = None
    ended: float | None = None
    # what the PUT wrote that Azure gives back as written (timeout, parameters, run-as user,
    # blob URIs: RunCommands_CreateOrUpdate.json), never the secrets
    written: dict[str, Any] = field(default_factory=dict)


def machine_key(sub: str, group: str, resource_type: str, name: str) -> str:
    """How the world files a machine: its resource id, lower-cased (ARM ids are
    case-insensitive)."""
    return f"/subscriptions/{sub}/resourcegroups/{group}/providers/{resource_type}/{name}".lower()


@dataclass
class ScaleSet(ResourceAddress):
    """A VM scale set: its orchestration mode and the patch settings of its model (what the
    instances it creates next get). A Flexible one's instances are ordinary VMs that name it
    in ``properties.virtualMachineScaleSet``."""

    mode: str = "Flexible"  # or "Uniform"
    model_patch_settings: dict[str, Any] = field(default_factory=dict)
    image: dict[str, Any] = field(default_factory=dict)
