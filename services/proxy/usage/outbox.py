"""The durable usage outbox: append on the request path, pull and ack by the collector.

`append` writes one JSON line to an O_APPEND file before returning (a killed process loses
nothing: the page cache survives it); a background task fsyncs at most every `fsync_interval`
(power loss loses at most that window). Acked segments are deleted; the outbox never drops an
event silently: a full disk or a failed write is counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections import deque
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import orjson
import structlog

from ..config.files import fsync_dir
from . import segments
from .event_ids import EventIds

log = structlog.get_logger(__name__)

MIB = 1024 * 1024
MAX_READ = 5000
FULL_LOG_INTERVAL = 60.0  # seconds between two "outbox full" errors
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
_HINTS_KEPT = 64
OWNER_LOCK = "owner.lock"
OWNER_POLL_S = 0.2


@dataclass(slots=True)
class _Segment:
    first: int
    path: Path
    size: int  # bytes of complete lines written to it


class Outbox:
    """A per-instance, seq-numbered, append-only log of usage events in `directory`.

    Use it from one event loop: `append` is synchronous and not thread-safe.
    """

    def __init__(
        self,
        directory: Path,
        *,
        fsync_interval: float = 0.1,
        segment_max_bytes: int = 16 * MIB,
        soft_cap_bytes: int,
        cache_events: int = 10_000,
        exclusive: bool = False,
    ) -> None:
        self.directory = directory
        # Worker processes: hold an flock on the folder for the outbox's lifetime, so a worker
        # started while the previous one still drains waits instead of appending beside it.
        self._exclusive = exclusive
        self._owner_fd = -1
        self._fsync_interval = fsync_interval
        self._segment_max = segment_max_bytes
        self._soft_cap = soft_cap_bytes
        self._instance_id = ""
        self._instance_bytes = b""
        self._event_ids = EventIds()
        self._segments: list[_Segment] = []  # oldest first; the last one takes appends
        self._fd = -1
        self._broken = False  # the active segment has bytes we could not cut off
        self._retired: list[int] = []  # fds of rotated segments, fsynced then closed by the task
        self._new_names = False  # a segment was created since the last directory fsync
        self._next_seq = 1
        self._acked = 0
        self._head_offset = 0  # acked bytes at the start of the oldest segment
        self._total_bytes = 0
        # Recent events as written (line, offset after it): a collector that keeps up reads here.
        self._cache: deque[tuple[bytes, int]] = deque(maxlen=cache_events)
        # Where the event after a given seq starts on disk: (segment first seq, offset).
        self._hints: dict[int, tuple[int, int]] = {}
        self._dropped = 0
        self._dropping = False  # the latest append failed; cleared by the next one that works
        self._full = False
        self._full_logged_at = -FULL_LOG_INTERVAL
        self._dirty = asyncio.Event()
        self._stopping = asyncio.Event()
        self._lock = asyncio.Lock()  # serializes ack and pop
        # Held while a worker thread fsyncs our fds, so an ack never closes one under it.
        self._sync_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Load or create the directory's state and start the group-commit task."""
        if self._task is not None:
            return
        if self._exclusive:
            await self._take_ownership()
        await asyncio.to_thread(self._load)
        self._stopping.clear()
        self._task = asyncio.create_task(self._commit_loop(), name="usage-outbox-fsync")
        log.info(
            "usage_outbox_started",
            directory=str(self.directory),
            instance_id=self._instance_id,
            next_seq=self._next_seq,
            acked_seq=self._acked,
            depth_events=self.depth_events,
        )

    async def close(self) -> None:
        """Stop the commit task, fsync and close every file. Later appends are dropped."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._dirty.set()
        await task
        fds = [*self._retired, *([self._fd] if self._fd >= 0 else [])]
        self._retired, self._fd = [], -1
        await asyncio.to_thread(self._sync, fds, -1, self._new_names)
        if self._owner_fd >= 0:
            os.close(self._owner_fd)  # releases the folder to the next owner
            self._owner_fd = -1

    async def _take_ownership(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / OWNER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        logged = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not logged:
                    log.warning("usage_outbox_owned_elsewhere", directory=str(self.directory))
                    logged = True
            await asyncio.sleep(OWNER_POLL_S)  # another process owns it; flock has no event
        self._owner_fd = fd

    def _load(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._cache.clear()
        self._hints.clear()
        self._instance_id = segments.load_instance_id(self.directory)
        self._instance_bytes = self._instance_id.encode()
        self._acked = segments.load_watermark(self.directory)
        segments.ensure_watermark(self.directory)
        found = [_Segment(*view) for view in segments.list_segments(self.directory)]
        self._next_seq = self._acked + 1
        if found:
            last_seq, found[-1].size = segments.repair_tail(found[-1].path)
            after_last = found[-1].first if last_seq is None else last_seq + 1
            self._next_seq = max(self._next_seq, after_last)
        doomed = []
        while len(found) > 1 and found[1].first - 1 <= self._acked:
            doomed.append(found.pop(0).path)
        segments.remove_files(doomed)
        self._segments = found
        self._total_bytes = sum(segment.size for segment in found)
        if found and self._acked >= found[0].first:
            self._head_offset = segments.offset_after(found[0].path, self._acked, found[0].size)

    # -- the request path -------------------------------------------------------------------

    def append(self, event: dict[str, object]) -> int:
        """Record one event durably enough to survive a crash; return its seq (0 if dropped).

        Never raises: a failure is counted in `dropped_total` and logged.
        """
        if self._task is None:
            return self._drop("outbox_not_running", None)
        seq = self._next_seq
        try:
            line = segments.encode_event(seq, self._event_ids.next(), self._instance_bytes, event)
        except TypeError as exc:
            return self._drop("unserializable", exc)
        try:
            end = self._write(line)
        except OSError as exc:
            self._cut_failed_write()
            return self._drop("write_failed", exc)
        self._next_seq = seq + 1
        self._cache.append((line, end))
        self._dirty.set()
        if self._dropping:
            self._dropping = False
            log.info("usage_outbox_recovered", dropped_total=self._dropped)
        if self._total_bytes - self._head_offset > self._soft_cap:
            self._check_cap()
        return seq

    def _write(self, line: bytes) -> int:
        """Write one line to the active segment (rotating first if needed); return its end."""
        self._ensure_room(len(line))
        active = self._segments[-1]
        written = os.write(self._fd, line)
        if written != len(line):
            raise OSError(f"short write: {written} of {len(line)} bytes")
        active.size += written
        self._total_bytes += written
        return active.size

    def _ensure_room(self, nbytes: int) -> None:
        active = self._segments[-1] if self._segments else None
        if active is not None and (active.size == 0 or active.size + nbytes <= self._segment_max):
            if self._fd >= 0:
                return
            if not (self._broken and active.size):
                self._open_active(active)
                return
        self._retire_fd()
        self._open_active(None)

    def _open_active(self, segment: _Segment | None) -> None:
        """Open `segment` for appending, or a new segment named by the next seq."""
        if segment is None:
            path = self.directory / segments.segment_name(self._next_seq)
            fd = self._open_segment(path, _OPEN_FLAGS | os.O_TRUNC)
            segment = _Segment(self._next_seq, path, 0)
            self._segments.append(segment)
            self._new_names = True
        else:  # an empty segment may hold bytes of a failed write: start it afresh
            fd = self._open_segment(segment.path, _OPEN_FLAGS | (os.O_TRUNC * (segment.size == 0)))
        self._fd, self._broken = fd, False

    def _open_segment(self, path: Path, flags: int) -> int:
        """Open a segment file for writing (tests override this to get a failing fd)."""
        return os.open(path, flags, 0o600)

    def _retire_fd(self) -> None:
        if self._fd >= 0:
            self._retired.append(self._fd)
            self._fd = -1
            self._dirty.set()

    def _cut_failed_write(self) -> None:
        """Remove what a failed write left behind, or abandon the segment if we cannot."""
        if self._fd < 0:
            return
        try:
            os.ftruncate(self._fd, self._segments[-1].size)
        except OSError:
            self._retire_fd()
            self._broken = True

    def _drop(self, reason: str, error: BaseException | None) -> int:
        self._dropped += 1
        self._dropping = True
        log.error(
            "usage_event_dropped",
            reason=reason,
            error=None if error is None else str(error),
            dropped_total=self._dropped,
        )
        return 0

    def _check_cap(self) -> None:
        if self.depth_bytes > self._soft_cap:
            self._full = True
            now = time.monotonic()
            if now - self._full_logged_at >= FULL_LOG_INTERVAL:
                self._full_logged_at = now
                log.error(
                    "usage_outbox_full",
                    depth_bytes=self.depth_bytes,
                    depth_events=self.depth_events,
                    soft_cap_bytes=self._soft_cap,
                )
        elif self._full:
            self._full = False
            log.info("usage_outbox_below_cap", depth_bytes=self.depth_bytes)

    # -- group commit -----------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        while not self._stopping.is_set():
            await self._dirty.wait()
            self._dirty.clear()
            async with self._sync_lock:
                retired, self._retired = self._retired, []
                new_names, self._new_names = self._new_names, False
                await asyncio.to_thread(self._sync, retired, self._fd, new_names)
            # Sleeping after the fsync batches every append of the next interval into one.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._fsync_interval):
                    await self._stopping.wait()

    def _sync(self, retired: list[int], fd: int, new_names: bool) -> None:
        """fsync (then close) rotated segments, the active one, and the directory if it changed."""
        for old in retired:
            self._fsync(old)
            with contextlib.suppress(OSError):
                os.close(old)
        if fd >= 0:
            self._fsync(fd)
        if new_names:
            try:
                fsync_dir(self.directory)
            except OSError as exc:
                log.error("usage_outbox_fsync_failed", error=str(exc), target="directory")

    def _fsync(self, fd: int) -> None:
        try:
            os.fsync(fd)
        except OSError as exc:
            # Power loss could now lose events that a crash would not; say so, keep serving.
            log.error("usage_outbox_fsync_failed", error=str(exc), target="segment")

    # -- the collector side -----------------------------------------------------------------

    async def read(self, after: int, limit: int) -> tuple[list[bytes], int]:
        """Raw JSON lines of the unacked events with seq > after, and the last seq returned."""
        limit = max(1, min(limit, MAX_READ))
        start = max(after, self._acked)
        if start >= self.last_seq:
            return [], after
        cache_first = self._next_seq - len(self._cache)
        if start + 1 >= cache_first:
            index = start + 1 - cache_first
            lines = [line[:-1] for line, _end in islice(self._cache, index, index + limit)]
            return lines, start + len(lines)
        views = [segments.SegmentView(s.first, s.path, s.size) for s in self._segments]
        result = await asyncio.to_thread(
            segments.read_events, views, start, limit, self._hints.get(start)
        )
        if result.position is not None:
            self._remember(result.last_seq, result.position)
        return result.lines, result.last_seq if result.lines else after

    def _remember(self, seq: int, position: tuple[int, int]) -> None:
        self._hints[seq] = position
        if len(self._hints) > _HINTS_KEPT:
            del self._hints[next(iter(self._hints))]

    async def ack(self, upto: int) -> int:
        """Mark every event up to `upto` as stored; return the acked seq (clamped to last_seq)."""
        async with self._lock:
            return await self._ack(upto)

    async def pop(self, count: int) -> list[dict[str, object]]:
        """Remove and return the oldest unacked events (CLIProxyAPI's destructive usage queue)."""
        if count < 1:
            return []
        async with self._lock:
            lines, last = await self.read(self._acked, count)
            if lines:
                await self._ack(last)
            return [orjson.loads(line) for line in lines]

    async def _ack(self, upto: int) -> int:
        """Store the watermark, delete what it covers; an ack frees space even on a full disk.

        Older fully acked segments go first: deleting them before the watermark is stored is
        safe (the newest segment survives, so a restart never reuses a seq) and frees the space
        the watermark may need. The newest segment goes only once the watermark covering all of
        it is durable: that is what lets recording resume when everything was acked.
        """
        upto = min(upto, self.last_seq)
        if upto <= self._acked:
            return self._acked
        done = 0  # leading segments whose every event is acked (never the active one)
        while done + 1 < len(self._segments) and self._segments[done + 1].first - 1 <= upto:
            done += 1
        head_offset = await self._offset_after(self._segments[done], upto) if self._segments else 0
        doomed = self._segments[:done]
        if doomed:
            await asyncio.to_thread(segments.remove_files, [segment.path for segment in doomed])
        await asyncio.to_thread(segments.store_watermark, self.directory, upto)
        # No await from here to the counters: depth_bytes never sees a half-applied ack.
        del self._segments[:done]
        self._total_bytes -= sum(segment.size for segment in doomed)
        self._acked, self._head_offset = upto, head_offset
        self._hints = {seq: pos for seq, pos in self._hints.items() if seq >= upto}
        if self._acked == self.last_seq and self._segments:
            await self._drop_acked_tail()
        self._check_cap()
        return upto

    async def _drop_acked_tail(self) -> None:
        """Delete the remaining segments, every event of which is acked; appends start afresh.

        Without this the active segment would only ever be deleted after rotation, so an outbox
        on a disk smaller than one segment could never free anything.
        """
        doomed, self._segments = self._segments, []
        fd, self._fd, self._broken = self._fd, -1, False
        self._total_bytes = self._head_offset = 0
        self._cache.clear()
        self._hints.clear()
        async with self._sync_lock:
            await asyncio.to_thread(_close_and_remove, fd, [segment.path for segment in doomed])

    async def _offset_after(self, head: _Segment, seq: int) -> int:
        """Where the events after `seq` begin in `head`, the segment that holds `seq`."""
        if seq < head.first:
            return 0
        cache_first = self._next_seq - len(self._cache)
        if seq >= cache_first:
            return self._cache[seq - cache_first][1]
        hint = self._hints.get(seq)
        if hint is not None and hint[0] == head.first:
            return hint[1]
        return await asyncio.to_thread(segments.offset_after, head.path, seq, head.size)

    # -- read-only state for metrics and health ---------------------------------------------

    @property
    def instance_id(self) -> str:
        return self._instance_id

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    @property
    def acked_seq(self) -> int:
        return self._acked

    @property
    def depth_events(self) -> int:
        return max(0, self.last_seq - self._acked)

    @property
    def depth_bytes(self) -> int:
        return self._total_bytes - self._head_offset

    @property
    def dropped_total(self) -> int:
        return self._dropped

    @property
    def dropping(self) -> bool:
        """The latest append was dropped (a full disk or a failed write), none has worked since."""
        return self._dropping

    @property
    def full(self) -> bool:
        return self._full


def _close_and_remove(fd: int, paths: list[Path]) -> None:
    if fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)
    segments.remove_files(paths)
