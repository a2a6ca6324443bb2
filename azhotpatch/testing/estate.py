"""Deterministic estates: N VMs and M Arc machines across S subscriptions and regions, with the
mix a real estate has (supported and unsupported images, every patch mode, deallocated VMs,
agents that are not ready, disconnected Arc servers, VBS off), plus the ground truth of what
azhotpatch should conclude about each machine, so tests can check every verdict.

Same seed, same estate: names, ids, images, states and the truth are pure functions of the
spec.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from azhotpatch.testing.histories import PatchHistory, PostureTruth, draw_history, posture_truth
from azhotpatch.testing.world.regions import (
    DEFAULT_REGIONS,
    HOTPATCH_SKUS_2022,
    HOTPATCH_SKUS_2025,
    REGIONS_WITHOUT_2025,
)

__all__ = ["ArcSpec", "FleetSpec", "MachineTruth", "VmSpec", "generate"]

MIXES = ("sample", "clean")
_SPEC_TEXT = re.compile(
    r"^(?P<mix>[a-z]+):(?P<count>\d+)(?:@(?P<subs>\d+))?(?:/(?P<arc>\d+)%arc)?$"
)


@dataclass(frozen=True)
class FleetSpec:
    """What to generate. ``mix="clean"`` makes every machine eligible and healthy (for
    throughput measurements); ``"sample"`` is a realistic estate."""

    vms: int = 150
    arc: int = 50
    subscriptions: int = 2
    regions: tuple[str, ...] = DEFAULT_REGIONS
    groups_per_subscription: int = 3
    mix: str = "sample"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mix not in MIXES:
            raise ValueError(f"unknown fleet mix {self.mix!r}; choose one of {MIXES}")
        if self.vms < 0 or self.arc < 0 or self.subscriptions < 1 or not self.regions:
            raise ValueError("a fleet needs >= 0 machines, >= 1 subscription and a region")

    @classmethod
    def parse(cls, text: str, *, seed: int = 0) -> FleetSpec:
        """``sample:200``, ``clean:10000@20`` (machines@subscriptions), ``sample:500@4/40%arc``."""
        match = _SPEC_TEXT.match(text.strip().lower())
        if not match:
            raise ValueError(
                f"fleet spec {text!r} is not '<mix>:<machines>[@<subscriptions>][/<n>%arc]' "
                f"with mix one of {MIXES}, e.g. sample:200 or clean:10000@20"
            )
        count = int(match["count"])
        arc_share = int(match["arc"]) / 100 if match["arc"] else 0.25
        arc = round(count * arc_share)
        return cls(
            vms=count - arc,
            arc=arc,
            subscriptions=int(match["subs"] or 2),
            mix=match["mix"],
            seed=seed,
        )

    @property
    def machines(self) -> int:
        return self.vms + self.arc


@dataclass(frozen=True)
class MachineTruth:
    """What azhotpatch should find. ``blockers`` are the `Rule` values a full check (with
    the instance view) must report as blocking; ``enable`` / ``patch`` are the expected
    outcomes of a fleet run's enrollment and of its assess/install (``succeeded``,
    ``skipped`` when the inventory shows a blocker, ``failed``)."""

    id: str
    kind: str  # "vm" | "arc"
    blockers: frozenset[str]
    enable: str
    patch: str
    note: str = ""
    inventory_blockers: frozenset[str] | None = None
    # what a Run Command remediation finds: the fixes ("vbs", "vbs+chpe") or the rule that
    # blocks it (e.g. "ArcNoSecureBoot"); empty for a machine with nothing to remediate
    remediation: str = ""
    # where the machine stands, as ``posture()`` must say (`histories.posture_truth`)
    posture: PostureTruth = field(default_factory=lambda: PostureTruth("unknown"))

    @property
    def eligible(self) -> bool:
        return not self.blockers

    @property
    def visible_blockers(self) -> frozenset[str]:
        """Blockers an inventory from Resource Graph can see (no VM agent status there)."""
        return self.blockers if self.inventory_blockers is None else self.inventory_blockers

    @property
    def full_run_outcome(self) -> str:
        """What a fleet run of enable, assess and install must conclude for the machine."""
        if self.visible_blockers:
            return "skipped"
        if "failed" in (self.enable, self.patch):
            return "failed"
        return "succeeded"

    @property
    def remediable(self) -> bool:
        return self.remediation in _FIXABLE

    @property
    def remediated_run_outcome(self) -> str:
        """What ``run(remediate=True, reboot=...)`` must conclude once the restart may
        happen: machines a script can fix succeed, those it cannot are skipped."""
        if self.remediation:
            return "succeeded" if self.remediable else "skipped"
        return self.full_run_outcome


_FIXABLE = ("vbs", "vbs+chpe")


@dataclass(frozen=True)
class VmSpec:
    subscription: str
    group: str
    name: str
    location: str
    publisher: str = "MicrosoftWindowsServer"
    offer: str = "WindowsServer"
    sku: str = "2025-datacenter-azure-edition"
    image_id: str | None = None
    os_type: str = "Windows"
    patch_mode: str | None = "AutomaticByOS"
    provision_vm_agent: bool = True
    enable_automatic_updates: bool = True
    enable_hotpatching: bool | None = None
    bypass_platform_safety_checks: bool | None = None
    power: str = "running"
    agent_ready: bool = True
    months_behind: int = 1
    tags: dict[str, str] = field(default_factory=dict)
    scale_set: str | None = None  # a Flexible scale set (in the same group) it belongs to
    # its past assessments and installs (None: none, and its OS build is not modelled)
    history: PatchHistory | None = None

    @property
    def hotpatch_enrolled(self) -> bool:
        return bool(self.enable_hotpatching) and self.patch_mode == "AutomaticByPlatform"

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.group}/providers/"
            f"Microsoft.Compute/virtualMachines/{self.name}"
        )


@dataclass(frozen=True)
class ArcSpec:
    subscription: str
    group: str
    name: str
    location: str
    os_sku: str | None = "Windows Server 2025 Datacenter"
    os_version: str = "10.0.26100.4946"
    os_name: str = "windows"
    os_type: str = "windows"
    status: str = "Connected"
    vbs_running: bool = True
    cores: int = 8
    enable_hotpatching: bool | None = None
    hotpatch_status: str = "Unknown"
    licensed: bool = False
    # a license profile whose Hotpatch feature is Disabled (enrolled once, then disenrolled)
    license_disabled: bool = False
    months_behind: int = 1
    tags: dict[str, str] = field(default_factory=dict)
    # what only the machine knows (Run Command measures it): firmware, processor, CHPE
    uefi: bool = True
    secure_boot: bool = True
    virtualization: bool = True
    architecture: str = "x64"
    chpe_on: bool = False
    # Azure Local: kind "HCI", the cluster, and the SKU of its VM instance's image
    arc_kind: str | None = None
    parent_cluster: str | None = None
    local_image: str | None = None
    # its past assessments and installs (None: none, and its OS build is not modelled)
    history: PatchHistory | None = None

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.group}/providers/"
            f"Microsoft.HybridCompute/machines/{self.name}"
        )


@dataclass(frozen=True)
class Estate:
    """A generated estate: its subscriptions, groups and machines, and the truth about each
    machine. `Emulator.fleet` holds the one it serves (the public parameter keeps that name)."""

    spec: FleetSpec
    subscriptions: tuple[str, ...]
    groups: dict[str, tuple[str, ...]]
    vms: tuple[VmSpec, ...]
    arcs: tuple[ArcSpec, ...]
    truth: dict[str, MachineTruth]
    management_groups: dict[str, tuple[str, ...]]


def generate(spec: FleetSpec) -> Estate:
    """Build the estate a spec describes (pure: no emulator involved)."""
    rng = random.Random(spec.seed)
    subscriptions = tuple(
        str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(spec.subscriptions)
    )
    groups = {
        sub: tuple(f"rg-fleet-{index + 1:02d}" for index in range(spec.groups_per_subscription))
        for sub in subscriptions
    }
    places = list(_placements(rng, spec, subscriptions, groups))
    vms, arcs, truth = [], [], {}
    for index in range(spec.vms):
        sub, group, region = places[index]
        vm, verdict = _vm_history(spec.seed, *_vm(rng, spec, index, sub, group, region))
        vms.append(vm)
        truth[vm.id.lower()] = verdict
    for index in range(spec.arc):
        sub, group, region = places[spec.vms + index]
        arc, verdict = _arc_history(spec, *_arc(rng, spec, index, sub, group, region))
        arcs.append(arc)
        truth[arc.id.lower()] = verdict
    half = max(1, len(subscriptions) // 2)
    management_groups = {
        "mg-platform": subscriptions[:half],
        "mg-workloads": subscriptions[half:] or subscriptions[:half],
    }
    return Estate(spec, subscriptions, groups, tuple(vms), tuple(arcs), truth, management_groups)


def _placements(
    rng: random.Random, spec: FleetSpec, subs: tuple[str, ...], groups: dict[str, tuple[str, ...]]
) -> Iterator[tuple[str, str, str]]:
    for index in range(spec.machines):
        sub = subs[index % len(subs)]
        yield sub, rng.choice(groups[sub]), _region(rng, spec)


def _region(rng: random.Random, spec: FleetSpec) -> str:
    with_2025 = [r for r in spec.regions if r not in REGIONS_WITHOUT_2025] or list(spec.regions)
    return rng.choice(with_2025)


def _tags(rng: random.Random) -> dict[str, str]:
    return {
        "env": rng.choice(("prod", "prod", "dev", "test")),
        "team": rng.choice(("payments", "search", "identity", "platform")),
    }


# --- patch histories and where each machine stands ----------------------------------------------

# Rules an existing machine is not judged by: a region's catalog matters to a VM being created
# (an existing one keeps its image), and posture does not read it.
_NOT_POSTURE = frozenset({"ImageNotInRegion"})


def _vm_history(seed: int, vm: VmSpec, verdict: MachineTruth) -> tuple[VmSpec, MachineTruth]:
    """The VM with its patch history, and the verdict on where it stands. Its guest agent
    reports the OS build only while the VM runs with the agent ready."""
    if vm.os_type.lower() == "linux":
        return vm, replace(verdict, posture=PostureTruth("not-eligible"))
    reports = vm.power == "running" and vm.agent_ready
    history = draw_history(seed, vm.name, reports_build=reports)
    posture = posture_truth(
        blockers=verdict.visible_blockers - _NOT_POSTURE,
        enrolled=vm.hotpatch_enrolled,
        history=history,
        reports_build=reports,
        months_behind=vm.months_behind,
    )
    return replace(vm, history=history), replace(verdict, posture=posture)


def _arc_history(
    spec: FleetSpec, arc: ArcSpec, verdict: MachineTruth
) -> tuple[ArcSpec, MachineTruth]:
    """The Arc machine with its patch history, and the verdict on where it stands. In a
    realistic estate a quarter of the plain machines were enrolled once and lost it (their
    license profile's Hotpatch feature is Disabled)."""
    seed = spec.seed
    if arc.os_type.lower() != "windows":
        return arc, replace(verdict, posture=PostureTruth("not-eligible"))
    plain = arc.hotpatch_status == "Unknown" and not arc.licensed and arc.vbs_running
    plain = plain and spec.mix == "sample"
    if plain and random.Random(f"{seed}/lost/{arc.name}").random() < 0.25:
        arc = replace(arc, license_disabled=True)
    history = draw_history(seed, arc.name, reports_build=True)
    posture = posture_truth(
        blockers=verdict.visible_blockers - _NOT_POSTURE,
        enrolled=arc.hotpatch_status == "Enabled",
        history=history,
        reports_build=True,
        months_behind=arc.months_behind,
    )
    return replace(arc, history=history), replace(verdict, posture=posture)


# --- VMs ----------------------------------------------------------------------------------------


def _vm(
    rng: random.Random, spec: FleetSpec, index: int, sub: str, group: str, region: str
) -> tuple[VmSpec, MachineTruth]:
    name = f"vm-{index:05d}"
    base: dict[str, Any] = {
        "subscription": sub,
        "group": group,
        "name": name,
        "location": region,
        "sku": rng.choice(HOTPATCH_SKUS_2025 + HOTPATCH_SKUS_2022),
        "months_behind": rng.choice((0, 1, 1, 2)),
        "tags": _tags(rng),
    }
    if spec.mix == "clean":
        vm = VmSpec(**base, patch_mode=rng.choice(("AutomaticByOS", "AutomaticByPlatform")))
        return vm, MachineTruth(vm.id, "vm", frozenset(), "succeeded", "succeeded")
    roll = rng.random()
    blockers: set[str] = set()
    note = ""
    if roll < 0.12:
        base["sku"] = rng.choice(
            ("2019-datacenter", "2016-datacenter", "2019-datacenter-gensecond")
        )
        blockers.add("ImageNotSupported")
        note = "older Windows Server"
    elif roll < 0.18:
        base["sku"] = rng.choice(("2022-datacenter-azure-edition", "2025-datacenter-g2"))
        blockers.add("ImageNotSupported")
        note = "not a Hotpatch SKU"
    elif roll < 0.23:
        base.update(
            image_id=f"/subscriptions/{sub}/resourceGroups/{group}/providers/"
            f"Microsoft.Compute/images/golden-{index % 7}",
            sku="",
        )
        base.update(publisher="", offer="")
        blockers.add("CustomImage")
        note = "custom image"
    elif roll < 0.25:
        base.update(
            image_id=f"/subscriptions/{sub}/resourceGroups/{group}/providers/"
            f"Microsoft.Compute/galleries/gallery/images/ws/versions/1.0.{index % 9}",
            sku="",
            publisher="",
            offer="",
        )
        blockers.add("GalleryImage")
        note = "gallery image"
    elif roll < 0.30:
        base.update(
            publisher="Canonical",
            offer="UbuntuServer",
            sku="22_04-lts",
            os_type="Linux",
            patch_mode="ImageDefault",
        )
        blockers.update(("Linux", "ImageNotSupported"))
        note = "Linux"
    elif roll < 0.33:
        missing = [r for r in spec.regions if r in REGIONS_WITHOUT_2025]
        if missing:
            base.update(location=rng.choice(missing), sku=rng.choice(HOTPATCH_SKUS_2025))
            blockers.add("ImageNotInRegion")
            note = "region lacks the 2025 image"
    vm = _vm_settings(rng, base, blockers)
    if vm.power != "running":
        blockers.add("VmNotRunning")
        note = note or "deallocated"
    visible = frozenset(blockers)  # what an inventory (Resource Graph) shows
    if not vm.agent_ready and vm.power == "running":
        blockers.add("VmAgentNotReady")
        note = note or "VM agent not ready"
    enable = "skipped" if visible else "succeeded"
    patch = "skipped" if visible else ("failed" if not vm.agent_ready else "succeeded")
    return vm, MachineTruth(vm.id, "vm", frozenset(blockers), enable, patch, note, visible)


def _vm_settings(rng: random.Random, base: dict[str, Any], blockers: set[str]) -> VmSpec:
    if base.get("os_type") == "Linux":
        return VmSpec(**base)
    roll = rng.random()
    if roll < 0.03 and not blockers:
        blockers.add("VmAgentNotProvisioned")
        return VmSpec(**base, provision_vm_agent=False, patch_mode="AutomaticByOS")
    settings: dict[str, Any] = {}
    if roll < 0.35:
        settings["patch_mode"] = "AutomaticByOS"
    elif roll < 0.40:
        settings.update(patch_mode="Manual", enable_automatic_updates=False)
    elif roll < 0.45:
        settings.update(patch_mode="AutomaticByPlatform", bypass_platform_safety_checks=True)
    elif roll < 0.70:
        settings["patch_mode"] = "AutomaticByPlatform"
    else:
        settings["patch_mode"] = "AutomaticByPlatform"
        if not blockers:
            settings["enable_hotpatching"] = True
    power = rng.random()
    settings["power"] = "deallocated" if power < 0.04 else "running"
    settings["agent_ready"] = not (0.04 <= power < 0.07)
    return VmSpec(**base, **settings)


# --- Arc ----------------------------------------------------------------------------------------


def _arc(
    rng: random.Random, spec: FleetSpec, index: int, sub: str, group: str, region: str
) -> tuple[ArcSpec, MachineTruth]:
    base: dict[str, Any] = {
        "subscription": sub,
        "group": group,
        "name": f"arc-{index:05d}",
        "location": region,
        "cores": rng.choice((2, 4, 8, 8, 16, 16, 32, 64)),
        "months_behind": rng.choice((0, 1, 1, 2)),
        "tags": _tags(rng),
        "os_sku": f"Windows Server 2025 {rng.choice(('Datacenter', 'Standard'))}",
    }
    if spec.mix == "clean":
        arc = ArcSpec(**base)
        return arc, MachineTruth(arc.id, "arc", frozenset(), "succeeded", "succeeded")
    roll = rng.random()
    if roll < 0.10:
        arc = ArcSpec(
            **{**base, "os_sku": "Windows Server 2022 Datacenter", "os_version": "10.0.20348.3207"}
        )
        return arc, MachineTruth(
            arc.id,
            "arc",
            frozenset({"ArcOsNotSupported"}),
            "skipped",
            "skipped",
            "Windows Server 2022",
        )
    if roll < 0.15:
        arc = ArcSpec(
            **{
                **base,
                "os_sku": "Ubuntu 22.04.4 LTS",
                "os_name": "linux",
                "os_type": "linux",
                "os_version": "5.15.0-105-generic",
            }
        )
        return arc, MachineTruth(
            arc.id, "arc", frozenset({"ArcNotWindows"}), "skipped", "skipped", "Linux"
        )
    if roll < 0.20:
        arc = ArcSpec(**base, status="Disconnected")
        return arc, MachineTruth(
            arc.id, "arc", frozenset({"ArcDisconnected"}), "skipped", "skipped", "disconnected"
        )
    if roll < 0.25:
        hardware, remediation = _hidden_hardware(spec.seed, base["name"])
        arc = ArcSpec(
            **base,
            **hardware,
            vbs_running=False,
            enable_hotpatching=True,
            hotpatch_status="ActionRequired",
            licensed=True,
        )
        return arc, MachineTruth(
            arc.id,
            "arc",
            frozenset({"ArcVbsOff"}),
            "skipped",
            "skipped",
            "VBS off, reported",
            remediation=remediation,
        )
    if roll < 0.32:
        hardware, remediation = _hidden_hardware(spec.seed, base["name"])
        arc = ArcSpec(**base, **hardware, vbs_running=False)
        return arc, MachineTruth(
            arc.id,
            "arc",
            frozenset(),
            "failed",
            "skipped",
            "VBS off, found at enrollment",
            remediation=remediation,
        )
    if roll < 0.45:
        arc = ArcSpec(**base, enable_hotpatching=True, hotpatch_status="Enabled", licensed=True)
        return arc, MachineTruth(
            arc.id, "arc", frozenset(), "succeeded", "succeeded", "already enrolled"
        )
    arc = ArcSpec(**base)
    return arc, MachineTruth(arc.id, "arc", frozenset(), "succeeded", "succeeded")


def _hidden_hardware(seed: int, name: str) -> tuple[dict[str, Any], str]:
    """Firmware and processor of an Arc machine whose VBS is off, and what a remediation
    will find: a third lack Secure Boot (no script fixes that), a quarter are Arm64 with CHPE
    on (two fixes), the rest only need VBS turned on. Drawn from the machine's name, not the
    fleet's random stream, so the rest of the fleet is the same as before these facts."""
    roll = random.Random(f"{seed}/hardware/{name}").random()
    if roll < 0.3:
        return {"secure_boot": False}, "ArcNoSecureBoot"
    if roll < 0.55:
        return {"architecture": "ARM64", "chpe_on": True}, "vbs+chpe"
    return {}, "vbs"
