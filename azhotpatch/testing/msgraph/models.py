"""Intune as the emulator holds it: Windows quality update policies and their assignments,
Entra groups, a generated fleet of managed devices with the ground truth of each, and report
export jobs that complete after a delay. Nothing here knows HTTP.

The fleet is generated from seeded choices per device (edition, build, architecture, VBS
state), and each device's expected readiness reasons are those choices, so a client's
verdicts can be judged against what the emulator built rather than against a second copy of
the client's own logic. The one fact shared with the library is Microsoft's release history:
which baseline is the latest on the emulator's date and the build it brought
(`azhotpatch.devices.readiness.baseline_on`).
"""

from __future__ import annotations

import csv
import io
import random
import uuid
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from azhotpatch.testing.world.clock import Clock

# The readiness rules' codes (azhotpatch.models.Rule values) the fleet is built to show
NOT_WINDOWS = "DeviceNotWindows"
OS_BUILD = "DeviceOsBuild"
EDITION = "DeviceEdition"
ARCHITECTURE = "DeviceArchitecture"
ARM64 = "DeviceArm64Preview"
VBS_OFF = "DeviceVbsOff"
VBS_UNKNOWN = "DeviceVbsUnknown"
BEHIND = "DeviceBehindBaseline"

EXPORT_SECONDS = 45.0  # how long Intune takes to build a report (emulated seconds)
_NAMESPACE = uuid.UUID("5d3f8a52-8c1e-4b7a-9d52-0e6f1c2a9b10")


@dataclass(frozen=True)
class DeviceTruth:
    """What the emulator built a device to be: the readiness rules a correct check finds."""

    id: str
    name: str
    rules: frozenset[str]
    groups: tuple[str, ...]


@dataclass
class Device:
    id: str
    name: str
    operating_system: str
    os_version: str
    architecture: str
    sku_family: str
    edition: str
    vbs: str | None
    groups: tuple[str, ...]
    aad_id: str

    def document(self, select: Iterable[str] | None) -> dict[str, Any]:
        """The managedDevice body, with hardwareInformation only when selected (as Graph
        fills it only on a single-device read)."""
        full: dict[str, Any] = {
            "@odata.type": "#microsoft.graph.managedDevice",
            "id": self.id,
            "deviceName": self.name,
            "operatingSystem": self.operating_system,
            "osVersion": self.os_version,
            "processorArchitecture": self.architecture,
            "skuFamily": self.sku_family,
            "azureADDeviceId": self.aad_id,
            "managementAgent": "mdm",
            "ownerType": "company",
            "complianceState": "compliant",
        }
        if select is None:
            return full
        selected = {s.strip() for s in select}
        found = {k: v for k, v in full.items() if k in selected}
        if "hardwareInformation" in selected:
            found["hardwareInformation"] = {
                "@odata.type": "microsoft.graph.hardwareInformation",
                "operatingSystemEdition": self.edition,
                "deviceGuardVirtualizationBasedSecurityState": self.vbs,
            }
        return found


@dataclass
class Policy:
    id: str
    body: dict[str, Any]
    assignments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ExportJob:
    id: str
    body: dict[str, Any]
    ready_at: float
    policy_id: str | None
    owner: str | None = None  # the app that created it (what its report download concerns)


@dataclass
class Writes:
    """Every write Intune accepted, for tests of what a client changed."""

    created: list[str] = field(default_factory=list)
    updated: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    assigned: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.created) + len(self.updated) + len(self.assigned) + len(self.deleted)


