"""One writer per journal: an exclusive lock a run holds for its whole life.

Two runs writing one journal would each read "not sent yet" for the same machine and each
send its install, so the second run is refused before its first request, with a message
that names the run holding the journal (host, pid, start time, command) and what to do.

The lock is the operating system's (``flock`` on POSIX, ``msvcrt.locking`` on Windows), on
a file beside the journal (``run.sqlite.lock``) that also holds the holder's identity for
that message. The kernel releases it when the holder's process ends, however it ends
(``kill -9`` included), so a lock left by a dead run never blocks the next one: what stays
behind is a file whose name is not locked. The journal itself is not locked this way:
SQLite takes its own POSIX locks on it, and a report (``azhotpatch report --journal``)
reads it while its run goes on.

What the lock does not cover:

* network file systems (NFS, SMB): whether ``flock`` excludes a process on another host
  depends on the server and the mount; keep a journal on a local disk;
* the same journal reached by another name (a hard link, a copy, a bind mount): the lock
  file is beside the name the run was given (symbolic links in the directory are resolved;
  a journal path that is itself a symbolic link is refused as an output path);
* two runs with different journals over the same machines: Azure's own state guards those
  (a run reads what Azure records for a machine before sending it an install);
* someone deleting the lock file while a run holds it: the next run makes a new one and
  locks that.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import shlex
import socket
import stat
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from azhotpatch.errors import (
    HotpatchError,
    InvalidArgumentError,
    JournalBusyError,
    JournalError,
    JournalStorageError,
)

__all__ = ["Holder", "JournalLock", "lock_path"]

LOCK_SUFFIX = ".lock"
_IDENTITY_BYTES = 4096  # at most this much of a holder's identity is read back
_COMMAND_CHARS = 300  # a holder's command line, cut to this length in messages
# Windows locks byte ranges, and a locked range cannot be read by another process: the
# byte locked is far past the identity, which stays readable.
_WINDOWS_LOCKED_BYTE = 1 << 20
_ATTEMPTS = 5  # a lock file replaced between opening and locking it is opened again


@dataclass(frozen=True)
class Holder:
    """The run that holds a journal, as it wrote itself into the lock file."""

    host: str
    pid: int
    started: str  # ISO 8601, UTC
    command: str

    @classmethod
    def this_process(cls) -> Holder:
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return cls(socket.gethostname(), os.getpid(), started, _command())

    def describe(self) -> str:
        what = f"pid {self.pid} on host {self.host or '?'}, since {self.started or '?'}"
        return f"{what} ({self.command})" if self.command else what

    def encode(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> Holder | None:
        try:
            found = json.loads(data.decode())
            return cls(
                str(found["host"]), int(found["pid"]), str(found["started"]), str(found["command"])
            )
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None


def lock_path(journal: Path) -> Path:
    """The lock file of a journal: beside it, in its directory with symbolic links resolved
    (two spellings of one directory share one lock)."""
    return journal.parent.resolve() / (journal.name + LOCK_SUFFIX)


class JournalLock:
    """The lock, held from `acquire` until `release`."""

    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self._descriptor: int | None = descriptor

    @classmethod
    def acquire(cls, journal: Path) -> JournalLock:
        """Take the journal's lock, or raise `JournalBusyError` naming its holder."""
        path = lock_path(journal)
        for _ in range(_ATTEMPTS):
            descriptor = _open(path, journal)
            try:
                taken = _try_lock(descriptor)
                if taken and _still_at(descriptor, path):
                    _write_identity(descriptor, Holder.this_process())
                    return cls(path, descriptor)
                holder = None if taken else Holder.decode(_read(descriptor))
            except OSError as error:
                os.close(descriptor)
                raise _cannot_lock(journal, path, error) from None
            os.close(descriptor)
            if not taken:
                raise _busy(journal, holder)
        # the lock file kept being replaced under us: another run is taking it right now
        raise _busy(journal, None)

    def release(self) -> None:
        """Remove the lock file, then let go of the lock. Removing it first is what makes
        `acquire`'s check sound: a run that locks a file no longer at the path opens the
        path again rather than hold a lock nobody else can see."""
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is None:
            return
        if sys.platform != "win32" and _still_at(descriptor, self.path):
            _remove(self.path)
        os.close(descriptor)  # the kernel releases the lock with the last descriptor
        if sys.platform == "win32":
            _remove(self.path)


