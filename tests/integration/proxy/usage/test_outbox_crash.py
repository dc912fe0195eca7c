"""The outbox under `kill -9`: every event whose append returned is there after a restart."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import orjson

from services.proxy.usage import Outbox

REPO = Path(__file__).resolve().parents[4]
CHILD = "tests.integration.proxy.usage.outbox_child"


async def _append_then_get_killed(directory: Path, count: int) -> int:
    """Run a child that appends `count` events, SIGKILL it, and return the last seq it reported."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        CHILD,
        str(directory),
        str(count),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), timeout=60)
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert line.startswith(b"appended "), line
    assert child.returncode == -signal.SIGKILL
    return int(line.split()[1])


async def _read_everything(box: Outbox) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    after = 0
    while True:
        lines, after = await box.read(after, 1000)
        if not lines:
            return events
        events += [orjson.loads(line) for line in lines]


async def test_events_survive_kill_9(tmp_path):
    """Two crash rounds: all reported events are served after restart, seqs stay contiguous."""
    directory = tmp_path / "usage"
    reported = 0
    for _round in range(2):
        reported = await _append_then_get_killed(directory, 3000)

    box = Outbox(directory, soft_cap_bytes=1 << 30)
    await box.start()
    try:
        events = await _read_everything(box)
        seqs = [event["seq"] for event in events]
        assert box.last_seq >= reported >= 6000
        assert seqs == list(range(1, box.last_seq + 1))
        assert [event["n"] for event in events] == seqs
        assert len({event["event_id"] for event in events}) == len(events)
        assert {event["instance_id"] for event in events} == {box.instance_id}
        assert box.append({"n": box.last_seq + 1}) == len(events) + 1
    finally:
        await box.close()
