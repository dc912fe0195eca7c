"""Month partitions: created ahead and on demand; retention drops raw months, keeps rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.collector import usage_events
from services.collector.worker import Collector
from services.core.db import connect
from tests.integration.collector.helpers import (
    eventually,
    rollup_mismatches,
    settings_for,
    stored_event_ids,
)


def _month_name(at: datetime) -> str:
    return f"usage_events_{at.year:04d}_{at.month:02d}"


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def test_partitions_ahead_and_on_demand(db_conn, source, start_collector):
    """This month and next exist once a leader runs; late events get their month created."""
    now = datetime.now(UTC)
    late = now - timedelta(days=100)
    source.add_events(10)
    source.add_events(10, timestamp=_iso(late))
    await start_collector(source.url)
    await eventually(lambda: source.pending == 0, what="drained")
    names = await usage_events.list_partitions(db_conn)
    next_month = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    assert {_month_name(now), _month_name(next_month), _month_name(late)} <= set(names)
    assert len(await stored_event_ids(db_conn)) == 20


async def test_retention_drops_old_months_and_keeps_rollups(
    database_url, db_conn, source, start_collector
):
    """Retention 2 months: older partitions go, rollups stay equal, old events are set aside."""
    now = datetime.now(UTC)
    old = now - timedelta(days=200)
    source.add_events(30)
    source.add_events(20, timestamp=_iso(old))
    collector = await start_collector(source.url)
    await eventually(lambda: source.pending == 0, what="drained")
    collector.stop()
    await eventually(lambda: collector.status.role == "stopping", what="stopped")
    rollups = "SELECT * FROM usage_hourly ORDER BY 1, 2, 3, 4, 5, 6"
    before = await (await db_conn.execute(rollups)).fetchall()
    assert _month_name(old) in await usage_events.list_partitions(db_conn)

    keeper = Collector(settings_for(database_url, source.url, retention_months=2))
    async with await connect(database_url, autocommit=True) as conn:
        await keeper.maintain(conn)
    assert _month_name(old) not in await usage_events.list_partitions(db_conn)
    assert _month_name(now) in await usage_events.list_partitions(db_conn)
    assert await (await db_conn.execute(rollups)).fetchall() == before
    cur = await db_conn.execute("SELECT sum(requests) FROM usage_hourly")
    assert (await cur.fetchone()) == (50,)
    assert len(await stored_event_ids(db_conn)) == 30
    assert (await rollup_mismatches(db_conn))["usage_hourly"] > 0  # raw months are gone

    source.add_events(1, timestamp=_iso(old))  # a straggler from a dropped month
    await start_collector(source.url, retention_months=2)
    await eventually(lambda: source.pending == 0, what="straggler handled")
    cur = await db_conn.execute("SELECT reason FROM usage_events_rejected")
    assert await cur.fetchall() == [("timestamp is older than the retention window",)]
    assert (await (await db_conn.execute("SELECT sum(requests) FROM usage_hourly")).fetchone()) == (
        50,
    )
