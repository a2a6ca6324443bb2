"""Maintenance windows as Microsoft documents them for ``InGuestPatch`` configurations: what a
configuration must say to be accepted, and when its windows open.

Configurations of the other scopes are kept as written and never run (model).

Validated: ``InGuestPatchMode`` ``User``, ``startDateTime`` as ``YYYY-MM-DD hh:mm`` at least 15
minutes ahead on creation, ``duration`` ``HH:mm`` between 1:30 and 3:55, a Windows time zone
id, and a ``recurEvery`` in the documented day/week/month grammar with offsets of -6..6 days.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

from azhotpatch._timezones import WINDOWS_ZONES, zone_info
from azhotpatch.testing.maintenance.errors import invalid
from azhotpatch.testing.patching.installs import REBOOT_SETTINGS, is_kb_number

MIN_WINDOW = timedelta(hours=1, minutes=30)
_MAX_WINDOW = timedelta(hours=3, minutes=55)
_LEAD = timedelta(minutes=15)
_SCOPES = ("Host", "OSImage", "Extension", "InGuestPatch", "SQLDB", "SQLManagedInstance")
# Maintenance spells the roll-up classification "UpdateRollup"; Compute's installPatches
# "UpdateRollUp" (see `install_parameters`).
SCHEDULE_CLASSIFICATIONS = (
    "Critical",
    "Security",
    "UpdateRollup",
    "FeaturePack",
    "ServicePack",
    "Definition",
    "Tools",
    "Updates",
)
_ZONES = frozenset(z.casefold() for z in WINDOWS_ZONES)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NTH = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": 5}
_EVERY = re.compile(r"^(\d*)\s*(day|week|month)s?(?:\s+(.*))?$", re.IGNORECASE)
_OFFSET = re.compile(r"^offset([+-]?\d+)$", re.IGNORECASE)


def validate_configuration(properties: dict[str, Any], *, created: bool, now: datetime) -> None:
    scope = str(properties.get("maintenanceScope") or "")
    if scope.lower() not in {s.lower() for s in _SCOPES}:
        raise invalid(
            f"The maintenanceScope '{scope}' is not valid; use one of {', '.join(_SCOPES)}."
        )
    if scope.lower() != "inguestpatch":
        # kept as written and never run (model): Update Manager's rules below are InGuestPatch's,
        # and Azure takes the other scopes' configurations (an OSImage one with a five-hour
        # window in MaintenanceConfigurations_CreateOrUpdateForResource.json, 2023-04-01)
        return
    mode = (properties.get("extensionProperties") or {}).get("InGuestPatchMode")
    if str(mode).lower() != "user":
        raise invalid(
            "An InGuestPatch configuration needs extensionProperties.InGuestPatchMode 'User'."
        )
    window = properties.get("maintenanceWindow")
    if not isinstance(window, dict):
        raise invalid("The maintenanceWindow is required.")
    zone_name = str(window.get("timeZone") or "")
    if zone_name.casefold() not in _ZONES:
        raise invalid(
            f"The time zone '{zone_name}' is not valid; use a Windows time zone id such as "
            "'Pacific Standard Time' or 'UTC'."
        )
    start = local_time(window.get("startDateTime"), "startDateTime")
    if created and as_utc(start, zone_name) < now + _LEAD:
        raise invalid(
            "The start time of a schedule must be at least 15 minutes after its creation time."
        )
    if window.get("expirationDateTime"):
        expiry = local_time(window["expirationDateTime"], "expirationDateTime", seconds=True)
        if as_utc(expiry, zone_name) <= now:
            raise invalid("The expirationDateTime must be in the future.")
    length = window_length(properties)
    if length is None or not MIN_WINDOW <= length <= _MAX_WINDOW:
        raise invalid(
            f"The duration '{window.get('duration')}' is not valid for InGuestPatch: it must be "
            "HH:mm between 01:30 and 03:55."
        )
    if recurrence(str(window.get("recurEvery") or "")) is None:
        raise invalid(
            f"The recurEvery '{window.get('recurEvery')}' is not valid; e.g. 'Day', '3Days', "
            "'Week Saturday,Sunday', 'Month day23,day24', 'Month Second Tuesday Offset2' "
            "(offsets -6 to 6)."
        )
    _check_install_settings(properties.get("installPatches"))


def _check_install_settings(install: Any) -> None:
    if install is None:
        return
    if not isinstance(install, dict):
        raise invalid("installPatches must be an object.")
    reboot = install.get("rebootSetting", "IfRequired")
    if str(reboot).lower() not in {r.lower() for r in REBOOT_SETTINGS}:
        raise invalid(
            f"The rebootSetting '{reboot}' is not valid; use {', '.join(REBOOT_SETTINGS)}."
        )
    windows = install.get("windowsParameters") or {}
    for value in windows.get("classificationsToInclude") or []:
        if str(value).lower() not in {c.lower() for c in SCHEDULE_CLASSIFICATIONS}:
            raise invalid(
                f"The classification '{value}' is not valid; use "
                f"{', '.join(SCHEDULE_CLASSIFICATIONS)}."
            )
    for field_name in ("kbNumbersToInclude", "kbNumbersToExclude"):
        for value in windows.get(field_name) or []:
            if not is_kb_number(value):
                raise invalid(f"'{value}' is not a KB number.")


def validate_filter(scope_filter: dict[str, Any]) -> None:
    for name in ("resourceTypes", "resourceGroups", "osTypes", "locations"):
        values = scope_filter.get(name)
        if values is not None and not isinstance(values, list):
            raise invalid(f"filter.{name} must be a list.")
    tags = scope_filter.get("tagSettings") or {}
    operator = str(tags.get("filterOperator") or "Any")
    if operator.lower() not in ("any", "all"):
        raise invalid(f"The filterOperator '{operator}' is not valid; use Any or All.")


def local_time(value: Any, name: str, *, seconds: bool = False) -> datetime:
    formats = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M") if seconds else ("%Y-%m-%d %H:%M",)
    for fmt in formats:
        try:
            return datetime.strptime(str(value), fmt)
        except ValueError:
            continue
    raise invalid(f"The {name} '{value}' is not in 'YYYY-MM-DD hh:mm' format.")


def as_utc(local: datetime, zone_name: str) -> datetime:
    return local.replace(tzinfo=zone_info(zone_name)).astimezone(timezone.utc)


def window_length(properties: dict[str, Any]) -> timedelta | None:
    text = str((properties.get("maintenanceWindow") or {}).get("duration") or "")
    found = re.fullmatch(r"(\d{1,2}):([0-5]\d)", text)
    if not found:
        return None
    return timedelta(hours=int(found[1]), minutes=int(found[2]))


# --- recurrence ---------------------------------------------------------------------------------


def recurrence(text: str) -> tuple[int, str, list[str]] | None:
    """``(every, unit, rest-words)`` for a valid recurEvery, else None."""
    found = _EVERY.match(" ".join(text.split()))
    if not found:
        return None
    every = int(found[1] or 1)
    unit = found[2].lower()
    rest = (found[3] or "").split()
    if every < 1:
        return None
    if unit == "day" and rest:
        return None
    if unit == "week":
        days = [d.lower() for d in ",".join(rest).split(",") if d]
        if any(d not in _WEEKDAYS for d in days):
            return None
        return every, unit, days
    if unit == "month" and rest:
        if rest[0].lower().startswith("day"):
            days = ",".join(rest).split(",")
            if not all(re.fullmatch(r"day([1-9]|[12]\d|3[01]|-1)", d, re.IGNORECASE) for d in days):
                return None
        else:
            if (
                len(rest) not in (2, 3)
                or rest[0].lower() not in _NTH
                or rest[1].lower() not in _WEEKDAYS
            ):
                return None
            if len(rest) == 3:
                offset = _OFFSET.match(rest[2])
                if not offset or not -6 <= int(offset[1]) <= 6:
                    return None
    return every, unit, rest


def _month_days(year: int, month: int, rest: list[str], start_day: int) -> list[date]:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    last = following - timedelta(days=1)
    if not rest:
        return [first.replace(day=min(start_day, last.day))]
    if rest[0].lower().startswith("day"):
        days = []
        for item in ",".join(rest).split(","):
            number = int(item[3:])
            if number == -1:
                days.append(last)
            elif number <= last.day:
                days.append(first.replace(day=number))
        return sorted(days)
    weekday = _WEEKDAYS.index(rest[1].lower())
    nth = _NTH[rest[0].lower()]
    if nth == 5:
        base = last - timedelta(days=(last.weekday() - weekday) % 7)
    else:
        base = first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    offset = int(_OFFSET.match(rest[2])[1]) if len(rest) == 3 else 0  # type: ignore[index]
    return [base + timedelta(days=offset)]


def _local_openings(window: dict[str, Any]) -> Iterator[datetime]:
    """Window openings in local wall time, from the start date on, in order."""
    start = local_time(window["startDateTime"], "startDateTime")
    every, unit, rest = recurrence(str(window["recurEvery"]))  # type: ignore[misc]
    at = start.time()
    if unit == "day":
        moment = start
        while True:
            yield moment
            moment += timedelta(days=every)
    if unit == "week":
        days = [_WEEKDAYS.index(d) for d in rest] or [start.weekday()]
        monday = start.date() - timedelta(days=start.weekday())
        while True:
            for weekday in sorted(days):
                moment = datetime.combine(monday + timedelta(days=weekday), at)
                if moment >= start:
                    yield moment
            monday += timedelta(weeks=every)
    year, month = start.year, start.month
    while True:
        for day in _month_days(year, month, rest, start.day):
            moment = datetime.combine(day, at)
            if moment >= start:
                yield moment
        month += every
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1


def next_opening(properties: dict[str, Any], after: datetime) -> datetime | None:
    """The first window opening (UTC) after ``after``, or None once the schedule expired."""
    window = properties["maintenanceWindow"]
    zone_name = str(window["timeZone"])
    expiry = window.get("expirationDateTime")
    end = (
        as_utc(local_time(expiry, "expirationDateTime", seconds=True), zone_name)
        if expiry
        else None
    )
    for local in _local_openings(window):
        opening = as_utc(local, zone_name)
        if end is not None and opening > end:
            return None
        if opening > after:
            return opening
    return None  # pragma: no cover (the generators never end)
