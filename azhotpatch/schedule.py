"""Azure Update Manager schedules that follow the Hotpatch calendar, and the rules for who
may join them. Pure: no I/O, no SDK.

A maintenance configuration recurs on a rule such as ``3Months Second Tuesday Offset1`` from
its start date, so the calendar maps onto it exactly: baselines land in January, April, July
and October (one configuration every three months from a baseline month) and the two hotpatch
months after each are two more configurations, each every three months. Hotpatch-month windows
never reboot and install only updates that need no reboot (``excludeKbsRequiringReboot``), so
a hotpatch month cannot leave a machine waiting for a restart. ``mode="single"`` is one
monthly configuration that reboots when an update needs it.

Who may be scheduled, as Microsoft documents it:

* Azure VMs need patch orchestration "Customer Managed Schedules": ``patchMode`` =
  ``AutomaticByPlatform`` and ``bypassPlatformSafetyChecksOnUserSchedule`` = true. With the
  flag false and a schedule assigned, "Autopatch and schedule patch don't run. You get an
  error that the prerequisites for schedule patch aren't met." (learn.microsoft.com/azure/
  update-manager/prerequsite-for-schedule-patching, "User scenarios", scenario 3.)
* Hotpatch on a VM needs that same flag false: Compute refuses the change with "Hotpatch
  updates require platform safety checks. The 'BypassPlatformSafetyChecksOnUserSchedule' flag
  must be set to false to enable hotpatching." So a Hotpatch VM cannot follow a schedule;
  Azure's automatic guest patching installs its hotpatches with no schedule at all.
* Arc-enabled servers: "There are no prerequisites for patch orchestration. However, you must
  associate a schedule" (learn.microsoft.com/azure/update-manager, dynamic scope
  prerequisites); Arc Hotpatch is installed by a user-defined schedule.

Open question: Microsoft documents no rule for a schedule's ``rebootSetting`` on hotpatch
machines; ours never reboot in hotpatch months and exclude reboot-needing updates there.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import TypeVar

from azhotpatch._facts import ArcFacts, VmFacts
from azhotpatch._timezones import to_windows_zone, zone_info
from azhotpatch.calendar import PLANNED_BASELINE_MONTHS
from azhotpatch.errors import Command, Fix, InvalidArgumentError, Option
from azhotpatch.models import Classification, InstallOptions, Reason, RebootSetting, Rule

__all__ = [
    "MAX_WINDOW",
    "MIN_WINDOW",
    "Schedule",
    "ScheduleFit",
    "ScheduleMode",
    "Window",
    "WindowRole",
    "arc_fit",
    "parse_recurrence",
    "vm_fit",
]

# learn.microsoft.com/azure/virtual-machines/maintenance-configurations, guest scope:
# "A minimum of 1 hour and 30 minutes is required for the maintenance window" and "The upper
# maintenance window is 3 hours and 55 minutes"; the start must be >= 15 minutes after
# creation; a recurrence offset lies within -6..6 days (REST spec, recurEvery).
MIN_WINDOW = timedelta(hours=1, minutes=30)
MAX_WINDOW = timedelta(hours=3, minutes=55)
MIN_LEAD = timedelta(minutes=15)
MAX_OFFSET_DAYS = 6
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_RECURRENCE = re.compile(
    r"(?P<every>\d*)\s*months?\s+(?P<week>first|second|third|fourth|last)\s+"
    r"(?P<day>monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
    r"(?:\s+offset(?P<offset>[+-]?\d+))?",
    re.IGNORECASE,
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKS = ("first", "second", "third", "fourth")


class ScheduleMode(str, enum.Enum):
    SPLIT = "split"  # a baseline configuration plus two never-reboot hotpatch configurations
    SINGLE = "single"  # one monthly configuration that reboots if an update needs it


class WindowRole(str, enum.Enum):
    BASELINE = "baseline"
    HOTPATCH = "hotpatch"
    MONTHLY = "monthly"


@dataclass(frozen=True)
class Recurrence:
    """A monthly ``recurEvery``: every ``every`` months, the ``week``-th ``weekday`` plus
    ``offset`` days. ``week`` 5 means Last."""

    every: int
    week: int
    weekday: int
    offset: int

    def text(self) -> str:
        week = "Last" if self.week == 5 else _WEEKS[self.week - 1].title()
        unit = "Month" if self.every == 1 else f"{self.every}Months"
        offset = f" Offset{self.offset}" if self.offset else ""
        return f"{unit} {week} {_WEEKDAYS[self.weekday].title()}{offset}"

    def day_in(self, year: int, month: int) -> date:
        first = date(year, month, 1)
        if self.week == 5:
            last = (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)
            base = last - timedelta(days=(last.weekday() - self.weekday) % 7)
        else:
            base = first + timedelta(
                days=(self.weekday - first.weekday()) % 7 + 7 * (self.week - 1)
            )
        return base + timedelta(days=self.offset)


def parse_recurrence(text: str) -> Recurrence | None:
    """A monthly weekday rule as Azure spells it, or None for any other form."""
    found = _RECURRENCE.fullmatch(" ".join(str(text).split()))
    if not found:
        return None
    week_word = found["week"].lower()
    return Recurrence(
        every=int(found["every"] or 1),
        week=5 if week_word == "last" else _WEEKS.index(week_word) + 1,
        weekday=_WEEKDAYS.index(found["day"].lower()),
        offset=int(found["offset"] or 0),
    )


@dataclass(frozen=True)
class Window:
    """One maintenance configuration: when it opens, for how long, and what it installs."""

    name: str
    role: WindowRole
    start: datetime  # naive wall-clock time in ``time_zone``: Azure's startDateTime
    duration: timedelta
    time_zone: str  # a Windows time zone id
    recurrence: Recurrence
    install: InstallOptions

    @property
    def recur_every(self) -> str:
        return self.recurrence.text()

    @property
    def start_text(self) -> str:
        return self.start.strftime("%Y-%m-%d %H:%M")

    @property
    def duration_text(self) -> str:
        minutes = int(self.duration.total_seconds()) // 60
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    def occurrences(self, after: datetime) -> Iterator[datetime]:
        """Window openings (UTC) at or after ``after``, in order, forever."""
        zone = zone_info(self.time_zone)
        year, month = self.start.year, self.start.month
        at = self.start.time()
        while True:
            local = datetime.combine(self.recurrence.day_in(year, month), at)
            opening = local.replace(tzinfo=zone).astimezone(timezone.utc)
            if local >= self.start and opening >= after:
                yield opening
            month += self.recurrence.every
            year, month = year + (month - 1) // 12, (month - 1) % 12 + 1

    def next_run(self, after: datetime) -> datetime:
        return next(self.occurrences(after))

    def same_runs(self, other: Window, after: datetime, count: int = 4) -> bool:
        """Whether two windows open at the same instants from ``after`` on (how a start date
        written on an earlier day still counts as "unchanged")."""
        mine, theirs = self.occurrences(after), other.occurrences(after)
        return all(next(mine) == next(theirs) for _ in range(count))


@dataclass(frozen=True)
class Schedule:
    """The configurations `build` derived from the calendar; ``windows`` in creation order."""

    mode: ScheduleMode
    windows: tuple[Window, ...]
    created: datetime  # the instant the start dates were computed from (UTC)

    @property
    def needs_hotpatch(self) -> bool:
        """Whether machines must be enrolled: hotpatch-month windows install only what
        needs no reboot, which without Hotpatch leaves the month's security update out."""
        return any(w.role is WindowRole.HOTPATCH for w in self.windows)

    @classmethod
    def build(
        cls,
        *,
        name: str = "azhotpatch",
        mode: ScheduleMode | str = ScheduleMode.SPLIT,
        time_zone: str = "UTC",
        start_time: str | time = "03:00",
        days_after_patch_tuesday: int = 1,
        hotpatch_window: timedelta = timedelta(hours=2),
        baseline_window: timedelta = timedelta(hours=3, minutes=30),
        classifications: Iterable[str | Classification] = ("Critical", "Security"),
        kb_include: Iterable[str] = (),
        kb_exclude: Iterable[str] = (),
        now: datetime | None = None,
    ) -> Schedule:
        """Validate everything and derive the configurations. Raises `InvalidArgumentError`
        before anything is sent."""
        parsed_mode = choose(ScheduleMode, mode, "mode")
        prefix = _name(name)
        zone = to_windows_zone(time_zone)
        at = _clock(start_time)
        offset = _offset(days_after_patch_tuesday)
        created = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        base = InstallOptions.build(
            classifications=classifications, kb_include=kb_include, kb_exclude=kb_exclude
        )
        reboot_ok = replace(base, reboot=RebootSetting.IF_REQUIRED)
        no_reboot = replace(base, reboot=RebootSetting.NEVER, exclude_kbs_requiring_reboot=True)
        plans: list[tuple[str, WindowRole, int, timedelta, InstallOptions, tuple[int, ...]]]
        if parsed_mode is ScheduleMode.SINGLE:
            window = _length(baseline_window, "baseline_window")
            plans = [(f"{prefix}-monthly", WindowRole.MONTHLY, 1, window, reboot_ok, _ALL)]
        else:
            hot = _length(hotpatch_window, "hotpatch_window")
            plans = [
                (
                    f"{prefix}-baseline",
                    WindowRole.BASELINE,
                    3,
                    _length(baseline_window, "baseline_window"),
                    reboot_ok,
                    _months(0),
                ),
                (f"{prefix}-hotpatch-1", WindowRole.HOTPATCH, 3, hot, no_reboot, _months(1)),
                (f"{prefix}-hotpatch-2", WindowRole.HOTPATCH, 3, hot, no_reboot, _months(2)),
            ]
        windows = tuple(
            _window(label, role, every, length, install, months, zone, at, offset, created)
            for label, role, every, length, install, months in plans
        )
        return cls(parsed_mode, windows, created)

    def window(self, name: str) -> Window | None:
        return next((w for w in self.windows if w.name.lower() == name.lower()), None)


