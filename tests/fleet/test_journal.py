"""Issue acceptance: a journal belongs to what its run was asked, and is refused, naming the
difference, before any request is sent; a rerun with ``retry_failed`` attempts only the
failed machines again, reading Azure's state first, and never sends again what succeeded
or an install Azure may have received."""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from azhotpatch import Hotpatch
from azhotpatch.errors import InvalidArgumentError, JournalBusyError, JournalError
from azhotpatch.fleet._history import read_report
from azhotpatch.fleet._lock import Holder
from azhotpatch.fleet.inventory import InventoryFilter
from azhotpatch.fleet.journal import SCHEMA, SCHEMA_VERSION, Journal, RunIdentity
from azhotpatch.fleet.plan import parse_actions
from azhotpatch.models import InstallOptions
from azhotpatch.testing import Emulator, FaultRule, Faults, FleetSpec

SPEC = FleetSpec(vms=6, arc=2, subscriptions=2, mix="clean", seed=21)
ACTIONS = ("enable", "assess", "install")


def _first_run(emu: Emulator, client: Hotpatch, journal: Path) -> list[str]:
    subs = sorted(emu.world.subscriptions)
    client.run(subscriptions=[subs[0]], journal=journal)
    return subs


MISMATCHES: dict[str, Callable[[list[str]], dict[str, Any]]] = {
    "another subscription": lambda subs: {"subscriptions": [subs[1]]},
    "more subscriptions": lambda subs: {"subscriptions": subs},
    "a tag filter added": lambda subs: {"subscriptions": [subs[0]], "tags": {"env": "prod"}},
    "exact machines instead": lambda subs: {
        "machines": [
            "/subscriptions/"
            + subs[0]
            + "/resourceGroups/rg-fleet-01/providers/Microsoft.Compute/virtualMachines/vm-00000"
        ]
    },
    "other actions": lambda subs: {"subscriptions": [subs[0]], "actions": ["enable", "assess"]},
    "other classifications": lambda subs: {
        "subscriptions": [subs[0]],
        "install": InstallOptions.build(classifications=["Critical", "Security", "Definition"]),
    },
    "another reboot setting": lambda subs: {
        "subscriptions": [subs[0]],
        "install": InstallOptions.build(reboot="Never"),
    },
}
NAMED = {
    "another subscription": "subscriptions",
    "more subscriptions": "subscriptions",
    "a tag filter added": "tags",
    "exact machines instead": "machines",
    "other actions": "actions",
    "other classifications": "install",
    "another reboot setting": "install",
}


@pytest.mark.parametrize("mismatch", sorted(MISMATCHES))
def test_a_journal_is_refused_for_another_run_before_any_request(
    tmp_path: Path, mismatch: str
) -> None:
    journal = tmp_path / "run.sqlite"
    with Emulator(fleet=SPEC, seed=21, time_scale=1200) as emu, emu.client() as client:
        subs = _first_run(emu, client, journal)
        before = len(emu.requests())
        with pytest.raises(JournalError) as refused:
            client.run(journal=journal, **MISMATCHES[mismatch](subs))
        assert len(emu.requests()) == before  # nothing was sent
    message = str(refused.value)
    assert "belongs to another run" in message
    assert NAMED[mismatch] in message
    assert "Fix:" in message


def test_the_same_run_resumes_however_its_filter_is_spelled(tmp_path: Path) -> None:
    journal = tmp_path / "run.sqlite"
    with Emulator(fleet=SPEC, seed=21, time_scale=1200) as emu, emu.client() as client:
        subs = _first_run(emu, client, journal)
        again = client.run(subscriptions=[subs[0].upper()], journal=journal)
    assert again.resumed


def _journal_file(path: Path, make: Callable[[Path], None]) -> Path:
    make(path)
    return path


def _other_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER, amount REAL)")
        db.execute("INSERT INTO invoices VALUES (1, 9.5)")


