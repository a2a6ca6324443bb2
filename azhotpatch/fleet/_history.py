"""A fleet run's report rebuilt from its journal, at any time: after the run, while it goes
on, or after it crashed (`azhotpatch report --journal run.sqlite`).

The journal says what the run was asked, each machine's outcome and when it was known
(skipped machines included), each attempt's requests and 429s, and the requests per
throttling bucket over time. Machines the run had begun on but not concluded when the
journal was last written are named as unfinished: rerunning with the same journal resumes
them. A journal written before machines' outcomes were kept (schema 2) gives what its steps
say: the machines that had steps, concluded or not, and no traffic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from pathlib import Path

from azhotpatch.fleet._timeline import Timeline
from azhotpatch.fleet.journal import (
    REMEDIATE_STEP,
    RESTART_STEP,
    AttemptRecord,
    Journal,
    StepRecord,
)
from azhotpatch.fleet.report import MachineResult, Outcome, Report, StepResult
from azhotpatch.ids import parse_resource_id

__all__ = ["read_report", "write_html"]


def write_html(report: Report, path: str | Path, journal: str | Path | None = None) -> Path:
    """A run's page: from its journal when it kept one (every attempt of a resumed run),
    from the report otherwise."""
    source = read_report(journal).in_words(report.words) if journal is not None else report
    return source.write_html(path)


def read_report(path: str | Path) -> Report:
    """The report of the run that the journal at ``path`` records (read only)."""
    journal = Journal(path)
    try:
        actions = tuple(journal.asked().get("actions", ()))
        attempts = journal.attempts()
        ended = {m.result.resource.lower(): m for m in journal.machines()}
        pending = journal.pending()
        records = list(journal.steps())
        steps = _by_machine(records)
        traffic = tuple(journal.traffic())
        ceilings = journal.ceilings()
    finally:
        journal.close()
    machines: list[MachineResult] = []
    finished: dict[str, float] = {}
    for resource, record in ended.items():
        done = [s for s in steps.pop(resource, []) if s.done]  # a restart is never "done"
        taken = tuple(s.as_step() for s in _in_order(done, actions))
        machines.append(replace(record.result, steps=taken))
        finished[resource] = record.finished
    unfinished = list(pending)
    for resource in pending:
        steps.pop(resource, None)
    for resource, its_steps in sorted(steps.items()):  # a schema 2 journal: steps only
        concluded = _concluded(resource, its_steps, actions)
        if concluded is None:
            unfinished.append(resource)
        else:
            machines.append(concluded)
    timeline = Timeline(
        attempts=tuple((s.started, s.ended) for s in attempts) or _span(records, finished),
        finished=finished,
        traffic=traffic,
        ceilings=ceilings,
        time_scale=attempts[-1].time_scale if attempts else 1.0,
        today=_today(attempts),
        unfinished=tuple(unfinished),
    )
    return Report(
        actions=actions,
        machines=tuple(machines),
        elapsed=sum(s.ended - s.started for s in attempts),
        requests=sum(s.requests for s in attempts),
        throttled=sum(s.throttled for s in attempts),
        transport_errors=sum(s.transport_errors for s in attempts),
        resumed=len(attempts) > 1,
        calendar=next((s.calendar for s in reversed(attempts) if s.calendar), ""),
        timeline=timeline,
    )


def _by_machine(records: Iterable[StepRecord]) -> dict[str, list[StepRecord]]:
    found: dict[str, list[StepRecord]] = {}
    for record in records:
        found.setdefault(record.resource.lower(), []).append(record)
    return found


def _concluded(
    resource: str, records: list[StepRecord], actions: tuple[str, ...]
) -> MachineResult | None:
    """A machine with no recorded outcome, concluded from its steps where they say enough:
    every step the run was asked succeeded, or one ended without success; None while a step
    was still in flight."""
    taken: list[StepResult] = []
    for record in _in_order(records, actions):
        if not record.done:
            return None
        taken.append(record.as_step())
    ended_early = any(step.outcome is not Outcome.SUCCEEDED for step in taken)
    asked = [step for step in taken if step.action != REMEDIATE_STEP]
    if not ended_early and len(asked) < len(actions):
        return None
    kind = parse_resource_id(resource).kind.value
    return MachineResult.of_steps(resource, kind, tuple(taken))


def _in_order(records: Iterable[StepRecord], actions: tuple[str, ...]) -> list[StepRecord]:
    """Steps in the order a run takes them, as its report lists them (the journal lists
    them by name): a remediation first, then the actions as asked; a restart is an intent,
    not a step."""
    order = {action: index for index, action in enumerate((REMEDIATE_STEP, *actions))}
    steps = [r for r in records if r.action != RESTART_STEP]
    return sorted(steps, key=lambda r: order.get(r.action, len(order)))


def _today(attempts: list[AttemptRecord]) -> date | None:
    day = next((s.today for s in reversed(attempts) if s.today), None)
    return date.fromisoformat(day) if day else None


def _span(records: list[StepRecord], finished: dict[str, float]) -> tuple[tuple[float, float], ...]:
    """One attempt from the first step's start to the last thing known (a journal that
    kept no attempts); none for a journal with nothing in it."""
    times = [t for r in records for t in (r.started, r.finished) if t is not None]
    times += finished.values()
    return ((min(times), max(times)),) if times else ()
