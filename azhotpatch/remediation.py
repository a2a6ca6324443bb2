"""Fixing an Arc machine's Hotpatch prerequisites on the machine itself, as data and pure rules.

Every tool stops at "VBS is not running"; azhotpatch can fix it through Arc's Run Command
(``Microsoft.HybridCompute/machines/runCommands``): it first *measures* with a read-only
script, then, only when asked, sets what is missing, then restarts the machine only when the
caller said when a restart may happen. This module holds what needs no Azure: the scripts
(versioned here, shown in plans and docs), the parser of the measuring script's output, the
rules that turn a measurement into fixes or into reasons no script can fix, and where a
restart may be placed (the next baseline month's window, when a restart costs nothing extra).

Sources (Microsoft Learn, "Enable Hotpatch for Azure Arc-enabled servers"; MicrosoftDocs/
windowsserverdocs, WindowsServerDocs/get-started/enable-hotpatch-azure-arc-enabled-servers.md):
Windows Server 2025 build 26100.1742 or later; Virtualization-Based Security, which at bare
minimum needs UEFI with Secure Boot (a Hyper-V VM must be Generation 2); VBS is turned on
with ``EnableVirtualizationBasedSecurity=1`` under
``HKLM\\SYSTEM\\CurrentControlSet\\Control\\DeviceGuard`` and a restart, and
``Win32_DeviceGuard.VirtualizationBasedSecurityStatus`` is 2 once it runs.
On Arm64, CHPE is turned off with ``HotPatchRestrictions=1`` under ``...\\Session Manager\\Memory
Management`` and one restart (0 and a restart undo it).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from azhotpatch import calendar, errors
from azhotpatch.errors import InvalidArgumentError
from azhotpatch.models import Reason, Rule

__all__ = [
    "MEASURE",
    "REMEDIABLE",
    "SCRIPTS",
    "Diagnosis",
    "Fix",
    "Measurement",
    "RebootPolicy",
    "RebootState",
    "Remediation",
    "Script",
    "baseline_window",
    "diagnose",
    "parse_measurement",
    "restart_from",
    "restart_measured",
]

SCRIPT_VERSION = 2  # 2: the restart restarts only from the start it was measured at
MINIMUM_BUILD = (26100, 1742)  # Windows Server 2025, the first release Hotpatch is made for
# Reasons a machine reports that a script and a restart can fix.
REMEDIABLE = frozenset({Rule.ARC_VBS_OFF, Rule.ARC_CHPE_ENABLED})
_HEADER = "# azhotpatch-script: "
_DEVICE_GUARD = r"HKLM:\SYSTEM\CurrentControlSet\Control\DeviceGuard"
_MEMORY = r"HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager\Memory Management"


@dataclass(frozen=True)
class Script:
    """One PowerShell script azhotpatch runs through Run Command: its name (the run command
    resource is ``azhotpatch-<name>``), version, text, and what it changes on the machine."""

    name: str
    purpose: str
    changes: str
    body: str
    version: int = SCRIPT_VERSION

    @property
    def text(self) -> str:
        """The script as sent: a header naming it and its version, then its body."""
        return f"{_HEADER}{self.name} v{self.version}\n# {self.purpose}\n{self.body}"

    @property
    def run_command(self) -> str:
        return f"azhotpatch-{self.name}"


def script_named(text: str) -> tuple[str, int] | None:
    """The (name, version) a script's header declares, or None for a script not ours."""
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    if not first.startswith(_HEADER):
        return None
    name, _, version = first[len(_HEADER) :].partition(" v")
    return (name, int(version)) if version.isdigit() else None


