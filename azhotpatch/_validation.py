"""Checks every entry point runs on its inputs before anything is sent to Azure.

Each check returns the value in the form the rest of the library uses, or raises
`InvalidArgumentError` naming the input, the rule it breaks and the fix. They are pure (the
file checks only look at the local file system), so the Python API and the command line run
the same ones and a script learns about a typo before the first request, not after the
fifteenth.
"""

from __future__ import annotations

import math
import os
import re
import stat
import urllib.parse
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path

from azhotpatch import regions
from azhotpatch.errors import JOURNAL, Fix, InvalidArgumentError
from azhotpatch.ids import GROUP_NAME_RULE, MachineKind, is_guid, is_resource_group_name

__all__ = [
    "ca_bundle",
    "count",
    "endpoint",
    "flag",
    "iso_date",
    "journal_path",
    "kinds",
    "location",
    "locations",
    "management_groups",
    "optional_seconds",
    "released",
    "resource_groups",
    "subscription_id",
    "subscriptions",
    "tags",
    "time_scale",
]

# --- who ----------------------------------------------------------------------------------------


def subscription_id(value: object, argument: str = "subscription_id") -> str:
    """A subscription GUID, lower-cased."""
    if not isinstance(value, str) or not is_guid(value.strip()):
        raise InvalidArgumentError(
            argument,
            f"{value!r} is not a subscription id (a GUID)",
            fix="pass subscription GUIDs, e.g. from `az account list --query [].id`",
        )
    return value.strip().lower()


def subscriptions(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(subscription_id(v, "subscriptions") for v in _collection(values, "subscriptions"))


# Management group ids: up to 90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'
# (Microsoft.Management naming rules).
_MANAGEMENT_GROUP = re.compile(r"[\w\-.()]{0,89}[\w\-()]", re.ASCII)


def management_groups(values: Iterable[str]) -> tuple[str, ...]:
    groups = _collection(values, "management_groups")
    for value in groups:
        if not isinstance(value, str) or not _MANAGEMENT_GROUP.fullmatch(value):
            raise InvalidArgumentError(
                "management_groups",
                f"{value!r} is not a management group id (up to 90 letters, digits, '-', '_', "
                "'.', '(' or ')', not ending in '.')",
                fix="pass the group's id (its name), e.g. from `az account management-group list`",
            )
    return tuple(groups)


def resource_groups(values: Iterable[str]) -> tuple[str, ...]:
    groups = _collection(values, "resource_groups")
    for value in groups:
        if not isinstance(value, str) or not is_resource_group_name(value):
            raise InvalidArgumentError(
                "resource_groups",
                f"{value!r} is not a resource group name ({GROUP_NAME_RULE})",
                fix="pass resource group names such as 'rg-web', not their ids",
            )
    return tuple(groups)


def location(value: object, argument: str = "location") -> str:
    """A known Azure region, in its programmatic form (see `azhotpatch.regions`)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(
            argument, f"{value!r} is not an Azure region name", fix="e.g. westeurope"
        )
    region = regions.normalise(value)
    if region not in regions.KNOWN_REGIONS:
        close = regions.suggestions(value)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise InvalidArgumentError(
            argument,
            f"{value!r} is not an Azure region",
            fix=f"{hint}use a name `az account list-locations --query [].name` prints, e.g. "
            "westeurope (a region opened after this release: azhotpatch.regions."
            "register_region)",
        )
    return region


def locations(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(location(v, "locations") for v in _collection(values, "locations"))


# Azure tags: names up to 512 characters without < > % & \ ? /, values up to 256 characters.
_TAG_NAME_FORBIDDEN = set("<>%&\\?/")


def tags(value: Mapping[str, str] | None) -> dict[str, str]:
    """Tag filters as a mapping of name to value; every one must match."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            "tags",
            f"{value!r} is not a mapping of tag name to value",
            fix="pass a dict, e.g. tags={'env': 'prod'}",
        )
    for name, text in value.items():
        if not isinstance(name, str) or not name.strip() or len(name) > 512:
            raise InvalidArgumentError(
                "tags", f"tag name {name!r} is empty or too long", fix="use 1-512 characters"
            )
        if _TAG_NAME_FORBIDDEN & set(name):
            raise InvalidArgumentError(
                "tags",
                f"tag name {name!r} has a character Azure forbids in tag names",
                fix="leave out < > % & \\ ? /",
            )
        if not isinstance(text, str) or len(text) > 256:
            raise InvalidArgumentError(
                "tags",
                f"the value of tag {name!r} ({text!r}) is not a string of at most 256 characters",
                fix="tag values are strings, e.g. tags={'env': 'prod'}",
            )
    return dict(value)


def kinds(values: Iterable[MachineKind | str]) -> tuple[MachineKind, ...]:
    parsed: list[MachineKind] = []
    for value in _collection(values, "kinds"):
        try:
            kind = MachineKind(str(getattr(value, "value", value)).lower())
        except ValueError:
            raise InvalidArgumentError(
                "kinds", f"{value!r} is not a machine kind", fix="use 'vm' or 'arc'"
            ) from None
        if kind not in parsed:
            parsed.append(kind)
    if not parsed:
        raise InvalidArgumentError("kinds", "no machine kind selected", fix="pass vm and/or arc")
    return tuple(parsed)


