"""The spend the collector publishes per key (read from usage_daily since migration 0010) equals
the cost of the key's raw events of the UTC day and month."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.collector.spend import publication
from services.collector.usage_events import ensure_partitions, record
from tests.integration.usage.seed import EventSpec, key_id_for, make_event

NOW = datetime(2026, 10, 20, 12, 30, tzinfo=UTC)
KEYS = [key_id_for(name) for name in ("spend-a", "spend-b")]
# Today (also its first and last second), earlier this month, the month before.
MOMENTS = [
    NOW - timedelta(minutes=5),
    NOW.replace(hour=0, minute=0),
    NOW.replace(hour=23, minute=59, second=59),
    NOW - timedelta(days=3),
    NOW.replace(day=1, hour=0, minute=0),
    NOW.replace(day=1, hour=0) - timedelta(seconds=1),
]


async def test_published_spend_equals_the_raw_events_cost(db_conn) -> None:
    rng = random.Random(5)
    events = [
        make_event(rng, seq, EventSpec(at=MOMENTS[seq % len(MOMENTS)], api_key_id=KEYS[seq % 2]))
        for seq in range(1, 241)
    ]
    await ensure_partitions(db_conn, [e.ts for e in events])
    assert (await record(db_conn, events)).inserted == len(events)

    published = await publication(db_conn, NOW)

    day, month = NOW.replace(hour=0, minute=0), NOW.replace(day=1, hour=0, minute=0)
    cur = await db_conn.execute(
        "SELECT api_key_id, sum(cost_usd) FILTER (WHERE ts >= %s), sum(cost_usd)"
        " FROM usage_events WHERE ts >= %s GROUP BY 1",
        (day, month),
    )
    expected = {key: (float(d), float(m)) for key, d, m in await cur.fetchall()}
    assert set(expected) == set(KEYS)
    for key, (spent_day, spent_month) in expected.items():
        assert 0 < spent_day < spent_month
        assert published["keys"][key]["day"] == pytest.approx(spent_day, rel=1e-12)
        assert published["keys"][key]["month"] == pytest.approx(spent_month, rel=1e-12)
