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
from it at any time, after a crash too (`azhotpatch.fleet.history`): each machine's outcome
and when it was known (skipped machines included), each session of the run (its start, its
end so far, its requests and 429s, the calendar it ran in), and the requests per throttling
bucket over time with each bucket's ceiling. These are written as machines finish, at most
about once a second, so a crash loses at most the last second of traffic counts.

Nothing secret is stored: resource ids, outcomes, error codes and messages, Azure's request
ids, and continuation tokens (which hold operation URLs, never credentials).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from azhotpatch._azure.session import TrafficRow
from azhotpatch.errors import JournalError
from azhotpatch.fleet.inventory import InventoryFilter
from azhotpatch.fleet.report import MachineResult, Outcome, StepResult
from azhotpatch.limits import Bucket
from azhotpatch.models import Action, InstallOptions

__all__ = [
    "SCHEMA_VERSION",
    "Journal",
    "MachineEnded",
    "RunIdentity",
    "SessionRecord",
    "StepRecord",
]

SCHEMA_VERSION = 3
# Schema 2 lacks only the record tables: a run resuming such a journal adds them.
_UPGRADABLE = 2
# The journal's step for a remediation (Run Command), taken before a machine's enrollment.
REMEDIATE_STEP = "remediate"
# The journal's record of a machine's restart (remediation): not a step of the run but an
# intent, holding the restart run command's name, so that the restart is sent at most once.
RESTART_STEP = "restart"
_TABLES = {"run", "step"}
SCHEMA = """
CREATE TABLE run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    created REAL NOT NULL,
    fingerprint TEXT NOT NULL,
    asked TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE step (
    resource TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT,
    code TEXT,
    azure_code TEXT,
    request_id TEXT,
    message TEXT,
    detail TEXT,
    started REAL,
    finished REAL,
    intent_previous TEXT,
    intent_at REAL,
    token TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (resource, action)
);
"""
# What a report is rebuilt from (schema 3).
RECORD_TABLES = """
CREATE TABLE IF NOT EXISTS session (
    started REAL PRIMARY KEY,
    ended REAL NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    throttled INTEGER NOT NULL DEFAULT 0,
    transport_errors INTEGER NOT NULL DEFAULT 0,
    time_scale REAL NOT NULL DEFAULT 1,
    calendar TEXT,
    today TEXT
);
CREATE TABLE IF NOT EXISTS machine (
    resource TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    outcome TEXT,
    code TEXT,
    azure_code TEXT,
    request_id TEXT,
    message TEXT,
    finished REAL
);
CREATE TABLE IF NOT EXISTS bucket (
    name TEXT PRIMARY KEY,
    per_minute REAL NOT NULL,
    burst REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS traffic (
    bucket TEXT NOT NULL,
    at REAL NOT NULL,
    width REAL NOT NULL,
    requests INTEGER NOT NULL,
    throttled INTEGER NOT NULL,
    PRIMARY KEY (bucket, at, width)
);
"""
_COLUMNS = (
    "resource, action, outcome, code, azure_code, request_id, message, detail, started, "
    "finished, intent_previous, intent_at, token, attempts"
)


