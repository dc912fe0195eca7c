"""On-disk format of the usage outbox: segment files of JSON lines, named by their first seq.

Every line starts with `{"seq":N,` so a reader finds an event's seq without parsing the JSON.
These functions block (file I/O); the outbox calls them in a worker thread, except at rotation.
"""

from __future__ import annotations

import bisect
import errno
import os
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import orjson
import structlog

from ..config.files import write_atomic

log = structlog.get_logger(__name__)

SEGMENT_SUFFIX = ".jsonl"
INSTANCE_FILE = "instance_id"
WATERMARK_FILE = "acked"
SEQ_PREFIX = b'{"seq":'
RESERVED = ("seq", "event_id", "instance_id")
_NUMBER_END = len(SEQ_PREFIX) + 21  # a seq has at most 20 digits


class SegmentView(NamedTuple):
    """An immutable snapshot of one segment, safe to hand to a worker thread."""

    first: int
    path: Path
    size: int  # bytes of complete lines; the reader never looks past it


class ReadResult(NamedTuple):
    lines: list[bytes]
    last_seq: int
    position: tuple[int, int] | None  # (segment first seq, offset after the last line)


def encode_event(
    seq: int, event_id: bytes, instance_id: bytes, event: Mapping[str, object]
) -> bytes:
    """One stored line: the reserved fields first, then the caller's; TypeError if unencodable.

    The caller's mapping is encoded as is and spliced in, cheaper than copying it into a new dict.
    """
    if "seq" in event or "event_id" in event or "instance_id" in event:
        event = {key: value for key, value in event.items() if key not in RESERVED}
    body = orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)  # b"{...}\n"
    separator = b"," if len(body) > 3 else b""  # b"{}\n" has no fields to follow ours
    head = b'{"seq":%d,"event_id":"%b","instance_id":"%b"' % (seq, event_id, instance_id)
    return b"%b%b%b" % (head, separator, body[1:])


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def list_segments(directory: Path) -> list[SegmentView]:
    """Segments in seq order, with their current sizes on disk."""
    found = []
    for path in directory.glob(f"*{SEGMENT_SUFFIX}"):
        if path.stem.isdigit():
            found.append(SegmentView(int(path.stem), path, path.stat().st_size))
    return sorted(found)


def seq_of(line: bytes) -> int | None:
    """The seq of a stored line, or None when the line is not one of ours."""
    if not line.startswith(SEQ_PREFIX):
        return None
    end = line.find(b",", len(SEQ_PREFIX), _NUMBER_END)
    digits = line[len(SEQ_PREFIX) : end]
    return int(digits) if end > 0 and digits.isdigit() else None


def iter_lines(path: Path, start: int, end: int) -> Iterator[tuple[int, bytes, int]]:
    """Yield (seq, line without newline, offset after it) for the complete lines in [start, end).

    A line without its newline is a torn write (or one still being written): reading stops there.
    A complete line that is not an event is skipped with a warning.
    """
    with path.open("rb") as file:
        file.seek(start)
        offset = start
        while offset < end:
            line = file.readline(end - offset)
            if not line.endswith(b"\n"):
                return
            offset += len(line)
            seq = seq_of(line)
            if seq is None:
                log.warning("usage_outbox_bad_line", segment=path.name, offset=offset - len(line))
                continue
            yield seq, line[:-1], offset


def repair_tail(path: Path) -> tuple[int | None, int]:
    """Cut a torn last line off a segment; return (last seq in it, size of its valid lines)."""
    size = path.stat().st_size
    last_seq: int | None = None
    valid_end = 0
    for seq, _line, end in iter_lines(path, 0, size):
        last_seq, valid_end = seq, end
    if valid_end < size:
        # A crash (or power loss) in the middle of a write; the event was never acknowledged.
        log.warning("usage_outbox_torn_tail", segment=path.name, dropped_bytes=size - valid_end)
        os.truncate(path, valid_end)
    return last_seq, valid_end


