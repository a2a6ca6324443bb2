"""A failure's problem and fix stay fields from where the failure is decided to the edge that
shows it: the runner's results, the journal (which a run of an older schema resumes after
adding the columns), and reports rendered in a Python caller's words or the command line's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from azhotpatch.cli.errors import COMMAND_LINE
from azhotpatch.errors import PYTHON, render
from azhotpatch.fleet._history import read_report
from azhotpatch.fleet.journal import SCHEMA_VERSION
from azhotpatch.fleet.report import MachineResult, Outcome
from azhotpatch.testing import Emulator, FaultRule, Faults, FleetSpec

SPEC = FleetSpec(vms=3, arc=1, subscriptions=1, mix="clean", seed=27)

# The journal's two tables as schema 3 (the release before problem and fix) created them.
SCHEMA_3 = """
CREATE TABLE run (
    id INTEGER PRIMARY KEY CHECK (id = 1), created REAL NOT NULL, fingerprint TEXT NOT NULL,
    asked TEXT NOT NULL, version INTEGER NOT NULL
);
CREATE TABLE step (
    resource TEXT NOT NULL, action TEXT NOT NULL, outcome TEXT, code TEXT, azure_code TEXT,
    request_id TEXT, message TEXT, detail TEXT, started REAL, finished REAL,
    intent_previous TEXT, intent_at REAL, token TEXT, attempts INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (resource, action)
);
CREATE TABLE session (
    started REAL PRIMARY KEY, ended REAL NOT NULL, requests INTEGER NOT NULL DEFAULT 0,
    throttled INTEGER NOT NULL DEFAULT 0, transport_errors INTEGER NOT NULL DEFAULT 0,
    time_scale REAL NOT NULL DEFAULT 1, calendar TEXT, today TEXT
);
CREATE TABLE machine (
    resource TEXT PRIMARY KEY, kind TEXT NOT NULL, outcome TEXT, code TEXT, azure_code TEXT,
    request_id TEXT, message TEXT, finished REAL
);
CREATE TABLE bucket (name TEXT PRIMARY KEY, per_minute REAL NOT NULL, burst REAL NOT NULL);
CREATE TABLE traffic (
    bucket TEXT NOT NULL, at REAL NOT NULL, width REAL NOT NULL, requests INTEGER NOT NULL,
    throttled INTEGER NOT NULL, PRIMARY KEY (bucket, at, width)
);
"""


def _as_schema_3(journal: Path) -> Path:
    """The journal as the release before wrote it: its rows in schema 3's tables (what each
    machine's message said, without problem and fix apart)."""
    older = journal.with_name("older.sqlite")
    with sqlite3.connect(older) as db:
        db.executescript(SCHEMA_3)
        db.execute("ATTACH DATABASE ? AS current", (str(journal),))
        for table in ("run", "step", "session", "machine", "bucket", "traffic"):
            columns = ", ".join(r[1] for r in db.execute(f"PRAGMA main.table_info({table})"))
            db.execute(f"INSERT INTO main.{table} SELECT {columns} FROM current.{table}")  # noqa: S608
        db.execute("UPDATE run SET version = 3")
        db.commit()
        db.execute("DETACH DATABASE current")
    return older


def _the_failed(machines: tuple[MachineResult, ...]) -> MachineResult:
    (failed,) = [m for m in machines if m.outcome is Outcome.FAILED]
    return failed


def test_problem_and_fix_travel_as_fields_and_an_older_journal_resumes(tmp_path: Path) -> None:
    """One Arc machine's install ends Failed in Azure: its result carries the problem and a fix that
    asks for ``retry_failed``, which each edge words its own way, and its journal keeps them
    apart. The same journal, rewritten as schema 3 wrote it, is read with its messages
    whole, and a run that retries the failed machine resumes it: the columns are added, the
    machine's install is sent once more and no other machine's is sent again."""
    journal = tmp_path / "run.sqlite"
    with Emulator(fleet=SPEC, seed=27, time_scale=1200) as emu, emu.client() as client:
        subs = sorted(emu.world.subscriptions)
        broken = emu.fleet.arcs[0].id  # type: ignore[union-attr]
        emu.set_faults(
            Faults.aimed(FaultRule("lro_failure", operation="installPatches", scope=broken))
        )
        first = client.run(subscriptions=subs, journal=journal)
        failed = _the_failed(first.machines)
        assert failed.resource.lower() == broken.lower()
        assert failed.problem is not None
        assert failed.fix is not None
        assert failed.message == render(failed.resource, failed.problem, failed.fix)
        assert "retry_failed=True" in failed.fix.render(PYTHON)
        assert "--retry-failed" in failed.fix.render(COMMAND_LINE)
        as_python = first.as_dict()["machines"]
        as_typed = first.in_words(COMMAND_LINE).as_dict()["machines"]
        python_row = next(m for m in as_python if m["resource"] == failed.resource)
        typed_row = next(m for m in as_typed if m["resource"] == failed.resource)
        assert python_row["problem"] == typed_row["problem"] == failed.problem
        assert "retry_failed=True" in python_row["fix"]
        assert "retry_failed=True" in python_row["message"]
        assert "--retry-failed" in typed_row["fix"]
        assert "--retry-failed" in typed_row["message"]
        assert "retry_failed" not in typed_row["message"] + typed_row["fix"]

        recorded = _the_failed(read_report(journal).machines)  # from the journal
        assert (recorded.problem, recorded.fix, recorded.message) == (
            failed.problem,
            failed.fix,
            failed.message,
        )
        assert (recorded.steps[-1].problem, recorded.steps[-1].fix) == (failed.problem, failed.fix)

        older = _as_schema_3(journal)
        read_as_it_was = _the_failed(read_report(older).machines)
        assert read_as_it_was.message == failed.message  # whole, never split
        assert (read_as_it_was.problem, read_as_it_was.fix) == (None, None)
        assert read_as_it_was.as_dict()["problem"] is None

        emu.set_faults(None)
        retried = client.run(subscriptions=subs, journal=older, retry_failed=True)
        installs = {k.lower(): len(v) for k, v in emu.install_history().items()}
    assert retried.counts == {"succeeded": len(first.machines)}
    assert installs.pop(broken.lower()) == 2  # Azure's failed attempt, then the retry
    assert set(installs.values()) == {1}  # the others: never sent again
    with sqlite3.connect(older) as db:
        assert db.execute("SELECT version FROM run").fetchone()[0] == SCHEMA_VERSION
        columns = {r[1] for r in db.execute("PRAGMA table_info(step)")}
        assert {"problem", "fix"} <= columns
    assert read_report(older).outcomes() == retried.outcomes()
