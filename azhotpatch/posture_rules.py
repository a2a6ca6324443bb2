"""Where a machine stands with its updates: one verdict, with its reason and its fix.

Pure: the facts come from Resource Graph (the machine's row, its latest assessment row and
its installation rows), the release expected today from `azhotpatch.calendar`, and which
OS build each release brought from a `BuildTable`. The verdicts, in the order they are
decided (the first that applies is the machine's):

``not-eligible``   the catalog's rules block Hotpatch on it (the plan's blocking reasons);
``policy-mismatch`` a built-in Azure Policy definition for patch orchestration calls it
                   compliant, and its own settings say otherwise;
``not-enrolled``   it could take Hotpatch but is not enrolled (or its enrollment is pending);
``unknown``        Azure holds nothing to judge it by: no assessment, no install, no build;
``stale``          no assessment within ``stale_after`` (7 days unless told): what Azure
                   holds of it may no longer be true;
``restart-needed`` an installed update waits for a restart (a baseline, a cumulative update);
``behind``         it runs an older release than the calendar expects now, by N releases;
``current``        it runs the release the calendar expects.

``policy-mismatch`` comes right after ``not-eligible`` and before everything else because it
is the one verdict Azure's own views hide: the compliance dashboard shows the machine green,
so nobody looks at it, while the setting Policy vouches for is off (Policy evaluates on its
own schedule, and a setting changed since, or changed back by a deployment, stays
"Compliant" until the next scan). Its fix (set the setting) is also the fix of what would
come after it (not enrolled, not assessed); a machine the catalog blocks is left
``not-eligible``, since no setting makes it take Hotpatch.

"Behind" is judged by the OS build the machine reports against the build each release
brought, not by which updates an assessment lists: a machine that missed a baseline is
offered the baseline, and its hotpatches show "not applicable", so counting what is missing
undercounts it. Where the build cannot say (no build reported, or a release whose build the
table does not know), the latest assessment does, if it was made since the release came
out: any critical or security update available means behind, by a count unknown.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from azhotpatch import calendar
from azhotpatch._facts import Facts
from azhotpatch.errors import Command, Fix, InvalidArgumentError
from azhotpatch.models import Eligibility, EnrollmentState, Reason, Rule

__all__ = [
    "GUEST_MANAGED",
    "KNOWN_BUILDS",
    "PATCH_POLICIES",
    "STALE_AFTER",
    "AssessmentRow",
    "BuildTable",
    "InstallRow",
    "Judgement",
    "PolicyDefinition",
    "PolicyState",
    "Verdict",
    "judge",
    "parse_os_version",
    "policy_mismatches",
]

STALE_AFTER = timedelta(days=7)
# The build revision each release brought, by OS build, where Microsoft's update history
# gives it: Windows Server 2025 shares its monthly updates with Windows 11 24H2 (build
# 26100): KB5055523 (2025-04-08) 26100.3775, KB5062553 (2025-07-08) 26100.4652, KB5066835
# (2025-10-14) 26100.6899, all baselines. Every other release's build: pass it as
# ``builds=`` (see `BuildTable.with_builds`); without it, the assessment judges.
KNOWN_BUILDS: Mapping[str, Mapping[str, int]] = {
    "26100": {"2025-04": 3775, "2025-07": 4652, "2025-10": 6899}
}
_VERSION = re.compile(r"^\s*10\.0\.(\d+)\.(\d+)\s*$")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_SUCCEEDED = ("succeeded", "completedwithwarnings")


class Verdict(str, enum.Enum):
    """Where a machine stands; the value is the word reports and the command line show."""

    CURRENT = "current"
    BEHIND = "behind"
    RESTART_NEEDED = "restart-needed"
    NOT_ENROLLED = "not-enrolled"
    NOT_ELIGIBLE = "not-eligible"
    POLICY_MISMATCH = "policy-mismatch"
    STALE = "stale"
    UNKNOWN = "unknown"


def parse_os_version(text: str | None) -> tuple[str, int] | None:
    """(build, revision) of a Windows ``osVersion`` (``10.0.26100.4946`` -> ("26100",
    4946)); None for anything else (Linux, a version without its revision)."""
    found = _VERSION.match(text or "")
    return (found.group(1), int(found.group(2))) if found else None


def _month_index(month: tuple[int, int]) -> int:
    return month[0] * 12 + month[1] - 1


def _month_text(month: tuple[int, int]) -> str:
    return f"{month[0]}-{month[1]:02d}"


@dataclass(frozen=True)
class BuildTable:
    """The lowest build revision each release brought (its hotpatch's, in a hotpatch month:
    a hotpatch and the month's cumulative update are different builds, the hotpatch's the
    lower), by OS build and ``"YYYY-MM"``."""

    builds: Mapping[str, Mapping[str, int]] = field(default_factory=lambda: KNOWN_BUILDS)

    def with_builds(self, more: Mapping[str, Mapping[str, int]] | None) -> BuildTable:
        """This table with ``more`` on top, each entry checked (``{"26100": {"2026-11":
        7309}}``)."""
        merged = {build: dict(months) for build, months in self.builds.items()}
        for build, months in (more or {}).items():
            if not str(build).isdigit() or not isinstance(months, Mapping):
                raise InvalidArgumentError(
                    "builds",
                    f"{build!r} is not an OS build number with its releases",
                    fix="give builds as {'26100': {'2026-11': 7309}} (OS build, then each "
                    "release's first revision)",
                )
            for month, revision in months.items():
                if not _MONTH.match(str(month)) or type(revision) is not int or revision < 0:
                    raise InvalidArgumentError(
                        "builds",
                        f"{build}: {month!r}: {revision!r} is not a 'YYYY-MM' release and a "
                        "build revision",
                        fix="give each release as 'YYYY-MM': revision, e.g. '2026-11': 7309",
                    )
            merged.setdefault(str(build), {}).update({str(m): r for m, r in months.items()})
        return BuildTable(merged)

    def revision(self, build: str, month: tuple[int, int]) -> int | None:
        """The first revision of ``build`` the release of ``month`` brought, if known."""
        return self.builds.get(build, {}).get(_month_text(month))

    def release_of(self, build: str, revision: int) -> tuple[int, int] | None:
        """The release a machine on ``build.revision`` runs: the latest known release whose
        first revision it has reached (None: older than every release known)."""
        reached = [
            (int(m[:4]), int(m[5:]))
            for m, first in self.builds.get(build, {}).items()
            if first <= revision
        ]
        return max(reached) if reached else None

    def known_between(self, build: str, older: tuple[int, int], newer: tuple[int, int]) -> bool:
        """Whether every release after ``older`` up to ``newer`` is in the table, so a
        machine on ``older`` is exactly that many releases behind ``newer``."""
        months = self.builds.get(build, {})
        return all(
            _month_text((index // 12, index % 12 + 1)) in months
            for index in range(_month_index(older) + 1, _month_index(newer) + 1)
        )


@dataclass(frozen=True)
class AssessmentRow:
    """A ``patchassessmentresources`` summary row: when the assessment ended, its status,
    whether the machine waits for a restart and what it found available."""

    at: datetime | None
    status: str
    reboot_pending: bool | None
    critical: int = 0
    security: int = 0
    other: int = 0

    @property
    def succeeded(self) -> bool:
        return self.status.lower() in _SUCCEEDED

    @classmethod
    def of(cls, properties: Mapping[str, Any]) -> AssessmentRow:
        counts = properties.get("availablePatchCountByClassification") or {}
        critical, security = _count(counts, "critical"), _count(counts, "security")
        return cls(
            at=_time(properties.get("lastModifiedDateTime")),
            status=str(properties.get("status") or "Unknown"),
            reboot_pending=_bool(properties.get("rebootPending")),
            critical=critical,
            security=security,
            other=sum(_count(counts, k) for k in counts) - critical - security,
        )


@dataclass(frozen=True)
class InstallRow:
    """A ``patchinstallationresources`` summary row."""

    at: datetime | None  # lastModifiedDateTime
    started: datetime | None
    status: str
    reboot_status: str | None
    installed: int = 0
    failed: int = 0
    started_by: str | None = None

    @classmethod
    def of(cls, properties: Mapping[str, Any]) -> InstallRow:
        reboot = properties.get("rebootStatus")
        return cls(
            at=_time(properties.get("lastModifiedDateTime")),
            started=_time(properties.get("startDateTime")),
            status=str(properties.get("status") or "Unknown"),
            reboot_status=str(reboot) if reboot else None,
            installed=_count(properties, "installedPatchCount"),
            failed=_count(properties, "failedPatchCount"),
            started_by=properties.get("startedBy"),
        )


def _count(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    head, dot, tail = text.partition(".")
    if dot:  # Azure writes 7 fractional digits; Python 3.10 reads at most 6
        digits = re.match(r"\d*", tail)
        fraction = digits.group(0) if digits else ""
        text = f"{head}.{fraction[:6]}{tail[len(fraction) :]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# --- Azure Policy's built-in definitions for patch orchestration ------------------------------


@dataclass(frozen=True)
class PolicyDefinition:
    """A built-in Azure Policy definition whose "Compliant" vouches for a patch setting:
    its id's last segment, its display name, the setting it checks (as the reason names
    it), the value that setting must have, and the machine types it applies to."""

    name: str
    display_name: str
    setting: str
    wanted: str
    applies_to: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"/providers/Microsoft.Authorization/policyDefinitions/{self.name}"


# From the Azure/azure-policy repository (built-in-policies/policyDefinitions):
# - "Azure Update Manager/AzUpdateMgmtCenter_AutoAssessmentMode_Audit.json", bd876905-...:
#   Audit/Deny when a VM's or an Arc machine's patchSettings.assessmentMode is not
#   AutomaticByPlatform;
# - "Azure Update Manager/AzUpdateMgmtCenter_CustomerManagedSchedules_DINE.json",
#   9905ca54-...: sets a VM's patchMode to AutomaticByPlatform (and
#   bypassPlatformSafetyChecksOnUserSchedule true, which the catalog judges on its own: only
#   the patch mode is what Hotpatch needs from it); not applicable to Arc machines;
# - "Automanage/HotpatchShouldBeEnabledforWindowsServerAzureEditionVMs.json",
#   6d02d2f7-...: Audit/Deny when an Azure Edition VM's patchSettings.enableHotpatching is
#   not true.
# Open question: an assignment of these inside an initiative (policy set) has the same
# policyDefinitionId in its states, so it is read the same way; custom copies of them
# (another id) are not recognised.
PATCH_POLICIES: Mapping[str, PolicyDefinition] = {
    definition.name: definition
    for definition in (
        PolicyDefinition(
            "bd876905-5b84-4f73-ab2d-2e7a7c4568d9",
            "Machines should be configured to periodically check for missing system updates",
            "patchSettings.assessmentMode",
            "AutomaticByPlatform",
            ("microsoft.compute/virtualmachines", "microsoft.hybridcompute/machines"),
        ),
        PolicyDefinition(
            "9905ca54-1471-49c6-8291-7582c04cd4d4",
            "Set prerequisite for Scheduling recurring updates on Azure virtual machines.",
            "patchSettings.patchMode",
            "AutomaticByPlatform",
            ("microsoft.compute/virtualmachines",),
        ),
        PolicyDefinition(
            "6d02d2f7-e38b-4bdc-96f3-adc0a8726abc",
            "Hotpatch should be enabled for Windows Server Azure Edition VMs",
            "patchSettings.enableHotpatching",
            "true",
            ("microsoft.compute/virtualmachines",),
        ),
    )
}


@dataclass(frozen=True)
class PolicyState:
    """One ``microsoft.policyinsights/policystates`` row of a machine: which definition,
    what Policy concluded (``complianceState``), when it evaluated (``timestamp``) and
    under which assignment."""

    definition: str  # the definition's name (the last segment of policyDefinitionId)
    compliance: str
    evaluated: datetime | None = None
    assignment: str = ""

    @classmethod
    def of(cls, properties: Mapping[str, Any]) -> PolicyState:
        definition = str(properties.get("policyDefinitionId") or "")
        return cls(
            definition=definition.rsplit("/", 1)[-1].lower(),
            compliance=str(properties.get("complianceState") or "Unknown"),
            evaluated=_time(properties.get("timestamp")),
            assignment=str(properties.get("policyAssignmentName") or ""),
        )

    @property
    def compliant(self) -> bool:
        return self.compliance.lower() == "compliant"


def _setting(facts: Facts, definition: PolicyDefinition) -> str | None:
    """The value of the setting ``definition`` checks, as the machine holds it."""
    if definition.setting.endswith("assessmentMode"):
        return facts.assessment_mode
    if definition.setting.endswith("patchMode"):
        return facts.patch_mode
    return None if facts.enable_hotpatching is None else str(facts.enable_hotpatching).lower()


def policy_mismatches(facts: Facts, states: Iterable[PolicyState]) -> tuple[Reason, ...]:
    """A reason for each built-in definition that calls the machine compliant while the
    setting it checks says otherwise (states of other definitions are not judged)."""
    found: dict[str, Reason] = {}
    for state in states:
        definition = PATCH_POLICIES.get(state.definition)
        if definition is None or not state.compliant or definition.name in found:
            continue
        held = _setting(facts, definition)
        if (held or "").lower() != definition.wanted.lower():
            found[definition.name] = _policy_mismatch(definition, state, held)
    return tuple(found[name] for name in sorted(found))


def _policy_mismatch(definition: PolicyDefinition, state: PolicyState, held: str | None) -> Reason:
    when = f" (evaluated {state.evaluated:%Y-%m-%d %H:%M} UTC)" if state.evaluated else ""
    message = (
        f"Azure Policy's '{definition.display_name}' ({definition.name}) says Compliant"
        f"{when}, but its {definition.setting} is {held or 'not set'}, not {definition.wanted}"
    )
    if definition.setting.endswith("assessmentMode"):
        fix = Fix.of(
            f"set {definition.setting} to {definition.wanted} (the definition's Modify "
            "counterpart, or a PATCH of the machine), then trigger a Policy compliance scan"
        )
    else:
        fix = Fix.of(
            "enroll it (",
            Command("enable"),
            f" sets {definition.setting} to {definition.wanted}), then trigger a Policy "
            "compliance scan",
        )
    return Reason(Rule.POLICY_MISMATCH, message, fix)


@dataclass(frozen=True)
class Judgement:
    """A machine's verdict, with the reasons for it (each with its fix: a not-eligible
    machine's are the catalog's blocking reasons, every other verdict has one), and for
    ``behind`` by how many releases (None: behind, by a count the build cannot tell)."""

    verdict: Verdict
    reasons: tuple[Reason, ...]
    behind: int | None = None
    expected: str = ""  # the release the calendar expects, "YYYY-MM"
    running: str | None = None  # the release the machine's build is on, where known

    @property
    def reason(self) -> Reason:
        return self.reasons[0]

    @property
    def fix(self) -> Fix | None:
        return Fix.joined(r.fix for r in self.reasons)


def judge(
    facts: Facts,
    eligibility: Eligibility,
    assessment: AssessmentRow | None,
    installs: Sequence[InstallRow],
    *,
    now: datetime,
    today: date | None = None,
    builds: BuildTable | None = None,
    stale_after: timedelta = STALE_AFTER,
    unplanned: Iterable[calendar.MonthLike] = (),
    policies: Iterable[PolicyState] = (),
) -> Judgement:
    """The machine's verdict (see the module's docstring for the order). ``now`` is Azure's
    time (assessments age by it), ``today`` the day the calendar's expected release is
    taken on (``now``'s date unless given); ``policies`` are Azure Policy's states of the
    machine."""
    months = list(unplanned)
    release = calendar.current_release(today or now.date(), unplanned=months)
    expected = (release.year, release.month)
    table = builds or BuildTable()
    build = parse_os_version(facts.os_version)
    running = table.release_of(*build) if build else None
    base: dict[str, Any] = {
        "expected": _month_text(expected),
        "running": _month_text(running) if running else None,
    }
    if eligibility.blockers:
        return Judgement(Verdict.NOT_ELIGIBLE, eligibility.blockers, **base)
    mismatches = policy_mismatches(facts, policies)
    if mismatches:
        return Judgement(Verdict.POLICY_MISMATCH, mismatches, **base)
    if facts.enrollment is not EnrollmentState.ENROLLED:
        return Judgement(Verdict.NOT_ENROLLED, (_not_enrolled(facts),), **base)
    fresh = assessment if assessment and assessment.succeeded and assessment.at else None
    if fresh is None or now - (fresh.at or now) > stale_after:
        if assessment is None and not installs and running is None:
            return Judgement(Verdict.UNKNOWN, (_NO_RECORD,), **base)
        return Judgement(Verdict.STALE, (_stale(assessment, stale_after, now),), **base)
    if _restart_pending(fresh, installs):
        return Judgement(Verdict.RESTART_NEEDED, (_restart(installs),), **base)
    return _by_release(table, build, running, expected, release, fresh, base)


def _restart_pending(assessment: AssessmentRow, installs: Sequence[InstallRow]) -> bool:
    """The latest word on it: an install that ended after the assessment says whether it
    left a restart pending (``Required``) or made it (``Completed``); otherwise the
    assessment's ``rebootPending``."""
    ended = assessment.at
    later = [(i.at, i) for i in installs if i.at and ended and i.at > ended]
    latest = max(later, key=lambda pair: pair[0], default=(None, None))[1]
    status = (latest.reboot_status or "").lower() if latest else ""
    if status == "required":
        return True
    if status in ("completed", "started"):
        return False
    return bool(assessment.reboot_pending)


def _by_release(
    table: BuildTable,
    build: tuple[str, int] | None,
    running: tuple[int, int] | None,
    expected: tuple[int, int],
    release: calendar.Release,
    assessment: AssessmentRow,
    base: dict[str, Any],
) -> Judgement:
    first = table.revision(build[0], expected) if build else None
    if build is not None and first is not None:
        if build[1] >= first:
            return Judgement(Verdict.CURRENT, (_current(build, expected),), **base)
        exact = running is not None and table.known_between(build[0], running, expected)
        count = _month_index(expected) - _month_index(running) if exact and running else None
        reason = _behind(build, running, expected, first, count)
        return Judgement(Verdict.BEHIND, (reason,), behind=count, **base)
    released = datetime.combine(release.date, datetime.min.time(), tzinfo=timezone.utc)
    if assessment.at is None or assessment.at < released:
        return Judgement(Verdict.UNKNOWN, (_before_release(build, expected),), **base)
    if assessment.critical + assessment.security:
        return Judgement(Verdict.BEHIND, (_behind_by_assessment(assessment, expected),), **base)
    return Judgement(Verdict.CURRENT, (_current(build, expected),), **base)


# --- reasons ------------------------------------------------------------------------------------

_ASSESS = Fix.of("assess it (", Command("assess"), ")")
GUEST_MANAGED = Reason(
    Rule.AZURE_LOCAL_VM,
    "an Azure Local VM: Hotpatch is set up in its guest, so Azure holds no enrollment or patch "
    "record to judge it by",
    Fix.of("check Hotpatch in the guest (Get-HotPatch, or the Windows Update history)"),
)
_NO_RECORD = Reason(
    Rule.NO_PATCH_RECORD,
    "Azure holds no assessment, no installation and no OS build of this machine",
    Fix.of(
        "check that its agent runs (a VM's guest agent Ready, an Arc machine Connected), then ",
        *_ASSESS.parts,
    ),
)


def _not_enrolled(facts: Facts) -> Reason:
    if facts.enrollment is EnrollmentState.PENDING:
        return Reason(
            Rule.NOT_ENROLLED,
            "its Hotpatch enrollment is pending: the machine has not finished evaluating it",
            Fix.of("wait for the machine's evaluation (minutes), or see ", Command("status")),
        )
    # an Arc machine's license profile remembers an enrollment the machine lost
    license_state = getattr(facts, "hotpatch_license", None) or ""
    lost = license_state.lower() == "disabled"
    message = (
        "not enrolled: its license profile's Hotpatch feature is Disabled, so it was "
        "enrolled and lost it"
        if lost
        else "not enrolled in Hotpatch: it takes cumulative updates, with a restart each month"
    )
    return Reason(Rule.NOT_ENROLLED, message, Fix.of("enroll it (", Command("enable"), ")"))


def _stale(assessment: AssessmentRow | None, stale_after: timedelta, now: datetime) -> Reason:
    limit = _days(stale_after)
    if assessment is None or assessment.at is None:
        seen = "Azure holds no assessment of it"
    elif not assessment.succeeded:
        seen = f"its last assessment ended {assessment.status}"
    else:
        seen = f"its last assessment is {_days(now - assessment.at)} old"
    return Reason(
        Rule.ASSESSMENT_STALE,
        f"{seen}; a verdict needs one within {limit}",
        Fix.of(
            *_ASSESS.parts,
            " and let the platform assess it (patchSettings.assessmentMode "
            "AutomaticByPlatform assesses it every day)",
        ),
    )


def _days(span: timedelta) -> str:
    days = span.total_seconds() / 86400
    return f"{days:.0f} day{'' if round(days) == 1 else 's'}" if days >= 1 else "under a day"


def _restart(installs: Sequence[InstallRow]) -> Reason:
    waiting = [i for i in installs if (i.reboot_status or "").lower() == "required" and i.at]
    since = max((i.at for i in waiting if i.at), default=None)
    when = f" since {since:%Y-%m-%d %H:%M} UTC" if since else ""
    return Reason(
        Rule.RESTART_PENDING,
        f"an installed update waits for a restart{when}: the machine runs its old build until then",
        Fix.of(
            "restart it in a maintenance window (an install with reboot IfRequired restarts it: ",
            Command("install"),
            ")",
        ),
    )


def _current(build: tuple[str, int] | None, expected: tuple[int, int]) -> Reason:
    on = f"build {build[0]}.{build[1]}" if build else "its last assessment"
    return Reason(
        Rule.ON_CURRENT_RELEASE,
        f"on the {_month_text(expected)} release ({on})",
        Fix.of("nothing to do"),
        blocking=False,
    )


def _behind(
    build: tuple[str, int],
    running: tuple[int, int] | None,
    expected: tuple[int, int],
    first: int,
    count: int | None,
) -> Reason:
    on = f"the {_month_text(running)} release" if running else "a release older than any known"
    by = f"{count} release{'' if count == 1 else 's'}" if count else "an unknown number of releases"
    return Reason(
        Rule.RELEASES_BEHIND,
        f"runs build {build[0]}.{build[1]}, {on}: {by} behind {_month_text(expected)} "
        f"(build {build[0]}.{first})",
        _INSTALL_LATEST,
    )


def _behind_by_assessment(assessment: AssessmentRow, expected: tuple[int, int]) -> Reason:
    count = assessment.critical + assessment.security
    return Reason(
        Rule.RELEASES_BEHIND,
        f"its assessment since the {_month_text(expected)} release lists {count} critical or "
        "security update(s) available (its build does not say by how many releases)",
        _INSTALL_LATEST,
    )


def _before_release(build: tuple[str, int] | None, expected: tuple[int, int]) -> Reason:
    on = f"build {build[0]}.{build[1]}" if build else "no build reported"
    return Reason(
        Rule.NO_PATCH_RECORD,
        f"{on}, whose release azhotpatch does not know, and no assessment since the "
        f"{_month_text(expected)} release came out",
        Fix.of(
            *_ASSESS.parts,
            ", or give the release's build (builds={'<os build>': {'YYYY-MM': revision}})",
        ),
    )


_INSTALL_LATEST = Fix.of(
    "install this month's release (",
    Command("install"),
    "): a machine that missed a baseline takes it first, with a restart",
)