@dataclass(frozen=True)
class RunIdentity:
    """What a run was asked to do, which its journal is bound to: the scope (the inventory
    filter, or the exact machines), the actions in order, and the install options as sent
    to Azure."""

    scope: Mapping[str, Any]
    actions: tuple[str, ...]
    install: Mapping[str, Any] = field(default_factory=dict)
    remediate: bool = False  # the run remediates Arc machines (when its restarts may happen
    # is not part of it: a run deferred to a baseline window resumes with any policy)
    # installs are sent even where another run or the platform already installed this
    # release; ``released``: the day of an out-of-band release (ISO), see install_guard
    install_again: bool = False
    released: str | None = None

    @classmethod
    def of(
        cls,
        scope: InventoryFilter,
        actions: Iterable[Action],
        install: InstallOptions,
        *,
        remediate: bool = False,
        install_again: bool = False,
        released: date | None = None,
    ) -> RunIdentity:
        return cls(
            scope.describe(),
            tuple(a.value for a in actions),
            install.request_body(),
            remediate,
            install_again,
            released.isoformat() if released is not None else None,
        )

    def as_dict(self) -> dict[str, Any]:
        """What the journal records; ``remediate``, ``install_again`` and ``released``
        only when set, so the runs before them keep their fingerprints."""
        asked: dict[str, Any] = {
            "scope": dict(self.scope),
            "actions": list(self.actions),
            "install": self.install,
        }
        if self.remediate:
            asked["remediate"] = True
        if self.install_again:
            asked["install_again"] = True
        if self.released is not None:
            asked["released"] = self.released
        return asked

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def differences(self, recorded: Mapping[str, Any]) -> list[str]:
        """How this differs from a recorded identity, in words (empty: the same run)."""
        mine = self.as_dict()
        found: list[str] = []
        for part in ("scope", "actions", "install", "remediate", "install_again", "released"):
            theirs, ours = recorded.get(part), mine.get(part)
            if part == "scope" and isinstance(theirs, Mapping) and isinstance(ours, Mapping):
                keys = sorted(set(theirs) | set(ours))
                found += [
                    f"{key}: the journal has {theirs.get(key)!r}, this run {ours.get(key)!r}"
                    for key in keys
                    if theirs.get(key) != ours.get(key)
                ]
            elif theirs != ours:
                found.append(f"{part}: the journal has {theirs!r}, this run {ours!r}")
        return found


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
        )


@dataclass(frozen=True)
class SessionRecord:
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


