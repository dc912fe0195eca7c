"""The usage outbox: seq numbering, paging, acks, restart recovery and loud failure."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import orjson
import pytest
from structlog.testing import capture_logs

from services.proxy.usage import Outbox
from services.proxy.usage.outbox import MAX_READ
from services.proxy.usage.segments import SEGMENT_SUFFIX, WATERMARK_FILE


def _event(i: int = 0, **extra: object) -> dict[str, object]:
    return {"model": "gpt-test", "tokens": {"input_tokens": i, "output_tokens": 2 * i}, **extra}


def _segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{SEGMENT_SUFFIX}"))


def _seqs(lines: list[bytes]) -> list[int]:
    return [orjson.loads(line)["seq"] for line in lines]


@pytest.fixture
async def opened(tmp_path: Path):
    """Open outboxes on tmp_path (or a sub-directory) and close whatever is still open."""
    boxes: list[Outbox] = []

    async def open_outbox(directory: Path = tmp_path / "usage", **kwargs: object) -> Outbox:
        kwargs.setdefault("soft_cap_bytes", 1 << 30)
        box = Outbox(directory, **kwargs)  # type: ignore[arg-type]
        await box.start()
        boxes.append(box)
        return box

    yield open_outbox
    for box in boxes:
        await box.close()


class TestAppendReadAck:
    async def test_round_trip(self, opened):
        """Appended events come back in order with seq, event_id and instance_id assigned."""
        box = await opened()
        seqs = [box.append(_event(i)) for i in range(1, 4)]
        assert seqs == [1, 2, 3]

        lines, next_seq = await box.read(0, 10)
        events = [orjson.loads(line) for line in lines]
        assert next_seq == 3
        assert [e["seq"] for e in events] == [1, 2, 3]
        assert [e["tokens"]["input_tokens"] for e in events] == [1, 2, 3]
        assert all(e["instance_id"] == box.instance_id for e in events)
        ids = {uuid.UUID(str(e["event_id"])) for e in events}
        assert len(ids) == 3
        assert {(i.version, i.variant) for i in ids} == {(4, uuid.RFC_4122)}

        assert await box.ack(2) == 2
        lines, next_seq = await box.read(0, 10)
        assert (_seqs(lines), next_seq) == ([3], 3)
        assert (box.depth_events, box.acked_seq, box.last_seq) == (1, 2, 3)

    async def test_caller_cannot_override_reserved_fields(self, opened):
        """seq, event_id and instance_id always come from the outbox, first in the line."""
        box = await opened()
        box.append(_event(seq=99, event_id="mine", instance_id="other"))
        (line,), _ = await box.read(0, 1)
        assert line.startswith(b'{"seq":1,')
        event = orjson.loads(line)
        assert event["event_id"] != "mine"
        assert event["instance_id"] == box.instance_id

    async def test_empty_event_is_still_a_valid_line(self, opened):
        """An event with no fields of its own is stored as the three reserved fields."""
        box = await opened()
        box.append({})
        (line,), _ = await box.read(0, 1)
        assert set(orjson.loads(line)) == {"seq", "event_id", "instance_id"}

    async def test_read_pages_with_after_and_limit(self, opened):
        """Paging with the returned `next` visits every event once; an empty page keeps `after`."""
        box = await opened()
        for i in range(25):
            box.append(_event(i))
        seen, after = [], 0
        while True:
            lines, after_next = await box.read(after, 10)
            if not lines:
                assert after_next == after
                break
            seen += _seqs(lines)
            after = after_next
        assert seen == list(range(1, 26))
        assert (await box.read(100, 10)) == ([], 100)

    async def test_read_limit_is_capped(self, opened):
        """A page never holds more than MAX_READ events."""
        box = await opened()
        for i in range(MAX_READ + 5):
            box.append(_event(i))
        lines, next_seq = await box.read(0, 10 * MAX_READ)
        assert (len(lines), next_seq) == (MAX_READ, MAX_READ)

    async def test_ack_is_clamped_and_monotonic(self, opened):
        """Acking past the last seq stops at it; acking backwards changes nothing."""
        box = await opened()
        for i in range(3):
            box.append(_event(i))
        assert await box.ack(1000) == 3
        assert await box.ack(1) == 3
        assert box.depth_events == 0
        assert box.depth_bytes == 0

    async def test_reading_behind_the_watermark_skips_acked_events(self, opened):
        """Events at or below the acked seq are gone even if their bytes are still on disk."""
        box = await opened()
        for i in range(5):
            box.append(_event(i))
        await box.ack(3)
        lines, _ = await box.read(0, 10)
        assert _seqs(lines) == [4, 5]


class TestRestart:
    async def test_seq_and_instance_continue_after_restart(self, opened, tmp_path):
        """A reopened outbox keeps its instance id, serves old events from disk, continues seq."""
        box = await opened()
        for i in range(5):
            box.append(_event(i))
        await box.ack(2)
        instance_id = box.instance_id
        await box.close()

        again = await opened()
        assert again.instance_id == instance_id
        assert (again.last_seq, again.acked_seq) == (5, 2)
        assert again.append(_event()) == 6
        lines, next_seq = await again.read(0, 100)
        assert (_seqs(lines), next_seq) == ([3, 4, 5, 6], 6)

        other = await opened(tmp_path / "elsewhere")
        assert other.instance_id != instance_id

    async def test_torn_last_line_is_cut(self, opened):
        """A partial last line (a crash mid-write) is dropped and its seq reused."""
        box = await opened()
        for i in range(3):
            box.append(_event(i))
        await box.close()
        (segment,) = _segment_files(box.directory)
        with segment.open("ab") as file:
            file.write(b'{"seq":4,"event_id":"0f')

        with capture_logs() as logs:
            again = await opened()
        assert any(entry["event"] == "usage_outbox_torn_tail" for entry in logs)
        assert again.last_seq == 3
        assert again.append(_event()) == 4
        lines, _ = await again.read(0, 10)
        assert _seqs(lines) == [1, 2, 3, 4]  # every line parses: the torn bytes are gone

    async def test_zero_filled_tail_and_garbage_lines(self, opened):
        """NUL bytes after power loss and foreign lines never stop the outbox from starting."""
        box = await opened()
        box.append(_event())
        await box.close()
        (segment,) = _segment_files(box.directory)
        with segment.open("ab") as file:
            file.write(b"not an event\n" + b'{"seq":2,"event_id":"x","instance_id":"y"}\n')
            file.write(b"\0" * 64)

        again = await opened()
        assert again.last_seq == 2
        lines, _ = await again.read(0, 10)
        assert _seqs(lines) == [1, 2]
        assert segment.read_bytes().endswith(b"\n")

    async def test_seq_continues_after_everything_was_acked(self, opened):
        """With every segment deleted by a full ack, a restart still never reuses a seq."""
        box = await opened()
        for i in range(3):
            box.append(_event(i))
        await box.ack(3)
        assert _segment_files(box.directory) == []
        await box.close()

        again = await opened()
        assert (again.last_seq, again.acked_seq) == (3, 3)
        assert again.append(_event()) == 4
        assert _seqs((await again.read(0, 10))[0]) == [4]

    async def test_torn_watermark_only_resends(self, opened):
        """A watermark that fails its checksum reads as nothing acked: events are sent again."""
        box = await opened()
        for i in range(3):
            box.append(_event(i))
        await box.ack(2)
        await box.close()
        watermark = box.directory / WATERMARK_FILE
        assert watermark.read_bytes().startswith(b"%020d " % 2)
        watermark.write_bytes(b"%020d 00000000\n" % 9)  # digits torn from their checksum

        with capture_logs() as logs:
            again = await opened()
        assert any(entry["event"] == "usage_outbox_bad_watermark" for entry in logs)
        assert again.acked_seq == 0
        assert _seqs((await again.read(0, 10))[0]) == [1, 2, 3]

    async def test_watermark_of_the_older_plain_format_is_read(self, opened):
        """An outbox written before the checksum existed keeps its acked seq."""
        box = await opened()
        for i in range(3):
            box.append(_event(i))
        await box.close()
        (box.directory / WATERMARK_FILE).write_text("2\n")
        again = await opened()
        assert again.acked_seq == 2
        assert _seqs((await again.read(0, 10))[0]) == [3]

    async def test_ack_after_restart_keeps_exact_byte_depth(self, opened):
        """The unacked byte count is exact even when the acked offset must be found on disk."""
        box = await opened(segment_max_bytes=10_000)
        for i in range(20):
            box.append(_event(i))
        lines, _ = await box.read(0, 100)
        await box.close()

        again = await opened(segment_max_bytes=10_000)
        assert again.depth_bytes == sum(len(line) + 1 for line in lines)
        await again.ack(7)
        assert again.depth_bytes == sum(len(line) + 1 for line in lines[7:])
        await again.close()

        third = await opened(segment_max_bytes=10_000)
        assert third.depth_bytes == sum(len(line) + 1 for line in lines[7:])
        assert third.depth_events == 13


class TestSegments:
    async def test_rotation_and_deletion_on_ack(self, opened):
        """Segments rotate at the size limit, are named by first seq, and go when fully acked."""
        box = await opened(segment_max_bytes=400)
        for i in range(12):
            box.append(_event(i))
        files = _segment_files(box.directory)
        assert len(files) >= 4
        firsts = [int(path.stem) for path in files]
        assert firsts[0] == 1
        assert all(path.stat().st_size <= 400 for path in files)

        lines, _ = await box.read(0, 100)
        assert _seqs(lines) == list(range(1, 13))
        boundary = firsts[2] - 1  # the last event of the second segment
        await box.ack(boundary)
        assert [int(p.stem) for p in _segment_files(box.directory)] == firsts[2:]
        assert box.depth_bytes == sum(len(line) + 1 for line in lines[boundary:])

        await box.ack(box.last_seq)
        assert _segment_files(box.directory) == []  # all acked: even the active one goes
        assert box.depth_bytes == 0
        assert box.append(_event()) == 13  # a fresh segment, named by the next seq
        assert [int(p.stem) for p in _segment_files(box.directory)] == [13]
        lines, _ = await box.read(0, 100)
        assert _seqs(lines) == [13]

    async def test_disk_reads_across_segments(self, opened):
        """After a restart (cold cache) pages cross segment boundaries without gaps."""
        box = await opened(segment_max_bytes=300)
        for i in range(30):
            box.append(_event(i))
        await box.close()

        again = await opened(segment_max_bytes=300, cache_events=4)
        seen, after = [], 0
        while lines := (await again.read(after, 7))[0]:
            seen += _seqs(lines)
            after = seen[-1]
            await again.ack(after - 2)  # ack lags behind, like a collector mid-transaction
        assert seen == list(range(1, 31))

    async def test_small_cache_falls_back_to_disk(self, opened):
        """Events that left the in-memory cache are read back from disk."""
        box = await opened(cache_events=5)
        for i in range(20):
            box.append(_event(i))
        lines, next_seq = await box.read(3, 100)
        assert (_seqs(lines), next_seq) == (list(range(4, 21)), 20)


class TestPop:
    async def test_pop_returns_oldest_and_acks_them(self, opened):
        """pop removes the oldest unacked events and returns them as dicts."""
        box = await opened()
        for i in range(5):
            box.append(_event(i))
        first = await box.pop(2)
        assert [e["seq"] for e in first] == [1, 2]
        assert box.acked_seq == 2
        rest = await box.pop(10)
        assert [e["seq"] for e in rest] == [3, 4, 5]
        assert await box.pop(10) == []
        lines, _ = await box.read(0, 10)
        assert lines == []
        box.append(_event())
        assert await box.pop(0) == []
        assert box.acked_seq == 5


class TestLoudFailure:
    async def test_soft_cap_sets_full_and_logs_once(self, opened):
        """Over the cap the outbox flags itself full, logs one error, and keeps appending."""
        box = await opened(soft_cap_bytes=500)
        with capture_logs() as logs:
            seqs = [box.append(_event(i)) for i in range(20)]
        assert seqs == list(range(1, 21))
        assert box.full
        assert box.depth_bytes > 500
        full_logs = [entry for entry in logs if entry["event"] == "usage_outbox_full"]
        assert len(full_logs) == 1
        assert full_logs[0]["log_level"] == "error"

        await box.ack(box.last_seq)
        assert not box.full

    async def test_failed_write_is_counted_and_logged(self, opened, tmp_path):
        """A write that fails (disk full) drops the event loudly; the outbox recovers after."""

        class FullDisk(Outbox):
            failing = True

            def _open_segment(self, path: Path, flags: int) -> int:
                if self.failing:
                    return os.open("/dev/full", os.O_WRONLY | os.O_CLOEXEC)
                return super()._open_segment(path, flags)

        box = FullDisk(tmp_path / "usage", soft_cap_bytes=1 << 20)
        await box.start()
        try:
            with capture_logs() as logs:
                assert box.append(_event()) == 0
                assert box.append(_event()) == 0
            assert box.dropped_total == 2
            assert box.dropping
            dropped = [entry for entry in logs if entry["event"] == "usage_event_dropped"]
            assert len(dropped) == 2
            assert all(entry["log_level"] == "error" for entry in dropped)

            box.failing = False
            assert box.append(_event()) == 1  # a dropped event does not use up a seq
            assert not box.dropping  # health recovers; the drop count stays
            assert box.dropped_total == 2
            lines, _ = await box.read(0, 10)
            assert _seqs(lines) == [1]
        finally:
            await box.close()

    async def test_unserializable_event_is_dropped_not_raised(self, opened):
        """An event orjson cannot encode is counted, not raised into the request path."""
        box = await opened()
        assert box.append({"bad": object()}) == 0
        assert box.dropped_total == 1
        assert box.append(_event()) == 1

    async def test_append_when_closed_is_dropped(self, tmp_path):
        """Appending before start or after close is counted as dropped."""
        box = Outbox(tmp_path, soft_cap_bytes=1000)
        assert box.append(_event()) == 0
        await box.start()
        await box.close()
        assert box.append(_event()) == 0
        assert box.dropped_total == 2


class TestGroupCommit:
    async def test_fsync_is_batched_off_the_request_path(self, opened, monkeypatch):
        """append never fsyncs; the commit task fsyncs a burst of appends in few calls."""
        calls: list[int] = []
        synced = asyncio.Event()
        loop = asyncio.get_running_loop()
        real_fsync = os.fsync

        def counting_fsync(fd: int) -> None:
            calls.append(fd)
            real_fsync(fd)
            loop.call_soon_threadsafe(synced.set)

        monkeypatch.setattr(os, "fsync", counting_fsync)
        box = await opened(fsync_interval=0.5)
        calls.clear()
        for i in range(200):
            box.append(_event(i))
        assert calls == []  # nothing synchronous on the request path

        await asyncio.wait_for(synced.wait(), timeout=5)
        assert len(calls) <= 2  # one segment fsync (plus the new segment's directory)
