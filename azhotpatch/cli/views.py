"""What each result looks like to a person: one renderer per result type, all here.

Results that already describe themselves in text (a verdict, an enrollment, a plan's
summary, a cost estimate) are shown as they do; the others get a heading and a table.
Machines are named by their full resource id, on a line of its own, never cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import singledispatch
from typing import Any

from azhotpatch.calendar import Release, YearPlan
from azhotpatch.cli.output import duration, from_iso_duration, table
from azhotpatch.fleet.plan import Plan
from azhotpatch.fleet.posture import Posture, PostureChanges
from azhotpatch.fleet.report import Report
from azhotpatch.fleet.scheduling import ScheduledStatus
from azhotpatch.models import (
    Assessment,
    Eligibility,
    HotpatchStatus,
    Installation,
    Patch,
    PatchSummary,
    Registration,
)


@dataclass(frozen=True)
class CalendarPage:
    """The ``calendar`` command's result: a year, and the next release from today."""

    plan: YearPlan
    next_release: Release

    def as_dict(self) -> dict[str, Any]:
        return {
            "year": self.plan.year,
            "months": [
                {
                    "month": r.month,
                    "kind": r.kind.value,
                    "patch_tuesday": r.date.isoformat(),
                    "reboot": r.reboot_required,
                }
                for r in self.plan.months
            ],
            "reboot_months": self.plan.reboot_months,
            "next_release": {
                "date": self.next_release.date.isoformat(),
                "kind": self.next_release.kind.value,
                "reboot": self.next_release.reboot_required,
            },
        }


@singledispatch
def render(result: Any) -> Any:
    """Text (or a rich renderable) for a result; results that describe themselves do."""
    return str(result)


@render.register
def _verdict(result: Eligibility) -> str:
    from azhotpatch.cli.errors import COMMAND_LINE

    return result.text(COMMAND_LINE)


@render.register
def _posture(result: Posture) -> str:
    return result.table()


@render.register
def _changes(result: PostureChanges) -> str:
    return result.text()


@render.register
def _many(results: list) -> Any:  # type: ignore[type-arg]
    return "\n\n".join(str(render(r)) for r in results)


def _when(moment: datetime | date | None) -> str:
    if moment is None:
        return "-"
    if isinstance(moment, datetime):
        return f"{moment:%Y-%m-%d %H:%M} UTC" if moment.utcoffset() is not None else str(moment)
    return moment.isoformat()


def _heading(result: Assessment | Installation, what: str, *lines: str) -> list[str]:
    """The machine, how the operation ended and when it started, ``lines``, and the error
    Azure attached, if any."""
    head = [result.resource, f"  {what} {result.status.value}, started {_when(result.started)}"]
    head += [f"  {line}" for line in lines]
    if result.error is not None:
        head.append(f"  error: {result.error}")
    return head


@render.register
def _assessment(result: Assessment) -> str:
    head = _heading(
        result,
        "assessment",
        f"{result.total} updates available, {len(result.hotpatches)} of them hotpatches "
        f"(no reboot); reboot pending: {_yes(result.reboot_pending)}",
    )
    if result.patches is None:  # Arc reports counts only
        counts = [(name, str(count)) for name, count in sorted(result.counts.items()) if count]
        return "\n".join([*head, "", table(("classification", "updates"), counts)])
    rows = [_patch_row(p) for p in result.patches]
    return "\n".join([*head, "", table(("kb", "classification", "reboot", "update"), rows)])


def _patch_row(patch: Patch) -> tuple[str, str, str, str]:
    if patch.is_hotpatch:
        reboot = "never (hotpatch)"
    elif patch.never_reboots:
        reboot = "never"
    else:
        reboot = patch.reboot_behavior.value
    return (patch.kb_id or "-", ", ".join(patch.classifications), reboot, patch.name)


@render.register
def _installation(result: Installation) -> str:
    head = _heading(
        result,
        "installation",
        f"installed {result.installed}, failed {result.failed}, pending {result.pending}, "
        f"excluded {result.excluded}, not selected {result.not_selected}",
        f"reboot: {result.reboot_status.value}"
        + ("; the maintenance window ran out" if result.maintenance_window_exceeded else ""),
        *_someone_elses(result),
    )
    if not result.patches:
        return "\n".join(head)
    rows = [
        (p.kb_id or "-", ", ".join(p.classifications), p.state.value, p.name)
        for p in result.patches
    ]
    return "\n".join([*head, "", table(("kb", "classification", "state", "update"), rows)])


def _someone_elses(result: Installation) -> list[str]:
    """Whose install this was, when it was not ours (nothing was sent)."""
    other = result.by
    if other is None:
        return []
    return [
        f"not sent: this release's install was started by {other.who}, as operation "
        f"{other.activity_id} at {_when(other.started)} (--install-again to install anyway)"
    ]


@render.register
def _status(result: HotpatchStatus) -> str:
    verdict = f" ({result.enablement_status})" if result.enablement_status else ""
    return "\n".join(
        [
            result.resource,
            f"  enrollment {result.enrollment.value}{verdict}",
            f"  last assessment: {_summary(result.last_assessment)}",
            f"  last installation: {_summary(result.last_installation)}",
        ]
    )


def _summary(summary: PatchSummary | None) -> str:
    if summary is None:
        return "none"
    counts = ", ".join(f"{k} {v}" for k, v in summary.counts.items() if v)
    return f"{summary.status.value} {_when(summary.started)}" + (f" ({counts})" if counts else "")


@render.register
def _registration(result: Registration) -> str:
    rows = [(f.name, f.state) for f in result.features]
    rows.append(("Microsoft.Compute (provider)", result.provider_state))
    return table(("feature", "state"), rows)


@render.register
def _plan(result: Plan) -> str:
    return result.summary() + "\n\n" + result.table()


@render.register
def _report(result: Report) -> Any:
    configurations = result.extra.get("configurations")
    if not configurations:
        return result.rich_table()
    from rich.console import Group
    from rich.text import Text

    return Group(Text(_configurations(configurations)), Text(""), result.rich_table())


def _configurations(rows: Sequence[dict[str, Any]]) -> str:
    """The maintenance configurations a schedule wrote, with their lengths as lengths."""
    return table(
        ("configuration", "change", "recurs", "opens (local)", "length", "time zone", "next run"),
        [
            (
                row["name"],
                row["change"],
                row["recur_every"],
                row["start"].replace("T", " "),
                duration(from_iso_duration(row["duration"])),
                row["time_zone"],
                _when(datetime.fromisoformat(row["next_run"])),
            )
            for row in rows
        ],
    )


@render.register
def _scheduled(result: ScheduledStatus) -> str:
    return result.summary()


@render.register
def _calendar(page: CalendarPage) -> str:
    plan = page.plan
    return (
        f"{plan.render_text()}\n{plan.reboot_months} reboot months, "
        f"{plan.hotpatch_months} hotpatch months; next release {page.next_release}"
    )


def _yes(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")
