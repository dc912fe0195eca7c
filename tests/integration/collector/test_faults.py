"""Fault injection with real collector processes: kill -9, Postgres restarts, two at once.

Afterwards every event is stored exactly once and the rollups equal a recount of raw events.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from pathlib import Path

import psycopg
import pytest

from services.core.db import connect
from tests.conftest import free_port
from tests.fakes.usage_source import FakeUsageSource
from tests.integration.collector.helpers import (
    ALL_MATCH,
    API_KEY,
    eventually,
    rollup_mismatches,
    stored_event_ids,
)

ROOT = Path(__file__).resolve().parents[3]


async def spawn(
    database_url: str, url: str, log: Path, **overrides: str
) -> asyncio.subprocess.Process:
    """`python -m services.collector` with small batches and quick retries (`overrides`: more
    environment variables)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": database_url,
        "PROXY_URL": url,
        "COLLECTOR_API_KEY": API_KEY,
        "COLLECTOR_BATCH_SIZE": "50",
        "COLLECTOR_IDLE_INTERVAL": "0.2",
        "COLLECTOR_BACKOFF_INITIAL": "0.05",
        "COLLECTOR_BACKOFF_MAX": "0.5",
        "COLLECTOR_STANDBY_RETRY": "0.1",
        "COLLECTOR_HEALTH_PORT": str(free_port()),
        "USAGE_RETENTION_MONTHS": "0",
        "LOG_LEVEL": "INFO",
        **overrides,
    }
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.collector", cwd=ROOT, env=env, stdout=out, stderr=out
        )


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM a collector that is still running: it must finish cleanly (exit 0)."""
    if proc.returncode is None:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0


async def assert_exactly_once(database_url: str, source: FakeUsageSource) -> None:
    async with await connect(database_url, autocommit=True) as conn:
        ids = await stored_event_ids(conn)
        assert len(ids) == len(set(ids))
        assert sorted(ids) == sorted(str(e["event_id"]) for e in source.history)  # type: ignore[index]
        assert await rollup_mismatches(conn) == ALL_MATCH
        cur = await conn.execute("SELECT sum(requests) FROM usage_hourly")
        assert (await cur.fetchone()) == (len(source.history),)


async def leader_pid(database_url: str) -> int | None:
    async with await connect(database_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT leader_id FROM collector_state")
        row = await cur.fetchone()
    return int(row[0].rsplit(":", 1)[1]) if row and row[0] else None


async def test_kill_9_at_random_points(database_url, source, tmp_path):
    """Collectors killed at random moments of many batches lose and double nothing."""
    source.add_events(2000)
    source.ack_delay = 0.005  # a crash between commit and ack is one of the points we want
    rng = random.Random(20261127)
    kills = 0
    while source.pending and kills < 5:
        seen = source.requests
        proc = await spawn(database_url, source.url, tmp_path / "collector.log")
        await eventually(lambda s=seen: source.requests > s + 1, what="collector at work")
        await asyncio.sleep(rng.uniform(0.0, 0.3))  # the random crash point is the test
        proc.kill()
        await proc.wait()
        kills += 1
    proc = await spawn(database_url, source.url, tmp_path / "collector.log")
    try:
        await eventually(lambda: source.pending == 0, within=60, what="drained after kills")
    finally:
        await stop(proc)
    assert kills >= 3
    assert source.replays > 0  # pages were served again after crashes
    await assert_exactly_once(database_url, source)


async def test_postgres_restarts_with_two_collectors(pg_cluster, database_url, source, tmp_path):
    """Two collectors at once survive two Postgres restarts and store every event once."""
    if pg_cluster.data_dir is None:
        pytest.skip("needs a local cluster")
    source.add_events(2000)
    log = tmp_path / "collector.log"
    procs = [await spawn(database_url, source.url, log) for _ in range(2)]
    try:
        for threshold in (200, 1000):
            await eventually(lambda t=threshold: source.acked >= t, within=60, what="progress")
            await asyncio.to_thread(pg_cluster.restart)
        await eventually(lambda: source.pending == 0, within=60, what="drained after restarts")
        assert [p.returncode for p in procs] == [None, None]  # nobody exited on the outage
    finally:
        for proc in procs:
            await stop(proc)
    await assert_exactly_once(database_url, source)
    assert "database_unavailable" in log.read_text()


async def test_standby_takes_over_after_leader_is_killed(database_url, source, tmp_path):
    """kill -9 of the leader: the standby leads within seconds and keeps collecting."""
    source.add_events(100)
    log = tmp_path / "collector.log"
    procs = {}
    for _ in range(2):
        proc = await spawn(database_url, source.url, log)
        procs[proc.pid] = proc
    try:
        await eventually(lambda: source.pending == 0, what="first drain")
        first = await leader_pid(database_url)
        assert first in procs
        procs[first].kill()
        await procs[first].wait()
        killed_at = time.monotonic()

        async def other_leads() -> bool:
            try:
                return await leader_pid(database_url) not in (None, first)
            except psycopg.OperationalError:
                return False

        await eventually(other_leads, what="takeover")
        assert time.monotonic() - killed_at < 5
        source.add_events(100)
        await eventually(lambda: source.pending == 0, what="new leader collects")
    finally:
        for proc in procs.values():
            await stop(proc)
    await assert_exactly_once(database_url, source)
