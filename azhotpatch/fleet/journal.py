"""The run journal: an SQLite file that lets a killed fleet run resume without redoing
finished work and without ever triggering an install twice.

Before each non-idempotent request (assessPatches, installPatches) the journal records the
intent, with the machine's latest activity id of that kind, and commits. After Azure accepts
it, the LRO continuation token. After the step ends, its outcome. On resume, a step with an
outcome is not touched (unless the run retries failed steps: then it is reopened, and the
machine's state is read before anything is sent again); a step with a token is waited on
again; a step with only an intent is settled by reading the machine's state (see
`azhotpatch._azure.trigger`) before anything is sent. SQLite in WAL mode commits survive the
process being killed (``kill -9``); they are not meant to survive the host losing power
(``synchronous=NORMAL``).

A journal belongs to what its run was asked (`RunIdentity`: the scope or machines, the
actions, the install options): reopening it for anything else is refused, naming the
difference, before a single request is sent.

It also keeps what a person needs to see what happened, so that a report can be rebuilt
from it at any time, after a crash too (`azhotpatch.fleet._history`): each machine's outcome
and when it was known (skipped machines included), each attempt at the run (its start, its
end so far, its requests and 429s, the calendar it ran in), and the requests per throttling
bucket over time with each bucket's ceiling. These are written as machines finish, at most
about once a second, so a crash loses at most the last second of traffic counts.

Nothing secret is stored: resource ids, outcomes, error codes, each failure's problem and
fix (the fix as data, so that a report read from the journal words it for its reader) and
the message they render, Azure's request ids, and continuation tokens (which hold operation
URLs, never credentials).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from azhotpatch._azure.session import TrafficRow
from azhotpatch.errors import Fix
from azhotpatch.fleet._journal_schema import NO_EXPLANATION, SCHEMA, SCHEMA_VERSION, JournalFile
from azhotpatch.fleet._run_identity import RunIdentity
from azhotpatch.fleet.report import MachineResult, Outcome, StepResult
from azhotpatch.limits import Bucket

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "AttemptRecord",
    "Journal",
    "MachineEnded",
    "RunIdentity",
    "StepRecord",
]

# The journal's step for a remediation (Run Command), taken before a machine's enrollment.
REMEDIATE_STEP = "remediate"
# The journal's record of a machine's restart (remediation): not a step of the run but an
# intent, holding the restart run command's name, so that the restart is sent at most once.
RESTART_STEP = "restart"
_COLUMNS = (
    "resource, action, outcome, code, azure_code, request_id, message, detail, started, "
    "finished, intent_previous, intent_at, token, attempts"
)


@dataclass(frozen=True)
class StepRecord:
    resource: str
    action: str
    outcome: str | None
    code: str | None
    azure_code: str | None
    request_id: str | None
    message: str | None
    detail: dict[str, Any] | None
    started: float | None
    finished: float | None
    intent_previous: str | None
    intent_at: float | None
    token: str | None
    attempts: int = 1
    problem: str | None = None
    fix: Fix | None = None

    @property
    def done(self) -> bool:
        return self.outcome is not None

    @property
    def intended(self) -> bool:
        return self.intent_at is not None

    def as_step(self) -> StepResult:
        """The finished step as a report shows it."""
        assert self.outcome is not None
        seconds = self.finished - self.started if self.finished and self.started else None
        return StepResult(
            self.action,
            Outcome(self.outcome),
            self.code,
            self.message,
            self.detail,
            seconds,
            self.azure_code,
            self.request_id,
            self.problem,
            self.fix,
        )


@dataclass(frozen=True)
class AttemptRecord:
    """One process's part of a run (a run resumed twice has three): wall-clock times."""

    started: float
    ended: float
    requests: int
    throttled: int
    transport_errors: int
    time_scale: float
    calendar: str | None
    today: str | None


@dataclass(frozen=True)
class MachineEnded:
    """A machine's outcome as the run reported it, and when (seconds since the epoch)."""

    result: MachineResult
    finished: float