def _collection(values: Iterable[str], argument: str) -> list[str]:
    """A list of strings; a bare string is refused, since iterating it would yield letters."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InvalidArgumentError(
            argument,
            f"{values!r} is not a list",
            fix=f"wrap it in a list, e.g. {argument}=[{values!r}]",
        )
    return list(values)


# --- numbers ------------------------------------------------------------------------------------


def count(value: object, argument: str, *, minimum: int, maximum: int | None = None) -> int:
    """A whole number within its range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(
            argument, f"{value!r} is not a whole number", fix=f"pass an int, e.g. {minimum}"
        )
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
        raise InvalidArgumentError(
            argument, f"{value} is out of range", fix=f"pass a whole number {allowed}"
        )
    return value


def optional_seconds(
    value: float | timedelta | None, argument: str, *, zero: bool = False
) -> float | None:
    """A length of time above zero (or zero too, where ``zero`` says it means "at once"), in
    seconds; None stays None: "the default"."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        seconds = math.nan
    if not (math.isfinite(seconds) and (seconds > 0 or (zero and seconds == 0))):
        raise InvalidArgumentError(
            argument,
            f"{value!r} is not a {'non-negative' if zero else 'positive'}, finite duration",
            fix="pass a number of seconds or a timedelta, e.g. timedelta(minutes=30)",
        )
    if seconds > MAX_SECONDS:
        raise InvalidArgumentError(
            argument,
            f"{value!r} is longer than a year ({MAX_SECONDS:.0f} s), which no wait here needs",
            fix="pass a number of seconds up to a year, e.g. 30",
        )
    return seconds


# The longest length of time any option takes: a year. Waits and timeouts become timers,
# socket timeouts and ``timedelta``s, and 1e308 seconds overflows each of them.
MAX_SECONDS = 366 * 24 * 3600.0
# How much faster (or slower) than Azure an emulator's clock may run. Everything the client
# derives from it stays finite: a poll every 30 s of Azure time is 30 / 0.001 = 30000 wall
# seconds at the slowest, and a second of Azure time is a microsecond at the fastest.
TIME_SCALES = (0.001, 1_000_000.0)


def time_scale(value: object) -> float:
    """How much faster than Azure an emulator's clock runs: within `TIME_SCALES`."""
    low, high = TIME_SCALES
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise InvalidArgumentError(
            "time_scale",
            f"{value!r} is not a positive, finite speed-up",
            fix="leave it at 1 for Azure; an emulator's is e.g. 600",
        )
    if not low <= value <= high:
        raise InvalidArgumentError(
            "time_scale",
            f"{value!r} is outside {low:g} to {high:g}",
            fix=f"pass a speed-up from {low:g} to {high:g}; an emulator's is e.g. 600",
        )
    return float(value)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_date(text: str, argument: str) -> date:
    """``YYYY-MM-DD`` and nothing else (``date.fromisoformat`` would also take week dates)."""
    try:
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
        problem = "is not written YYYY-MM-DD"
    except ValueError as error:
        problem = f"is not a date ({error})"
    raise InvalidArgumentError(argument, f"{text!r} {problem}", fix="e.g. 2026-02-28")


def flag(value: object, argument: str) -> bool:
    """True or False, and nothing that merely looks like one ("no" is a true string)."""
    if not isinstance(value, bool):
        raise InvalidArgumentError(
            argument, f"{value!r} is not True or False", fix=f"pass {argument}=True or leave it out"
        )
    return value


def released(value: object, argument: str = "released") -> date | None:
    """The day an out-of-band release came out (a date, or ``YYYY-MM-DD``), or None. A day
    still to come names no release yet (one day of slack for time zones)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = iso_date(value, argument)
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidArgumentError(
            argument,
            f"{value!r} is not a day (a datetime.date, or YYYY-MM-DD)",
            fix="name the day the release came out, e.g. 2026-03-19",
        )
    if value > date.today() + timedelta(days=1):
        raise InvalidArgumentError(
            argument,
            f"{value.isoformat()} has not come yet",
            fix="name the day an out-of-band release came out, on or before today",
        )
    return value


# --- where and how to connect --------------------------------------------------------------------


def endpoint(url: object, argument: str = "endpoint") -> str:
    """A Resource Manager URL: https (azure-core sends bearer tokens over nothing else) and a
    host; returned without a trailing slash."""
    text = url.strip() if isinstance(url, str) else ""
    try:
        parts = urllib.parse.urlsplit(text)
        valid = parts.scheme == "https" and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number, a malformed IPv6 host
        valid = False
    if not valid or parts.query or parts.fragment:
        raise InvalidArgumentError(
            argument,
            f"{url!r} is not an https URL of a Resource Manager endpoint",
            fix="pass e.g. https://management.azure.com, or leave it out and choose a cloud",
        )
    return text.rstrip("/")


def ca_bundle(path: object, argument: str = "ca_bundle") -> str:
    """A readable PEM file of CA certificates."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise InvalidArgumentError(
            argument, f"{path!r} is not a file path", fix="pass the path of a PEM CA bundle"
        )
    file = Path(path)
    if not file.is_file():
        raise InvalidArgumentError(
            argument,
            f"{str(file)!r} does not exist or is not a file",
            fix="pass the path of a PEM CA bundle (an emulator writes one: its --ca-path)",
        )
    import ssl  # here: it takes as long to import as the rest of this module

    try:
        ssl.create_default_context(cafile=str(file))
    except (ssl.SSLError, OSError, ValueError) as error:
        raise InvalidArgumentError(
            argument,
            f"{str(file)!r} is not a readable PEM bundle of CA certificates ({error})",
            fix="pass a PEM file of '-----BEGIN CERTIFICATE-----' blocks",
        ) from None
    return str(file)


