"""What a fleet run did: every machine in exactly one outcome, with its reason.

Counts per outcome and per reason, per-machine rows with step durations, the requests sent
and the 429s seen; a rich table in a terminal, JSON for machines, HTML in notebooks.
"""

from __future__ import annotations

import enum
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azhotpatch.errors import PYTHON, Fix, HotpatchError, Words, render
from azhotpatch.fleet._folding import COLORS, Group, html_groups

if TYPE_CHECKING:
    from azhotpatch.fleet._timeline import Timeline

__all__ = ["ExitCode", "MachineResult", "Outcome", "Report", "StepResult"]


class Outcome(str, enum.Enum):
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    FAILED = "failed"


class ExitCode(enum.IntEnum):
    """What the command line returns, so scripts can act on it."""

    SUCCEEDED = 0  # every machine succeeded
    SKIPPED = 1  # nothing failed, but some machines were skipped as ineligible
    FAILED = 2  # at least one machine failed
    USAGE = 64  # bad input or usage; nothing was changed
    UNAVAILABLE = 69  # Azure (or the emulator) could not be reached / authenticated
    INTERNAL = 70  # a bug in azhotpatch
    STORAGE = 74  # the journal (or a report) could not be written: vanished, disk full, I/O
    BUSY = 75  # the journal is held by another run; nothing was sent (try again later)
    INTERRUPTED = 130  # stopped with Ctrl-C (SIGINT)
    TERMINATED = 143  # stopped by SIGTERM (systemd, Kubernetes, kill)


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step on one machine. ``code`` is ours and stable (docs/troubleshooting.md lists
    every one); ``azure_code`` and ``request_id`` are what Azure said, where it said anything
    (the request id is what Azure support asks for). ``problem`` and ``fix`` say what went
    wrong and what to do, kept apart so that each edge words the fix its own way;
    ``message`` is the two rendered, with the machine's id in front, in a Python caller's
    words (`Report.in_words` renders them for another edge). A step read from a journal of
    an older azhotpatch has its message alone."""

    action: str
    outcome: Outcome
    code: str | None = None
    message: str | None = None
    detail: dict[str, Any] | None = None
    seconds: float | None = None
    azure_code: str | None = None
    request_id: str | None = None
    problem: str | None = None
    fix: Fix | None = None

    @classmethod
    def explained(
        cls,
        action: str,
        outcome: Outcome,
        code: str | None,
        *,
        resource: str,
        problem: str,
        fix: Fix | None = None,
        detail: dict[str, Any] | None = None,
        azure_code: str | None = None,
        request_id: str | None = None,
    ) -> StepResult:
        """A step with a problem (and its fix), its message rendered from them."""
        message = render(resource, problem, fix)
        return cls(
            action, outcome, code, message, detail, None, azure_code, request_id, problem, fix
        )

    def text(self, resource: str, words: Words = PYTHON) -> str | None:
        """The message in ``words`` (one with no problem, from an older journal, as it is)."""
        if self.problem is None:
            return self.message
        return render(resource, self.problem, self.fix, words)

    def as_dict(self, resource: str = "", words: Words = PYTHON) -> dict[str, Any]:
        return {
            "action": self.action,
            "outcome": self.outcome.value,
            "code": self.code,
            "azure_code": self.azure_code,
            "request_id": self.request_id,
            "message": self.text(resource, words) if resource else self.message,
            **_explanation(self.problem, self.fix, words),
            "detail": self.detail,
            "seconds": round(self.seconds, 3) if self.seconds is not None else None,
        }


@dataclass(frozen=True, slots=True)
class MachineResult:
    """A machine's one outcome, with our code for why (and Azure's, where Azure gave one);
    ``problem``, ``fix`` and ``message`` as on `StepResult`."""

    resource: str
    kind: str
    outcome: Outcome
    code: str | None = None
    message: str | None = None
    steps: tuple[StepResult, ...] = ()
    azure_code: str | None = None
    request_id: str | None = None
    problem: str | None = None
    fix: Fix | None = None

    @classmethod
    def explained(
        cls,
        resource: str,
        kind: str,
        outcome: Outcome,
        code: str | None,
        *,
        problem: str,
        fix: Fix | None = None,
        steps: tuple[StepResult, ...] = (),
    ) -> MachineResult:
        """A machine's outcome with a problem (and its fix), its message rendered from them."""
        message = render(resource, problem, fix)
        return cls(resource, kind, outcome, code, message, steps, problem=problem, fix=fix)

    @classmethod
    def of_error(
        cls, resource: str, kind: str, outcome: Outcome, error: HotpatchError
    ) -> MachineResult:
        """A machine's outcome decided by one of our errors, its parts kept apart."""
        problem = problem_in(resource, error)
        return cls.explained(resource, kind, outcome, error.code, problem=problem, fix=error.remedy)

    @property
    def name(self) -> str:
        return self.resource.rsplit("/", 1)[-1]

    def text(self, words: Words = PYTHON) -> str | None:
        """The message in ``words`` (one with no problem, from an older journal, as it is)."""
        if self.problem is None:
            return self.message
        return render(self.resource, self.problem, self.fix, words)

    @classmethod
    def of_steps(cls, resource: str, kind: str, steps: tuple[StepResult, ...]) -> MachineResult:
        """The outcome of a machine's steps: the first that did not succeed decides. When
        all succeeded, a step that says how (an install someone else made, `PatchedBy...`)
        gives the machine its code and message."""
        last = next((s for s in steps if s.outcome is not Outcome.SUCCEEDED), None)
        if last is None:
            how = next((s for s in reversed(steps) if s.code), None)
            if how is not None:
                return cls(
                    resource,
                    kind,
                    Outcome.SUCCEEDED,
                    how.code,
                    how.message,
                    steps,
                    problem=how.problem,
                    fix=how.fix,
                )
            return cls(resource, kind, Outcome.SUCCEEDED, steps=steps)
        return cls(
            resource,
            kind,
            last.outcome,
            last.code,
            last.message,
            steps,
            last.azure_code,
            last.request_id,
            last.problem,
            last.fix,
        )

    def as_dict(self, words: Words = PYTHON) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "kind": self.kind,
            "outcome": self.outcome.value,
            "code": self.code,
            "azure_code": self.azure_code,
            "request_id": self.request_id,
            "message": self.text(words),
            **_explanation(self.problem, self.fix, words),
            "steps": [s.as_dict(self.resource, words) for s in self.steps],
        }


