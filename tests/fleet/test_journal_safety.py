"""Issue acceptance, through the command line in processes of its own against one emulator
this test serves: one writer per journal, a journal that vanishes or fills up mid-run, and
SIGINT / SIGTERM. Each case is judged against the emulator's ground truth (its install
history, its request log, each machine's expected outcome) and the journal's content, never
against timing: the client is frozen (SIGSTOP) at the point a case needs, and the case's
condition is read from the journal while it is."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from azhotpatch.fleet.report import ExitCode
from azhotpatch.testing import Durations, Emulator, FleetSpec

SPEC = FleetSpec(vms=24, arc=8, subscriptions=2, seed=26)
TIME_SCALE = 1200.0
NOISE = ("Traceback", "Task was destroyed", "Event loop is closed", "Unclosed", "internal error")
WAIT = 120.0  # wall seconds a case waits for its condition before it fails


@contextmanager
def served(durations: Durations | None = None) -> Iterator[Emulator]:
    with Emulator(fleet=SPEC, seed=26, time_scale=TIME_SCALE, durations=durations) as emu:
        yield emu


def command(emu: Emulator, journal: Path | None, *extra: str) -> list[str]:
    arguments = [
        sys.executable, "-m", "azhotpatch", "--emulator-url", emu.endpoint,
        "--ca-bundle", emu.ca_path, "--output", "json", "run",
    ]  # fmt: skip
    for subscription in sorted(emu.world.subscriptions):
        arguments += ["--subscription", subscription]
    if journal is not None:
        arguments += ["--journal", str(journal)]
    return [*arguments, *extra]


def start(arguments: list[str], **options: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options
    )


def ended(process: subprocess.Popen[str]) -> tuple[int, dict[str, Any], str]:
    """(exit code, the JSON report or {}, stderr) of a process left to finish."""
    out, err = process.communicate(timeout=WAIT)
    return process.returncode, (json.loads(out) if out.strip() else {}), err


def finish(arguments: list[str]) -> tuple[int, dict[str, Any], str]:
    return ended(start(arguments))


def journal_rows(journal: Path, query: str) -> list[tuple[Any, ...]]:
    """Rows of the journal as another reader sees them (empty while it cannot be read)."""
    try:
        with sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True, timeout=5) as db:
            return list(db.execute(query))
    except sqlite3.Error:
        return []


def touched(journal: Path) -> set[str]:
    return {row[0] for row in journal_rows(journal, "SELECT DISTINCT resource FROM step")}


def install_intents(journal: Path) -> set[str]:
    return {
        row[0]
        for row in journal_rows(
            journal, "SELECT resource FROM step WHERE action = 'install' AND intent_at IS NOT NULL"
        )
    }


def installs_in_flight(journal: Path) -> int:
    rows = journal_rows(
        journal,
        "SELECT count(*) FROM step WHERE action = 'install' AND intent_at IS NOT NULL "
        "AND outcome IS NULL",
    )
    return int(rows[0][0]) if rows else 0


def freeze_when(process: subprocess.Popen[str], condition: Callable[[], bool]) -> None:
    """Stop the process (SIGSTOP) as soon as ``condition`` holds, while it runs."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert process.poll() is None, "the run ended before the case could begin"
        assert time.monotonic() < deadline, "the case's condition never held"
        time.sleep(0.01)
    process.send_signal(signal.SIGSTOP)


def mid_install(journal: Path) -> Callable[[], bool]:
    """Some machines concluded and installs in flight: a run in the middle of its work."""
    return lambda: len(touched(journal)) >= 6 and installs_in_flight(journal) > 0


def quiet(stderr: str) -> None:
    for noise in NOISE:
        assert noise not in stderr, stderr


def as_the_truth_says(emu: Emulator, report: dict[str, Any]) -> None:
    truth = emu.truth()
    assert len(report["machines"]) == len(truth)
    wrong = [
        (m["resource"], truth[m["resource"].lower()].full_run_outcome, m["outcome"], m["code"])
        for m in report["machines"]
        if truth[m["resource"].lower()].full_run_outcome != m["outcome"]
    ]
    assert wrong == []


