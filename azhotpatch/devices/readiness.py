"""Can this Windows 11 device take hotpatches? Every reason it cannot, each with its fix.

Pure: the facts come from Intune's ``managedDevice`` (beta), the baseline from
`azhotpatch.calendar`. The prerequisites (learn.microsoft.com, "Hotpatch updates" for
Windows 11 Enterprise; the product documents in the project's seeds):

* Windows 11 Enterprise (or Education), version 24H2 or later: build 26100.2033 and up
  (26100 is 24H2, 26200 is 25H2);
* a licence for it: Windows 11 Enterprise E3/E5, Microsoft 365 F3, Education A3/A5,
  Microsoft 365 Business Premium or Windows 365 Enterprise. Graph shows no licence on a
  device; its edition (``skuFamily``, ``hardwareInformation.operatingSystemEdition``) is
  the signal, since a subscription steps Pro up to Enterprise;
* an x64 (AMD or Intel) processor; Arm64 is in preview and needs CHPE turned off, which
  Graph cannot show;
* virtualization-based security (VBS) running;
* the latest baseline: a device behind it is first brought to it by a cumulative update that
  restarts the device, and takes hotpatches from then on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date

from azhotpatch import calendar
from azhotpatch.devices.models import Baseline, ManagedDevice
from azhotpatch.errors import Fix, InvalidArgumentError
from azhotpatch.models import Eligibility, Reason, Rule

__all__ = ["BASELINES", "FIRST_BUILD", "baseline_on", "device_readiness", "parse_os_version"]

# The build revision each baseline brought to Windows 11 24H2 and 25H2 (which share their
# monthly updates): support.microsoft.com, "Windows 11, version 24H2 update history":
# KB5055523 (2025-04-08) 26100.3775, KB5062553 (2025-07-08) 26100.4652, KB5066835
# (2025-10-14) 26100.6899 and 26200.6899. Later baselines: pass them as ``baselines=``.
BASELINES: Mapping[str, int] = {"2025-04": 3775, "2025-07": 4652, "2025-10": 6899}
FIRST_BUILD = (26100, 2033)  # the first 24H2 build hotpatch supports
EDITIONS = ("enterprise", "education")
X64 = "x64"
ARM64 = "arm64"
VBS_RUNNING = "running"
_VERSION = re.compile(r"^\s*10\.0\.(\d+)(?:\.(\d+))?\s*$")

_VBS_FIXES = {
    "rebootrequired": "restart the device: VBS is configured and starts at the next boot",
    "notconfigured": "turn VBS on (Intune: Endpoint security > Account protection, or a "
    "settings catalog profile for Device Guard), then restart",
    "doesnotmeethardwarerequirements": "VBS needs a 64-bit CPU with virtualization "
    "extensions, UEFI Secure Boot and (recommended) a TPM: turn them on in the firmware, or "
    "replace the device",
    "require64bitarchitecture": "VBS needs 64-bit Windows: reinstall as x64",
    "notlicensed": "VBS needs an Enterprise or Education edition: license the device",
}


def parse_os_version(text: str) -> tuple[int, int] | None:
    """(build, revision) from Intune's ``osVersion`` (``10.0.26100.4946``); None if it is not
    a Windows 10/11 version."""
    found = _VERSION.match(text or "")
    if not found:
        return None
    return int(found.group(1)), int(found.group(2) or 0)


def baseline_on(
    today: date,
    *,
    unplanned: Iterable[calendar.MonthLike] = (),
    baselines: Mapping[str, int] | None = None,
) -> Baseline:
    """The latest baseline released by ``today`` (a planned quarter or an unplanned one),
    with the build revision it brought; when that month's build is unknown, the newest known
    one before it stands in (``known`` False)."""
    table = {**BASELINES, **_checked(baselines or {})}
    release = _latest_reboot_release(today, unplanned)
    month = f"{release.year}-{release.month:02d}"
    if month in table:
        return Baseline(release, table[month])
    earlier = sorted(m for m in table if m <= month)
    if not earlier:
        raise InvalidArgumentError(
            "today",
            f"{today.isoformat()} is before the first hotpatch baseline azhotpatch knows",
            fix="pass a later date, or the baseline's build as baselines={'YYYY-MM': revision}",
        )
    return Baseline(release, table[earlier[-1]], known=False)


def _latest_reboot_release(
    today: date, unplanned: Iterable[calendar.MonthLike]
) -> calendar.Release:
    months = list(unplanned)
    year, month = today.year, today.month
    while True:
        kind = calendar.month_kind(year, month, unplanned=months)
        tuesday = calendar.patch_tuesday(year, month)
        if kind.reboot_required and tuesday <= today:
            return calendar.Release(year, month, kind, tuesday)
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)


def _checked(baselines: Mapping[str, int]) -> dict[str, int]:
    checked: dict[str, int] = {}
    for month, revision in baselines.items():
        if not re.fullmatch(r"\d{4}-\d{2}", str(month)) or not isinstance(revision, int):
            raise InvalidArgumentError(
                "baselines",
                f"{month!r}: {revision!r} is not a 'YYYY-MM' month and a build revision",
                fix="e.g. baselines={'2026-01': 7623} (the revision after 26100.)",
            )
        checked[str(month)] = revision
    return checked


def device_readiness(device: ManagedDevice, baseline: Baseline) -> Eligibility:
    """Every reason the device cannot take hotpatches, each with its fix; non-blocking
    reasons say what will happen first (a baseline restart) or what Graph cannot show."""
    if not device.is_windows:
        return Eligibility(
            device.id,
            (
                Reason(
                    Rule.DEVICE_NOT_WINDOWS,
                    f"runs {device.operating_system or 'an unknown OS'}, not Windows",
                    Fix.of("nothing to do: hotpatch is for Windows 11 Enterprise"),
                ),
            ),
        )
    reasons = [
        *_build(device, baseline),
        *_edition(device),
        *_architecture(device),
        *_vbs(device),
    ]
    return Eligibility(device.id, tuple(reasons))


def _build(device: ManagedDevice, baseline: Baseline) -> list[Reason]:
    version = parse_os_version(device.os_version)
    if version is None or version < FIRST_BUILD:
        return [
            Reason(
                Rule.DEVICE_OS_BUILD,
                f"runs Windows {device.os_version or '(version unknown)'}, before Windows 11 "
                "24H2 build 26100.2033",
                Fix.of("upgrade it to Windows 11 24H2 or later (an Intune feature update policy)"),
            )
        ]
    if version[1] < baseline.revision:
        return [
            Reason(
                Rule.DEVICE_BEHIND_BASELINE,
                f"is on build {version[0]}.{version[1]}, behind the {baseline.month} baseline "
                f"({version[0]}.{baseline.revision})",
                Fix.of(
                    "nothing: Windows Update brings it to the baseline (one restart), and "
                    "hotpatches follow from then on"
                ),
                blocking=False,
            )
        ]
    return []


def _edition(device: ManagedDevice) -> list[Reason]:
    said = f"{device.sku_family} {device.edition}".lower()
    if any(edition in said for edition in EDITIONS):
        return []
    shown = device.edition or device.sku_family or "an unknown edition"
    return [
        Reason(
            Rule.DEVICE_EDITION,
            f"runs {shown}, not Windows 11 Enterprise or Education",
            Fix.of(
                "assign the user a licence that includes Windows Enterprise (E3/E5, Microsoft 365 "
                "F3, Education A3/A5, Business Premium, Windows 365 Enterprise): subscription "
                "activation steps the device up to Enterprise"
            ),
        )
    ]


def _architecture(device: ManagedDevice) -> list[Reason]:
    architecture = device.architecture.lower()
    if architecture == X64:
        return []
    if architecture == ARM64:  # Graph spells it arM64
        return [
            Reason(
                Rule.DEVICE_ARM64_PREVIEW,
                "is Arm64: hotpatch there is in preview and needs CHPE turned off, which "
                "Graph cannot show",
                Fix.of(
                    "set HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Memory "
                    "Management\\HotPatchRestrictions=1 (DWORD) and restart, or accept "
                    "cumulative updates with restarts"
                ),
                blocking=False,
            )
        ]
    return [
        Reason(
            Rule.DEVICE_ARCHITECTURE,
            f"has a {device.architecture or 'unknown'} processor; hotpatch needs x64",
            Fix.of("replace or reimage it on x64 hardware; it keeps monthly cumulative updates"),
        )
    ]


def _vbs(device: ManagedDevice) -> list[Reason]:
    state = (device.vbs or "").strip()
    if state.lower() == VBS_RUNNING:
        return []
    if not state or state.lower() in ("unknown", "other"):
        return [
            Reason(
                Rule.DEVICE_VBS_UNKNOWN,
                "has not reported its virtualization-based security state",
                Fix.of("sync the device (Intune: Devices > the device > Sync) and check again"),
                blocking=False,
            )
        ]
    return [
        Reason(
            Rule.DEVICE_VBS_OFF,
            f"virtualization-based security is {state}, not running",
            Fix.of(_VBS_FIXES.get(state.lower(), "turn VBS on and restart")),
        )
    ]