MEASURE = Script(
    "measure",
    "Reads what Hotpatch needs and changes nothing.",
    "nothing: it only reads WMI and the registry",
    r"""$ErrorActionPreference = 'Stop'
function Read-Dword([string]$Path, [string]$Name) {
    $item = Get-ItemProperty -Path $Path -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $item) { return $null }
    return [int]$item.$Name
}
$guard = Get-CimInstance -Namespace 'root/Microsoft/Windows/DeviceGuard' `
    -ClassName 'Win32_DeviceGuard'
$os = Get-CimInstance -ClassName 'Win32_OperatingSystem'
$cpu = Get-CimInstance -ClassName 'Win32_Processor' | Select-Object -First 1
$version = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
$secureBoot = $null
try { $secureBoot = [bool](Confirm-SecureBootUEFI) }
catch [System.PlatformNotSupportedException] { $secureBoot = $null }  # legacy BIOS
catch { $secureBoot = $false }
[ordered]@{
    schema = 1
    vbsStatus = [int]$guard.VirtualizationBasedSecurityStatus
    availableSecurityProperties = @($guard.AvailableSecurityProperties)
    vbsConfigured = Read-Dword '"""
    + _DEVICE_GUARD
    + r"""' 'EnableVirtualizationBasedSecurity'
    firmware = $env:firmware_type
    secureBoot = $secureBoot
    build = [int]$version.CurrentBuildNumber
    revision = [int]$version.UBR
    architecture = [int]$cpu.Architecture
    hotPatchRestrictions = Read-Dword '"""
    + _MEMORY
    + r"""' 'HotPatchRestrictions'
    lastBoot = $os.LastBootUpTime.ToUniversalTime().ToString('o')
} | ConvertTo-Json -Compress
""",
)


def _set_dword(path: str, name: str) -> str:
    """A script body that sets a DWORD to 1 only if it is not 1 already (idempotent), and
    says which it did."""
    return rf"""$ErrorActionPreference = 'Stop'
$path = '{path}'
if (-not (Test-Path -Path $path)) {{ New-Item -Path $path -Force | Out-Null }}
$current = (Get-ItemProperty -Path $path -Name '{name}' -ErrorAction SilentlyContinue).'{name}'
if ($current -eq 1) {{ 'unchanged' }} else {{
    New-ItemProperty -Path $path -Name '{name}' -PropertyType DWord -Value 1 -Force | Out-Null
    'changed'
}}
"""


ENABLE_VBS = Script(
    "enable-vbs",
    "Turns Virtualization-Based Security on from the next start.",
    rf"sets {_DEVICE_GUARD}\EnableVirtualizationBasedSecurity to 1 (DWORD); VBS runs after a "
    "restart",
    _set_dword(_DEVICE_GUARD, "EnableVirtualizationBasedSecurity"),
)
DISABLE_CHPE = Script(
    "disable-chpe",
    "Arm64 only: turns CHPE off from the next start, as Hotpatch needs.",
    rf"sets {_MEMORY}\HotPatchRestrictions to 1 (DWORD); takes effect after one restart "
    "(0 and a restart undo it)",
    _set_dword(_MEMORY, "HotPatchRestrictions"),
)
_MEASURED_BOOT = "<the last start the measuring script read>"


def _restart_body(measured: str) -> str:
    """Restart from the start ``measured`` only: run again (a resend, another run), the
    script finds the machine started since, or its restart already scheduled (shutdown.exe
    exits 1190, ERROR_SHUTDOWN_IS_SCHEDULED), and restarts nothing."""
    return rf"""$ErrorActionPreference = 'Stop'
$measured = '{measured}'
if ($measured) {{
    $since = [datetime]::Parse($measured, [cultureinfo]::InvariantCulture, 'AdjustToUniversal')
    $booted = (Get-CimInstance -ClassName 'Win32_OperatingSystem').LastBootUpTime
    if ([math]::Abs(($booted.ToUniversalTime() - $since).TotalSeconds) -gt 2) {{
        'already restarted'
        exit 0
    }}
}}
shutdown.exe /r /t 60 /d p:2:17 /c "azhotpatch: restart for Hotpatch prerequisites"
if ($LASTEXITCODE -eq 1190) {{ 'already scheduled'; exit 0 }}
'scheduled'
"""


RESTART = Script(
    "restart",
    "Restarts the machine in 60 seconds, so that the run command reports before it goes down; "
    "only from the start it was measured at, so that running it twice restarts it once.",
    "restarts Windows once (shutdown /r /t 60, reason: planned hotfix); nothing if the machine "
    "has started since it was measured or a restart is already scheduled",
    _restart_body(_MEASURED_BOOT),
)
SCRIPTS: tuple[Script, ...] = (MEASURE, ENABLE_VBS, DISABLE_CHPE, RESTART)


