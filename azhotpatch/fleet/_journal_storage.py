"""The journal's file and what happens when it fails: the base of
`azhotpatch.fleet.journal.Journal` that holds the SQLite connection and its lock, writes
through it, and notices a journal that vanished or could not be written.

A write that guards a request (an intent) is refused once the journal cannot be relied on,
so the request is not sent; a write of what happened (a token, an outcome, the run's
record) is made where it still can be and never raises. The first fault is remembered as
``failure``, in words that say what happened and the fix (a full disk, a file size limit,
an I/O error, a file deleted, moved or replaced under the run).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

from azhotpatch.errors import Fix, JournalError, JournalStorageError
from azhotpatch.fleet._lock import JournalLock

__all__ = ["JournalStorage"]


class JournalStorage:
    """A journal's connection, lock and storage faults (see the module docstring)."""

    path: Path
    failure: JournalStorageError | None
    _db: sqlite3.Connection
    _lock: JournalLock | None
    _inode: tuple[int, int] | None  # (device, inode) of the file written

    def _error(self, problem: str, fix: str | Fix | None = None) -> JournalError:
        return JournalError(
            problem,
            resource=str(self.path),
            fix=fix
            or "check that the path is this run's journal and that its disk works; a journal "
            "that holds steps records what was sent, so keep it (start with a new journal "
            "path, or resume with this one once it opens)",
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
