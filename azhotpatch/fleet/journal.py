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

Nothing secret is stored: resource ids, outcomes, error codes, each failure's problem and
fix (the fix as data, so that a report read from the journal words it for its reader) and
the message they render, Azure's request ids, and continuation tokens (which hold operation
URLs, never credentials).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from azhotpatch._azure.session import TrafficRow
from azhotpatch.errors import JOURNAL, Fix, JournalError, JournalStorageError
from azhotpatch.fleet.inventory import InventoryFilter
from azhotpatch.fleet.lock import JournalLock
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

SCHEMA_VERSION = 4
# Older schemas a run resuming them brings up to this one: schema 2 lacks the record tables,
# schemas 2 and 3 the problem and fix of each step and machine (their message holds both).
_UPGRADABLE = (2, 3)
# The columns schema 4 added to the step and machine tables.
_EXPLANATION = ("problem", "fix")
# The journal's step for a remediation (Run Command), taken before a machine's enrollment.
REMEDIATE_STEP = "remediate"
# The journal's record of a machine's restart (remediation): not a step of the run but an
# intent, holding the restart run command's name, so that the restart is sent at most once.
RESTART_STEP = "restart"
_TABLES = {"run", "step"}
# Every table a journal of this schema has (what a journal cut short at creation may hold).
_ALL_TABLES = frozenset({"run", "step", "session", "machine", "bucket", "traffic"})
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
    problem TEXT,
    fix TEXT,
    PRIMARY KEY (resource, action)
);
"""
# What a report is rebuilt from (schema 3; problem and fix since schema 4).
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
    finished REAL,
    problem TEXT,
    fix TEXT
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
# A journal of schema 3 or older, opened to be read (not upgraded), has no problem or fix:
# its messages are read whole.
_NO_EXPLANATION = "NULL, NULL"


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
    belongs to (for a report, also while its run goes on): nothing can be written.

    Opened for a run, it is locked for the run's life (`azhotpatch.fleet.lock`: a second
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

    def __init__(self, path: str | Path, identity: RunIdentity | None = None) -> None:
        self.path = Path(path)
        self.failure: JournalStorageError | None = None
        self._lock: JournalLock | None = None
        self._inode: tuple[int, int] | None = None  # (device, inode) of the file written
        if identity is None:
            self._open_to_read()
            return
        self._lock = JournalLock.acquire(self.path)
        try:
            self._open_for(identity)
        except BaseException:
            self._lock.release()
            raise

    def _open_to_read(self) -> None:
        try:
            uri = self.path.resolve().as_uri() + "?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
        except sqlite3.Error as error:
            raise self._error(f"cannot open the journal: {error}") from None
        try:
            self.resumed = self._readable()
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise self._error(f"cannot read the journal: {error}") from None
        except JournalError:
            self._db.close()
            raise

    def _open_for(self, identity: RunIdentity) -> None:
        if _blank(self.path):
            self._create(identity)
        try:
            self._db = sqlite3.connect(str(self.path), isolation_level=None)
        except sqlite3.Error as error:
            raise self._error(f"cannot open the journal: {error}") from None
        try:
            if not self._tables():  # an empty SQLite file: nothing in it to lose
                self._db.close()
                self._create(identity)
                self._db = sqlite3.connect(str(self.path), isolation_level=None)
            self._inode = _inode(self.path)
            self.resumed = self._claim(identity)
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise self._error(f"cannot open the journal: {error}") from None
        except (JournalError, OSError):
            self._db.close()
            raise

    def _create(self, identity: RunIdentity) -> None:
        """A new journal, whole or not at all: built under a temporary name in the same
        directory (so the rename cannot cross file systems) and renamed onto the path. The
        run holds the lock, so no other run creates one there meanwhile. A crash leaves at
        most a hidden ``.<name>.<random>.creating`` file, never a journal cut short."""
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.creating")
        try:
            db = sqlite3.connect(str(temporary), isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript("BEGIN;" + SCHEMA + RECORD_TABLES + "COMMIT;")
                db.execute(
                    "INSERT INTO run VALUES (1, ?, ?, ?, ?)",
                    (
                        time.time(),
                        identity.fingerprint,
                        json.dumps(identity.as_dict(), sort_keys=True),
                        SCHEMA_VERSION,
                    ),
                )
            finally:
                db.close()
            os.replace(temporary, self.path)
        except (sqlite3.Error, OSError) as error:
            for leftover in (temporary, *_sidecars(temporary)):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            raise self._storage_error(error, creating=True) from None

    def _error(self, problem: str, fix: str | Fix | None = None) -> JournalError:
        return JournalError(
            problem,
            resource=str(self.path),
            fix=fix
            or "check that the path is this run's journal and that its disk works; a journal "
            "that holds steps records what was sent, so keep it (start with a new journal "
            "path, or resume with this one once it opens)",
        )

    def _tables(self) -> set[str]:
        return {
            row[0]
            for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }

    def _claim(self, identity: RunIdentity) -> bool:
        tables = self._tables()
        if not tables >= _TABLES or self._cut_short(tables):
            raise self._not_a_journal(tables, reading=False)
        version = self._check(identity)
        self._db.execute("PRAGMA synchronous=NORMAL")
        if version in _UPGRADABLE:
            self._upgrade()
        self._explained = self._explains()
        return self._db.execute("SELECT 1 FROM step LIMIT 1").fetchone() is not None

    def _upgrade(self) -> None:
        """Bring a journal of an older schema up to this one, in one commit: the record
        tables it lacks, and the problem and fix columns (empty for what it recorded)."""
        added = [
            f"ALTER TABLE {table} ADD COLUMN {column} TEXT;"
            for table in ("step", "machine")
            if table in self._tables()
            for column in _EXPLANATION
            if column not in self._columns(table)
        ]
        # our own names and number, no input: nothing to inject
        version = f"UPDATE run SET version = {SCHEMA_VERSION};"  # noqa: S608
        self._db.executescript(f"BEGIN;{RECORD_TABLES}{''.join(added)}{version}COMMIT;")

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}

    def _explains(self) -> bool:
        """Whether the journal records problem and fix apart (schema 4), or only messages."""
        return set(_EXPLANATION) <= self._columns("step")

    def _explanation(self) -> str:
        """The problem and fix columns to select: NULLs in a journal that has none."""
        return ", ".join(_EXPLANATION) if self._explained else _NO_EXPLANATION

    def _readable(self) -> bool:
        tables = self._tables()
        if not tables >= _TABLES or self._cut_short(tables):
            raise self._not_a_journal(tables, reading=True)
        self._recorded()
        self._explained = self._explains()
        return self._db.execute("SELECT 1 FROM step LIMIT 1").fetchone() is not None

    def _cut_short(self, tables: set[str]) -> bool:
        """A journal an older azhotpatch began to create and never finished: some or all of
        our tables, no record of its run, and no step (so nothing was sent under it)."""
        if not tables or not tables <= _ALL_TABLES:
            return False
        if "step" in tables and self._db.execute("SELECT 1 FROM step LIMIT 1").fetchone():
            return False
        return "run" not in tables or self._db.execute("SELECT 1 FROM run").fetchone() is None

    def _not_a_journal(self, tables: set[str], *, reading: bool) -> JournalError:
        if self._cut_short(tables):
            return self._error(
                "was cut short while being created (it records no run and no step): nothing "
                "was sent under it",
                fix="it holds nothing, so nothing is lost by removing it (with its -wal and "
                "-shm files, if any); then "
                + ("run the command that was to create it again" if reading else "run again")
                + ", or pass a new journal path",
            )
        if reading:
            return self._error(
                "is not an azhotpatch journal"
                + (f" (it has tables {sorted(tables)})" if tables else " (it is empty)"),
                fix=Fix.of("pass the journal path the run was given (", JOURNAL, ")"),
            )
        return self._error(
            f"is an SQLite database but not an azhotpatch journal (it has tables {sorted(tables)})",
            fix="pass a new journal path; this file belongs to something else",
        )

    def _recorded(self) -> tuple[int, str | None, str | None]:
        """(schema version, fingerprint, what was asked) as the file says."""
        try:
            row = self._db.execute("SELECT version, fingerprint, asked FROM run").fetchone()
        except sqlite3.OperationalError:  # schema 1 had other columns
            row = (1, None, None)
        if row is None:  # steps but no record of the run they belong to: damaged, kept
            raise self._error("holds steps but no record of its run: it is damaged")
        version, fingerprint, asked = row
        if version != SCHEMA_VERSION and version not in _UPGRADABLE:
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

    # --- storage faults -----------------------------------------------------------------------

    def intact(self) -> bool:
        """Whether the run can still rely on the journal: no write has failed, and its path
        still names the file being written (one stat)."""
        if self.failure is None and self._vanished():
            self.failure = self._vanished_error()
        return self.failure is None

    def _gone(self) -> bool:
        """Whether the file this run writes is known to have vanished: nothing written to it
        can be read. Only looked at once a fault is known: outcomes are written often, and
        each intent, step and machine let in already looks (one stat each)."""
        return self.failure is not None and self._vanished()

    def _vanished(self) -> bool:
        """Whether the path no longer names the file this run writes: deleted (or its
        directory removed), moved away, or replaced by another file."""
        if self._inode is None:
            return False
        try:
            return _inode(self.path) != self._inode
        except OSError:
            return True

    def _vanished_error(self) -> JournalStorageError:
        return JournalStorageError(
            "the journal was deleted, moved or replaced (or its directory removed) while the "
            "run was writing it: nothing more could be recorded, so the run started no more "
            "machines and let the operations already sent finish.",
            resource=str(self.path),
            fix="what this run sent is no longer recorded there, and Azure's own state guards "
            "a rerun: a run reads what Azure records for each machine before it sends an "
            "install. Run the same command again with a journal path in an existing "
            "directory; the report printed with this error says what each machine reached",
        )

    def _storage_error(
        self, error: sqlite3.Error | OSError, *, creating: bool = False
    ) -> JournalStorageError:
        """What a failed write means, in words, with the fix: the disk full, the file size
        limit reached, or an I/O error (SQLite reports a write past the size limit as an I/O
        error: the file sizes against the limit tell)."""
        said = str(error) or type(error).__name__
        full = _space_used_up(self.path, error)
        if creating:
            return JournalStorageError(
                f"could not be created ({full or said}); nothing was sent.",
                resource=str(self.path),
                fix="free space in the journal's directory (or lift the file size limit, "
                "`ulimit -f`), or pass a journal path on another disk; then run again"
                if full
                else "check the journal's directory and its disk, then run again",
            )
        if full:
            happened = f"the journal could not be written: {full} (SQLite: {said})"
            fix = (
                "free space on the journal's disk (or lift the file size limit, `ulimit -f`), "
                "then run the same command again with the same journal: it keeps everything "
                "recorded before this, and a machine that was in flight is settled by reading "
                "Azure before anything is sent again"
            )
        else:
            happened = f"the journal could not be written (SQLite: {said})"
            fix = (
                "check the disk that holds the journal (the system log names the device), "
                "then run the same command again with the same journal to resume; keep the "
                "journal even if it cannot be opened now: it records what was sent"
            )
        return JournalStorageError(
            f"{happened}; the run started no more machines and let the operations already "
            "sent finish.",
            resource=str(self.path),
            fix=fix,
        )

    def _broken(self, error: sqlite3.Error) -> JournalStorageError:
        """Remember the first storage fault; every later intent is refused with it."""
        if self.failure is None:
            self.failure = self._storage_error(error)
        return self.failure

    def _guarding(self, sql: str, parameters: tuple[Any, ...]) -> None:
        """A write the next request depends on (an intent): refused, and nothing sent, when
        the journal can no longer be relied on."""
        if not self.intact():
            assert self.failure is not None
            raise self.failure
        try:
            self._db.execute(sql, parameters)
        except sqlite3.Error as error:
            raise self._broken(error) from None

    def _recording(self, sql: str, parameters: tuple[Any, ...]) -> None:
        """A write of what happened (a token, an outcome): written where it still can be
        (not into a file that vanished), never raising; a failure is remembered."""
        if self._gone():
            return
        try:
            self._db.execute(sql, parameters)
        except sqlite3.Error as error:
            self._broken(error)

    def _read(self, sql: str, parameters: tuple[Any, ...]) -> tuple[Any, ...] | None:
        try:
            row: tuple[Any, ...] | None = self._db.execute(sql, parameters).fetchone()
        except sqlite3.Error as error:
            if self._lock is None:
                raise self._error(f"cannot read the journal: {error}") from None
            raise self._broken(error) from None
        return row

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
        explanation = self._explanation() if self._explains_machines() else _NO_EXPLANATION
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

    def _explains_machines(self) -> bool:
        return set(_EXPLANATION) <= self._columns("machine")

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
        """Committed before a step begins: refused (`JournalStorageError`) when the journal
        can no longer be relied on, so that no step begins unrecorded."""
        self._guarding(
            "INSERT INTO step (resource, action, started) VALUES (?, ?, ?) "
            "ON CONFLICT (resource, action) DO UPDATE SET "
            "started = coalesce(started, excluded.started)",
            (resource.lower(), action, time.time()),
        )

    def intent(self, resource: str, action: str, previous: str | None) -> None:
        """Committed before the request is sent; refused (`JournalStorageError`) when the
        journal can no longer be relied on, and then the request is not sent."""
        self._guarding(
            "UPDATE step SET intent_previous = ?, intent_at = ?, token = NULL "
            "WHERE resource = ? AND action = ?",
            (previous, time.time(), resource.lower(), action),
        )

    def accepted(self, resource: str, action: str, token: str) -> None:
        """The operation's continuation token, once Azure accepted it (where it can still be
        written: without it a resumed run settles the intent by reading Azure)."""
        self._recording(
            "UPDATE step SET token = ? WHERE resource = ? AND action = ?",
            (token, resource.lower(), action),
        )

    def reopened(self, resource: str, action: str) -> None:
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

    def restart_intended(self, resource: str, name: str) -> None:
        """Committed before the restart is sent."""
        self.started(resource, RESTART_STEP)
        self.intent(resource, RESTART_STEP, name)

    # --- what a report is rebuilt from ----------------------------------------------------

    def session(self, record: SessionRecord) -> None:
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

    def planned(self, machines: Iterable[tuple[str, str]]) -> None:
        """The machines (resource id, kind) the run is to take, so that a report read while
        it goes on, or after it crashed, names those not concluded yet."""
        rows = [(resource.lower(), kind) for resource, kind in machines]
        self._in_one_commit(("INSERT OR IGNORE INTO machine (resource, kind) VALUES (?, ?)", rows))

    def ended(self, result: MachineResult, finished: float, *, replace: bool = True) -> None:
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

    def add_traffic(self, rows: Iterable[TrafficRow], ceilings: Mapping[str, Bucket]) -> None:
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

    def _in_one_commit(self, *writes: tuple[str, list[tuple[Any, ...]]]) -> None:
        """Many rows of the run's record in one commit (the connection commits each
        statement on its own otherwise), and none of them if any fails. Like every write of
        the record, a storage fault is remembered rather than raised. These batches (about
        one a second) are where a journal that vanished is noticed while nothing new starts."""
        if not self.intact() and self._vanished():
            return
        try:
            self._db.execute("BEGIN")
            for sql, rows in writes:
                self._db.executemany(sql, rows)
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            self._broken(error)
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        """Undo an open transaction (SQLite may have rolled it back itself after a storage
        fault)."""
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def close(self) -> None:
        """Close the file and let another run take the journal."""
        try:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None


def _blank(path: Path) -> bool:
    """No journal there yet: no file, or an empty one (which holds nothing to lose)."""
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return True


def _inode(path: Path) -> tuple[int, int]:
    found = os.stat(path)
    return found.st_dev, found.st_ino


def _sidecars(path: Path) -> tuple[Path, Path]:
    """The files SQLite keeps beside a database in WAL mode."""
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _space_used_up(path: Path, error: BaseException) -> str | None:
    """Why a write failed, when it is for want of space: the disk full, or this process's
    file size limit reached (None: neither, as far as can be told)."""
    name = str(getattr(error, "sqlite_errorname", ""))
    try:
        free: int | None = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if free is not None and free < _NEARLY_FULL:
        return f"the disk is full ({free // 1024} KiB free)"
    limit = _file_size_limit()
    if limit is not None:
        largest = max((_size(file) for file in (path, *_sidecars(path))), default=0)
        if largest + _NEAR_THE_LIMIT >= limit:
            return f"this process's file size limit ({limit // 1024} KiB, `ulimit -f`) is reached"
    if (
        "FULL" in name
        or "full" in str(error).lower()
        or getattr(error, "errno", None)
        in (
            errno.ENOSPC,
            errno.EFBIG,
            errno.EDQUOT,
        )
    ):
        return "the disk or a quota is full"
    return None


# A file system with less room than this counts as full (SQLite grows its files by pages,
# its write-ahead log by many at a time); a file this close to the size limit has reached it
# (SQLite writes a page, 4 KiB by default, at a time).
_NEARLY_FULL = 1024 * 1024
_NEAR_THE_LIMIT = 64 * 1024


def _file_size_limit() -> int | None:
    """This process's limit on the size of a file it writes (POSIX ``RLIMIT_FSIZE``)."""
    if sys.platform == "win32":
        return None
    import resource

    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _size(file: Path) -> int:
    try:
        return file.stat().st_size
    except OSError:
        return 0


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
