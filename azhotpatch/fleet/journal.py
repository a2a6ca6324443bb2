"""The run journal: an SQLite file that lets a killed fleet run resume without redoing
finished work and without ever triggering an install twice.

Before each non-idempotent request (assessPatches, installPatches) the journal records the
intent, with the machine's latest activity id of that kind, and commits. After Azure accepts
it, the LRO continuation token. After the step ends, its outcome. On resume, a step with an
outcome is not touched; a step with a token is waited on again; a step with only an intent is
settled by reading the machine's state (see `azhotpatch._azure.trigger`) before anything is
sent. SQLite in WAL mode commits survive the process being killed (``kill -9``); they are not
meant to survive the host losing power (``synchronous=NORMAL``).

Nothing secret is stored: resource ids, outcomes, error codes and messages, and continuation
tokens (which hold operation URLs, never credentials).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azhotpatch.errors import JournalError

SCHEMA = """
CREATE TABLE IF NOT EXISTS run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    created REAL NOT NULL,
    actions TEXT NOT NULL,
    options TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS step (
    resource TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT,
    code TEXT,
    message TEXT,
    detail TEXT,
    started REAL,
    finished REAL,
    intent_previous TEXT,
    intent_at REAL,
    token TEXT,
    PRIMARY KEY (resource, action)
);
"""
VERSION = 1


@dataclass(frozen=True)
class StepRecord:
    resource: str
    action: str
    outcome: str | None
    code: str | None
    message: str | None
    detail: dict[str, Any] | None
    started: float | None
    finished: float | None
    intent_previous: str | None
    intent_at: float | None
    token: str | None

    @property
    def done(self) -> bool:
        return self.outcome is not None

    @property
    def intended(self) -> bool:
        return self.intent_at is not None


class Journal:
    """One run's record. Opening an existing file resumes it (the actions must match)."""

    def __init__(self, path: str | Path, actions: Sequence[str], options: dict[str, Any]) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(str(self.path), isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as error:
            raise JournalError(
                f"cannot open the journal: {error}",
                resource=str(self.path),
                fix="pass a new path, or delete a file that is not an azhotpatch journal",
            ) from error
        self.resumed = self._claim(list(actions), options)

    def _claim(self, actions: list[str], options: dict[str, Any]) -> bool:
        row = self._db.execute("SELECT actions, options, version FROM run").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO run VALUES (1, ?, ?, ?, ?)",
                (time.time(), json.dumps(actions), json.dumps(options, sort_keys=True), VERSION),
            )
            return False
        if json.loads(row[0]) != actions or row[2] != VERSION:
            raise JournalError(
                f"the journal belongs to a run of {json.loads(row[0])}, not {actions}",
                resource=str(self.path),
                fix="resume with the same actions, or start this run with a new journal path",
            )
        return True

    # --- reads ------------------------------------------------------------------------------

    def step(self, resource: str, action: str) -> StepRecord | None:
        row = self._db.execute(
            "SELECT * FROM step WHERE resource = ? AND action = ?", (resource.lower(), action)
        ).fetchone()
        return _record(row) if row else None

    def touched(self, resource: str) -> bool:
        """Did this run already begin on the machine (before a restart)?"""
        row = self._db.execute(
            "SELECT 1 FROM step WHERE resource = ? LIMIT 1", (resource.lower(),)
        ).fetchone()
        return row is not None

    def steps(self) -> Iterator[StepRecord]:
        for row in self._db.execute("SELECT * FROM step ORDER BY resource, action"):
            yield _record(row)

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
            "UPDATE step SET intent_previous = ?, intent_at = ? WHERE resource = ? AND action = ?",
            (previous, time.time(), resource.lower(), action),
        )

    def accepted(self, resource: str, action: str, token: str) -> None:
        self._db.execute(
            "UPDATE step SET token = ? WHERE resource = ? AND action = ?",
            (token, resource.lower(), action),
        )

    def finished(
        self,
        resource: str,
        action: str,
        outcome: str,
        *,
        code: str | None = None,
        message: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO step (resource, action, outcome, code, message, detail, started, finished)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (resource, action) DO UPDATE SET "
            "outcome = excluded.outcome, code = excluded.code, message = excluded.message, "
            "detail = excluded.detail, finished = excluded.finished",
            (
                resource.lower(),
                action,
                outcome,
                code,
                message,
                json.dumps(detail) if detail is not None else None,
                time.time(),
                time.time(),
            ),
        )

    def close(self) -> None:
        self._db.close()


def _record(row: tuple[Any, ...]) -> StepRecord:
    (
        resource,
        action,
        outcome,
        code,
        message,
        detail,
        started,
        finished,
        previous,
        intent_at,
        token,
    ) = row
    return StepRecord(
        resource,
        action,
        outcome,
        code,
        message,
        json.loads(detail) if detail else None,
        started,
        finished,
        previous,
        intent_at,
        token,
    )