def installed(emu: Emulator) -> set[str]:
    return {rid.lower() for rid in emu.install_history()}


# --- one writer per journal ---------------------------------------------------------------


def test_a_second_run_on_a_held_journal_is_refused_naming_the_holder_and_sends_nothing(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "run.sqlite"
    # The second run talks to an Azure of its own, the same fleet (so that, were it let in,
    # it would run there): whatever it sent is in that one's log, and a request the frozen
    # holder wrote just before it stopped cannot be taken for one of its.
    with served() as emu, served() as other:
        holder = start(command(emu, journal))
        freeze_when(holder, mid_install(journal))
        try:
            code, report, stderr = finish(command(other, journal))
            sent = len(other.requests())
            # a report of the run, read while it holds the journal
            rebuilt = subprocess.run(
                [sys.executable, "-m", "azhotpatch", "-o", "json", "report", "--journal",
                 str(journal)],
                capture_output=True, text=True, timeout=WAIT, check=False,
            )  # fmt: skip
        finally:
            holder.send_signal(signal.SIGCONT)
        first_code, first, first_stderr = ended(holder)
        history = emu.install_history()

        assert (code, sent, report) == (ExitCode.BUSY, 0, {})
        assert f"pid {holder.pid} on host " in stderr
        assert "--journal" in stderr  # the holder's command
        assert "Fix: wait for that run to end" in stderr
        quiet(stderr)
        assert rebuilt.returncode == ExitCode.FAILED, rebuilt.stderr  # machines unfinished
        assert json.loads(rebuilt.stdout)["unfinished"]
        assert first_code in (ExitCode.SUCCEEDED, ExitCode.SKIPPED, ExitCode.FAILED), first_stderr
        as_the_truth_says(emu, first)
        assert all(len(runs) == 1 for runs in history.values())
        assert not Path(f"{journal}.lock").exists()  # released with the run


def holder_of(journal: Path) -> int | None:
    """The pid the journal's lock file names (None while no run has written it)."""
    try:
        return int(json.loads(Path(f"{journal}.lock").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def test_two_runs_started_together_on_one_journal_install_nothing_twice(tmp_path: Path) -> None:
    """Whichever takes the lock first is frozen while it holds it, so the other surely meets
    it (however the machine's load spaces their starts), and is then let go on."""
    journal = tmp_path / "run.sqlite"
    with served() as emu:
        runs = {run.pid: run for run in (start(command(emu, journal)) for _ in range(2))}
        deadline = time.monotonic() + WAIT
        while (pid := holder_of(journal)) not in runs:
            assert time.monotonic() < deadline, "no run took the journal"
            time.sleep(0.005)
        assert pid is not None
        holder = runs.pop(pid)
        holder.send_signal(signal.SIGSTOP)
        (other,) = runs.values()
        try:
            refused_code, refused_report, refused_stderr = ended(other)
        finally:
            holder.send_signal(signal.SIGCONT)
        code, report, stderr = ended(holder)
        history = emu.install_history()

        assert (refused_code, refused_report) == (ExitCode.BUSY, {}), refused_stderr
        assert f"pid {holder.pid} on host " in refused_stderr
        quiet(refused_stderr)
        assert code in (ExitCode.SUCCEEDED, ExitCode.SKIPPED, ExitCode.FAILED), stderr
        assert report["resumed"] is False
        as_the_truth_says(emu, report)
    assert history
    assert all(len(runs) == 1 for runs in history.values()), "an install ran twice"


# --- storage ------------------------------------------------------------------------------


def test_a_journal_whose_directory_is_removed_stops_the_run_before_more_machines_start(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "journals"
    folder.mkdir()
    journal = folder / "run.sqlite"
    with served() as emu:
        run = start(command(emu, journal))
        freeze_when(run, mid_install(journal))
        begun, intended = touched(journal), install_intents(journal)
        shutil.rmtree(folder)
        seen = len(emu.requests())
        run.send_signal(signal.SIGCONT)
        code, report, stderr = ended(run)
        after = emu.requests()[seen:]
        history = installed(emu)

    assert code == ExitCode.STORAGE, stderr
    quiet(stderr)
    assert str(journal) in stderr
    assert "the journal was deleted, moved or replaced" in stderr
    assert "Azure's own state guards a rerun" in stderr
    assert stderr.count("\n") == 1  # one line, no traceback
    # no machine was started after the journal vanished, and no install was sent that the
    # journal had not recorded first
    reached = {r.target for r in after if r.target and "/providers/" in r.target}
    assert reached <= begun
    assert history <= intended
    stopped = [m for m in report["machines"] if m["code"] == "JournalUnwritable"]
    assert stopped  # the machines not begun, each with the journal's error
    assert len(report["machines"]) == len(emu.truth())


def _file_size_limit(limit: int) -> Callable[[], None]:
    """In the child, before it runs azhotpatch: files it writes may grow to ``limit`` bytes
    (Python ignores SIGXFSZ, so a write past it fails with EFBIG, as on a full disk)."""

    def limited() -> None:
        import resource  # POSIX only

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limited


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_journal_that_fills_up_stops_the_run_and_a_resume_installs_nothing_twice(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "run.sqlite"
    with served() as emu:
        code, report, stderr = ended(
            start(command(emu, journal), preexec_fn=_file_size_limit(160 * 1024))
        )
        sent_before_it_filled = installed(emu)
        recorded = install_intents(journal)  # the journal is whole: SQLite rolled back
        again, resumed, again_stderr = finish(command(emu, journal))
        history = emu.install_history()

    assert code == ExitCode.STORAGE, stderr
    quiet(stderr)
    assert str(journal) in stderr
    assert "could not be written" in stderr
    assert "Fix: free space on the journal's disk" in stderr
    assert any(m["code"] == "JournalUnwritable" for m in report["machines"])
    assert sent_before_it_filled <= recorded  # nothing was sent that it had not recorded
    assert again in (ExitCode.SUCCEEDED, ExitCode.SKIPPED, ExitCode.FAILED), again_stderr
    assert resumed["resumed"] is True
    as_the_truth_says(emu, resumed)
    assert all(len(runs) == 1 for runs in history.values()), "an install ran twice"


# --- signals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "exit_code"),
    [(signal.SIGINT, ExitCode.INTERRUPTED), (signal.SIGTERM, ExitCode.TERMINATED)],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_stops_the_run_gracefully_and_a_resume_installs_nothing_twice(
    tmp_path: Path, stop: signal.Signals, exit_code: ExitCode
) -> None:
    journal = tmp_path / "run.sqlite"
    # installs of 40 Azure minutes (2 s here): those in flight when the signal comes are
    # still running when the run has stopped
    with served(Durations(install=2400.0)) as emu:
        run = start(command(emu, journal))
        freeze_when(run, mid_install(journal))
        run.send_signal(signal.SIGCONT)
        run.send_signal(stop)  # the installs in flight take a second more
        code, report, stderr = ended(run)
        sent = installed(emu)
        recorded = install_intents(journal)
        in_flight = installs_in_flight(journal)
        whole = journal_rows(journal, "PRAGMA integrity_check")
        sessions = journal_rows(journal, "SELECT count(*) FROM session WHERE ended > started")
        released = not Path(f"{journal}.lock").exists()
        again, resumed, again_stderr = finish(command(emu, journal))
        history = emu.install_history()

    assert code == exit_code, stderr
    assert report == {}
    assert stderr.strip() == stderr.strip().splitlines()[0]  # one line
    assert stderr.startswith(f"stopped by {stop.name}: no machine was started after it")
    assert "Fix: run the same command again to resume" in stderr
    quiet(stderr)
    assert sent <= recorded  # every install sent is recorded
    assert in_flight > 0  # some were cut short, to be re-attached by the resume
    assert whole == [("ok",)]  # nothing half written
    assert sessions == [(1,)]  # the run's record was written as it stopped
    assert released
    assert again in (ExitCode.SUCCEEDED, ExitCode.SKIPPED, ExitCode.FAILED), again_stderr
    assert resumed["resumed"] is True
    as_the_truth_says(emu, resumed)
    assert all(len(runs) == 1 for runs in history.values()), "an install ran twice"
