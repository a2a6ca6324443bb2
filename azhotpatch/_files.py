"""Files azhotpatch writes for people (a run's HTML report, an emulator's CA bundle): whole or
not at all, and never through something that is not a regular file.

A file is written under a temporary name in the same directory (so the rename cannot cross
file systems), flushed to disk, and renamed onto its path (``os.replace``): a reader, or a
crash, never sees half a file. The temporary file is created new (``O_EXCL``, not through a
symbolic link) with the permissions of any new file (0666 less the umask). A path that
exists and is not a regular file (a directory, a FIFO, a device such as ``/dev/null``, a
socket, a symbolic link) is refused before anything is written: a rename would replace a
device node or a link with a file, and run as root that damages the host. The run journal is
made the same way (`azhotpatch.fleet.journal`); SQLite writes it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from azhotpatch import _validation
from azhotpatch.errors import StorageError

__all__ = ["write_atomically"]


def write_atomically(path: str | os.PathLike[str], data: bytes, *, argument: str) -> Path:
    """Write ``data`` to ``path`` whole or not at all; ``argument`` names the path in the
    error when it is refused (`InvalidArgumentError`). A write that fails (disk full, I/O
    error) raises `StorageError` and leaves what was at the path untouched."""
    target = _validation.output_file(path, argument, Path(str(path)).name or "file")
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    flags = (
        os.O_WRONLY
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_BINARY", 0)
    )
    try:
        with os.fdopen(os.open(temporary, flags, 0o666), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise StorageError(
            f"could not be written ({error.strerror or error}); what was at that path is unchanged",
            resource=str(target),
            fix="free space on its disk (or lift the file size limit), or choose a path on "
            "another disk, then write it again",
        ) from None
    return target
