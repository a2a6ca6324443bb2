"""Typed shapes of the few Microsoft Graph resources the devices module reads and writes.

Each ``from_graph`` reads a body as the Graph docs show it (microsoftgraph/
microsoft-graph-docs-contrib, ``api-reference/beta``), and each ``to_graph`` writes the
request body those pages show; nothing else of Graph's model is carried. Pure: no I/O.
"""

from __future__ import annotations

import enum
import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from azhotpatch.calendar import Release
from azhotpatch.errors import InvalidArgumentError
from azhotpatch.models import Eligibility

__all__ = [
    "AssignmentPlan",
    "AssignmentTarget",
    "Baseline",
    "Change",
    "DeviceReadiness",
    "DeviceStatus",
    "FieldChange",
    "HotpatchSource",
    "ManagedDevice",
    "PolicyPlan",
    "PolicySpec",
    "QualityUpdatePolicy",
    "ReadinessReport",
    "StatusReport",
]

POLICY_TYPE = "#microsoft.graph.windowsQualityUpdatePolicy"
ASSIGNMENT_TYPE = "#microsoft.graph.windowsQualityUpdatePolicyAssignment"
INCLUDE_TYPE = "#microsoft.graph.groupAssignmentTarget"
EXCLUDE_TYPE = "#microsoft.graph.exclusionGroupAssignmentTarget"
MAX_NAME = 200  # displayName, "Max allowed length is 200 chars"
MAX_DESCRIPTION = 1500  # description, "Max allowed length is 1500 chars"


def _text(value: object) -> str:
    return "" if value is None else str(value)


# --- the policy ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicySpec:
    """The Windows quality update policy wanted: found by ``name`` (its display name),
    created if missing, converged if not. ``description`` and ``scope_tags`` None leave the
    policy's own alone. Hotpatch is the setting "When available, apply without restarting
    the device (hotpatch)": ``hotpatchEnabled`` on the wire."""

    name: str
    hotpatch: bool = True
    description: str | None = None
    scope_tags: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidArgumentError(
                "name", "is empty", fix="name the policy, e.g. 'Hotpatch: Windows 11'"
            )
        if len(self.name) > MAX_NAME:
            raise InvalidArgumentError(
                "name",
                f"has {len(self.name)} characters; Intune allows at most {MAX_NAME}",
                fix=f"shorten it to {MAX_NAME} characters",
            )
        if self.description is not None and len(self.description) > MAX_DESCRIPTION:
            raise InvalidArgumentError(
                "description",
                f"has {len(self.description)} characters; Intune allows at most {MAX_DESCRIPTION}",
                fix=f"shorten it to {MAX_DESCRIPTION} characters",
            )

    def to_graph(self) -> dict[str, Any]:
        """The create body (``intune-softwareupdate-windowsqualityupdatepolicy-create.md``)."""
        body: dict[str, Any] = {
            "@odata.type": POLICY_TYPE,
            "displayName": self.name,
            "description": self.description or "",
            "hotpatchEnabled": self.hotpatch,
        }
        if self.scope_tags is not None:
            body["roleScopeTagIds"] = list(self.scope_tags)
        return body


@dataclass(frozen=True)
class QualityUpdatePolicy:
    """A ``windowsQualityUpdatePolicy`` as Intune holds it."""

    id: str
    name: str
    hotpatch: bool
    description: str = ""
    scope_tags: tuple[str, ...] = ()
    created: str | None = None
    modified: str | None = None

    @classmethod
    def from_graph(cls, body: Mapping[str, Any]) -> QualityUpdatePolicy:
        return cls(
            id=str(body["id"]),
            name=_text(body.get("displayName")),
            hotpatch=bool(body.get("hotpatchEnabled")),
            description=_text(body.get("description")),
            scope_tags=tuple(str(t) for t in body.get("roleScopeTagIds") or ()),
            created=body.get("createdDateTime"),
            modified=body.get("lastModifiedDateTime"),
        )


@dataclass(frozen=True)
class AssignmentTarget:
    """One group a policy is assigned to, or excluded from; ``assignment_id`` is Intune's id
    for the assignment, kept when the set is written back so unchanged ones stay as they are."""

    group_id: str
    excluded: bool = False
    assignment_id: str | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, bool]:
        return self.group_id.lower(), self.excluded

    @classmethod
    def from_graph(cls, body: Mapping[str, Any]) -> AssignmentTarget | None:
        """An assignment (``...windowsqualityupdatepolicyassignment-list.md``); None for a
        target that is not a group (all devices, all users), which azhotpatch leaves be."""
        target = body.get("target") or {}
        kind = str(target.get("@odata.type") or "").lstrip("#").lower()
        group = target.get("groupId")
        if not group or kind not in (INCLUDE_TYPE[1:].lower(), EXCLUDE_TYPE[1:].lower()):
            return None
        return cls(str(group), kind == EXCLUDE_TYPE[1:].lower(), body.get("id"))

    def to_graph(self) -> dict[str, Any]:
        """An entry of the ``assign`` action's ``assignments``
        (``intune-softwareupdate-windowsqualityupdatepolicy-assign.md``)."""
        body: dict[str, Any] = {
            "@odata.type": ASSIGNMENT_TYPE,
            "target": {
                "@odata.type": EXCLUDE_TYPE if self.excluded else INCLUDE_TYPE,
                "groupId": self.group_id,
            },
        }
        if self.assignment_id:
            body["id"] = self.assignment_id
        return body