_ALL = tuple(range(1, 13))


def _months(after_baseline: int) -> tuple[int, ...]:
    return tuple(sorted((m - 1 + after_baseline) % 12 + 1 for m in PLANNED_BASELINE_MONTHS))


def _window(
    name: str,
    role: WindowRole,
    every: int,
    length: timedelta,
    install: InstallOptions,
    months: tuple[int, ...],
    zone: str,
    at: time,
    offset: int,
    created: datetime,
) -> Window:
    """The window whose start date is the first of its next month in ``months`` whose
    opening is still at least 15 minutes away (or today, inside that month)."""
    recurrence = Recurrence(every=every, week=2, weekday=1, offset=offset)
    local_now = created.astimezone(zone_info(zone)).replace(tzinfo=None)
    earliest = local_now + MIN_LEAD
    year, month = local_now.year, local_now.month
    while True:
        if month in months:
            opening = datetime.combine(recurrence.day_in(year, month), at)
            if opening >= earliest:
                start = datetime.combine(date(year, month, 1), at)
                if start < earliest:
                    start = datetime.combine(earliest.date(), at)
                    if start < earliest:
                        start += timedelta(days=1)
                return Window(name, role, start, length, zone, recurrence, install)
        month += 1
        if month == 13:
            year, month = year + 1, 1


