"""Every worker's outbox, readable and ackable from any worker (docs/workers.md).

With `workers:` > 1 the collector's request lands on whichever worker the kernel picks, so
each worker serves every outbox under the usage folder: its own through its `Outbox`, the
others' straight from their files (read-only; a line still being written is not complete, so
the reader stops before it). Only an outbox's owner ever deletes or rewrites its files: an ack
for another worker's outbox is recorded in that outbox's `ack-request` file (under an flock,
keeping the highest value), and the owner applies it within `ACK_POLL_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
import uuid
from pathlib import Path

import structlog

from ..config.files import write_atomic
from ..workers import WORKER_DIR_PREFIX
from . import segments
from .outbox import Outbox

log = structlog.get_logger(__name__)

ACK_REQUEST_FILE = "ack-request"
ACK_LOCK_FILE = "ack-request.lock"
ACK_POLL_S = 0.2
RESCAN_S = 2.0  # how often the list of outboxes is looked up again (a worker's first start)
_HINTS_KEPT = 64


def read_instance_id(directory: Path) -> str | None:
    """The instance id of an outbox folder, without creating one (None: not an outbox)."""
    try:
        return str(uuid.UUID((directory / segments.INSTANCE_FILE).read_text().strip()))
    except (OSError, ValueError):
        return None


def outbox_folders(base: Path) -> dict[str, Path]:
    """instance id -> folder, for the usage folder itself and every `worker-N` under it."""
    candidates = [base, *sorted(base.glob(f"{WORKER_DIR_PREFIX}*"))]
    found: dict[str, Path] = {}
    for folder in candidates:
        instance_id = read_instance_id(folder) if folder.is_dir() else None
        if instance_id is not None:
            found[instance_id] = folder
    return found


def read_ack_request(directory: Path) -> int:
    try:
        return segments.decode_watermark((directory / ACK_REQUEST_FILE).read_bytes())
    except (OSError, ValueError):
        return 0


def record_ack_request(directory: Path, upto: int) -> int:
    """Raise the folder's requested ack to `upto` (never lower it); return the value stored."""
    fd = os.open(directory / ACK_LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        upto = max(upto, read_ack_request(directory))
        write_atomic(directory / ACK_REQUEST_FILE, segments.encode_watermark(upto))
        return upto
    finally:
        os.close(fd)  # closing releases the lock


def _segment_views(directory: Path) -> list[segments.SegmentView]:
    """The folder's segments; the owner may delete one between the glob and the stat."""
    for _attempt in range(3):
        with contextlib.suppress(FileNotFoundError):
            return segments.list_segments(directory)
    return segments.list_segments(directory)


class SiblingOutboxes:
    """The outboxes of the other workers, as seen from this one."""

    def __init__(self, base: Path, own: Outbox) -> None:
        self.base = base
        self.own = own
        self._folders: dict[str, Path] = {}
        self._scanned_at = float("-inf")
        self._hints: dict[tuple[str, int], tuple[int, int]] = {}

    async def instance_ids(self) -> list[str]:
        """Every outbox of this proxy (own first), or [] when this worker has no siblings."""
        if time.monotonic() - self._scanned_at > RESCAN_S:
            await self._rescan()
        others = [iid for iid in self._folders if iid != self.own.instance_id]
        return [self.own.instance_id, *others] if others else []

    async def folder(self, instance_id: str) -> Path | None:
        """Another worker's outbox folder; a new worker's folder is found on first use."""
        if instance_id == self.own.instance_id:
            return None
        if instance_id not in self._folders:
            await self._rescan()
        return self._folders.get(instance_id)

    async def _rescan(self) -> None:
        self._scanned_at = time.monotonic()
        self._folders = await asyncio.to_thread(outbox_folders, self.base)

    async def read(self, instance_id: str, after: int, limit: int) -> tuple[list[bytes], int]:
        """Like `Outbox.read`, for another worker's outbox, from its files."""
        folder = self._folders[instance_id]
        hint = self._hints.get((instance_id, after))
        result = await asyncio.to_thread(_read_folder, folder, after, limit, hint)
        if result.position is not None:
            self._hints[(instance_id, result.last_seq)] = result.position
            if len(self._hints) > _HINTS_KEPT:
                del self._hints[next(iter(self._hints))]
        return result.lines, result.last_seq if result.lines else after

    async def ack(self, instance_id: str, upto: int) -> int:
        """Ask the owner of `instance_id` to drop the events up to `upto`."""
        return await asyncio.to_thread(record_ack_request, self._folders[instance_id], upto)


def _read_folder(
    folder: Path, after: int, limit: int, hint: tuple[int, int] | None
) -> segments.ReadResult:
    start = max(after, segments.load_watermark(folder))
    if start != after:
        hint = None
    return segments.read_events(_segment_views(folder), start, limit, hint)


class AckInbox:
    """The owner's side: apply acks that other workers recorded for this outbox."""

    def __init__(self, outbox: Outbox, poll: float = ACK_POLL_S) -> None:
        self.outbox = outbox
        self.poll = poll
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="usage-ack-inbox")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def apply(self) -> None:
        requested = await asyncio.to_thread(read_ack_request, self.outbox.directory)
        if requested > self.outbox.acked_seq:
            await self.outbox.ack(requested)

    async def _run(self) -> None:
        while True:
            try:
                await self.apply()
            except OSError as exc:
                log.error("usage_ack_request_failed", error=str(exc))
            await asyncio.sleep(self.poll)  # polling a file another process writes
