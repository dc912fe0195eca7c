"""SIGTERM to a collector process whose page transaction cannot finish (a lock it waits for):
it gives up within COLLECTOR_STOP_GRACE, exits 0, commits nothing and acks nothing; the next
collector stores every event exactly once."""

from __future__ import annotations

import asyncio
import time

from services.core.db import connect
from tests.integration.collector.helpers import eventually
from tests.integration.collector.test_faults import assert_exactly_once, spawn


async def _waiting_on_a_lock(database_url: str) -> bool:
    async with await connect(database_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND query ILIKE '%collector_state%'"
        )
        row = await cur.fetchone()
    return bool(row and row[0])


async def _stored(database_url: str) -> int:
    async with await connect(database_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT count(*) FROM usage_events")
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def test_sigterm_abandons_a_stuck_page_without_acking_it(database_url, source, tmp_path):
    source.add_events(120)
    log = tmp_path / "collector.log"
    async with await connect(database_url) as blocker:
        # The page transaction ends by updating collector_state: hold that row.
        await blocker.execute("SELECT 1 FROM collector_state FOR UPDATE")
        proc = await spawn(database_url, source.url, log, COLLECTOR_STOP_GRACE="1")
        await eventually(lambda: _waiting_on_a_lock(database_url), within=30, what="stuck")
        proc.terminate()
        started = time.monotonic()
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        stopped_in = time.monotonic() - started
        await blocker.rollback()
    assert stopped_in < 5, stopped_in
    assert source.acked == 0  # nothing acked: nothing was committed
    assert await _stored(database_url) == 0
    assert "collector_stop_forced" in log.read_text()
    proc = await spawn(database_url, source.url, log)
    try:
        await eventually(lambda: source.pending == 0, within=60, what="drained")
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    await assert_exactly_once(database_url, source)