Choice = TypeVar("Choice", bound=enum.Enum)


def choose(kind: type[Choice], value: object, argument: str) -> Choice:
    """One of a string enum's values, by value in any case, or `InvalidArgumentError`
    listing them."""
    text = str(value.value if isinstance(value, enum.Enum) else value).lower()
    for member in kind:
        if str(member.value).lower() == text:
            return member
    allowed = ", ".join(str(m.value) for m in kind)
    raise InvalidArgumentError(argument, f"{value!r} is not one of {allowed}", fix=f"use {allowed}")


def _name(value: str) -> str:
    if not _NAME.fullmatch(str(value)) or len(str(value)) > 40:
        raise InvalidArgumentError(
            "name",
            f"{value!r} cannot prefix maintenance configuration names",
            fix="use up to 40 letters, digits, '-', '_' or '.', starting with a letter or digit",
        )
    return str(value)


def _clock(value: str | time) -> time:
    if isinstance(value, time):
        if value.second or value.microsecond or value.tzinfo:
            raise InvalidArgumentError(
                "start_time", f"{value!r} has seconds or a zone", fix="pass e.g. time(3, 0)"
            )
        return value
    found = _CLOCK.fullmatch(str(value).strip())
    if not found:
        raise InvalidArgumentError(
            "start_time",
            f"{value!r} is not a time of day as HH:MM",
            fix="pass e.g. '03:00' (in the schedule's time zone)",
        )
    return time(int(found[1]), int(found[2]))