class Journal:
    """One run's record. Opening an existing file resumes it; it must be a journal of this
    schema, made for the same `RunIdentity`. ``resumed`` says whether it holds steps from an
    earlier run. Without an identity the journal is opened to be read, whatever run it
    belongs to (for a report, also while its run goes on): nothing can be written."""

    def __init__(self, path: str | Path, identity: RunIdentity | None = None) -> None:
        self.path = Path(path)
        try:
            if identity is None:
                uri = self.path.resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
            else:
                self._db = sqlite3.connect(str(self.path), isolation_level=None)
        except sqlite3.Error as error:
            raise self._error(f"cannot open the journal: {error}") from None
        try:
            self.resumed = self._claim(identity) if identity else self._readable()
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise self._error(f"cannot open the journal: {error}") from None
        except JournalError:
            self._db.close()
            raise

    def _error(self, problem: str, fix: str | None = None) -> JournalError:
        return JournalError(
            problem,
            resource=str(self.path),
            fix=fix
            or "pass a new journal path, or delete a file that is not an azhotpatch journal",
        )

    def _claim(self, identity: RunIdentity) -> bool:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        if not tables:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA + RECORD_TABLES)
            self._db.execute(
                "INSERT INTO run VALUES (1, ?, ?, ?, ?)",
                (
                    time.time(),
                    identity.fingerprint,
                    json.dumps(identity.as_dict(), sort_keys=True),
                    SCHEMA_VERSION,
                ),
            )
            return False
        if not tables >= _TABLES:
            raise self._error(
                "is an SQLite database but not an azhotpatch journal (it has tables "
                f"{sorted(tables)})",
                fix="pass a new journal path; this file belongs to something else",
            )
        version = self._check(identity)
        self._db.execute("PRAGMA synchronous=NORMAL")
        if version == _UPGRADABLE:
            self._db.executescript(RECORD_TABLES)
            self._db.execute("UPDATE run SET version = ?", (SCHEMA_VERSION,))
        return self._db.execute("SELECT 1 FROM step LIMIT 1").fetchone() is not None

    def _readable(self) -> bool:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        if not tables >= _TABLES:
            raise self._error(
                "is not an azhotpatch journal"
                + (f" (it has tables {sorted(tables)})" if tables else " (it is empty)"),
                fix="pass the journal path the run was given (--journal)",
            )
        self._recorded()
        return self._db.execute("SELECT 1 FROM step LIMIT 1").fetchone() is not None

    def _recorded(self) -> tuple[int, str | None, str | None]:
        """(schema version, fingerprint, what was asked) as the file says."""
        try:
            version, fingerprint, asked = self._db.execute(
                "SELECT version, fingerprint, asked FROM run"
            ).fetchone()
        except (sqlite3.OperationalError, TypeError):  # schema 1 had other columns
            version, fingerprint, asked = 1, None, None
        if version not in (SCHEMA_VERSION, _UPGRADABLE):
            newer = version > SCHEMA_VERSION
            raise self._error(
                f"was written by {'a newer' if newer else 'an older'} azhotpatch (journal "
                f"schema {version}; this version reads schema {SCHEMA_VERSION})",
                fix="finish that run with the azhotpatch that started it, or start this run "
                "with a new journal path",
            )
        return int(version), fingerprint, asked

    def _check(self, identity: RunIdentity) -> int:
        version, fingerprint, asked = self._recorded()
        if fingerprint == identity.fingerprint:
            return version
        assert asked is not None
        differences = identity.differences(json.loads(asked))
        raise self._error(
            "belongs to another run: " + "; ".join(differences or ["what was asked differs"]),
            fix="resume with exactly what that run was asked (scope, actions, install "
            "options), or start this run with a new journal path",
        )

    # --- reads ------------------------------------------------------------------------------

    def step(self, resource: str, action: str) -> StepRecord | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM step WHERE resource = ? AND action = ?",  # noqa: S608
            (resource.lower(), action),
        ).fetchone()
        return _record(row) if row else None

    def touched(self, resource: str) -> bool:
        """Did this run already begin on the machine (before a restart)?"""
        row = self._db.execute(
            "SELECT 1 FROM step WHERE resource = ? LIMIT 1", (resource.lower(),)
        ).fetchone()
        return row is not None

    def steps(self) -> Iterator[StepRecord]:
        for row in self._db.execute(
            f"SELECT {_COLUMNS} FROM step ORDER BY resource, action"  # noqa: S608
        ):
            yield _record(row)

    def asked(self) -> dict[str, Any]:
        """What the run was asked (scope, actions, install options)."""
        row = self._db.execute("SELECT asked FROM run").fetchone()
        return dict(json.loads(row[0])) if row and row[0] else {}

    def sessions(self) -> list[SessionRecord]:
        if not self._has("session"):
            return []
        return [
            SessionRecord(*row)
            for row in self._db.execute(
                "SELECT started, ended, requests, throttled, transport_errors, time_scale, "
                "calendar, today FROM session ORDER BY started"
            )
        ]

    def machines(self) -> Iterator[MachineEnded]:
        """Every machine whose outcome the run reported, skipped ones included."""
        if not self._has("machine"):
            return
        for row in self._db.execute(
            "SELECT resource, kind, outcome, code, azure_code, request_id, message, finished "
            "FROM machine WHERE outcome IS NOT NULL ORDER BY finished, resource"
        ):
            resource, kind, outcome, code, azure_code, request_id, message, finished = row
            result = MachineResult(
                resource,
                kind,
                Outcome(outcome),
                code,
                message,
                azure_code=azure_code,
                request_id=request_id,
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

    def started(self, resource: str, action: str) -> None:
        self._db.execute(
            "INSERT INTO step (resource, action, started) VALUES (?, ?, ?) "
            "ON CONFLICT (resource, action) DO UPDATE SET "
            "started = coalesce(started, excluded.started)",
            (resource.lower(), action, time.time()),
        )

    def intent(self, resource: str, action: str, previous: str | None) -> None:
        """Committed before the request is sent."""
        self._db.execute(
            "UPDATE step SET intent_previous = ?, intent_at = ?, token = NULL "
            "WHERE resource = ? AND action = ?",
            (previous, time.time(), resource.lower(), action),
        )

    def accepted(self, resource: str, action: str, token: str) -> None:
        self._db.execute(
            "UPDATE step SET token = ? WHERE resource = ? AND action = ?",
            (token, resource.lower(), action),
        )

    def reopened(self, resource: str, action: str) -> None:
        """A failed step is attempted again: it has no outcome until it ends, so a crash
        during the retry resumes it as in flight (its intent and token are kept: they say
        what Azure may already have received)."""
        self._db.execute(
            "UPDATE step SET outcome = NULL, code = NULL, azure_code = NULL, "
            "request_id = NULL, message = NULL, detail = NULL, finished = NULL, "
            "attempts = attempts + 1 WHERE resource = ? AND action = ?",
            (resource.lower(), action),
        )

    def finished(
        self,
        resource: str,
        action: str,
        outcome: str,
        *,
        code: str | None = None,
        azure_code: str | None = None,
        request_id: str | None = None,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        now = time.time()
        self._db.execute(
            "INSERT INTO step (resource, action, outcome, code, azure_code, request_id, "
            "message, detail, started, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (resource, action) DO UPDATE SET outcome = excluded.outcome, "
            "code = excluded.code, azure_code = excluded.azure_code, "
            "request_id = excluded.request_id, message = excluded.message, "
            "detail = excluded.detail, finished = excluded.finished",
            (
                resource.lower(),
                action,
                outcome,
                code,
                azure_code,
                request_id,
                message,
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

    def restart_intended(self, resource: str, name: str) -> None:
        """Committed before the restart is sent."""
        self.started(resource, RESTART_STEP)
        self.intent(resource, RESTART_STEP, name)

    # --- what a report is rebuilt from ----------------------------------------------------

    def session(self, record: SessionRecord) -> None:
        """This process's part of the run so far (written again as it goes on)."""
        self._db.execute(
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

    def planned(self, machines: Iterable[tuple[str, str]]) -> None:
        """The machines (resource id, kind) the run is to take, so that a report read while
        it goes on, or after it crashed, names those not concluded yet."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO machine (resource, kind) VALUES (?, ?)",
                [(resource.lower(), kind) for resource, kind in machines],
            )

    def ended(self, result: MachineResult, finished: float, *, replace: bool = True) -> None:
        """A machine's outcome as the run reports it. ``replace`` False keeps an outcome
        already recorded (a resumed run reporting a machine concluded before it began)."""
        self._db.execute(
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
            ),
        )

    def add_traffic(self, rows: Iterable[TrafficRow], ceilings: Mapping[str, Bucket]) -> None:
        """Add requests per bucket and bin to what is recorded, in one transaction."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO bucket VALUES (?, ?, ?)",
                [(name, b.per_minute, b.capacity) for name, b in ceilings.items()],
            )
            self._db.executemany(
                "INSERT INTO traffic VALUES (?, ?, ?, ?, ?) ON CONFLICT (bucket, at, width) "
                "DO UPDATE SET requests = requests + excluded.requests, "
                "throttled = throttled + excluded.throttled",
                [(r.bucket, r.at, r.width, r.requests, r.throttled) for r in rows],
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """Many rows in one commit (the connection commits each statement on its own
        otherwise), and none of them if anything in the block fails."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


_ENDED = (
    "INSERT INTO machine VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (resource) DO "
    "UPDATE SET kind = excluded.kind, outcome = excluded.outcome, code = excluded.code, "
    "azure_code = excluded.azure_code, request_id = excluded.request_id, "
    "message = excluded.message, finished = excluded.finished"
)


def _record(row: tuple[Any, ...]) -> StepRecord:
    values = list(row)
    values[7] = json.loads(values[7]) if values[7] else None
    return StepRecord(*values)
