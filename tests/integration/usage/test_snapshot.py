"""One usage page, one snapshot: the collector committing between the page's reads cannot make
its totals and series disagree with its tables and request list (issue 11: totals 0 while the
tables showed 6 requests).

The dashboard's pool gets a cursor that runs its statements one at a time and, after each one,
lets the collector commit one more event (through `usage_events.record`, as the collector
does). Whatever order the page's concurrent reads run in, every pair of them is separated by a
commit; only reads sharing one snapshot can agree.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from services.collector.usage_events import ensure_partitions, record
from services.core import db
from services.dashboard import app as dashboard_app
from tests.integration.usage.asgi import dashboard, sign_in
from tests.integration.usage.seed import EventSpec, make_event


class Collector:
    """Commits one event per call on its own connection, like the collector's transaction."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.rng = random.Random(11)
        self.seq = 0
        self.lock = asyncio.Lock()
        self.armed = False
        self.commits = 0
        self.conn: db.Connection | None = None

    async def commit_one(self) -> None:
        assert self.conn is not None
        self.seq += 1
        at = datetime.now(UTC) - timedelta(minutes=1)
        event = make_event(self.rng, self.seq, EventSpec(at=at, model="gpt-5.4", provider="openai"))
        async with self.conn.transaction():
            await record(self.conn, [event])
        self.commits += 1


COLLECTOR: Collector | None = None


class CommitBetweenStatements(psycopg.AsyncCursor[Any]):
    """Runs one statement at a time across the whole pool, then commits another event."""

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        gate = COLLECTOR
        if gate is None or not gate.armed:
            return await super().execute(*args, **kwargs)
        async with gate.lock:
            result = await super().execute(*args, **kwargs)
            await gate.commit_one()
            return result


@pytest.fixture
async def collector(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Collector]:
    global COLLECTOR
    gate = Collector(database_url)
    async with await db.connect(database_url, autocommit=True) as conn:
        gate.conn = conn
        await ensure_partitions(conn, [datetime.now(UTC)])
        for _ in range(6):  # the six requests of the report
            await gate.commit_one()
        gate.commits = 0
        COLLECTOR = gate
        pool = functools.partial(db.open_pool, cursor_factory=CommitBetweenStatements)
        monkeypatch.setattr(dashboard_app, "open_pool", pool)
        try:
            yield gate
        finally:
            COLLECTOR = None


def _consistent(data: dict[str, Any]) -> int:
    """The page's request count, after checking every part of it says the same."""
    total = data["totals"]["requests"]
    assert sum(p["requests"] for p in data["series"]) == total
    for name in ("model", "apiKey", "provider", "user", "credential"):
        assert sum(r["requests"] for r in data["breakdowns"][name]) == total, name
    assert len(data["events"]["items"]) == total
    return int(total)


async def test_history_reads_one_snapshot(database_url: str, collector: Collector) -> None:
    async with dashboard(database_url) as client:
        headers = await sign_in(client, "admin", setup=True)
        collector.armed = True
        response = await client.get(
            "/api/usage/history?window=24h&eventsLimit=500", headers=headers
        )
        collector.armed = False
    assert response.status_code == 200, response.text
    assert collector.commits >= 5, "the collector committed between the reads"
    seen = _consistent(response.json()["data"])
    assert 6 <= seen < 6 + collector.commits


async def test_the_usage_page_reads_one_snapshot(database_url: str, collector: Collector) -> None:
    async with dashboard(database_url) as client:
        headers = await sign_in(client, "admin", setup=True)
        collector.armed = True
        page = await client.get("/dashboard/usage?window=24h&tz=UTC", headers=headers)
        collector.armed = False
    assert page.status_code == 200, page.text
    assert collector.commits >= 5
    html = page.text
    shown = int(html.split('data-stat="requests">', 1)[1].split("<", 1)[0])
    table = html.split('<table class="events"', 1)[1].split("</table>", 1)[0]
    rows = table.count('<td class="mono nowrap"')
    assert rows == min(shown, 50), (shown, rows)
