"""The page insert (`usage_events.store_rows`): a staging table per session, one statement.

What the staging table must never do: carry rows of a failed page into the next one, or let
a second batch in the same transaction (the one-by-one fallback) count the first one again.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from services.collector import usage_events
from services.collector.events import TimeWindow, parse_event
from services.collector.usage_events import EventRow
from services.core.db import Connection
from tests.fakes.usage_source import make_event

NOW = datetime.now(UTC).replace(microsecond=0)
WINDOW = TimeWindow(oldest=NOW - timedelta(days=400), newest=NOW + timedelta(days=1))


class _Abort(Exception):
    """Raised inside a transaction to roll it back."""


def rows(first_seq: int, count: int, at: datetime = NOW) -> list[EventRow]:
    rng = random.Random(first_seq)
    made = []
    for seq in range(first_seq, first_seq + count):
        row = parse_event(make_event(seq, "proxy-s", rng, at=at), "proxy-s", WINDOW)
        assert isinstance(row, EventRow)
        made.append(row)
    return made


async def totals(conn: Connection) -> tuple[int, int]:
    """Stored events, and requests counted by the hourly rollup."""
    cur = await conn.execute(
        "SELECT (SELECT count(*) FROM usage_events),"
        " (SELECT coalesce(sum(requests), 0) FROM usage_hourly)"
    )
    found = await cur.fetchone()
    assert found is not None
    return int(found[0]), int(found[1])


async def test_a_rolled_back_page_leaves_nothing_for_the_next(db_conn) -> None:
    """The first page of a session fails after its rows reached the staging table (the table
    itself is created in that transaction); the next page on the same session stores only its
    own rows, each once."""
    await usage_events.ensure_partitions(db_conn, [NOW])
    with pytest.raises(_Abort):
        async with db_conn.transaction():
            assert (await usage_events.store_rows(db_conn, rows(1, 50))).inserted == 50
            raise _Abort
    assert await totals(db_conn) == (0, 0)
    stored = await usage_events.store_rows(db_conn, rows(51, 30))
    assert stored.inserted == 30
    assert await totals(db_conn) == (30, 30)


async def test_a_page_refused_for_a_missing_partition_stores_after_the_repair(db_conn) -> None:
    """A database error inside the statement (no partition for the month) rolls the page back;
    once the partition exists, the same session stores it exactly once."""
    await usage_events.ensure_partitions(db_conn, [NOW])
    late = NOW - timedelta(days=200)  # a month nothing created yet
    page = rows(1, 10) + rows(11, 5, at=late)
    with pytest.raises(psycopg.errors.CheckViolation):
        await usage_events.store_rows(db_conn, page)
    assert await totals(db_conn) == (0, 0)
    await usage_events.ensure_partitions(db_conn, [late])
    assert (await usage_events.store_rows(db_conn, page)).inserted == 15
    assert (await usage_events.store_rows(db_conn, page)).inserted == 0  # a replay
    assert await totals(db_conn) == (15, 15)


async def test_batches_in_one_transaction_count_once_each(db_conn) -> None:
    """The one-by-one fallback stores several batches in one transaction: each adds only its
    own rows to the rollups."""
    await usage_events.ensure_partitions(db_conn, [NOW])
    async with db_conn.transaction():
        for seq in range(1, 6):
            assert (await usage_events.store_rows(db_conn, rows(seq, 1))).inserted == 1
    assert await totals(db_conn) == (5, 5)
