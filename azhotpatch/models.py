"""Typed results shared by every layer: frozen dataclasses and enums, never SDK models or dicts.

These are what callers hold on to, print, serialise into journals and reports, and compare in
tests, so they are immutable, hashable where it makes sense, and free of I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from types import MappingProxyType
from typing import TypeVar

from azhotpatch.errors import PYTHON, Fix, InvalidArgumentError, Words
from azhotpatch.ids import MachineKind

__all__ = [
    "Assessment",
    "Classification",
    "Eligibility",
    "Enrollment",
    "EnrollmentState",
    "FeatureRegistration",
    "HotpatchStatus",
    "InstallOptions",
    "Installation",
    "InstallationState",
    "InstalledPatch",
    "OperationError",
    "OperationStatus",
    "OtherInstall",
    "Patch",
    "PatchSummary",
    "Reason",
    "RebootBehavior",
    "RebootSetting",
    "RebootStatus",
    "Registration",
    "Rule",
]


class Action(str, enum.Enum):
    """What azhotpatch does to a machine: a step of a fleet run, and the kind of operation a
    handle or a journal records (assess and install are Azure's long-running operations)."""

    ENABLE = "enable"
    DISABLE = "disable"
    ASSESS = "assess"
    INSTALL = "install"

    @property
    def doing(self) -> str:
        """The action in words, for messages ("installing patches")."""
        return _DOING[self]


_DOING = {
    Action.ENABLE: "enabling Hotpatch",
    Action.DISABLE: "disabling Hotpatch",
    Action.ASSESS: "assessing patches",
    Action.INSTALL: "installing patches",
}


class Rule(str, enum.Enum):
    """Stable codes for every Hotpatch prerequisite; scripts and reports key on these."""

    # image (VMs)
    IMAGE_NOT_SUPPORTED = "ImageNotSupported"
    CUSTOM_IMAGE = "CustomImage"
    GALLERY_IMAGE = "GalleryImage"
    NO_IMAGE_REFERENCE = "NoImageReference"
    LINUX = "Linux"
    UNIFORM_SCALE_SET = "UniformScaleSet"
    IMAGE_NOT_IN_REGION = "ImageNotInRegion"
    # patch settings (VMs)
    PATCH_MODE = "PatchMode"
    VM_AGENT_NOT_PROVISIONED = "VmAgentNotProvisioned"
    AUTOMATIC_UPDATES_OFF = "AutomaticUpdatesOff"
    BYPASS_SAFETY_CHECKS = "BypassPlatformSafetyChecks"
    HOTPATCH_SETTING_OFF = "HotpatchSettingOff"
    # runtime state (VMs)
    VM_NOT_RUNNING = "VmNotRunning"
    VM_AGENT_NOT_READY = "VmAgentNotReady"
    # Arc
    ARC_OS_NOT_SUPPORTED = "ArcOsNotSupported"
    ARC_NOT_WINDOWS = "ArcNotWindows"
    ARC_DISCONNECTED = "ArcDisconnected"
    ARC_VBS_OFF = "ArcVbsOff"
    ARC_CHPE_ENABLED = "ArcChpeEnabled"
    ARC_LICENSE_FEATURE_OFF = "ArcLicenseFeatureOff"
    # Update Manager schedules
    SCHEDULE_HOTPATCH_VM = "ScheduleHotpatchVm"
    SCHEDULE_ORCHESTRATION = "ScheduleOrchestration"
    SCHEDULE_NOT_HOTPATCHED = "ScheduleNotHotpatched"
    SCHEDULE_NOT_WINDOWS = "ScheduleNotWindows"
    SCHEDULE_SCOPE_BLOCKED = "ScheduleScopeBlocked"
    # Windows 11 devices managed by Intune (azhotpatch.devices)
    DEVICE_NOT_WINDOWS = "DeviceNotWindows"
    DEVICE_OS_BUILD = "DeviceOsBuild"
    DEVICE_EDITION = "DeviceEdition"
    DEVICE_ARCHITECTURE = "DeviceArchitecture"
    DEVICE_ARM64_PREVIEW = "DeviceArm64Preview"
    DEVICE_VBS_OFF = "DeviceVbsOff"
    DEVICE_VBS_UNKNOWN = "DeviceVbsUnknown"
    DEVICE_BEHIND_BASELINE = "DeviceBehindBaseline"
    # what a Run Command measurement finds on an Arc machine (see azhotpatch.remediation)
    ARC_NO_UEFI = "ArcNoUefi"
    ARC_NO_SECURE_BOOT = "ArcNoSecureBoot"
    ARC_NO_VIRTUALIZATION = "ArcNoVirtualizationSupport"
    ARC_BUILD_TOO_OLD = "ArcBuildTooOld"
    # the rest of the estate: machines that take Hotpatch another way, or not at all
    ARC_AZURE_EDITION = "ArcAzureEdition"
    AZURE_LOCAL_VM = "AzureLocalVm"
    AZURE_LOCAL_IMAGE = "AzureLocalImageNotSupported"
    SCALE_SET_MODEL = "ScaleSetModelMismatch"
    # where an enrolled machine stands with its updates (azhotpatch.posture_rules)
    ON_CURRENT_RELEASE = "OnCurrentRelease"
    RELEASES_BEHIND = "ReleasesBehind"
    RESTART_PENDING = "RestartPending"
    NOT_ENROLLED = "NotEnrolled"
    ASSESSMENT_STALE = "AssessmentStale"
    NO_PATCH_RECORD = "NoPatchRecord"
    POLICY_MISMATCH = "PolicyMismatch"


@dataclass(frozen=True)
class Reason:
    """One broken prerequisite: what is wrong (``message``) and how to fix it (``fix``, which
    each edge renders in its words: a method in Python, a command on the command line).

    ``blocking`` reasons stop enrollment until someone acts outside azhotpatch. Non-blocking
    reasons are settings that `enable` itself changes; they describe what enrollment will do.
    """

    rule: Rule
    message: str
    fix: Fix
    blocking: bool = True

    def text(self, words: Words = PYTHON) -> str:
        return f"{self.message} Fix: {self.fix.render(words)}"

    def __str__(self) -> str:
        return self.text()


@dataclass(frozen=True)
class Eligibility:
    """Whether a machine can take Hotpatch, with *every* reason it cannot (not just the first).

    ``ok`` is true when nothing blocks enrollment; ``compliant`` when nothing at all differs
    from what Hotpatch needs (the machine could already be enrolled as it stands).
    """

    resource: str | None = None
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.blockers

    @property
    def compliant(self) -> bool:
        return not self.reasons

    @property
    def blockers(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.blocking)

    @property
    def changes(self) -> tuple[Reason, ...]:
        """Settings `enable` will change on the machine (non-blocking reasons)."""
        return tuple(r for r in self.reasons if not r.blocking)

    @property
    def rules(self) -> frozenset[Rule]:
        return frozenset(r.rule for r in self.reasons)

    def __bool__(self) -> bool:
        return self.ok

    def as_dict(self, words: Words = PYTHON) -> dict[str, object]:
        """Plain JSON, each reason's fix in ``words``."""
        return {
            "resource": self.resource,
            "ok": self.ok,
            "compliant": self.compliant,
            "reasons": [
                {
                    "rule": r.rule.value,
                    "blocking": r.blocking,
                    "message": r.message,
                    "fix": r.fix.render(words),
                }
                for r in self.reasons
            ],
        }

    def with_resource(self, resource: str) -> Eligibility:
        return Eligibility(resource=resource, reasons=self.reasons)

    @classmethod
    def combine(cls, parts: Iterable[Eligibility], *, resource: str | None = None) -> Eligibility:
        """Merge partial checks (image, region, settings...) into one verdict."""
        reasons: list[Reason] = []
        for part in parts:
            reasons.extend(r for r in part.reasons if r not in reasons)
        return cls(resource=resource, reasons=tuple(reasons))

    def text(self, words: Words = PYTHON) -> str:
        """The verdict for a person, each fix in ``words``."""
        who = self.resource or "machine"
        if self.compliant:
            return f"{who}: eligible for Hotpatch"
        verdict = "eligible; enable will change:" if self.ok else "NOT eligible for Hotpatch"
        head = f"{who}: {verdict}"
        lines = [head]
        lines += [f"  - [{r.rule.value}] {r.text(words)}" for r in self.blockers]
        lines += [f"  ~ [{r.rule.value}] {r.text(words)}" for r in self.changes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


# --- patch operations ------------------------------------------------------------------------


_E = TypeVar("_E", bound="_Lenient")


class _Lenient(str, enum.Enum):
    """Azure adds enum values over time; unknown ones map to UNKNOWN instead of failing."""

    @classmethod
    def parse(cls: type[_E], value: object) -> _E:
        text = str(value or "")
        for member in cls:
            if member.value.lower() == text.lower():
                return member
        return cls("Unknown")


class OperationStatus(_Lenient):
    UNKNOWN = "Unknown"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"
    COMPLETED_WITH_WARNINGS = "CompletedWithWarnings"

    @property
    def done(self) -> bool:
        return self not in (OperationStatus.IN_PROGRESS, OperationStatus.UNKNOWN)


class RebootBehavior(_Lenient):
    UNKNOWN = "Unknown"
    NEVER_REBOOTS = "NeverReboots"
    ALWAYS_REQUIRES_REBOOT = "AlwaysRequiresReboot"
    CAN_REQUEST_REBOOT = "CanRequestReboot"


class RebootStatus(_Lenient):
    UNKNOWN = "Unknown"
    NOT_NEEDED = "NotNeeded"
    REQUIRED = "Required"
    STARTED = "Started"
    FAILED = "Failed"
    COMPLETED = "Completed"


class InstallationState(_Lenient):
    UNKNOWN = "Unknown"
    INSTALLED = "Installed"
    FAILED = "Failed"
    EXCLUDED = "Excluded"
    NOT_SELECTED = "NotSelected"
    PENDING = "Pending"


class Classification(str, enum.Enum):
    """Windows update classifications installPatches accepts."""

    CRITICAL = "Critical"
    SECURITY = "Security"
    UPDATE_ROLLUP = "UpdateRollUp"
    FEATURE_PACK = "FeaturePack"
    SERVICE_PACK = "ServicePack"
    DEFINITION = "Definition"
    TOOLS = "Tools"
    UPDATES = "Updates"


class RebootSetting(str, enum.Enum):
    IF_REQUIRED = "IfRequired"
    NEVER = "Never"
    ALWAYS = "Always"


@dataclass(frozen=True)
class OperationError:
    """The error Azure attached to a patch operation."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Patch:
    """An available update. A hotpatch is a security update that never reboots."""

    name: str
    kb_id: str | None
    classifications: tuple[str, ...]
    reboot_behavior: RebootBehavior
    published: datetime | None = None
    patch_id: str | None = None

    @property
    def never_reboots(self) -> bool:
        return self.reboot_behavior is RebootBehavior.NEVER_REBOOTS

    @property
    def is_hotpatch(self) -> bool:
        """Security or critical, and applied without a reboot (Defender definitions also never
        reboot, but are not hotpatches)."""
        security = {"security", "critical"} & {c.lower() for c in self.classifications}
        return self.never_reboots and bool(security)


_NO_COUNTS: Mapping[str, int] = MappingProxyType({})


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def _azure_counts(counts: Mapping[str, int]) -> tuple[int, int] | None:
    """(critical and security, other) as a VM's assessment summary states them, if it does."""
    if "critical_and_security" in counts and "other" in counts:
        return counts["critical_and_security"], counts["other"]
    return None


@dataclass(frozen=True)
class Assessment:
    """What a machine can install now. VMs list every patch; Arc reports counts only
    (``patches`` is None there), as Azure does."""

    resource: str
    kind: MachineKind
    status: OperationStatus
    activity_id: str | None
    started: datetime | None
    reboot_pending: bool | None
    counts: Mapping[str, int] = field(default_factory=lambda: _NO_COUNTS)
    patches: tuple[Patch, ...] | None = None
    error: OperationError | None = None
    finished: datetime | None = None  # Arc's result, or a VM operation's status, says

    @property
    def seconds(self) -> float | None:
        """How long the operation ran, where Azure says when it ended."""
        return _seconds_between(self.started, self.finished)

    @property
    def total(self) -> int:
        """Azure's own count where it gives one (a VM's critical-and-security plus other
        count), else the patches listed, else the classification counts summed (Arc)."""
        given = _azure_counts(self.counts)
        if given is not None:
            return sum(given)
        return len(self.patches) if self.patches is not None else sum(self.counts.values())

    @property
    def hotpatches(self) -> tuple[Patch, ...]:
        return tuple(p for p in self.patches or () if p.is_hotpatch)

    @property
    def needing_reboot(self) -> tuple[Patch, ...]:
        return tuple(p for p in self.patches or () if not p.never_reboots)

    @property
    def critical_and_security(self) -> int:
        """Azure's ``criticalAndSecurityPatchCount`` where it gives one (VMs), as Azure gives
        it: its list of patches can disagree (Microsoft's own REST example counts one
        critical-or-security patch beside a list of definition updates). Arc reports counts
        per classification, which are summed."""
        given = _azure_counts(self.counts)
        if given is not None:
            return given[0]
        return self.counts.get("critical", 0) + self.counts.get("security", 0)


@dataclass(frozen=True)
class InstalledPatch:
    name: str
    kb_id: str | None
    classifications: tuple[str, ...]
    state: InstallationState


@dataclass(frozen=True)
class OtherInstall:
    """An install on a machine that this caller did not send: another run's, a person's (the
    portal, the CLI) or the platform's own schedule's, as Azure records it. ``started_by`` is
    Azure's ``startedBy``: ``User`` for anything started on request, ``Platform`` for an
    Update Manager schedule (which also names its ``maintenance_run_id``)."""

    activity_id: str
    status: OperationStatus
    started: datetime | None
    started_by: str
    maintenance_run_id: str | None = None

    @property
    def by_platform(self) -> bool:
        return self.started_by.lower() == "platform"

    @property
    def who(self) -> str:
        """Who started it, in words."""
        if self.by_platform:
            return "the platform's schedule (startedBy Platform" + (
                f", maintenance run {self.maintenance_run_id})" if self.maintenance_run_id else ")"
            )
        if self.started_by.lower() == "user":
            return "another run or a person (startedBy User)"
        return "another run, a person or the platform (the record does not say which)"


@dataclass(frozen=True)
class Installation:
    """The outcome of an install. VMs list every patch; Arc reports counts only. ``by`` is
    set when the install is someone else's (`OtherInstall`): one was already running, or
    had run for the current release, so azhotpatch sent none and reports that one."""

    resource: str
    kind: MachineKind
    status: OperationStatus
    activity_id: str | None
    started: datetime | None
    reboot_status: RebootStatus
    maintenance_window_exceeded: bool
    installed: int
    failed: int
    pending: int
    excluded: int
    not_selected: int
    patches: tuple[InstalledPatch, ...] | None = None
    error: OperationError | None = None
    finished: datetime | None = None  # Arc's result, or a VM operation's status, says
    by: OtherInstall | None = None

    @property
    def seconds(self) -> float | None:
        """How long the operation ran, where Azure says when it ended."""
        return _seconds_between(self.started, self.finished)

    @property
    def rebooted(self) -> bool:
        return self.reboot_status in (RebootStatus.STARTED, RebootStatus.COMPLETED)

    @property
    def reboot_required(self) -> bool:
        return self.reboot_status is RebootStatus.REQUIRED


_KB = re.compile(r"(?:KB)?(\d{6,8})", re.IGNORECASE)
_MAX_DURATION = timedelta(hours=4)


@dataclass(frozen=True)
class InstallOptions:
    """What to install and how, validated before anything is sent.

    ``max_duration`` bounds the maintenance window (Azure allows up to 4 hours; Arc requires
    one, so it is always sent). KB numbers may be given as ``KB5041578`` or ``5041578``.
    """

    classifications: tuple[Classification, ...] = (Classification.CRITICAL, Classification.SECURITY)
    reboot: RebootSetting = RebootSetting.IF_REQUIRED
    max_duration: timedelta = timedelta(hours=2)
    kb_include: tuple[str, ...] = ()
    kb_exclude: tuple[str, ...] = ()
    exclude_kbs_requiring_reboot: bool = False
    max_patch_publish_date: datetime | None = None

    @classmethod
    def build(
        cls,
        *,
        classifications: Iterable[str | Classification] = ("Critical", "Security"),
        reboot: str | RebootSetting = RebootSetting.IF_REQUIRED,
        max_duration: timedelta = timedelta(hours=2),
        kb_include: Iterable[str] = (),
        kb_exclude: Iterable[str] = (),
        exclude_kbs_requiring_reboot: bool = False,
        max_patch_publish_date: datetime | date | None = None,
    ) -> InstallOptions:
        return cls(
            classifications=_classifications(classifications),
            reboot=_reboot(reboot),
            max_duration=_duration(max_duration),
            kb_include=_kbs("kb_include", kb_include),
            kb_exclude=_kbs("kb_exclude", kb_exclude),
            exclude_kbs_requiring_reboot=bool(exclude_kbs_requiring_reboot),
            max_patch_publish_date=_publish_date(max_patch_publish_date),
        )

    def __post_init__(self) -> None:
        _classifications(self.classifications)
        _duration(self.max_duration)
        overlap = set(self.kb_include) & set(self.kb_exclude)
        if overlap:
            raise InvalidArgumentError(
                "kb_exclude",
                f"{sorted(overlap)} are both included and excluded",
                fix="list each KB in kb_include or kb_exclude, not both",
            )

    @property
    def iso_duration(self) -> str:
        return iso_duration(self.max_duration)

    def request_body(self) -> dict[str, object]:
        """The installPatches JSON body (Windows parameters)."""
        windows: dict[str, object] = {
            "classificationsToInclude": [c.value for c in self.classifications],
        }
        if self.kb_include:
            windows["kbNumbersToInclude"] = list(self.kb_include)
        if self.kb_exclude:
            windows["kbNumbersToExclude"] = list(self.kb_exclude)
        if self.exclude_kbs_requiring_reboot:
            windows["excludeKbsRequiringReboot"] = True
        if self.max_patch_publish_date is not None:
            windows["maxPatchPublishDate"] = self.max_patch_publish_date.isoformat()
        return {
            "maximumDuration": self.iso_duration,
            "rebootSetting": self.reboot.value,
            "windowsParameters": windows,
        }


def iso_duration(value: timedelta) -> str:
    """``timedelta(hours=1, minutes=30)`` -> ``PT1H30M``."""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{seconds}S" if seconds or text == "PT" else "")


def _classifications(values: Iterable[str | Classification]) -> tuple[Classification, ...]:
    if isinstance(values, str):
        values = [values]
    by_name = {c.value.lower(): c for c in Classification}
    parsed: list[Classification] = []
    for value in values:
        key = value.value if isinstance(value, Classification) else str(value)
        found = by_name.get(key.lower().replace(" ", "").replace("_", ""))
        if found is None:
            raise InvalidArgumentError(
                "classifications",
                f"{value!r} is not a Windows update classification",
                fix=f"use any of {', '.join(c.value for c in Classification)}",
            )
        if found not in parsed:
            parsed.append(found)
    if not parsed:
        raise InvalidArgumentError(
            "classifications",
            "no classification given, so nothing would be installed",
            fix="pass at least one, e.g. ('Critical', 'Security')",
        )
    return tuple(parsed)


def _reboot(value: str | RebootSetting) -> RebootSetting:
    if isinstance(value, RebootSetting):
        return value
    for member in RebootSetting:
        if member.value.lower() == str(value).lower():
            return member
    raise InvalidArgumentError(
        "reboot",
        f"{value!r} is not a reboot setting",
        fix="use 'IfRequired', 'Never' or 'Always'",
    )


def _duration(value: timedelta) -> timedelta:
    if not isinstance(value, timedelta) or not timedelta(0) < value <= _MAX_DURATION:
        raise InvalidArgumentError(
            "max_duration",
            f"{value!r} is not a duration above zero and at most 4 hours",
            fix="pass a timedelta, e.g. timedelta(hours=2); Azure caps the window at 4 hours",
        )
    if value.total_seconds() != int(value.total_seconds()):
        raise InvalidArgumentError(
            "max_duration", f"{value!r} has fractions of a second", fix="use whole seconds"
        )
    return value


def _kbs(argument: str, values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    normalised: list[str] = []
    for value in values:
        match = _KB.fullmatch(str(value).strip())
        if not match:
            raise InvalidArgumentError(
                argument,
                f"{value!r} is not a KB number",
                fix="write KB numbers as 'KB5041578' or '5041578' (6 to 8 digits)",
            )
        kb = f"KB{match.group(1)}"
        if kb not in normalised:
            normalised.append(kb)
    return tuple(normalised)


def _publish_date(value: datetime | date | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidArgumentError(
                "max_patch_publish_date",
                f"{value!r} has no time zone, so the cut-off is ambiguous",
                fix="pass an aware datetime (e.g. tzinfo=timezone.utc) or a date",
            )
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59), tzinfo=timezone.utc)
    raise InvalidArgumentError(
        "max_patch_publish_date",
        f"{value!r} is not a date or datetime",
        fix="pass a datetime.date or an aware datetime.datetime",
    )


# --- enrollment and status -------------------------------------------------------------------


class EnrollmentState(str, enum.Enum):
    """Where a machine stands with Hotpatch, the same words for VMs and Arc."""

    NOT_ENROLLED = "NotEnrolled"
    PENDING = "Pending"
    ENROLLED = "Enrolled"
    ACTION_REQUIRED = "ActionRequired"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Enrollment:
    """What `enable`/`disable` did: the state before and after, and whether anything changed."""

    resource: str
    kind: MachineKind
    before: EnrollmentState
    after: EnrollmentState
    changed: bool
    detail: str = ""

    def __str__(self) -> str:
        action = "changed" if self.changed else "no change needed"
        text = f"{self.resource}: {self.before.value} -> {self.after.value} ({action})"
        return f"{text}; {self.detail}" if self.detail else text


@dataclass(frozen=True)
class PatchSummary:
    """The latest assessment or installation as the machine's status reports it."""

    status: OperationStatus
    activity_id: str | None
    started: datetime | None
    finished: datetime | None
    counts: Mapping[str, int] = field(default_factory=lambda: _NO_COUNTS)
    reboot_status: RebootStatus | None = None
    error: OperationError | None = None


@dataclass(frozen=True)
class HotpatchStatus:
    """One object for both machine kinds: enrollment, the platform's verdict, and the last
    assessment and installation."""

    resource: str
    kind: MachineKind
    enrollment: EnrollmentState
    enablement_status: str | None
    patch_mode: str | None
    location: str | None
    reboot_pending: bool | None
    last_assessment: PatchSummary | None
    last_installation: PatchSummary | None
    power_state: str | None = None
    connection: str | None = None

    @property
    def operation_in_progress(self) -> bool:
        return any(
            s is not None and s.status is OperationStatus.IN_PROGRESS
            for s in (self.last_assessment, self.last_installation)
        )


@dataclass(frozen=True)
class FeatureRegistration:
    """A preview feature's state in a subscription."""

    name: str
    state: str

    @property
    def registered(self) -> bool:
        return self.state.lower() == "registered"

    @property
    def awaiting_approval(self) -> bool:
        return self.state.lower() == "pending"


@dataclass(frozen=True)
class Registration:
    """`register_preview_features`' outcome for one subscription."""

    subscription_id: str
    features: tuple[FeatureRegistration, ...]
    provider_state: str
    provider_reregistered: bool

    @property
    def complete(self) -> bool:
        return all(f.registered for f in self.features) and self.provider_state == "Registered"

    @property
    def awaiting_approval(self) -> tuple[FeatureRegistration, ...]:
        return tuple(f for f in self.features if f.awaiting_approval)