def _newer_schema(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE run (id INTEGER PRIMARY KEY, created REAL, fingerprint TEXT, "
            "asked TEXT, version INTEGER)"
        )
        db.execute("CREATE TABLE step (resource TEXT, action TEXT)")
        db.execute("INSERT INTO run VALUES (1, 0, 'x', '{}', ?)", (SCHEMA_VERSION + 1,))


def _older_schema(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE run (id INTEGER PRIMARY KEY, created REAL, actions TEXT, "
            "options TEXT, version INTEGER)"
        )
        db.execute("CREATE TABLE step (resource TEXT, action TEXT)")
        db.execute("INSERT INTO run VALUES (1, 0, '[]', '{}', 1)")


BROKEN: dict[str, tuple[Callable[[Path], None], str]] = {
    "another application's database": (_other_sqlite, "not an azhotpatch journal"),
    "a newer schema": (_newer_schema, "newer azhotpatch"),
    "an older schema": (_older_schema, "older azhotpatch"),
    # found by the check of every argument, before the journal is opened
    "not a database": (lambda p: p.write_text("hello, not sqlite"), "not an SQLite database"),
    "a directory": (lambda p: p.mkdir(), "is a directory"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_file_that_is_not_this_version_s_journal_is_refused_untouched(
    tmp_path: Path, kind: str
) -> None:
    make, said = BROKEN[kind]
    path = _journal_file(tmp_path / "run.sqlite", make)
    before = sorted(p.name for p in tmp_path.iterdir())
    snapshot = path.read_bytes() if path.is_file() else None
    with Emulator(fleet=SPEC, seed=21, time_scale=1200) as emu, emu.client() as client:
        with pytest.raises((JournalError, InvalidArgumentError), match=said):
            client.run(subscriptions=sorted(emu.world.subscriptions), journal=path)
        assert emu.requests() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if snapshot is not None:
        assert path.read_bytes() == snapshot


# --- retrying failed machines ---------------------------------------------------------------


def test_retry_failed_attempts_only_the_failed_machines_and_never_resends_what_azure_received(
    tmp_path: Path,
) -> None:
    """Three machines fail three ways: an install never received (every POST answered 500),
    an install received and done while its status could not be read (every poll reset),
    and an install Azure ran and failed. A plain rerun changes nothing; with the faults gone,
    ``retry_failed`` sends the first once, attaches to the second, and sends the third again
    (Azure's own attempt failed); machines that succeeded are not touched."""
    journal = tmp_path / "run.sqlite"
    with Emulator(fleet=SPEC, seed=21, time_scale=1200) as emu, emu.client() as client:
        subs = sorted(emu.world.subscriptions)
        vms = [v.id for v in emu.fleet.vms]  # type: ignore[union-attr]
        never_received, unread, failed_in_azure = vms[:3]
        emu.set_faults(
            Faults.aimed(
                FaultRule("internal_error", "vm.installPatches", scope=never_received, at="every"),
                FaultRule("reset", "compute.operation", "installPatches", scope=unread, at="every"),
                FaultRule("lro_failure", operation="installPatches", scope=failed_in_azure),
            )
        )
        first = client.run(subscriptions=subs, journal=journal)
        failed = {m.resource.lower(): m.code for m in first.machines if m.code}
        assert failed == {
            never_received.lower(): "AmbiguousOperation",
            unread.lower(): "AzureUnavailable",
            failed_in_azure.lower(): "OperationFailed",
        }
        plain = client.run(subscriptions=subs, journal=journal)
        assert plain.outcomes() == first.outcomes()

        emu.set_faults(None)
        before = len(emu.requests())
        retried = client.run(subscriptions=subs, journal=journal, retry_failed=True)
        touched = {r.target for r in emu.requests()[before:] if r.target and "/" in r.target[15:]}
        installs = {k: len(v) for k, v in emu.install_history().items()}
    assert retried.counts == {"succeeded": 8}
    assert {t.split("/providers/")[0] for t in touched} <= {
        m.lower().split("/providers/")[0] for m in (never_received, unread, failed_in_azure)
    }
    assert installs[never_received.lower()] == 1  # never received before: sent once
    assert installs[unread.lower()] == 1  # received and done: attached, not sent again
    assert installs[failed_in_azure.lower()] == 2  # Azure's attempt failed: sent again
    assert all(n == 1 for k, n in installs.items() if k not in {failed_in_azure.lower()})


def test_retry_failed_needs_a_journal() -> None:
    with Emulator(fleet=SPEC, seed=21, time_scale=1200) as emu, emu.client() as client:
        with pytest.raises(InvalidArgumentError, match="retry_failed"):
            client.run(subscriptions=sorted(emu.world.subscriptions), retry_failed=True)
        assert emu.requests() == []


# --- cut short at creation; never "delete" a journal that holds steps ----------------------


def _cut_short(path: Path) -> None:
    """What an older azhotpatch left when killed while creating a journal: its tables, and
    no record of its run (nor any step)."""
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)


def test_a_journal_cut_short_at_creation_is_recognised_and_nothing_is_sent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.sqlite"
    _cut_short(path)
    snapshot = path.read_bytes()
    with Emulator(fleet=SPEC, seed=21, time_scale=1200) as emu, emu.client() as client:
        with pytest.raises(JournalError) as refused:
            client.run(subscriptions=sorted(emu.world.subscriptions), journal=path)
        with pytest.raises(JournalError) as unreadable:
            read_report(path)
        assert emu.requests() == []
    for error in (refused.value, unreadable.value):
        assert "cut short while being created" in str(error)
        assert "nothing was sent under it" in str(error)
    assert path.read_bytes() == snapshot


def _damaged(path: Path) -> None:
    """A journal holding steps whose pages were overwritten (a failing disk)."""
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xff" * 4096
    path.write_bytes(bytes(data))


def test_no_message_about_a_journal_that_holds_steps_suggests_deleting_it(
    tmp_path: Path,
) -> None:
    with Emulator(fleet=SPEC, seed=21, time_scale=1200) as emu, emu.client() as client:
        subs = sorted(emu.world.subscriptions)
        messages = []
        for name, spoil in (("other-run", None), ("newer", "newer"), ("damaged", "damaged")):
            path = tmp_path / f"{name}.sqlite"
            client.run(subscriptions=[subs[0]], actions=["assess"], journal=path)
            if spoil == "newer":
                with sqlite3.connect(path) as db:
                    db.execute("UPDATE run SET version = ?", (SCHEMA_VERSION + 1,))
            if spoil == "damaged":
                _damaged(path)
            with pytest.raises(JournalError) as refused:
                client.run(subscriptions=subs, journal=path)
            messages.append(str(refused.value))
    assert len(messages) == 3
    for message in messages:
        assert "delet" not in message.lower(), message
        assert "remov" not in message.lower(), message
        assert "Fix:" in message


# --- one writer per journal (in one process: the lock is per open file) --------------------


def test_a_held_journal_is_refused_naming_its_holder_before_any_request(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with Emulator(fleet=SPEC, seed=21, time_scale=1200) as emu, emu.client() as client:
        subs = sorted(emu.world.subscriptions)
        identity = RunIdentity.of(
            InventoryFilter(subscriptions=tuple(subs)), parse_actions(ACTIONS), InstallOptions()
        )
        holder = Journal(path, identity)
        try:
            with pytest.raises(JournalBusyError) as refused:
                client.run(subscriptions=subs, journal=path)
            assert emu.requests() == []
            assert read_report(path).machines == ()  # a report reads it meanwhile
        finally:
            holder.close()
        client.run(subscriptions=subs, journal=path)  # once it is let go, the run goes on
    message = str(refused.value)
    assert f"pid {os.getpid()} on host {socket.gethostname()}" in message
    assert "Fix: wait for that run to end" in message
    assert not (tmp_path / "run.sqlite.lock").exists()


def test_a_lock_left_by_a_run_that_died_never_blocks(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    dead = Holder("elsewhere", 999_999, "2026-01-13T02:00:00+00:00", "azhotpatch run")
    (tmp_path / "run.sqlite.lock").write_bytes(dead.encode())  # and no process holds it
    with Emulator(fleet=SPEC, seed=21, time_scale=1200) as emu, emu.client() as client:
        report = client.run(subscriptions=sorted(emu.world.subscriptions), journal=path)
    assert len(report.machines) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.sqlite"]
