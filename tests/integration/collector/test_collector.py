"""The collector against a fake outbox and real Postgres, run in-process."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import aiohttp

from services.collector.worker import Collector
from tests.fakes.usage_source import FakeUsageSource
from tests.integration.collector.helpers import (
    ALL_MATCH,
    add_user_with_keys,
    eventually,
    rollup_mismatches,
    stored_event_ids,
)


async def test_n_events_give_exactly_n_rows_and_correct_rollups(db_conn, source, start_collector):
    """2,500 events in pages of 200: each stored once, owners mapped, rollups equal a recount."""
    alice = await add_user_with_keys(db_conn, "alice", ["0123456789abcdef"])
    events = source.add_events(2500)
    await start_collector(source.url)
    await eventually(lambda: source.pending == 0, what="outbox drained")

    ids = await stored_event_ids(db_conn)
    assert sorted(ids) == sorted(str(e["event_id"]) for e in events)
    assert await rollup_mismatches(db_conn) == ALL_MATCH
    cur = await db_conn.execute(
        "SELECT api_key_id, user_id, count(*) FROM usage_events GROUP BY 1, 2 ORDER BY 1"
    )
    owners = {key: (user, n) for key, user, n in await cur.fetchall()}
    assert owners["0123456789abcdef"][0] == alice
    assert owners["fedcba9876543210"][0] is None  # no such key in the dashboard
    assert owners[""][0] is None
    cur = await db_conn.execute("SELECT sum(requests) FROM usage_hourly")
    assert (await cur.fetchone()) == (2500,)
    cur = await db_conn.execute(
        "SELECT instance_id, last_seq, events_stored FROM collector_cursors"
    )
    assert await cur.fetchall() == [("proxy-a", 2500, 2500)]
    assert source.acked == 2500


async def test_replayed_page_changes_nothing(db_conn, source, start_collector):
    """A page stored again (crash after commit, before ack) inserts nothing and keeps rollups."""
    source.add_events(300)
    collector = await start_collector(source.url, batch_size=1000)
    await eventually(lambda: source.pending == 0, what="outbox drained")
    collector.stop()
    await eventually(lambda: collector.status.role == "stopping", what="stopped")
    before = await (
        await db_conn.execute("SELECT * FROM usage_hourly ORDER BY 1, 2, 3, 4, 5, 6")
    ).fetchall()

    replay = FakeUsageSource(instance_id="proxy-a", api_key=source.api_key)
    for raw in source.history:  # the same events under the same seqs
        replay.add_raw(raw)
    await db_conn.execute("UPDATE collector_cursors SET last_seq = 0")  # forget, as after a crash
    await replay.start()
    try:
        await start_collector(replay.url)
        await eventually(lambda: replay.pending == 0, what="replay drained")
    finally:
        await replay.stop()
    after = await (
        await db_conn.execute("SELECT * FROM usage_hourly ORDER BY 1, 2, 3, 4, 5, 6")
    ).fetchall()
    assert after == before
    assert len(await stored_event_ids(db_conn)) == 300
    assert await rollup_mismatches(db_conn) == ALL_MATCH


async def test_malformed_events_are_set_aside_and_skipped(db_conn, source, start_collector):
    """Bad events land in usage_events_rejected with a reason; the good ones around them pass."""
    source.add_events(5)
    now = datetime.now(UTC)
    bad = [
        "not an object",
        {"seq": 100, "timestamp": now.isoformat()},  # no event_id
        {**source.add_events(1)[0], "timestamp": "yesterday"},
        {**source.add_events(1)[0], "tokens": {"input_tokens": "many"}},
        {**source.add_events(1)[0], "timestamp": (now + timedelta(days=30)).isoformat()},
        {**source.add_events(1)[0], "instance_id": "someone-else"},
    ]
    source.outbox = source.outbox[:5]  # the four templates above were only for fields
    source.history = source.history[:5]
    for raw in bad:
        source.add_raw(raw)
    good = source.add_events(5)
    await start_collector(source.url)
    await eventually(lambda: source.pending == 0, what="outbox drained")

    assert len(await stored_event_ids(db_conn)) == 10
    assert str(good[-1]["event_id"]) in await stored_event_ids(db_conn)
    cur = await db_conn.execute("SELECT reason FROM usage_events_rejected ORDER BY id")
    reasons = [r for (r,) in await cur.fetchall()]
    assert reasons == [
        "event is not a JSON object",
        "event_id is missing",
        "timestamp is not RFC 3339",
        "tokens.input_tokens is not a number",
        "timestamp is too far in the future",
        "instance_id differs from the page's instance_id",
    ]
    cur = await db_conn.execute("SELECT last_seq FROM collector_cursors")
    assert (await cur.fetchone()) == (source._last_seq,)


async def test_notify_wakes_the_collector_at_once(db_conn, source, start_collector):
    """With a 60 s idle interval, NOTIFY usage_collect gets new events stored within seconds."""
    source.add_events(10)
    collector = await start_collector(source.url, idle_interval_s=60)
    await eventually(lambda: source.pending == 0, what="first drain")
    await eventually(lambda: collector.status.proxies[source.url].last_drained_at, what="idle")
    source.add_events(10)
    started = time.monotonic()
    await db_conn.execute("NOTIFY usage_collect, 'test'")
    await eventually(lambda: source.pending == 0, within=10, what="woken drain")
    assert time.monotonic() - started < 5  # far below the 60 s idle interval
    assert len(await stored_event_ids(db_conn)) == 20


async def test_proxy_down_is_retried_with_backoff(db_conn, source, start_collector):
    """A proxy answering 503 is retried; the collector keeps running and then catches up."""
    source.down = True
    source.add_events(50)
    collector = await start_collector(source.url)
    await eventually(lambda: source.requests >= 3, what="retries")
    assert collector.status.proxies[source.url].last_error is not None
    assert collector.status.role == "leader"
    source.down = False
    await eventually(lambda: source.pending == 0, what="caught up")
    assert len(await stored_event_ids(db_conn)) == 50
    assert collector.status.proxies[source.url].last_error is None


async def test_health_and_metrics(db_conn, source, start_collector):
    """/healthz reports the role and per-proxy progress; /metrics counts stored events."""
    source.add_events(25)
    collector = await start_collector(source.url)
    await eventually(lambda: source.pending == 0, what="drained")
    await eventually(lambda: collector.status.proxies[source.url].last_drained_at, what="idle")
    await eventually(lambda: collector.health.port, what="health server")
    base = f"http://127.0.0.1:{collector.health.port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as resp:
            assert resp.status == 200
            health = await resp.json()
        async with http.get(f"{base}/metrics") as resp:
            metrics = await resp.text()
    assert health["role"] == "leader"
    assert health["database"] == "ok"
    assert health["proxies"][source.url]["cursor"] == 25
    assert f'usage_collector_events_stored_total{{proxy="{source.url}"}} 25.0' in metrics
    assert "usage_collector_leader 1.0" in metrics
    assert f'usage_collector_lag_seconds{{proxy="{source.url}"}}' in metrics


async def test_two_proxies_each_keep_their_cursor(db_conn, source, start_collector):
    """Two proxy instances are collected side by side with independent cursors."""
    other = FakeUsageSource(instance_id="proxy-b", api_key=source.api_key, seed=99)
    await other.start()
    try:
        source.add_events(120)
        other.add_events(80)
        await start_collector(source.url, other.url)
        await eventually(lambda: source.pending == 0 and other.pending == 0, what="both drained")
    finally:
        await other.stop()
    cur = await db_conn.execute("SELECT instance_id, last_seq FROM collector_cursors ORDER BY 1")
    assert await cur.fetchall() == [("proxy-a", 120), ("proxy-b", 80)]
    assert len(await stored_event_ids(db_conn)) == 200


async def test_standby_takes_over_when_the_leader_stops(db_conn, source, start_collector):
    """Two collectors: one leads, one stands by; stopping the leader hands over in seconds."""
    first: Collector = await start_collector(source.url)
    await eventually(lambda: first.leading.is_set(), what="first leads")
    second: Collector = await start_collector(source.url)
    await eventually(lambda: second.status.role == "standby", what="second stands by")
    first.stop()
    took = await eventually(lambda: second.leading.is_set(), what="takeover")
    assert took < 3
    source.add_events(40)
    await eventually(lambda: source.pending == 0, what="new leader collects")
    cur = await db_conn.execute("SELECT leader_id FROM collector_state")
    assert (await cur.fetchone()) == (second.status.leader_id,)


async def test_collector_state_row_reports_idle_and_errors(db_conn, source, start_collector):
    """collector_state says who leads, counts stored events and shows a proxy's error."""
    source.add_events(30)
    collector = await start_collector(source.url)
    await eventually(lambda: source.pending == 0, what="drained")

    async def state() -> tuple[object, ...] | None:
        cur = await db_conn.execute(
            "SELECT leader_id, status, events_stored, last_error FROM collector_state"
        )
        return await cur.fetchone()

    await eventually(
        lambda: _is(state(), (collector.status.leader_id, "idle", 30, None)), what="idle"
    )
    source.down = True
    await eventually(lambda: _status_is(state(), "error"), what="error state")
    row = await state()
    assert row is not None
    assert "HTTP 503" in str(row[3])


async def _is(pending, expected) -> bool:
    return (await pending) == expected


async def _status_is(pending, expected: str) -> bool:
    row = await pending
    return row is not None and row[1] == expected
