"""How a journal is created, opened, recognised and upgraded: the schema, the file built
whole under a temporary name and renamed into place, the lock taken for a run's life, and the
checks that refuse a file that is not a journal of this schema, a journal cut short, or one
that belongs to another run (`RunIdentity`), before a single request is sent.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import time
from pathlib import Path

from azhotpatch.errors import JOURNAL, Fix, JournalError, JournalStorageError
from azhotpatch.fleet._journal_storage import JournalStorage, _blank, _inode, _sidecars
from azhotpatch.fleet._lock import JournalLock
from azhotpatch.fleet._run_identity import RunIdentity

__all__ = ["NO_EXPLANATION", "RECORD_TABLES", "SCHEMA", "SCHEMA_VERSION", "JournalFile"]

SCHEMA_VERSION = 4
# Older schemas a run resuming them brings up to this one: schema 2 lacks the record tables,
# schemas 2 and 3 the problem and fix of each step and machine (their message holds both).
_UPGRADABLE = (2, 3)
# The columns schema 4 added to the step and machine tables.
_EXPLANATION = ("problem", "fix")
# A journal of schema 3 or older, opened to be read (not upgraded), has no problem or fix:
# its messages are read whole.
NO_EXPLANATION = "NULL, NULL"
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


class JournalFile(JournalStorage):
    """A journal opened: to be read, or claimed for a run (see `Journal`)."""

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

    def _explains_machines(self) -> bool:
        return set(_EXPLANATION) <= self._columns("machine")

    def _explanation(self) -> str:
        """The problem and fix columns to select: NULLs in a journal that has none."""
        return ", ".join(_EXPLANATION) if self._explained else NO_EXPLANATION

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