def _open(path: Path, journal: Path) -> int:
    """The lock file, opened for writing without following a symbolic link planted at its
    name (nor writing into a FIFO or a device there)."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags, 0o666)
    except OSError as error:
        raise InvalidArgumentError(
            "journal",
            f"cannot open its lock file {str(path)!r} ({error.strerror or error})",
            fix=f"check that {path.name} beside the journal is a regular file this user can "
            f"write (a symbolic link there is refused), or pass another journal path than "
            f"{str(journal)!r}",
        ) from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise InvalidArgumentError(
            "journal",
            f"its lock file {str(path)!r} exists and is not a regular file",
            fix="remove what is at that path, or pass another journal path",
        )
    return descriptor


def _try_lock(descriptor: int) -> bool:
    """True when this process now holds the lock; False when another one does."""
    if sys.platform == "win32":
        import msvcrt

        os.lseek(descriptor, _WINDOWS_LOCKED_BYTE, os.SEEK_SET)
        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _still_at(descriptor: int, path: Path) -> bool:
    """Whether the open lock file is still the file at ``path`` (a releasing holder removes
    it; a new run then makes another)."""
    try:
        at_path = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    mine = os.fstat(descriptor)
    return (at_path.st_dev, at_path.st_ino) == (mine.st_dev, mine.st_ino)


def _write_identity(descriptor: int, holder: Holder) -> None:
    data = holder.encode()
    os.ftruncate(descriptor, 0)
    os.lseek(descriptor, 0, os.SEEK_SET)
    os.write(descriptor, data)


def _read(descriptor: int) -> bytes:
    os.lseek(descriptor, 0, os.SEEK_SET)
    return os.read(descriptor, _IDENTITY_BYTES)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):  # gone with its directory, or not ours to remove
        path.unlink()


def _cannot_lock(journal: Path, path: Path, error: OSError) -> HotpatchError:
    """The lock could not be taken or its holder's name not written; nothing was sent."""
    said = f"cannot lock the journal ({path.name}: {error.strerror or error}); nothing was sent."
    if error.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO):
        return JournalStorageError(
            said,
            resource=str(journal),
            fix="free space on the journal's disk (or fix the disk), then run again",
        )
    return JournalError(
        said,
        resource=str(journal),
        fix="keep the journal on a local disk (a network file system may offer no locks) "
        "in a directory this user can write, then run again",
    )


def _busy(journal: Path, holder: Holder | None) -> JournalBusyError:
    who = holder.describe() if holder else "another process (it has not written its name yet)"
    stop = (
        f"stop it gracefully with `kill -TERM {holder.pid}` on {holder.host or 'its host'}"
        if holder
        else "stop it gracefully (SIGTERM)"
    )
    return JournalBusyError(
        f"the journal is in use by another run: {who}. Two runs on one journal could each "
        "send the same install, so this run sent nothing.",
        resource=str(journal),
        fix=f"wait for that run to end (or {stop}), then run this command again: it resumes "
        "from the journal; to run at the same time, give this run another journal and "
        "other machines",
    )


def _command() -> str:
    """This process's command line when it is azhotpatch's own (a script's arguments are
    its business, and may hold anything): the program's name otherwise."""
    arguments = list(sys.argv) or ["python"]
    program = Path(arguments[0]).name
    if program in ("azhotpatch", "__main__.py"):
        text = shlex.join(["azhotpatch", *arguments[1:]])
    else:
        text = program
    return text if len(text) <= _COMMAND_CHARS else text[: _COMMAND_CHARS - 3] + "..."