def restart_from(last_boot: datetime | None) -> Script:
    """`RESTART` for a machine measured to have last started at ``last_boot`` (None: not
    known, and the script then restarts whatever the start)."""
    measured = "" if last_boot is None else last_boot.astimezone(timezone.utc).isoformat()
    return Script(RESTART.name, RESTART.purpose, RESTART.changes, _restart_body(measured))


def restart_measured(text: str) -> datetime | None:
    """The start a restart script (`restart_from`) was written for; None when it restarts
    whatever the start, or is not a restart script of ours."""
    for line in text.splitlines():
        if line.startswith("$measured = '") and line.endswith("'"):
            try:
                found = datetime.fromisoformat(line[len("$measured = '") : -1])
            except ValueError:
                return None
            return found if found.tzinfo is not None else found.replace(tzinfo=timezone.utc)
    return None


class Fix(str, enum.Enum):
    """A change a script makes; each takes effect at the next start."""

    ENABLE_VBS = "EnableVbs"
    DISABLE_CHPE = "DisableChpe"

    @property
    def script(self) -> Script:
        return ENABLE_VBS if self is Fix.ENABLE_VBS else DISABLE_CHPE


# --- what the measuring script found ---------------------------------------------------------

_ARCHITECTURES = {0: "x86", 5: "ARM", 9: "x64", 12: "ARM64"}
_HYPERVISOR_SUPPORT = 1  # Win32_DeviceGuard.AvailableSecurityProperties: base virtualization


@dataclass(frozen=True)
class Measurement:
    """What the measuring script read on the machine. ``vbs_status`` is
    ``Win32_DeviceGuard.VirtualizationBasedSecurityStatus``: 0 off, 1 configured but not
    running, 2 running."""

    vbs_status: int | None
    vbs_configured: bool
    virtualization: bool | None
    uefi: bool | None
    secure_boot: bool | None
    build: int | None
    revision: int | None
    architecture: str | None
    chpe_restricted: bool
    last_boot: datetime | None

    @property
    def vbs_running(self) -> bool:
        return self.vbs_status == 2

    @property
    def arm64(self) -> bool:
        return self.architecture == "ARM64"

    @property
    def version(self) -> str:
        return f"10.0.{self.build}.{self.revision}"


def parse_measurement(output: str) -> Measurement:
    """The measuring script's output (one JSON object, possibly after other lines) as typed
    facts; `ValueError` when it holds none."""
    document = _last_json_object(output)
    if document is None:
        raise ValueError("the measuring script printed no JSON object")
    architecture = document.get("architecture")
    properties = document.get("availableSecurityProperties")
    firmware = str(document.get("firmware") or "")
    return Measurement(
        vbs_status=_int(document.get("vbsStatus")),
        vbs_configured=_int(document.get("vbsConfigured")) == 1,
        virtualization=(
            _HYPERVISOR_SUPPORT in properties if isinstance(properties, list) else None
        ),
        uefi=firmware.upper() == "UEFI" if firmware else None,
        secure_boot=document.get("secureBoot"),
        build=_int(document.get("build")),
        revision=_int(document.get("revision")),
        architecture=_ARCHITECTURES.get(architecture) if isinstance(architecture, int) else None,
        chpe_restricted=_int(document.get("hotPatchRestrictions")) == 1,
        last_boot=_moment(document.get("lastBoot")),
    )


def _last_json_object(output: str) -> Mapping[str, Any] | None:
    for line in reversed(output.strip().splitlines()):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict) and "schema" in found:
            return found
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# --- what to do about it -----------------------------------------------------------------------

_NO_SCRIPT = "no script can change this: "
_AGAIN = errors.Command("remediate")  # remediate() again in Python, azhotpatch remediate in a shell


@dataclass(frozen=True)
class Diagnosis:
    """A measurement judged: the fixes a script can make, and the reasons none can."""

    measurement: Measurement
    fixes: tuple[Fix, ...] = ()
    blockers: tuple[Reason, ...] = ()

    @property
    def needs_restart(self) -> bool:
        """VBS configured but not running yet, or a fix still to take effect."""
        return bool(self.fixes) or not self.measurement.vbs_running


