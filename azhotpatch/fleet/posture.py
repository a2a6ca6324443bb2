"""Where the estate stands: each machine's verdict (`azhotpatch.posture_rules`) with what it
was judged by, counted by verdict and by subscription, region and kind, as a table, JSON,
CSV, an HTML page or a snapshot file; and two snapshots compared.

`Hotpatch.posture` builds a `Posture` from a handful of Resource Graph queries
(`azhotpatch.fleet._posture_reads`). A snapshot (`Posture.save`) keeps every machine's
record with its reasons and fixes as data, so a later posture can say what changed since
(`Posture.since`): machines newly behind or newly current, newly enrolled or that lost
enrollment (an update or a settings change took them out of Hotpatch, which nothing in
Azure announces), and machines that appeared or disappeared.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from azhotpatch._files import write_atomically
from azhotpatch.errors import PYTHON, Fix, InvalidArgumentError, Words
from azhotpatch.fleet._folding import COLORS, Group, text_groups
from azhotpatch.fleet.report import MachineResult, Outcome
from azhotpatch.models import EnrollmentState, Reason, Rule
from azhotpatch.posture_rules import Verdict

__all__ = ["MachinePosture", "Posture", "PostureChanges"]

SNAPSHOT_SCHEMA = 1
_COLORS = {  # one each, as the HTML page stacks them side by side in a bar
    Verdict.CURRENT: COLORS["succeeded"],
    Verdict.BEHIND: COLORS["failed"],
    Verdict.RESTART_NEEDED: "#f9a825",
    Verdict.NOT_ENROLLED: COLORS["skipped"],
    Verdict.NOT_ELIGIBLE: "#555",
    Verdict.POLICY_MISMATCH: "#ad1457",
    Verdict.STALE: COLORS["unfinished"],
    Verdict.UNKNOWN: "#90a4ae",
}
_CSV_COLUMNS = (
    "resource",
    "subscription",
    "resource_group",
    "location",
    "kind",
    "verdict",
    "behind",
    "rule",
    "message",
    "fix",
    "enrollment",
    "os_version",
    "running",
    "expected",
    "last_assessment",
    "critical",
    "security",
    "reboot_pending",
    "last_install",
    "install_status",
    "reboot_status",
)


@dataclass(frozen=True)
class MachinePosture:
    """One machine: where it is, its verdict with the reasons and fixes, and what it was
    judged by (its enrollment and build, the release expected, Azure's last assessment and
    installation)."""

    resource: str
    kind: str  # "vm" | "arc"
    subscription: str
    resource_group: str
    location: str
    verdict: Verdict
    reasons: tuple[Reason, ...]
    behind: int | None = None
    enrollment: EnrollmentState = EnrollmentState.UNKNOWN
    os_version: str | None = None
    running: str | None = None  # the release its build is on, "YYYY-MM", where known
    expected: str = ""  # the release the calendar expects
    last_assessment: datetime | None = None
    critical: int = 0
    security: int = 0
    reboot_pending: bool | None = None
    last_install: datetime | None = None
    install_status: str | None = None
    reboot_status: str | None = None

    @property
    def name(self) -> str:
        return str(self.resource.rsplit("/", 1)[-1])

    @property
    def enrolled(self) -> bool:
        return self.enrollment is EnrollmentState.ENROLLED

    @property
    def fix(self) -> Fix | None:
        return Fix.joined(r.fix for r in self.reasons)

    @property
    def title(self) -> str:
        """The verdict as a heading says it: ``behind 2 releases``, ``not-eligible Linux``."""
        if self.verdict is Verdict.BEHIND:
            if self.behind is None:
                return "behind (by an unknown number of releases)"
            return f"behind {self.behind} release{'' if self.behind == 1 else 's'}"
        if self.verdict is Verdict.NOT_ELIGIBLE:
            return f"not-eligible {self.reasons[0].rule.value}"
        return str(self.verdict.value)

    def as_dict(self, words: Words = PYTHON) -> dict[str, Any]:
        """Plain JSON, each fix rendered in ``words``."""
        return {
            **self._fields(),
            "reasons": [
                {"rule": r.rule.value, "message": r.message, "fix": r.fix.render(words)}
                for r in self.reasons
            ],
        }

    def _fields(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "kind": self.kind,
            "subscription": self.subscription,
            "resource_group": self.resource_group,
            "location": self.location,
            "verdict": self.verdict.value,
            "behind": self.behind,
            "enrollment": self.enrollment.value,
            "os_version": self.os_version,
            "running": self.running,
            "expected": self.expected,
            "last_assessment": _iso(self.last_assessment),
            "critical": self.critical,
            "security": self.security,
            "reboot_pending": self.reboot_pending,
            "last_install": _iso(self.last_install),
            "install_status": self.install_status,
            "reboot_status": self.reboot_status,
        }

    def snapshot(self) -> dict[str, Any]:
        """What a snapshot file keeps: the fields, and each reason's fix as data."""
        return {
            **self._fields(),
            "reasons": [
                {
                    "rule": r.rule.value,
                    "message": r.message,
                    "fix": r.fix.as_data(),
                    "blocking": r.blocking,
                }
                for r in self.reasons
            ],
        }

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> MachinePosture:
        return cls(
            resource=str(data["resource"]),
            kind=str(data["kind"]),
            subscription=str(data["subscription"]),
            resource_group=str(data["resource_group"]),
            location=str(data["location"]),
            verdict=Verdict(data["verdict"]),
            reasons=tuple(
                Reason(Rule(r["rule"]), str(r["message"]), Fix.from_data(r["fix"]), r["blocking"])
                for r in data["reasons"]
            ),
            behind=data.get("behind"),
            enrollment=EnrollmentState(data.get("enrollment", "Unknown")),
            os_version=data.get("os_version"),
            running=data.get("running"),
            expected=str(data.get("expected") or ""),
            last_assessment=_parse_time(data.get("last_assessment")),
            critical=int(data.get("critical") or 0),
            security=int(data.get("security") or 0),
            reboot_pending=data.get("reboot_pending"),
            last_install=_parse_time(data.get("last_install")),
            install_status=data.get("install_status"),
            reboot_status=data.get("reboot_status"),
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


@dataclass(frozen=True)
class PostureChanges:
    """What changed between two postures of the same estate, machine ids in each list."""

    since: datetime
    taken: datetime
    newly_behind: tuple[str, ...] = ()
    newly_current: tuple[str, ...] = ()
    newly_enrolled: tuple[str, ...] = ()
    lost_enrollment: tuple[str, ...] = ()
    appeared: tuple[str, ...] = ()
    disappeared: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in _CHANGES}

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "taken": self.taken.isoformat(),
            **{name: list(getattr(self, name)) for name in _CHANGES},
        }

    def text(self, limit: int | None = 10) -> str:
        lines = [f"Since {self.since:%Y-%m-%d %H:%M} UTC:"]
        for name in _CHANGES:
            ids: tuple[str, ...] = getattr(self, name)
            lines.append(f"  {name.replace('_', ' ')}: {len(ids):,}")
            shown = ids if limit is None else ids[:limit]
            lines += [f"    {rid}" for rid in shown]
            if len(ids) > len(shown):
                lines.append(f"    ... and {len(ids) - len(shown):,} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


_CHANGES = (
    "newly_behind",
    "newly_current",
    "newly_enrolled",
    "lost_enrollment",
    "appeared",
    "disappeared",
)


@dataclass(frozen=True)
class Posture:
    """Every machine's `MachinePosture`, as of ``taken`` (Azure's time), against the release
    ``expected`` by the calendar; ``stale_after`` is the assessment age it judged by."""

    machines: tuple[MachinePosture, ...]
    taken: datetime
    expected: str
    stale_after: timedelta
    words: Words = field(default=PYTHON, compare=False)

    # --- counts ---------------------------------------------------------------------------

    @property
    def counts(self) -> Counter[str]:
        """Machines per verdict word."""
        return Counter(m.verdict.value for m in self.machines)

    @property
    def compliant(self) -> bool:
        """Every machine current."""
        return all(m.verdict is Verdict.CURRENT for m in self.machines)

    def by(self, dimension: str) -> dict[str, Counter[str]]:
        """Verdict counts per ``subscription``, ``location`` or ``kind``."""
        if dimension not in ("subscription", "location", "kind"):
            raise InvalidArgumentError(
                "dimension",
                f"{dimension!r} is not one posture counts by",
                fix="pass 'subscription', 'location' or 'kind'",
            )
        found: dict[str, Counter[str]] = {}
        for machine in self.machines:
            found.setdefault(getattr(machine, dimension), Counter())[machine.verdict.value] += 1
        return dict(sorted(found.items()))

    def of(self, resource: str) -> MachinePosture | None:
        """The machine with this id (any case), if the posture has it."""
        return self._index().get(resource.lower())

    def _index(self) -> dict[str, MachinePosture]:
        return {m.resource.lower(): m for m in self.machines}

    # --- renderings -----------------------------------------------------------------------

    def in_words(self, words: Words) -> Posture:
        """The same posture, its fixes rendered in ``words`` (the command line's)."""
        return replace(self, words=words)

    def summary(self) -> str:
        total = len(self.machines)
        current = self.counts.get(Verdict.CURRENT.value, 0)
        lines = [
            f"Posture of {total:,} machines on {self.taken:%Y-%m-%d %H:%M} UTC, against the "
            f"{self.expected} release: {current:,} current",
            "  " + ", ".join(f"{word} {n:,}" for word, n in _ordered(self.counts)),
        ]
        for dimension in ("subscription", "location", "kind"):
            counts = self.by(dimension)
            lines.append(f"  by {dimension}:")
            lines += [
                f"    {name}: {c.get(Verdict.CURRENT.value, 0):,}/{sum(c.values()):,} current"
                for name, c in counts.items()
            ]
        return "\n".join(lines)

    def groups(self) -> list[Group]:
        """The machines by verdict (``behind`` by how many releases, ``not-eligible`` by
        its first reason), the most common first, each with the fix of its first machine."""
        grouped: dict[str, list[MachinePosture]] = {}
        for machine in self.machines:
            grouped.setdefault(machine.title, []).append(machine)
        headers = ("machine", "subscription", "location", "kind", "build", "assessed")
        found = []
        for title, members in sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            fix = members[0].fix
            shown = fix.render(self.words) if fix else ""
            found.append(
                Group(
                    title,
                    headers,
                    [_columns(m) for m in members],
                    fix="" if members[0].verdict is Verdict.CURRENT else shown,
                    color=_COLORS[members[0].verdict],
                )
            )
        return found

    def table(self, limit: int | None = 10) -> str:
        """Counts first, then each group with up to ``limit`` of its machines."""
        return self.summary() + "\n\n" + text_groups(self.groups(), limit)

    def __str__(self) -> str:
        return self.summary()

    def as_dict(self, words: Words | None = None) -> dict[str, Any]:
        chosen = words or self.words
        return {
            "taken": self.taken.isoformat(),
            "expected": self.expected,
            "stale_after_days": self.stale_after.total_seconds() / 86400,
            "machines": len(self.machines),
            "counts": dict(_ordered(self.counts)),
            "by_subscription": {k: dict(v) for k, v in self.by("subscription").items()},
            "by_location": {k: dict(v) for k, v in self.by("location").items()},
            "by_kind": {k: dict(v) for k, v in self.by("kind").items()},
            "items": [m.as_dict(chosen) for m in self.machines],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for machine in self.machines:
            row = machine.as_dict(self.words)
            first = machine.reasons[0] if machine.reasons else None
            fix = machine.fix
            row.update(
                rule=first.rule.value if first else "",
                message=first.message if first else "",
                fix=fix.render(self.words) if fix else "",
            )
            writer.writerow(row)
        return buffer.getvalue()

    def write_html(self, path: str | os.PathLike[str]) -> Path:
        """Write the posture as one self-contained HTML page that opens offline: the counts,
        compliance by subscription, days since the last install, the fixes by reason and
        every machine in a table that sorts and filters (see
        `azhotpatch.fleet._posture_html`)."""
        from azhotpatch.fleet import _posture_html

        return _posture_html.write(self, Path(path))

    # --- snapshots ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the posture to ``path`` as a snapshot (JSON), whole or not at all."""
        document = {
            "azhotpatch_posture": SNAPSHOT_SCHEMA,
            "taken": self.taken.isoformat(),
            "expected": self.expected,
            "stale_after_seconds": self.stale_after.total_seconds(),
            "machines": [m.snapshot() for m in self.machines],
        }
        data = json.dumps(document, indent=1).encode("utf-8")
        return write_atomically(path, data, argument="path")

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, argument: str = "path") -> Posture:
        """A snapshot `save` wrote (``argument`` names the path in an error)."""
        try:
            document = json.loads(Path(path).read_bytes())
        except OSError as error:
            raise InvalidArgumentError(
                argument,
                f"{path} could not be read ({error.strerror or error})",
                fix="give the path of a posture snapshot (written by save(), or by "
                "azhotpatch status --save)",
            ) from None
        except ValueError:
            document = None
        if not isinstance(document, dict) or document.get("azhotpatch_posture") != 1:
            raise InvalidArgumentError(
                argument,
                f"{path} is not a posture snapshot of this azhotpatch",
                fix="give the path of a file written by save() (azhotpatch status --save)",
            )
        return cls(
            tuple(MachinePosture.from_snapshot(m) for m in document["machines"]),
            datetime.fromisoformat(document["taken"]),
            str(document["expected"]),
            timedelta(seconds=float(document["stale_after_seconds"])),
        )

    def since(self, older: Posture) -> PostureChanges:
        """What changed from ``older`` (an earlier snapshot of the same estate) to this."""
        before, now = older._index(), self._index()
        both = [(before[key], now[key]) for key in now if key in before]
        return PostureChanges(
            since=older.taken,
            taken=self.taken,
            newly_behind=_ids(
                n
                for b, n in both
                if n.verdict is Verdict.BEHIND and b.verdict is not Verdict.BEHIND
            ),
            newly_current=_ids(n for b, n in both if _became(b, n, Verdict.CURRENT)),
            newly_enrolled=_ids(n for b, n in both if n.enrolled and not b.enrolled),
            lost_enrollment=_ids(n for b, n in both if b.enrolled and not n.enrolled),
            appeared=_ids(m for key, m in now.items() if key not in before),
            disappeared=_ids(m for key, m in before.items() if key not in now),
        )

    def since_run(self, journal: str | os.PathLike[str]) -> PostureChanges:
        """What changed since the run the journal at ``journal`` records (read only, so a run
        still going keeps its lock): the machines it enrolled that are no longer enrolled
        (``lost_enrollment``: an update or a settings change took them out, which nothing in
        Azure announces), and the machines it installed on that are behind again
        (``newly_behind``). The other changes need a posture of before: see `since`."""
        from azhotpatch.fleet._history import read_report

        run = read_report(Path(journal))
        now = self._index()
        enrolled = _succeeded(run.machines, "enable")
        installed = _succeeded(run.machines, "install")
        timeline = run.timeline
        began = timeline.attempts[0][0] if timeline is not None and timeline.attempts else None
        return PostureChanges(
            since=datetime.fromtimestamp(began, timezone.utc) if began else self.taken,
            taken=self.taken,
            lost_enrollment=_ids(now[r] for r in enrolled if r in now and not now[r].enrolled),
            newly_behind=_ids(
                now[r] for r in installed if r in now and now[r].verdict is Verdict.BEHIND
            ),
        )


def _succeeded(machines: Iterable[MachineResult], action: str) -> list[str]:
    """The machines (lower-cased ids) on which a run's ``action`` step succeeded."""
    return [
        m.resource.lower()
        for m in machines
        if any(s.action == action and s.outcome is Outcome.SUCCEEDED for s in m.steps)
    ]


def _became(before: MachinePosture, now: MachinePosture, verdict: Verdict) -> bool:
    return now.verdict is verdict and before.verdict is not verdict


def _ids(machines: Iterable[MachinePosture]) -> tuple[str, ...]:
    return tuple(sorted(m.resource for m in machines))


def _ordered(counts: Counter[str]) -> list[tuple[str, int]]:
    return [(v.value, counts[v.value]) for v in Verdict if counts.get(v.value)]


def _columns(machine: MachinePosture) -> tuple[str, str, str, str, str, str]:
    assessed = f"{machine.last_assessment:%Y-%m-%d}" if machine.last_assessment else "never"
    return (
        machine.name,
        machine.subscription,
        machine.location,
        machine.kind,
        machine.os_version or "-",
        assessed,
    )