def _offset(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (0 <= value <= MAX_OFFSET_DAYS):
        raise InvalidArgumentError(
            "days_after_patch_tuesday",
            f"{value!r} is not a whole number of days from 0 to {MAX_OFFSET_DAYS}",
            fix="Azure offsets a monthly window by at most 6 days; e.g. 1",
        )
    return value


def _length(value: timedelta, argument: str) -> timedelta:
    if not isinstance(value, timedelta) or value.total_seconds() % 60:
        raise InvalidArgumentError(
            argument, f"{value!r} is not a whole number of minutes", fix="e.g. timedelta(hours=2)"
        )
    if not MIN_WINDOW <= value <= MAX_WINDOW:
        raise InvalidArgumentError(
            argument,
            f"{value} is outside the 1:30 to 3:55 Azure allows for a guest patch window",
            fix="choose a length between timedelta(hours=1, minutes=30) and "
            "timedelta(hours=3, minutes=55)",
        )
    return value


# --- who may join -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleFit:
    """Whether a machine can follow the schedule; ``reasons`` are the conflicts, each with
    its fix. Non-blocking reasons are settings `schedule(conflicts="fix")` changes itself."""

    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def fixable(self) -> bool:
        return bool(self.reasons) and not any(r.blocking for r in self.reasons)


def vm_fit(facts: VmFacts, schedule: Schedule) -> ScheduleFit:
    """Every reason this VM cannot follow ``schedule`` as it stands."""
    return ScheduleFit(tuple(_vm_conflicts(facts, schedule)))


def arc_fit(facts: ArcFacts, schedule: Schedule) -> ScheduleFit:
    """Every reason this Arc machine cannot follow ``schedule`` as it stands."""
    return ScheduleFit(tuple(_arc_conflicts(facts, schedule)))


_PREREQ = "learn.microsoft.com/azure/update-manager/prerequsite-for-schedule-patching"


def _vm_conflicts(facts: VmFacts, schedule: Schedule) -> Iterator[Reason]:
    if (facts.os_type or "windows").lower() != "windows":
        yield _not_windows()
        return
    if facts.enable_hotpatching:
        yield Reason(
            Rule.SCHEDULE_HOTPATCH_VM,
            "Hotpatch is on, so Compute keeps bypassPlatformSafetyChecksOnUserSchedule false; "
            "an Update Manager schedule needs it true, and assigned with it false neither "
            f"autopatching nor the schedule runs ({_PREREQ}, scenario 3)",
            Fix.of(
                "leave this VM to Azure's automatic guest patching, which installs its hotpatches "
                "without a schedule; to schedule it instead, disable Hotpatch first"
            ),
        )
        return
    if facts.provision_vm_agent is False:
        yield Reason(
            Rule.VM_AGENT_NOT_PROVISIONED,
            "provisionVMAgent is false; scheduled patching runs through the Azure VM agent",
            Fix.of("provisionVMAgent is set at creation only: recreate the VM with it true"),
        )
        return
    mode_ok = (facts.patch_mode or "").lower() == "automaticbyplatform"
    updates_ok = facts.enable_automatic_updates is not False
    if not mode_ok or not updates_ok or facts.bypass_platform_safety_checks is not True:
        yield Reason(
            Rule.SCHEDULE_ORCHESTRATION,
            f"patchMode is {facts.patch_mode or 'AutomaticByOS (default)'!r} and "
            "bypassPlatformSafetyChecksOnUserSchedule is "
            f"{facts.bypass_platform_safety_checks!r}"
            + ("" if updates_ok else ", enableAutomaticUpdates is false")
            + "; a schedule needs AutomaticByPlatform, true and automatic updates on "
            f"(Customer Managed Schedules, {_PREREQ})",
            Fix.of(
                "set patch orchestration to Customer Managed Schedules (scheduling with ",
                Option("conflicts", "fix"),
                " does it)",
            ),
            blocking=False,
        )
    if schedule.needs_hotpatch:
        yield _not_enrolled(
            "the VM",
            Fix.of(
                "use mode 'single' for VMs without Hotpatch (a Hotpatch VM is patched by "
                "Azure's automatic guest patching, not by a schedule)"
            ),
        )


def _arc_conflicts(facts: ArcFacts, schedule: Schedule) -> Iterator[Reason]:
    if (facts.os_type or "").lower() != "windows":
        yield _not_windows()
        return
    if (facts.status or "").lower() != "connected":
        yield Reason(
            Rule.ARC_DISCONNECTED,
            f"the Arc agent is {facts.status or 'not reporting'!r}; a scheduled run needs it "
            "connected when the window opens",
            Fix.of("reconnect the Connected Machine agent (azcmagent show), then schedule again"),
        )
    if schedule.needs_hotpatch and (facts.enablement_status or "").lower() != "enabled":
        yield _not_enrolled(
            "the machine",
            Fix.of("enroll it first (", Command("enable"), "), or schedule with mode 'single'"),
        )


def _not_windows() -> Reason:
    return Reason(
        Rule.SCHEDULE_NOT_WINDOWS,
        "the schedule installs Windows updates and this machine does not run Windows",
        Fix.of("schedule Linux machines with a configuration of their own"),
    )


def _not_enrolled(what: str, fix: Fix) -> Reason:
    return Reason(
        Rule.SCHEDULE_NOT_HOTPATCHED,
        f"{what} is not enrolled in Hotpatch; hotpatch-month windows install only updates that "
        "need no reboot, so its monthly security update would wait for the next baseline",
        fix,
    )