def diagnose(measurement: Measurement) -> Diagnosis:
    """What stands between the machine and Hotpatch, from what it measured."""
    blockers = tuple(_hardware_blockers(measurement))
    fixes: list[Fix] = []
    if not measurement.vbs_running and not measurement.vbs_configured:
        fixes.append(Fix.ENABLE_VBS)
    if measurement.arm64 and not measurement.chpe_restricted:
        fixes.append(Fix.DISABLE_CHPE)
    return Diagnosis(measurement, tuple(fixes), blockers)


def _hardware_blockers(m: Measurement) -> Iterable[Reason]:
    if m.build is not None and (m.build, m.revision or 0) < MINIMUM_BUILD:
        yield Reason(
            Rule.ARC_BUILD_TOO_OLD,
            f"the machine runs build {m.version}; Hotpatch needs Windows Server 2025 build "
            "26100.1742 or later",
            errors.Fix.of(
                "install the latest cumulative update (Windows Update or Azure Update Manager), "
                "then ",
                _AGAIN,
            ),
        )
    if m.uefi is False:
        yield Reason(
            Rule.ARC_NO_UEFI,
            "the machine boots with legacy BIOS; VBS, and so Hotpatch, needs UEFI with Secure Boot",
            errors.Fix.of(
                _NO_SCRIPT + "convert the system disk to GPT (mbr2gpt /convert) and switch the "
                "firmware to UEFI, or, for a Hyper-V VM, rebuild it as a Generation 2 VM"
            ),
        )
    elif m.secure_boot is False:
        yield Reason(
            Rule.ARC_NO_SECURE_BOOT,
            "Secure Boot is off; VBS, and so Hotpatch, needs UEFI with Secure Boot on",
            errors.Fix.of(
                _NO_SCRIPT + "turn Secure Boot on in the firmware setup (Hyper-V: "
                "Set-VMFirmware -EnableSecureBoot On with the VM off; VMware: enable EFI Secure "
                "Boot in the VM's boot options), then ",
                _AGAIN,
            ),
        )
    if not m.vbs_running and m.virtualization is False:
        yield Reason(
            Rule.ARC_NO_VIRTUALIZATION,
            "the processor offers no virtualization support to Windows, so VBS cannot run",
            errors.Fix.of(
                _NO_SCRIPT + "turn on virtualization extensions (Intel VT-x/AMD-V with SLAT) in "
                "the firmware, or, for a VM, expose them to the guest (Hyper-V: "
                "Set-VMProcessor -ExposeVirtualizationExtensions $true)"
            ),
        )


# --- when a restart may happen -------------------------------------------------------------------


class RebootState(str, enum.Enum):
    """Where a remediation's restart stands."""

    NOT_NEEDED = "NotNeeded"
    DONE = "Done"
    REQUIRED = "Required"  # fixes set, but no restart was allowed (pass reboot=)
    DEFERRED = "Deferred"  # allowed later: in the next baseline window, or at a given time


class RebootWhen(str, enum.Enum):
    NEVER = "never"
    NOW = "now"
    BASELINE = "baseline"
    AT = "at"


