"""Writing our files so that no reader and no crash ever sees half of one.

Every file the proxy (and the dev tools) writes goes through `write_atomic`: the new content is
written to a temp file in the same folder, fsynced, renamed over the old name, and the folder is
fsynced so the rename itself survives a power loss. A reader sees the old file or the new one;
a failed write (a full disk) leaves the old file as it was and no temp file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(
    path: Path, data: bytes | str, *, mode: int | None = None, durable: bool = True
) -> None:
    """Replace `path` with `data` (str is UTF-8); blocking, so call it off the event loop.

    `mode` defaults to the replaced file's permission bits, or 0o600 for a new file; the
    replaced file's owner is kept when we may (root writing a service user's file). `durable`
    False skips both fsyncs, for files that are cheap to lose but must never be torn.
    """
    raw = data.encode() if isinstance(data, str) else data
    old = _stat(path)
    # A hidden name: folder listings and config watchers skip it until the rename.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        _write_all(fd, raw)
        if durable:
            os.fsync(fd)
        os.fchmod(fd, mode if mode is not None else (old.st_mode & 0o777 if old else 0o600))
        if old is not None and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
            with contextlib.suppress(PermissionError):
                os.fchown(fd, old.st_uid, old.st_gid)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _write_all(fd: int, raw: bytes) -> None:
    view = memoryview(raw)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(directory: Path) -> None:
    """Make created, renamed or removed names in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
