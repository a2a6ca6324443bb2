"""A seeded, calendar-driven model of what Windows Update offers a machine.

Good enough to make assessments and installs behave like the real thing where it matters to
Hotpatch: each Patch Tuesday brings a cumulative update (needs a reboot) or, for an enrolled
machine on a current baseline in a hotpatch month, a hotpatch (``NeverReboots``); Defender
definitions and the malicious-software removal tool never reboot; .NET updates can. Installing
removes a patch from later assessments. KB numbers are a pure function of the product and the
month, so every machine in a fleet sees the same KB for the same release.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone

from azhotpatch.calendar import MonthKind, month_kind, next_release
from azhotpatch.testing._faults import chance

WINDOWS_CLASSIFICATIONS = (
    "Critical",
    "Security",
    "UpdateRollUp",
    "FeaturePack",
    "ServicePack",
    "Definition",
    "Tools",
    "Updates",
)
LINUX_CLASSIFICATIONS = ("Critical", "Security", "Other")
REBOOTING = ("CanRequestReboot", "AlwaysRequiresReboot")


@dataclass(frozen=True)
class OsProduct:
    """The Windows Server release a machine runs, as Windows Update names it."""

    key: str
    display: str
    version_label: str
    build: str


PRODUCTS = {
    "ws2025": OsProduct("ws2025", "Windows Server 2025", "24H2", "26100"),
    "ws2022": OsProduct("ws2022", "Windows Server 2022", "21H2", "20348"),
    "ws2019": OsProduct("ws2019", "Windows Server 2019", "1809", "17763"),
    "ws2016": OsProduct("ws2016", "Windows Server 2016", "1607", "14393"),
}


@dataclass(frozen=True)
class SoftwarePatch:
    """One update as an assessment lists it."""

    key: str  # what "installed" remembers (KB, or KB@version for re-released ones)
    name: str
    kb: str | None
    version: str | None
    classification: str
    reboot: str
    published: datetime
    msrc_severity: str | None = None
    # the monthly release (year, month) a cumulative update or hotpatch brings the OS build
    # to; None for everything else (Defender, the removal tool, .NET, Linux packages)
    release: tuple[int, int] | None = None
    hotpatch: bool = False

    @property
    def needs_reboot(self) -> bool:
        return self.reboot in REBOOTING

    @property
    def patch_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_OID, f"azhotpatch-emulator/{self.key}"))


def _kb(seed: int, *parts: object) -> str:
    return str(5_000_000 + int(chance(seed, "kb", *parts) * 99_999))


def month_of(now: datetime) -> tuple[int, int]:
    """The month of the latest Patch Tuesday on or before ``now``: the release in force."""
    return _month_of(now)


def shift(year: int, month: int, back: int) -> tuple[int, int]:
    """The month ``back`` months before (after, when negative) the one given."""
    return _shift(year, month, back)


def _month_of(now: datetime) -> tuple[int, int]:
    """The month of the latest Patch Tuesday on or before ``now``."""
    today = now.date()
    release = next_release(date(today.year, today.month, 1), inclusive=True)
    if release.date <= today:
        return release.year, release.month
    year, month = (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)
    return year, month


def _shift(year: int, month: int, back: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) - back
    return index // 12, index % 12 + 1


def _last_baseline(year: int, month: int) -> tuple[int, int]:
    back = 0
    while month_kind(*_shift(year, month, back)) is not MonthKind.BASELINE:
        back += 1
    return _shift(year, month, back)


def _tuesday(year: int, month: int) -> datetime:
    day = next_release(date(year, month, 1), inclusive=True).date
    return datetime.combine(day, time(17, 0), tzinfo=timezone.utc)


@dataclass
class PatchModel:
    """What Windows Update offers a machine, given the month and what it has installed."""

    seed: int
    unplanned: Sequence[str] = ()

    # --- the releases ---------------------------------------------------------------------

    def lcu(self, product: OsProduct, year: int, month: int) -> SoftwarePatch:
        kb = _kb(self.seed, "lcu", product.key, year, month)
        return SoftwarePatch(
            key=kb,
            name=(
                f"{year}-{month:02d} Cumulative Update for Microsoft server operating system "
                f"version {product.version_label} for x64-based Systems (KB{kb})"
            ),
            kb=kb,
            version=None,
            classification="Security",
            reboot="CanRequestReboot",
            published=_tuesday(year, month),
            msrc_severity="Critical",
            release=(year, month),
        )

    def hotpatch(self, product: OsProduct, year: int, month: int) -> SoftwarePatch:
        kb = _kb(self.seed, "hotpatch", product.key, year, month)
        return SoftwarePatch(
            key=kb,
            name=(
                f"{year}-{month:02d} Security Hotpatch Update for {product.display} "
                f"for x64-based Systems (KB{kb})"
            ),
            kb=kb,
            version=None,
            classification="Security",
            reboot="NeverReboots",
            published=_tuesday(year, month),
            msrc_severity="Important",
            release=(year, month),
            hotpatch=True,
        )

    def dotnet(self, product: OsProduct, year: int, month: int) -> SoftwarePatch | None:
        if chance(self.seed, "dotnet", year, month) >= 0.5:
            return None
        kb = _kb(self.seed, "dotnet", product.key, year, month)
        return SoftwarePatch(
            key=kb,
            name=(
                f"{year}-{month:02d} Cumulative Update for .NET Framework 3.5 and 4.8.1 for "
                f"{product.display} (KB{kb})"
            ),
            kb=kb,
            version=None,
            classification="Security",
            reboot="CanRequestReboot",
            published=_tuesday(year, month),
            msrc_severity="Important",
        )

    def msrt(self, year: int, month: int) -> SoftwarePatch:
        version = f"5.{(year - 2000) * 12 + month - 140}"
        return SoftwarePatch(
            key=f"890830@{year}-{month:02d}",
            name=f"Windows Malicious Software Removal Tool x64 - v{version} (KB890830)",
            kb="890830",
            version=None,
            classification="UpdateRollUp",
            reboot="NeverReboots",
            published=_tuesday(year, month),
        )

    def defender(self, day: date) -> SoftwarePatch:
        build = (day - date(2020, 1, 1)).days
        return SoftwarePatch(
            key=f"2267602@{day.isoformat()}",
            name=(
                "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 "
                f"(Version 1.{400 + build // 365}.{build % 1000}.0)"
            ),
            kb="2267602",
            version=None,
            classification="Definition",
            reboot="NeverReboots",
            published=datetime.combine(day, time(6, 0), tzinfo=timezone.utc),
        )

    def linux_packages(self, machine_key: str, year: int, month: int) -> list[SoftwarePatch]:
        names = ("openssl", "libc6", "openssh-server", "curl", "tzdata", "systemd")
        patches = []
        for name in names:
            if chance(self.seed, "pkg", machine_key, name, year, month) < 0.4:
                version = f"{year - 2000}.{month}.{int(chance(self.seed, name) * 9)}"
                patches.append(
                    SoftwarePatch(
                        key=f"{name}@{version}",
                        name=name,
                        kb=None,
                        version=version,
                        classification="Security" if name != "tzdata" else "Other",
                        reboot="NeverReboots" if name != "libc6" else "CanRequestReboot",
                        published=_tuesday(year, month),
                    )
                )
        return patches

    # --- what a machine is offered --------------------------------------------------------

    def baseline_of(self, product: OsProduct, now: datetime) -> SoftwarePatch:
        """The cumulative update of the latest baseline month (what an enrolled machine needs
        before hotpatches apply)."""
        return self.lcu(product, *_last_baseline(*_month_of(now)))

    def initial_installed(
        self, product: OsProduct | None, machine_key: str, now: datetime, months_behind: int
    ) -> set[str]:
        """A machine that last patched ``months_behind`` months ago."""
        return self.initial_state(product, now, months_behind)[0]

    def initial_state(
        self,
        product: OsProduct | None,
        now: datetime,
        months_behind: int,
        *,
        enrolled: bool = False,
    ) -> tuple[set[str], int | None]:
        """What a machine that last patched ``months_behind`` releases ago has installed,
        and the OS build revision that left it on: an enrolled machine in a hotpatch month
        runs that quarter's baseline and the month's hotpatch, any other the month's
        cumulative update."""
        if product is None:
            return set(), None
        year, month = _shift(*_month_of(now), months_behind)
        kind = month_kind(year, month, unplanned=list(self.unplanned))
        if enrolled and kind is MonthKind.HOTPATCH:
            baseline = self.lcu(product, *_last_baseline(year, month))
            security = self.hotpatch(product, year, month)
            installed = {baseline.key, security.key}
        else:
            security = self.lcu(product, year, month)
            installed = {security.key}
        installed.add(self.msrt(year, month).key)
        dotnet = self.dotnet(product, year, month)
        if dotnet:
            installed.add(dotnet.key)
        return installed, self.revision_of(product, security)

    # --- the OS build ---------------------------------------------------------------------

    def revision_of(self, product: OsProduct, patch: SoftwarePatch) -> int:
        """The build revision (the ``4946`` of ``10.0.26100.4946``) a cumulative update or
        hotpatch brings the machine to. Model: the numbers are not Microsoft's (those are
        known only once released) but behave like them: every month's release raises the
        revision, and in a hotpatch month the hotpatch's revision is a little below the
        month's cumulative update's (the two are different builds)."""
        assert patch.release is not None
        year, month = patch.release
        lcu = 500 + 100 * ((year - 2020) * 12 + month - 1) + (11 if product.key == "ws2025" else 7)
        return lcu - 9 if patch.hotpatch else lcu

    def release_builds(self, product: OsProduct, first: date, last: date) -> dict[str, int]:
        """The lowest build revision each release from ``first`` to ``last`` brought
        ``product`` to (its hotpatch's in a hotpatch month), keyed ``"YYYY-MM"``: what a
        caller of ``posture(builds=...)`` gives azhotpatch for this world."""
        builds: dict[str, int] = {}
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            kind = month_kind(year, month, unplanned=list(self.unplanned))
            patch = (
                self.hotpatch(product, year, month)
                if kind is MonthKind.HOTPATCH
                else self.lcu(product, year, month)
            )
            builds[f"{year}-{month:02d}"] = self.revision_of(product, patch)
            year, month = _shift(year, month, -1)
        return builds

    def offered(
        self,
        product: OsProduct | None,
        machine_key: str,
        *,
        enrolled: bool,
        installed: Iterable[str],
        now: datetime,
    ) -> list[SoftwarePatch]:
        """Every update the machine would install now, newest release only (cumulative)."""
        have = set(installed)
        year, month = _month_of(now)
        if product is None:
            return [p for p in self.linux_packages(machine_key, year, month) if p.key not in have]
        security = self._security_updates(product, year, month, enrolled, have)
        candidates = [*security, self.msrt(year, month), self.defender(now.date())]
        dotnet = self.dotnet(product, year, month)
        if dotnet:
            candidates.append(dotnet)
        return [p for p in candidates if p.key not in have]

    def _security_updates(
        self, product: OsProduct, year: int, month: int, enrolled: bool, have: set[str]
    ) -> list[SoftwarePatch]:
        """An enrolled machine in a hotpatch month gets the month's hotpatch, and first the
        quarter's baseline when it is not on it ("the device will receive both the latest
        baseline update (restart required) and the latest hotpatch update": Microsoft's
        Windows hotpatch page); any other machine the month's cumulative update."""
        kind = month_kind(year, month, unplanned=list(self.unplanned))
        if enrolled and kind is MonthKind.HOTPATCH:
            baseline = self.lcu(product, *_last_baseline(year, month))
            hotpatch = self.hotpatch(product, year, month)
            return [hotpatch] if baseline.key in have else [baseline, hotpatch]
        return [self.lcu(product, year, month)]