class Change(str, enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    NONE = "none"


@dataclass(frozen=True)
class FieldChange:
    name: str  # the Graph property
    old: Any
    new: Any


@dataclass(frozen=True)
class AssignmentPlan:
    """The groups wanted against the groups held: ``add`` and ``remove`` are what differs.
    ``managed`` False leaves assignments alone (none were asked for)."""

    current: tuple[AssignmentTarget, ...] = ()
    wanted: tuple[AssignmentTarget, ...] = ()
    managed: bool = False
    others: int = 0  # assignments to targets other than groups, kept as they are

    @property
    def add(self) -> tuple[AssignmentTarget, ...]:
        held = {t.key for t in self.current}
        return tuple(t for t in self.wanted if t.key not in held)

    @property
    def remove(self) -> tuple[AssignmentTarget, ...]:
        wanted = {t.key for t in self.wanted}
        return tuple(t for t in self.current if t.key not in wanted)

    @property
    def differs(self) -> bool:
        return self.managed and bool(self.add or self.remove)

    def body(self) -> list[dict[str, Any]]:
        """The whole set to write (``assign`` replaces it): the groups kept with their
        assignment ids, then the new ones."""
        held = {t.key: t for t in self.current}
        targets = [held.get(t.key, t) for t in self.wanted]
        return [t.to_graph() for t in targets]


@dataclass(frozen=True)
class PolicyPlan:
    """What applying ``spec`` would change: create the policy, update some of its
    properties, and the assignments; nothing when all agree."""

    spec: PolicySpec
    policy: QualityUpdatePolicy | None
    change: Change
    fields: tuple[FieldChange, ...] = ()
    assignments: AssignmentPlan = field(default_factory=AssignmentPlan)

    @property
    def writes(self) -> int:
        """Requests applying it sends: create or update, then assign."""
        return int(self.change is not Change.NONE) + int(self.assignments.differs)

    def patch_body(self) -> dict[str, Any]:
        """Only the properties that differ (``...windowsqualityupdatepolicy-update.md``)."""
        return {"@odata.type": POLICY_TYPE, **{f.name: f.new for f in self.fields}}

    def summary(self) -> str:
        name = self.spec.name
        if self.change is Change.CREATE:
            lines = [f"create the quality update policy {name!r} (hotpatch {self.spec.hotpatch})"]
        elif self.change is Change.UPDATE:
            lines = [f"update {name!r}:"] + [
                f"  {f.name}: {f.old!r} -> {f.new!r}" for f in self.fields
            ]
        else:
            lines = [f"the quality update policy {name!r} is as wanted"]
        plan = self.assignments
        if plan.differs:
            lines += [f"  assign to {t.group_id}" for t in plan.add if not t.excluded]
            lines += [f"  exclude {t.group_id}" for t in plan.add if t.excluded]
            lines += [f"  drop the assignment to {t.group_id}" for t in plan.remove]
        elif plan.managed:
            lines.append("  assignments as wanted")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        plan = self.assignments
        return {
            "name": self.spec.name,
            "policy_id": self.policy.id if self.policy else None,
            "change": self.change.value,
            "fields": {f.name: {"old": f.old, "new": f.new} for f in self.fields},
            "assign": [t.group_id for t in plan.add if not t.excluded],
            "exclude": [t.group_id for t in plan.add if t.excluded],
            "unassign": [t.group_id for t in plan.remove],
            "writes": self.writes,
        }

    def __str__(self) -> str:
        return self.summary()


# --- devices ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManagedDevice:
    """What readiness reads of an Intune ``managedDevice`` (beta): the list gives the OS,
    build, architecture and SKU family; only a single-device read with
    ``$select=hardwareInformation`` gives the edition and the VBS state (None: not read)."""

    id: str
    name: str
    operating_system: str
    os_version: str
    architecture: str
    sku_family: str = ""
    edition: str = ""
    vbs: str | None = None

    SELECT = "id,deviceName,operatingSystem,osVersion,processorArchitecture,skuFamily"

    @classmethod
    def from_graph(cls, body: Mapping[str, Any]) -> ManagedDevice:
        hardware = body.get("hardwareInformation") or {}
        return cls(
            id=str(body["id"]),
            name=_text(body.get("deviceName")),
            operating_system=_text(body.get("operatingSystem")),
            os_version=_text(body.get("osVersion")),
            architecture=_text(body.get("processorArchitecture")),
            sku_family=_text(body.get("skuFamily")),
            edition=_text(hardware.get("operatingSystemEdition")),
            vbs=hardware.get("deviceGuardVirtualizationBasedSecurityState"),
        )

    def with_hardware(self, body: Mapping[str, Any]) -> ManagedDevice:
        """The device with what a single read's ``hardwareInformation`` adds."""
        hardware = body.get("hardwareInformation") or {}
        return ManagedDevice(
            self.id,
            self.name,
            self.operating_system,
            self.os_version,
            self.architecture,
            self.sku_family,
            _text(hardware.get("operatingSystemEdition")),
            hardware.get("deviceGuardVirtualizationBasedSecurityState") or "unknown",
        )

    @property
    def is_windows(self) -> bool:
        return self.operating_system.lower() == "windows"


@dataclass(frozen=True)
class Baseline:
    """The baseline a device must be on to take hotpatches: the latest baseline release by
    the calendar, and the build it brought. ``known`` False: this release of azhotpatch does
    not know that month's build, and the newest one it knows stands in (pass ``baselines=``
    to name it)."""

    release: Release
    revision: int
    known: bool = True

    @property
    def month(self) -> str:
        return f"{self.release.year}-{self.release.month:02d}"


@dataclass(frozen=True)
class DeviceReadiness:
    device: ManagedDevice
    verdict: Eligibility

    @property
    def ready(self) -> bool:
        return self.verdict.ok


@dataclass(frozen=True)
class ReadinessReport:
    """Every device's readiness for hotpatch, with every reason and its fix."""

    baseline: Baseline
    devices: tuple[DeviceReadiness, ...]

    @property
    def ready(self) -> tuple[DeviceReadiness, ...]:
        return tuple(d for d in self.devices if d.ready)

    @property
    def not_ready(self) -> tuple[DeviceReadiness, ...]:
        return tuple(d for d in self.devices if not d.ready)

    def by_rule(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.devices:
            for reason in item.verdict.reasons:
                counts[reason.rule.value] = counts.get(reason.rule.value, 0) + 1
        return dict(sorted(counts.items()))

    def summary(self) -> str:
        known = "" if self.baseline.known else " (newest build azhotpatch knows)"
        head = (
            f"{len(self.devices)} devices: {len(self.ready)} ready for hotpatch, "
            f"{len(self.not_ready)} not; baseline {self.baseline.month} is build "
            f"revision {self.baseline.revision}{known}"
        )
        rules = [f"  {rule}: {count}" for rule, count in self.by_rule().items()]
        return "\n".join([head, *rules])

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        return [
            (
                d.device.name,
                d.device.os_version,
                d.device.architecture,
                "ready" if d.ready else "not ready",
                "; ".join(f"{r.rule.value}: {r.fix}" for r in d.verdict.reasons) or "-",
            )
            for d in self.devices
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseline": {
                "month": self.baseline.month,
                "revision": self.baseline.revision,
                "known": self.baseline.known,
            },
            "ready": len(self.ready),
            "not_ready": len(self.not_ready),
            "devices": [
                {"id": d.device.id, "name": d.device.name, **d.verdict.as_dict()}
                for d in self.devices
            ],
        }

    def __str__(self) -> str:
        """The summary, then each device that is not ready with its reasons and fixes."""
        lines = [self.summary()]
        for item in self.not_ready:
            device = item.device
            lines.append(f"{device.name} ({device.id}) {device.os_version} {device.architecture}")
            lines += [f"  - [{r.rule.value}] {r}" for r in item.verdict.blockers]
            lines += [f"  ~ [{r.rule.value}] {r}" for r in item.verdict.changes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html_table(
            ("device", "build", "architecture", "hotpatch", "reasons and fixes"),
            self.rows(),
            caption=self.summary().splitlines()[0],
        )


# --- status -------------------------------------------------------------------------------------


class HotpatchSource(str, enum.Enum):
    """Why a device gets hotpatches, as far as Graph can tell."""

    POLICY = "policy"  # a quality update policy with hotpatch allowed targets it
    POLICY_OFF = "policyOff"  # only policies with hotpatch off target it: it is not hotpatched
    AUTOPATCH_DEFAULT = "autopatchDefault"  # no policy: by Autopatch's default, unless opted out
    NONE = "none"  # no policy, and before Autopatch's default began


@dataclass(frozen=True)
class DeviceStatus:
    """One row of ``QualityUpdateDeviceStatusByPolicy`` (MicrosoftDocs/memdocs
    ``intune/device-management/reports/ref-graph-available-reports.md``); the ``_loc``
    columns are the readable values where the raw ones are codes."""

    policy_id: str
    device_id: str
    device_name: str
    aggregate_state: str
    update_status: str
    update_substatus: str
    alert: str
    last_scan: str
    event_time: str

    @classmethod
    def from_row(cls, row: Mapping[str, str]) -> DeviceStatus:
        def column(name: str) -> str:
            return row.get(f"{name}_loc") or row.get(name) or ""

        return cls(
            policy_id=row.get("PolicyId", ""),
            device_id=row.get("DeviceId", ""),
            device_name=row.get("DeviceName", ""),
            aggregate_state=column("AggregateState"),
            update_status=column("CurrentDeviceUpdateStatus"),
            update_substatus=column("CurrentDeviceUpdateSubstatus"),
            alert=column("LatestAlertMessage"),
            last_scan=row.get("LastWUScanTimeUTC", ""),
            event_time=row.get("EventDateTimeUTC", ""),
        )


AUTOPATCH_NOTE = (
    "Intune has no report named for hotpatch: these rows are QualityUpdateDeviceStatusByPolicy, "
    "the nearest, per quality update policy. From the May 2026 security update Windows "
    "Autopatch turns hotpatch on by default for eligible devices no quality update policy "
    "targets, unless the tenant opted out (possible since 2026-04-01); that opt-out is not "
    "readable over Microsoft Graph, so a device in no policy is reported 'autopatchDefault' "
    "meaning it hotpatches by default only if the tenant has not opted out."
)


@dataclass(frozen=True)
class StatusReport:
    """Per-device status from each quality update policy's report, and for every device
    Intune manages, why it gets hotpatches (`HotpatchSource`)."""

    policies: tuple[QualityUpdatePolicy, ...]
    rows: tuple[DeviceStatus, ...]
    sources: Mapping[str, HotpatchSource]
    default_from: date
    note: str = AUTOPATCH_NOTE

    def source_of(self, device_id: str) -> HotpatchSource:
        return self.sources[device_id.lower()]

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for source in self.sources.values():
            found[source.value] = found.get(source.value, 0) + 1
        return dict(sorted(found.items()))

    def summary(self) -> str:
        policies = ", ".join(
            f"{p.name!r} (hotpatch {'on' if p.hotpatch else 'off'})" for p in self.policies
        )
        counts = ", ".join(f"{k} {v}" for k, v in self.counts().items())
        return "\n".join(
            [
                f"quality update policies: {policies or 'none'}",
                f"{len(self.rows)} report rows; devices by hotpatch source: {counts or 'none'}",
                self.note,
            ]
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "report": "QualityUpdateDeviceStatusByPolicy",
            "policies": [
                {"id": p.id, "name": p.name, "hotpatch": p.hotpatch} for p in self.policies
            ],
            "rows": [vars(r) for r in self.rows],
            "sources": {k: v.value for k, v in sorted(self.sources.items())},
            "autopatch_default_from": self.default_from.isoformat(),
            "note": self.note,
        }

    def __str__(self) -> str:
        return self.summary()


def sources_of(
    devices: Iterable[str],
    policies: Sequence[QualityUpdatePolicy],
    rows: Iterable[DeviceStatus],
    *,
    today: date | datetime,
    default_from: date,
) -> dict[str, HotpatchSource]:
    """Each device's `HotpatchSource`: in a hotpatch policy's report, in only other
    policies' reports, or in none (Autopatch's default from ``default_from`` on)."""
    hotpatch = {p.id.lower() for p in policies if p.hotpatch}
    covered: dict[str, bool] = {}
    for row in rows:
        key = row.device_id.lower()
        covered[key] = covered.get(key, False) or row.policy_id.lower() in hotpatch
    day = today.date() if isinstance(today, datetime) else today
    unmanaged = HotpatchSource.AUTOPATCH_DEFAULT if day >= default_from else HotpatchSource.NONE
    found: dict[str, HotpatchSource] = {}
    for device in devices:
        key = device.lower()
        if key not in covered:
            found[key] = unmanaged
        else:
            found[key] = HotpatchSource.POLICY if covered[key] else HotpatchSource.POLICY_OFF
    return found


def _html_table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str) -> str:
    cell = "padding:3px 6px;border:1px solid #999;text-align:left"
    head = "".join(f'<th style="{cell}">{html.escape(h)}</th>' for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="{cell}">{html.escape(str(v))}</td>' for v in row) + "</tr>"
        for row in rows
    )
    return (
        f'<table style="border-collapse:collapse"><caption>{html.escape(caption)}</caption>'
        f"<tr>{head}</tr>{body}</table>"
    )