_SQLITE_HEADER = b"SQLite format 3\x00"


def journal_path(path: object) -> Path:
    """Where a run journal can live: a new file in a writable directory, or an existing
    SQLite file there (SQLite also writes ``-wal`` and ``-shm`` files beside it). Whether
    an existing journal belongs to the same plan is the journal's own check."""
    file = output_file(path, "journal", "run.sqlite")
    if file.exists():
        _existing_journal(file)
    return file


def output_file(path: object, argument: str, example: str) -> Path:
    """Where a file can be written: a new path, or a regular file, in an existing directory
    this user can write to. ``example`` is a file name to suggest. A directory, a FIFO, a
    device (``/dev/null``), a socket or a symbolic link at the path is refused: azhotpatch
    writes a file whole and renames it into place (`azhotpatch._files`), which would replace
    such a thing with a file, and would never write through it."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InvalidArgumentError(
            argument, f"{path!r} is not a file path", fix=f"pass e.g. {example!r}"
        )
    file = Path(path)
    if file.is_dir():
        raise InvalidArgumentError(
            argument,
            f"{str(file)!r} is a directory",
            fix=f"pass a file path inside it, e.g. {example}",
        )
    special = _not_regular(file)
    if special:
        raise InvalidArgumentError(
            argument,
            f"{str(file)!r} exists and is {special}, not a regular file; azhotpatch replaces "
            "only a regular file",
            fix=f"pass the path of a regular file or a new one, e.g. {example}",
        )
    folder = file.parent
    if not folder.is_dir():
        raise InvalidArgumentError(
            argument,
            f"the directory of {str(file)!r} does not exist",
            fix="create the directory first, or choose a path in an existing one",
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidArgumentError(
            argument,
            f"the directory of {str(file)!r} is not writable",
            fix="choose a directory this user can write to",
        )
    return file


def _not_regular(file: Path) -> str | None:
    """What is at the path when it is there and not a regular file, in words."""
    try:
        mode = os.lstat(file).st_mode
    except OSError:  # nothing there (or nothing this user may look at: the write will say)
        return None
    file_types = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    for test, words in file_types:
        if test(mode):
            return words
    return None if stat.S_ISREG(mode) else "not a regular file"


def recorded_journal(path: object) -> Path:
    """A journal to read: an existing SQLite file (what it holds is the journal's check)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InvalidArgumentError(
            "journal", f"{path!r} is not a file path", fix="pass the run's journal path"
        )
    file = Path(path)
    if not file.is_file() or not os.access(file, os.R_OK):
        raise InvalidArgumentError(
            "journal",
            f"{str(file)!r} is not a readable file",
            fix=Fix.of("pass the journal path the run was given (", JOURNAL, ")"),
        )
    if _header(file) != _SQLITE_HEADER:
        raise InvalidArgumentError(
            "journal",
            f"{str(file)!r} is not a run journal (not an SQLite database)",
            fix=Fix.of("pass the journal path the run was given (", JOURNAL, ")"),
        )
    return file


def _header(file: Path) -> bytes:
    """A file's first bytes, as many as SQLite's header has (fewer for a shorter file)."""
    with file.open("rb") as handle:
        return handle.read(len(_SQLITE_HEADER))


def _existing_journal(file: Path) -> None:
    if not file.is_file() or not os.access(file, os.R_OK | os.W_OK):
        raise InvalidArgumentError(
            "journal",
            f"{str(file)!r} is not a readable and writable file",
            fix="choose another path, or fix its permissions",
        )
    header = _header(file)
    if header and header != _SQLITE_HEADER:
        raise InvalidArgumentError(
            "journal",
            f"{str(file)!r} exists and is not a run journal (not an SQLite database)",
            fix="choose a new path; an existing journal is only for resuming its own run",
        )


def guid(value: object, argument: str, *, what: str = "Microsoft Entra group") -> str:
    """An object id of Microsoft Graph (a group's, a device's), lower-cased."""
    if not isinstance(value, str) or not is_guid(value.strip()):
        raise InvalidArgumentError(
            argument,
            f"{value!r} is not a {what} id (a GUID)",
            fix=f"pass the {what}'s object id, e.g. from the Entra admin center or Graph",
        )
    return value.strip().lower()