class Journal(JournalFile):
    """One run's record. Opening an existing file resumes it; it must be a journal of this
    schema, made for the same `RunIdentity`. ``resumed`` says whether it holds steps from an
    earlier run. Without an identity the journal is opened to be read, whatever run it
    belongs to (for a report, also while its run goes on): nothing can be written.

    Opened for a run, it is locked for the run's life (`azhotpatch.fleet._lock`: a second
    run is refused with `JournalBusyError`), and a new one is created whole: built under a
    temporary name beside it and renamed into place, so a crash never leaves a journal cut
    short at its path (one left by an older azhotpatch is recognised as such).

    Storage faults: before each intent (what guards a non-idempotent request) and each
    write of the run's record, the journal checks that its path still names the file it
    writes (a journal deleted, moved or replaced, or its directory removed, is noticed
    there). A journal that vanished, or that SQLite could not write (disk or file size limit
    full, I/O error), sets ``failure``: from then on an intent is refused (the request it
    would guard is not sent) and outcomes are written where they still can be, never
    raising; the run reads ``failure`` to start no more machines."""

    # The file, its schema and its storage faults are `JournalFile`'s and `JournalStorage`'s
    # (`azhotpatch.fleet._journal_schema`, `azhotpatch.fleet._journal_storage`); this class
    # holds what is read and written.

    # --- reads ------------------------------------------------------------------------------

    def step(self, resource: str, action: str) -> StepRecord | None:
        row = self._read(
            f"SELECT {_COLUMNS}, {self._explanation()} FROM step "  # noqa: S608
            "WHERE resource = ? AND action = ?",
            (resource.lower(), action),
        )
        return _record(row) if row else None

    def touched(self, resource: str) -> bool:
        """Did this run already begin on the machine (before a restart)?"""
        row = self._read("SELECT 1 FROM step WHERE resource = ? LIMIT 1", (resource.lower(),))
        return row is not None

    def steps(self) -> Iterator[StepRecord]:
        for row in self._db.execute(
            f"SELECT {_COLUMNS}, {self._explanation()} FROM step "  # noqa: S608
            "ORDER BY resource, action"
        ):
            yield _record(row)

    def asked(self) -> dict[str, Any]:
        """What the run was asked (scope, actions, install options)."""
        row = self._db.execute("SELECT asked FROM run").fetchone()
        return dict(json.loads(row[0])) if row and row[0] else {}

    def attempts(self) -> list[AttemptRecord]:
        if not self._has("session"):
            return []
        return [
            AttemptRecord(*row)
            for row in self._db.execute(
                "SELECT started, ended, requests, throttled, transport_errors, time_scale, "
                "calendar, today FROM session ORDER BY started"
            )
        ]

    def machines(self) -> Iterator[MachineEnded]:
        """Every machine whose outcome the run reported, skipped ones included."""
        if not self._has("machine"):
            return
        explanation = self._explanation() if self._explains_machines() else NO_EXPLANATION
        for row in self._db.execute(
            "SELECT resource, kind, outcome, code, azure_code, request_id, message, "  # noqa: S608
            f"finished, {explanation} FROM machine WHERE outcome IS NOT NULL "
            "ORDER BY finished, resource"
        ):
            resource, kind, outcome, code, azure_code, request_id, message, finished = row[:8]
            result = MachineResult(
                resource,
                kind,
                Outcome(outcome),
                code,
                message,
                azure_code=azure_code,
                request_id=request_id,
                problem=row[8],
                fix=_fix(row[9]),
            )
            yield MachineEnded(result, finished)

    def pending(self) -> list[str]:
        """Machines the run was to take that it has not concluded (not begun, or begun and
        cut short)."""
        if not self._has("machine"):
            return []
        return [
            row[0]
            for row in self._db.execute(
                "SELECT resource FROM machine WHERE outcome IS NULL ORDER BY resource"
            )
        ]

    def traffic(self) -> list[TrafficRow]:
        if not self._has("traffic"):
            return []
        return [
            TrafficRow(*row)
            for row in self._db.execute(
                "SELECT bucket, at, width, requests, throttled FROM traffic ORDER BY bucket, at"
            )
        ]

    def ceilings(self) -> dict[str, Bucket]:
        if not self._has("bucket"):
            return {}
        return {
            name: Bucket(burst, per_minute)
            for name, per_minute, burst in self._db.execute(
                "SELECT name, per_minute, burst FROM bucket"
            )
        }

    def _has(self, table: str) -> bool:
        """Whether the file has a table (a schema 2 journal read for a report has not the
        record tables)."""
        found = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        return found is not None

    def counts(self) -> dict[str, int]:
        return dict(
            self._db.execute(
                "SELECT coalesce(outcome, 'unfinished'), count(*) FROM step GROUP BY 1"
            ).fetchall()
        )

    # --- writes -----------------------------------------------------------------------------

    def record_start(self, resource: str, action: str) -> None:
        """Committed before a step begins: refused (`JournalStorageError`) when the journal
        can no longer be relied on, so that no step begins unrecorded."""
        self._guarding(
            "INSERT INTO step (resource, action, started) VALUES (?, ?, ?) "
            "ON CONFLICT (resource, action) DO UPDATE SET "
            "started = coalesce(started, excluded.started)",
            (resource.lower(), action, time.time()),
        )

    def record_intent(self, resource: str, action: str, previous: str | None) -> None:
        """Committed before the request is sent; refused (`JournalStorageError`) when the
        journal can no longer be relied on, and then the request is not sent."""
        self._guarding(
            "UPDATE step SET intent_previous = ?, intent_at = ?, token = NULL "
            "WHERE resource = ? AND action = ?",
            (previous, time.time(), resource.lower(), action),
        )

    def record_acceptance(self, resource: str, action: str, token: str) -> None:
        """The operation's continuation token, once Azure accepted it (where it can still be
        written: without it a resumed run settles the intent by reading Azure)."""
        self._recording(
            "UPDATE step SET token = ? WHERE resource = ? AND action = ?",
            (token, resource.lower(), action),
        )

    def record_reopening(self, resource: str, action: str) -> None:
        """A failed step is attempted again: it has no outcome until it ends, so a crash
        during the retry resumes it as in flight (its intent and token are kept: they say
        what Azure may already have received)."""
        self._recording(
            "UPDATE step SET outcome = NULL, code = NULL, azure_code = NULL, "
            "request_id = NULL, message = NULL, detail = NULL, finished = NULL, "
            "problem = NULL, fix = NULL, "
            "attempts = attempts + 1 WHERE resource = ? AND action = ?",
            (resource.lower(), action),
        )

    def record_finish(
        self,
        resource: str,
        action: str,
        outcome: str,
        *,
        code: str | None = None,
        azure_code: str | None = None,
        request_id: str | None = None,
        message: str | None = None,
        problem: str | None = None,
        fix: Fix | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        now = time.time()
        self._recording(
            "INSERT INTO step (resource, action, outcome, code, azure_code, request_id, "
            "message, problem, fix, detail, started, finished) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (resource, action) DO UPDATE SET outcome = excluded.outcome, "
            "code = excluded.code, azure_code = excluded.azure_code, "
            "request_id = excluded.request_id, message = excluded.message, "
            "problem = excluded.problem, fix = excluded.fix, "
            "detail = excluded.detail, finished = excluded.finished",
            (
                resource.lower(),
                action,
                outcome,
                code,
                azure_code,
                request_id,
                message,
                problem,
                _fix_column(fix),
                json.dumps(detail) if detail is not None else None,
                now,
                now,
            ),
        )

    # --- restarts (Run Command remediation) ---------------------------------------------------

    def restart_sent(self, resource: str) -> str | None:
        """The restart run command this run may have sent the machine (its intent is
        committed before the send): a resumed run never sends another."""
        record = self.step(resource, RESTART_STEP)
        return record.intent_previous if record is not None and record.intended else None

    def record_restart_intent(self, resource: str, name: str) -> None:
        """Committed before the restart is sent."""
        self.record_start(resource, RESTART_STEP)
        self.record_intent(resource, RESTART_STEP, name)

    # --- what a report is rebuilt from ----------------------------------------------------

    def record_attempt(self, record: AttemptRecord) -> None:
        """This process's part of the run so far (written again as it goes on)."""
        self._recording(
            "INSERT INTO session VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (started) DO "
            "UPDATE SET ended = excluded.ended, requests = excluded.requests, "
            "throttled = excluded.throttled, transport_errors = excluded.transport_errors",
            (
                record.started,
                record.ended,
                record.requests,
                record.throttled,
                record.transport_errors,
                record.time_scale,
                record.calendar,
                record.today,
            ),
        )

    def record_plan(self, machines: Iterable[tuple[str, str]]) -> None:
        """The machines (resource id, kind) the run is to take, so that a report read while
        it goes on, or after it crashed, names those not concluded yet."""
        rows = [(resource.lower(), kind) for resource, kind in machines]
        self._in_one_commit(("INSERT OR IGNORE INTO machine (resource, kind) VALUES (?, ?)", rows))

    def record_end(self, result: MachineResult, finished: float, *, replace: bool = True) -> None:
        """A machine's outcome as the run reports it. ``replace`` False keeps an outcome
        already recorded (a resumed run reporting a machine concluded before it began)."""
        self._recording(
            _ENDED if replace else _ENDED + " WHERE machine.outcome IS NULL",
            (
                result.resource.lower(),
                result.kind,
                result.outcome.value,
                result.code,
                result.azure_code,
                result.request_id,
                result.message,
                finished,
                result.problem,
                _fix_column(result.fix),
            ),
        )

    def record_traffic(self, rows: Iterable[TrafficRow], ceilings: Mapping[str, Bucket]) -> None:
        """Add requests per bucket and bin to what is recorded, in one transaction."""
        self._in_one_commit(
            (
                "INSERT OR IGNORE INTO bucket VALUES (?, ?, ?)",
                [(name, b.per_minute, b.capacity) for name, b in ceilings.items()],
            ),
            (
                "INSERT INTO traffic VALUES (?, ?, ?, ?, ?) ON CONFLICT (bucket, at, width) "
                "DO UPDATE SET requests = requests + excluded.requests, "
                "throttled = throttled + excluded.throttled",
                [(r.bucket, r.at, r.width, r.requests, r.throttled) for r in rows],
            ),
        )


_ENDED = (
    "INSERT INTO machine (resource, kind, outcome, code, azure_code, request_id, message, "
    "finished, problem, fix) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (resource) DO "
    "UPDATE SET kind = excluded.kind, outcome = excluded.outcome, code = excluded.code, "
    "azure_code = excluded.azure_code, request_id = excluded.request_id, "
    "message = excluded.message, finished = excluded.finished, "
    "problem = excluded.problem, fix = excluded.fix"
)


def _record(row: tuple[Any, ...]) -> StepRecord:
    values = list(row)
    values[7] = json.loads(values[7]) if values[7] else None
    values[15] = _fix(values[15])
    return StepRecord(*values)


def _fix_column(fix: Fix | None) -> str | None:
    """A fix as the journal stores it: its words and options as JSON."""
    return json.dumps(fix.as_data()) if fix is not None else None


def _fix(column: str | None) -> Fix | None:
    return Fix.from_data(json.loads(column)) if column else None
