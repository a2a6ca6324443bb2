"""Every file azhotpatch writes (the HTML report, the journal, an emulator's CA bundle) goes
to a temporary file in the same directory, renamed into place, with the permissions of any
new file; a path that exists and is not a regular file (a FIFO, a symbolic link, a directory,
a device such as /dev/null) is refused with exit 64 before any request, and left as it was."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from azhotpatch.errors import InvalidArgumentError
from azhotpatch.fleet._history import read_report
from azhotpatch.fleet.report import ExitCode
from azhotpatch.testing import Emulator
from tests.contract.conftest import SUB, invoke, target

DEVICE = "/dev/null"  # a character device every POSIX host has (see `_device`)


def _fifo(folder: Path) -> Path:
    path = folder / "pipe.html"
    os.mkfifo(path)
    return path


def _symlink(folder: Path) -> Path:
    (folder / "elsewhere.html").write_text("someone else's file\n")
    path = folder / "link.html"
    path.symlink_to(folder / "elsewhere.html")
    return path


def _dangling(folder: Path) -> Path:
    path = folder / "dangling.html"
    path.symlink_to(folder / "nothing-here.html")
    return path


def _directory(folder: Path) -> Path:
    path = folder / "folder.html"
    path.mkdir()
    return path


def _device(folder: Path) -> Path:
    """A character device like /dev/null. As root, one of our own (mknod): were the guard
    missing, the test must fail without replacing the host's /dev/null. Others cannot make
    one, nor replace /dev/null, so theirs is safe to aim at."""
    if os.geteuid() != 0:
        return Path(DEVICE)
    path = folder / "null"
    null = os.stat(DEVICE)
    os.mknod(path, stat.S_IFCHR | 0o666, null.st_rdev)
    return path


KINDS: dict[str, Callable[[Path], Path]] = {
    "a FIFO": _fifo,
    "a symbolic link": _symlink,
    "a dangling symbolic link": _dangling,
    "a directory": _directory,
    "a device": _device,
}
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/null are POSIX")


def _state(path: Path) -> tuple[object, ...]:
    """What is at a path, as far as writing to it could change it."""
    found = os.lstat(path)
    target = path.resolve()
    content = target.read_bytes() if target.is_file() else None
    return (stat.S_IFMT(found.st_mode), found.st_ino, found.st_rdev, content)


@pytest.fixture(scope="module")
def journal(world: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run's journal, for report --journal."""
    path = tmp_path_factory.mktemp("recorded") / "run.sqlite"
    with world.client() as client:
        client.run(subscriptions=[SUB], actions=["assess"], journal=path)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "run --html": lambda path, journal: [
        "run", "--subscription", SUB, "--actions", "assess", "--html", str(path),
    ],
    "report --journal --html": lambda path, journal: [
        "report", "--journal", str(journal), "--html", str(path),
    ],
    "status --html": lambda path, journal: [
        "status", "--subscription", SUB, "--html", str(path),
    ],
    "run --journal": lambda path, journal: [
        "run", "--subscription", SUB, "--actions", "assess", "--journal", str(path),
    ],
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_command_line_refuses_a_path_that_is_not_a_regular_file(
    world: Emulator, journal: Path, folder: Path, kind: str, command: str
) -> None:
    path = KINDS[kind](folder)
    before = _state(path)
    ran = invoke([*target(world), *COMMANDS[command](path, journal)], world)
    assert (ran.code, ran.sent, ran.traceback) == (ExitCode.USAGE, 0, False), ran
    assert "not a regular file" in ran.stderr or "is a directory" in ran.stderr, ran.stderr
    assert _state(path) == before


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_api_refuses_it_before_any_request_and_the_report_will_not_write_through_it(
    world: Emulator, journal: Path, folder: Path, kind: str
) -> None:
    path = KINDS[kind](folder)
    before = _state(path)
    sent = len(world.requests())
    with world.client() as client, pytest.raises(InvalidArgumentError, match="report_html"):
        client.run(subscriptions=[SUB], actions=["assess"], report_html=path)
    with pytest.raises(InvalidArgumentError):
        read_report(journal).write_html(path)
    assert len(world.requests()) == sent
    assert _state(path) == before


def test_an_emulator_will_not_write_its_ca_bundle_through_a_fifo(folder: Path) -> None:
    path = _fifo(folder)
    before = _state(path)
    with pytest.raises(InvalidArgumentError, match="FIFO"):
        Emulator(ca_path=path).start()
    assert _state(path) == before


def test_a_report_replaces_a_regular_file_whole_with_a_new_file_s_permissions(
    journal: Path, folder: Path
) -> None:
    path = folder / "report.html"
    path.write_text("an older page\n")
    path.chmod(0o600)
    read_report(journal).write_html(path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_python_m_azhotpatch_testing_refuses_a_ca_path_that_is_a_fifo(folder: Path) -> None:
    path = _fifo(folder)
    done = subprocess.run(  # accepted, it would serve until stopped: the timeout says so
        [sys.executable, "-m", "azhotpatch.testing", "--port", "0", "--ca-path", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "FIFO" in done.stderr
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