class IntuneBackend:
    """The tenant's Intune and Entra state the Graph routes read and change."""

    def __init__(self, clock: Clock, *, seed: int = 0, page_size: int = 1000) -> None:
        self.clock = clock
        self.seed = seed
        self.page_size = page_size
        # how long Intune takes to build a report (emulated seconds; a test may set it)
        self.export_seconds = EXPORT_SECONDS
        self.policies: dict[str, Policy] = {}
        self.groups: dict[str, str] = {}  # id -> display name
        self.devices: dict[str, Device] = {}
        self.truth: dict[str, DeviceTruth] = {}
        self.jobs: dict[str, ExportJob] = {}
        self.blobs: dict[str, bytes] = {}
        self.writes = Writes()
        # answer a single export job's read wrapped in "value", as the Graph reference's
        # example shows (intune-reporting-devicemanagementexportjob-get.md); Graph itself
        # answers it bare, which is the default
        self.single_items_wrapped = False
        self._ids = random.Random(seed ^ 0x61A7)

    def new_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def now(self) -> datetime:
        return self.clock.now()

    # --- devices ----------------------------------------------------------------------------

    def load_devices(self, count: int, baseline_revision: int, *, groups: int = 8) -> None:
        """``count`` generated devices in ``groups`` Entra groups (``Hotpatch ring N``)."""
        ring_ids = [str(uuid.uuid5(_NAMESPACE, f"group/{self.seed}/{n}")) for n in range(groups)]
        for number, ring in enumerate(ring_ids):
            self.groups[ring] = f"Hotpatch ring {number}"
        draw = random.Random(self.seed * 7919 + count)
        for number in range(count):
            device, truth = _generate(draw, number, self.seed, baseline_revision, ring_ids)
            self.devices[device.id] = device
            self.truth[device.id] = truth

    def targeted_by(self, device: Device) -> list[Policy]:
        """The policies whose assignments take the device in: one of its groups included
        and none excluded."""
        found = []
        member = {g.lower() for g in device.groups}
        for policy in self.policies.values():
            included = excluded = False
            for assignment in policy.assignments:
                target = assignment.get("target") or {}
                if str(target.get("groupId", "")).lower() not in member:
                    continue
                if "exclusion" in str(target.get("@odata.type", "")).lower():
                    excluded = True
                else:
                    included = True
            if included and not excluded:
                found.append(policy)
        return found

    def hotpatch_source(self, device_id: str, today: date, default_from: date) -> str:
        """Why the device gets hotpatches, from the emulator's own state (the truth a
        client's status report must agree with)."""
        device = self.devices[device_id]
        policies = self.targeted_by(device)
        if any(p.body.get("hotpatchEnabled") for p in policies):
            return "policy"
        if policies:
            return "policyOff"
        return "autopatchDefault" if today >= default_from else "none"

    # --- reports ----------------------------------------------------------------------------

    def report_rows(self, policy_id: str) -> list[dict[str, str]]:
        """QualityUpdateDeviceStatusByPolicy rows: every device the policy targets."""
        policy = self.policies.get(policy_id)
        if policy is None:
            return []
        stamp = self.now().strftime("%Y-%m-%dT%H:%M:%S")
        rows = []
        for device in sorted(self.devices.values(), key=lambda d: d.id):
            if device.operating_system != "Windows" or policy not in self.targeted_by(device):
                continue
            healthy = device.vbs == "running" and device.architecture == "x64"
            rows.append(
                {
                    "PolicyId": policy_id,
                    "DeviceId": device.id,
                    "DeviceName": device.name,
                    "AADDeviceId": device.aad_id,
                    "AggregateState": "1" if healthy else "2",
                    "AggregateState_loc": "Success" if healthy else "Error",
                    "CurrentDeviceUpdateStatus": "4" if healthy else "5",
                    "CurrentDeviceUpdateStatus_loc": "Installed" if healthy else "Error",
                    "CurrentDeviceUpdateSubstatus": "0",
                    "CurrentDeviceUpdateSubstatus_loc": "Update installed",
                    "LatestAlertMessage": "" if healthy else "1",
                    "LatestAlertMessage_loc": "" if healthy else "Hotpatch not applicable",
                    "LastWUScanTimeUTC": stamp,
                    "EventDateTimeUTC": stamp,
                    "OwnerType": "1",
                }
            )
        return rows

    def report_zip(self, job: ExportJob) -> bytes:
        """The report as Intune zips it: the selected columns, each localizable one followed
        by its ``_loc`` column (``LocalizedValuesAsAdditionalColumn``, the default) or
        replaced by it (``ReplaceLocalizableValues``)."""
        rows = self.report_rows(job.policy_id or "")
        select = list(job.body.get("select") or (list(rows[0]) if rows else ["PolicyId"]))
        sample = rows[0] if rows else {}
        if job.body.get("localizationType") == "ReplaceLocalizableValues":
            columns = select
            rows = [{k: r.get(f"{k}_loc", v) for k, v in r.items()} for r in rows]
        else:
            columns = [
                c for name in select for c in (name, f"{name}_loc") if c in sample or c == name
            ]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{job.id}.csv", text.getvalue())
        return out.getvalue()