@dataclass(frozen=True)
class Report:
    actions: tuple[str, ...]
    machines: tuple[MachineResult, ...]
    elapsed: float
    requests: int = 0
    throttled: int = 0
    transport_errors: int = 0
    resumed: bool = False
    calendar: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # when each machine ended and the requests per bucket over time (for `write_html`)
    timeline: Timeline | None = field(default=None, repr=False, compare=False)
    # whose words the messages and fixes are rendered in (JSON, HTML): a Python caller's,
    # unless an edge asks for its own (`in_words`)
    words: Words = field(default=PYTHON, repr=False, compare=False)

    def in_words(self, words: Words) -> Report:
        """The same report, its messages and fixes rendered in ``words`` (the command
        line's ``--retry-failed`` where a Python caller reads ``retry_failed=True``)."""
        return replace(self, words=words)

    @property
    def counts(self) -> Counter[str]:
        return Counter(m.outcome.value for m in self.machines)

    @property
    def reasons(self) -> Counter[str]:
        """``outcome:code`` counts of the machines that did not simply succeed (those that
        succeeded through another's install carry its code too)."""
        return Counter(
            f"{m.outcome.value}:{m.code}"
            for m in self.machines
            if m.outcome is not Outcome.SUCCEEDED or m.code
        )

    @property
    def unfinished(self) -> tuple[str, ...]:
        """Machines begun but not concluded (a crashed run's report, read from its journal)."""
        return self.timeline.unfinished if self.timeline else ()

    @property
    def exit_code(self) -> ExitCode:
        counts = self.counts
        if counts.get(Outcome.FAILED.value) or self.unfinished:
            return ExitCode.FAILED
        if counts.get(Outcome.SKIPPED.value):
            return ExitCode.SKIPPED
        return ExitCode.SUCCEEDED

    def by_reason(self) -> list[tuple[Outcome, str, list[MachineResult]]]:
        """The machines that did not succeed, by outcome and our code: failures first, then
        the most common reason first; last, those that succeeded through another's install
        (their code says whose)."""
        found: dict[tuple[Outcome, str], list[MachineResult]] = {}
        for machine in self.machines:
            if machine.outcome is not Outcome.SUCCEEDED or machine.code:
                found.setdefault((machine.outcome, machine.code or ""), []).append(machine)
        rank = {Outcome.FAILED: 0, Outcome.SKIPPED: 1, Outcome.SUCCEEDED: 2}
        ordered = sorted(
            found.items(),
            key=lambda kv: (rank[kv[0][0]], -len(kv[1]), kv[0][1]),
        )
        return [(outcome, code, machines) for (outcome, code), machines in ordered]

    def groups(self) -> list[Group]:
        """The machines by what happened to them, counts first (see `by_reason`), the
        machines that succeeded last."""
        headers = ("machine", "kind", "Azure code", "request id", "message")
        found = [
            Group(
                f"{outcome.value} {code or '-'}",
                headers,
                [_row(m) for m in machines],
                fix=machines[0].fix.render(self.words) if machines[0].fix else "",
                color=COLORS[outcome.value],
            )
            for outcome, code, machines in self.by_reason()
        ]
        succeeded = [m for m in self.machines if m.outcome is Outcome.SUCCEEDED and not m.code]
        if succeeded:
            found.append(
                Group(
                    "succeeded",
                    ("machine", "kind", "steps"),
                    [(m.name, m.kind, _steps(m)) for m in succeeded],
                    color=COLORS["succeeded"],
                )
            )
        return found

    def outcomes(self) -> dict[str, tuple[str, str | None]]:
        """resource -> (outcome, code): what two runs of the same plan must agree on."""
        return {m.resource.lower(): (m.outcome.value, m.code) for m in self.machines}

    def step_seconds(self, action: str) -> list[float]:
        return [
            s.seconds
            for m in self.machines
            for s in m.steps
            if s.action == action and s.seconds is not None and s.outcome is Outcome.SUCCEEDED
        ]

    def summary(self) -> str:
        counts = self.counts
        rate = len(self.machines) / self.elapsed if self.elapsed else 0.0
        lines = [
            f"{' + '.join(self.actions)} on {len(self.machines)} machines in {self.elapsed:.1f} s "
            f"({rate:.1f} machines/s){' (resumed)' if self.resumed else ''}",
            f"  succeeded {counts.get('succeeded', 0)}, skipped {counts.get('skipped', 0)}, "
            f"failed {counts.get('failed', 0)}",
        ]
        lines += [f"    {n:>6}  {reason}" for reason, n in self.reasons.most_common()]
        if self.unfinished:
            lines.append(
                f"  unfinished {len(self.unfinished)}: begun but not concluded when the journal "
                "was last written; run again with the same journal to resume them"
            )
        lines.append(
            f"  requests {self.requests}, throttled (429) {self.throttled}, "
            f"transport errors {self.transport_errors}"
        )
        if self.calendar:
            lines.append(f"  calendar: {self.calendar}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def as_dict(self) -> dict[str, Any]:
        return {
            "actions": list(self.actions),
            "elapsed_seconds": round(self.elapsed, 3),
            "counts": dict(self.counts),
            "reasons": dict(self.reasons),
            "requests": self.requests,
            "throttled": self.throttled,
            "transport_errors": self.transport_errors,
            "resumed": self.resumed,
            "calendar": self.calendar,
            "exit_code": int(self.exit_code),
            **self.extra,
            **({"unfinished": list(self.unfinished)} if self.unfinished else {}),
            "machines": [m.as_dict(self.words) for m in self.machines],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def write_html(self, path: str | Path) -> Path:
        """Write the report as one self-contained HTML page that people can open offline
        and attach to a change record (see `azhotpatch.fleet._report_html`)."""
        from azhotpatch.fleet import _report_html

        return _report_html.write(self, path)

    def rich_table(self, limit: int = 20) -> Any:
        """A rich renderable: the summary, then the machines that did not succeed or
        that another run or the platform patched."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        rank = {Outcome.FAILED: 0, Outcome.SKIPPED: 1, Outcome.SUCCEEDED: 2}
        shown = sorted(
            (m for m in self.machines if m.outcome is not Outcome.SUCCEEDED or m.code),
            key=lambda m: (rank[m.outcome], m.code or "", m.name),
        )
        table = Table(show_lines=False, box=None, pad_edge=False)
        for column in ("machine", "kind", "outcome", "reason"):
            table.add_column(column)
        styles = {Outcome.FAILED: "red", Outcome.SKIPPED: "yellow", Outcome.SUCCEEDED: "green"}
        for machine in shown[:limit]:
            style = styles[machine.outcome]
            table.add_row(
                machine.name,
                machine.kind,
                f"[{style}]{machine.outcome.value}[/]",
                machine.code or "",
            )
        parts: list[Any] = [Text(self.summary())]
        if shown:
            parts += [Text(""), table]
        if len(shown) > limit:
            parts.append(Text(f"... and {len(shown) - limit} more (--output json lists all)"))
        return Group(*parts)

    def _repr_html_(self) -> str:
        return html_groups(self.summary(), self.groups())


def _explanation(problem: str | None, fix: Fix | None, words: Words) -> dict[str, Any]:
    """A result's problem and fix as JSON: the fix in the words of whoever reads it."""
    return {"problem": problem, "fix": fix.render(words) if fix is not None else None}


def problem_in(resource: str, error: HotpatchError) -> str:
    """An error's problem as a machine's: what it concerns named in front when that is not
    the machine itself (a journal, a subscription found disabled on another machine)."""
    subject = error.resource
    if subject is None or subject.lower() == resource.lower():
        return error.problem
    return f"{subject}: {error.problem}"


def problem_of(machine: MachineResult) -> str:
    """What went wrong on a machine, for a table that names the machine already (a result
    from an older journal, which kept its message alone, shows the message whole)."""
    return machine.problem if machine.problem is not None else machine.message or ""


def _row(machine: MachineResult) -> tuple[str, ...]:
    return (
        machine.name,
        machine.kind,
        machine.azure_code or "",
        machine.request_id or "",
        problem_of(machine),
    )


def _steps(machine: MachineResult) -> str:
    return ", ".join(
        f"{s.action} {s.seconds:.1f} s" if s.seconds is not None else s.action
        for s in machine.steps
    )