@dataclass(frozen=True)
class RebootPolicy:
    """When a restart may happen: never (the default: the fixes wait for a restart someone
    else makes), now, in the next baseline month's window (Patch Tuesday to the month's end,
    when the baseline's own restart makes this one cost nothing extra), or from a given
    time."""

    when: RebootWhen = RebootWhen.NEVER
    not_before: datetime | None = None
    unplanned: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls, value: RebootPolicy | str | datetime | None, *, unplanned: Iterable[str] = ()
    ) -> RebootPolicy:
        """``None``/"never", "now", "baseline", an aware datetime, or an ISO 8601 time."""
        if isinstance(value, RebootPolicy):
            return value
        months = tuple(str(u) for u in unplanned)
        calendar.month_kind(2000, 1, unplanned=months)  # checks the unplanned months
        if value is None:
            return cls(unplanned=months)
        if isinstance(value, datetime):
            return cls(RebootWhen.AT, _aware(value), months)
        text = str(value).strip().lower()
        for when in (RebootWhen.NEVER, RebootWhen.NOW, RebootWhen.BASELINE):
            if text == when.value:
                return cls(when, None, months)
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidArgumentError(
                "reboot",
                f"{value!r} is not a time to restart",
                fix="pass 'never', 'now', 'baseline' (the next baseline month's window) or an "
                "ISO 8601 time with its zone, e.g. 2027-01-16T02:00:00Z",
            ) from None
        return cls(RebootWhen.AT, _aware(moment), months)

    def earliest(self, now: datetime) -> datetime | None:
        """The first moment a restart may happen, from ``now`` on (``now`` itself when it
        may happen at once); None: never."""
        if self.when is RebootWhen.NEVER:
            return None
        if self.when is RebootWhen.NOW:
            return now
        if self.when is RebootWhen.AT:
            assert self.not_before is not None
            return max(now, self.not_before)
        start, _ = baseline_window(now.date(), unplanned=self.unplanned)
        opens = datetime.combine(start, datetime.min.time(), tzinfo=timezone.utc)
        return max(now, opens)

    def describe(self) -> str:
        if self.when is RebootWhen.AT:
            assert self.not_before is not None
            return f"from {self.not_before.isoformat()}"
        return {
            RebootWhen.NEVER: "never (set reboot=)",
            RebootWhen.NOW: "at once",
            RebootWhen.BASELINE: "in the next baseline window",
        }[self.when]

    def as_dict(self) -> dict[str, Any]:
        """What a run's journal is bound to."""
        return {
            "when": self.when.value,
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "unplanned": list(self.unplanned),
        }


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InvalidArgumentError(
            "reboot",
            f"{moment.isoformat()} has no time zone, so the restart time is ambiguous",
            fix="pass an aware datetime, e.g. 2027-01-16T02:00:00Z",
        )
    return moment.astimezone(timezone.utc)


def baseline_window(day: date, *, unplanned: Iterable[str] = ()) -> tuple[date, date]:
    """The baseline window on or after ``day``: from a baseline month's Patch Tuesday (the
    baseline's release) to that month's last day. A restart then costs nothing extra, since
    installing the baseline restarts the machine anyway."""
    months = tuple(unplanned)
    year, month = day.year, day.month
    for _ in range(24):
        if calendar.month_kind(year, month, unplanned=months).reboot_required:
            opens = calendar.patch_tuesday(year, month)
            closes = _month_end(year, month)
            if day <= closes:
                return max(opens, day), closes
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise AssertionError("a baseline comes every quarter")  # pragma: no cover


def _month_end(year: int, month: int) -> date:
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return following - timedelta(days=1)


# --- what a remediation did --------------------------------------------------------------


@dataclass(frozen=True)
class Remediation:
    """What `remediate` found and did on one machine. ``fixes`` are the changes it found
    needed; ``applied`` whether it made them (only when asked to fix); ``blockers`` what no
    script can fix, each with the manual fix; ``reboot`` where the restart stands, and
    ``reboot_after`` when a deferred one may happen."""

    resource: str
    before: Measurement | None
    after: Measurement | None = None
    fixes: tuple[Fix, ...] = ()
    applied: bool = False
    blockers: tuple[Reason, ...] = ()
    reboot: RebootState = RebootState.NOT_NEEDED
    reboot_after: datetime | None = None
    scripts: tuple[str, ...] = field(default_factory=tuple)
    detail: str = ""

    @property
    def ready(self) -> bool:
        """Nothing stands in the way any more: the machine can be enrolled."""
        done = self.reboot in (RebootState.NOT_NEEDED, RebootState.DONE)
        return not self.blockers and done and (self.applied or not self.fixes)

    def __str__(self) -> str:
        if self.blockers:
            return f"{self.resource}: blocked; " + "; ".join(str(r) for r in self.blockers)
        verb = "set" if self.applied else "to set"
        fixes = f"{verb} " + ", ".join(f.value for f in self.fixes) if self.fixes else "no fix"
        after = f" (after {self.reboot_after.isoformat()})" if self.reboot_after else ""
        return f"{self.resource}: {fixes}; restart {self.reboot.value}{after}"