def _generate(
    draw: random.Random, number: int, seed: int, baseline: int, rings: list[str]
) -> tuple[Device, DeviceTruth]:
    """One device from seeded choices; its truth is the set of choices that break a rule."""
    rules: set[str] = set()
    device_id = str(uuid.uuid5(_NAMESPACE, f"device/{seed}/{number}"))
    name = f"W11-{number:05d}"
    groups = tuple(draw.sample(rings, k=draw.choice((1, 1, 2))))
    if draw.random() < 0.03:
        other = draw.choice(("iOS", "Android", "macOS"))
        device = Device(device_id, name, other, "17.5.1", "arM64", "", "", None, groups, device_id)
        return device, DeviceTruth(device_id, name, frozenset({NOT_WINDOWS}), groups)
    version = _build(draw, baseline, rules)
    family, edition = _pick(
        draw,
        (0.85, ("Enterprise", "Enterprise")),
        (0.07, ("Education", "Education")),
        (0.08, ("Pro", "Professional")),
    )
    if family == "Pro":
        rules.add(EDITION)
    architecture = _pick(draw, (0.90, "x64"), (0.06, "arM64"), (0.04, "x86"))
    if architecture == "arM64":
        rules.add(ARM64)
    elif architecture == "x86":
        rules.add(ARCHITECTURE)
    vbs = _pick(
        draw,
        (0.85, "running"),
        (0.05, "notConfigured"),
        (0.04, "rebootRequired"),
        (0.03, "doesNotMeetHardwareRequirements"),
        (0.03, None),
    )
    if vbs is None:
        rules.add(VBS_UNKNOWN)
    elif vbs != "running":
        rules.add(VBS_OFF)
    aad = str(uuid.uuid5(_NAMESPACE, f"aad/{seed}/{number}"))
    device = Device(device_id, name, "Windows", version, architecture, family, edition, vbs,
                    groups, aad)  # fmt: skip
    return device, DeviceTruth(device_id, name, frozenset(rules), groups)


def _build(draw: random.Random, baseline: int, rules: set[str]) -> str:
    kind = _pick(
        draw,
        (0.62, "current"),
        (0.13, "behind"),
        (0.07, "25h2"),
        (0.08, "23h2"),
        (0.05, "win10"),
        (0.05, "early24h2"),
    )
    if kind == "current":
        return f"10.0.26100.{baseline + draw.randint(0, 400)}"
    if kind == "25h2":
        return f"10.0.26200.{baseline + draw.randint(0, 400)}"
    if kind == "behind":
        rules.add(BEHIND)
        return f"10.0.26100.{draw.randint(2033, baseline - 1)}"
    rules.add(OS_BUILD)
    if kind == "23h2":
        return f"10.0.22631.{draw.randint(3000, 5000)}"
    if kind == "win10":
        return f"10.0.19045.{draw.randint(4000, 6000)}"
    return f"10.0.26100.{draw.randint(1000, 2032)}"


def _pick(draw: random.Random, *choices: tuple[float, Any]) -> Any:
    roll = draw.random()
    for share, value in choices:
        if roll < share:
            return value
        roll -= share
    return choices[-1][1]


def summary(truth: Mapping[str, DeviceTruth]) -> dict[str, int]:
    """How many devices were built to show each rule (and how many none)."""
    counts: dict[str, int] = {"ready": 0}
    for item in truth.values():
        if not item.rules:
            counts["ready"] += 1
        for rule in item.rules:
            counts[rule] = counts.get(rule, 0) + 1
    return counts