def offset_after(path: Path, seq: int, size: int) -> int:
    """The offset where the events with a seq greater than `seq` begin in one segment."""
    offset = 0
    try:
        for line_seq, _line, end in iter_lines(path, 0, size):
            if line_seq > seq:
                break
            offset = end
    except FileNotFoundError:
        return 0
    return offset


def read_events(
    segments: Sequence[SegmentView], after: int, limit: int, hint: tuple[int, int] | None
) -> ReadResult:
    """Up to `limit` lines with a seq greater than `after`, scanning from a known offset if any."""
    lines: list[bytes] = []
    last_seq, position = after, None
    index = max(0, bisect.bisect_right([s.first for s in segments], after + 1) - 1)
    for segment in segments[index:]:
        start = hint[1] if hint is not None and hint[0] == segment.first else 0
        try:
            for seq, line, end in iter_lines(segment.path, start, segment.size):
                if seq <= after:
                    continue
                lines.append(line)
                last_seq, position = seq, (segment.first, end)
                if len(lines) >= limit:
                    return ReadResult(lines, last_seq, position)
        except FileNotFoundError:
            continue  # acked and deleted while we read: those events are no longer wanted
    return ReadResult(lines, last_seq, position)


def load_instance_id(directory: Path) -> str:
    """The instance id stored in the directory, created on first use."""
    path = directory / INSTANCE_FILE
    try:
        return str(uuid.UUID(path.read_text().strip()))
    except FileNotFoundError:
        pass
    except ValueError:
        # A new identity makes the collector start a fresh cursor; event ids still dedupe.
        log.error("usage_outbox_bad_instance_id", path=str(path))
    instance_id = str(uuid.uuid4())
    write_atomic(path, instance_id.encode() + b"\n")
    return instance_id


def encode_watermark(acked: int) -> bytes:
    """A fixed-width record with a checksum, so it can be rewritten in place and verified."""
    digits = b"%020d" % acked
    return b"%b %08x\n" % (digits, zlib.crc32(digits))


def decode_watermark(raw: bytes) -> int:
    """The seq in a watermark record; ValueError when it is torn or not a watermark."""
    digits, _, crc = raw.strip().partition(b" ")
    if not digits.isdigit():
        raise ValueError("not a watermark")
    if crc and int(crc, 16) != zlib.crc32(digits):  # no checksum: the format before it had one
        raise ValueError("watermark checksum mismatch")
    return int(digits)


def load_watermark(directory: Path) -> int:
    """The highest acked seq, 0 when none; an unreadable file only means events are re-sent."""
    path = directory / WATERMARK_FILE
    try:
        return decode_watermark(path.read_bytes())
    except FileNotFoundError:
        return 0
    except ValueError:
        log.error("usage_outbox_bad_watermark", path=str(path))
        return 0


def store_watermark(directory: Path, acked: int) -> None:
    """Persist the acked seq; on a full disk, overwrite the record in place.

    The rename needs a free block for the new file, so on a full disk an ack could never be
    stored and no acked segment could ever be deleted: the outbox would stay full forever.
    Rewriting the existing fixed-width record needs no new space, and the checksum makes a
    torn write (power loss mid-sector) read as "nothing acked", which only re-sends events.
    """
    path, record = directory / WATERMARK_FILE, encode_watermark(acked)
    try:
        write_atomic(path, record)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        log.warning("usage_outbox_watermark_in_place", reason=str(exc))
        overwrite_in_place(path, record)


def ensure_watermark(directory: Path) -> None:
    """Create the watermark file up front, so a later ack on a full disk has one to rewrite."""
    if not (directory / WATERMARK_FILE).exists():
        write_atomic(directory / WATERMARK_FILE, encode_watermark(0))


def overwrite_in_place(path: Path, record: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        if os.pwrite(fd, record, 0) != len(record):
            raise OSError(errno.EIO, f"short write to {path.name}")
        os.ftruncate(fd, len(record))
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_files(paths: Sequence[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
