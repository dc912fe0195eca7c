"""usage_hourly_totals follows usage_hourly_users through its trigger, batch after batch."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg

from tests.integration.usage.seed import EventSpec, make_event, store_async

_COLUMNS = (
    "sum(requests), sum(failures), sum(input_tokens), sum(output_tokens),"
    " sum(reasoning_tokens), sum(cached_tokens), sum(cache_read_tokens),"
    " sum(cache_creation_tokens), sum(total_tokens), sum(cost_usd), sum(latency_ms_sum),"
    " sum(latency_count), max(latency_ms_max), min(latency_ms_min), sum(ttft_ms_sum),"
    " sum(ttft_count),"
    " usage_hist_sum(latency_hist)"
)


def _mismatches(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        expected = conn.execute(
            f"SELECT bucket_start, {_COLUMNS} FROM usage_hourly_users GROUP BY 1"
        ).fetchall()
        actual = conn.execute(
            f"SELECT bucket_start, {_COLUMNS} FROM usage_hourly_totals GROUP BY 1"
        ).fetchall()

    def rows(found: list[tuple]) -> set[tuple]:
        return {tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in found}

    return len(rows(expected) ^ rows(actual)) if expected else -1


async def test_totals_follow_inserts_and_updates(database_url) -> None:
    """Five batches into the same few hours (so most rows are updated, not inserted) and a
    replayed batch (nothing changes) leave the totals equal to a recount."""
    rng = random.Random(11)
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    batches = []
    seq = 0
    for _ in range(5):
        batch = []
        for _ in range(60):
            seq += 1
            at = base + timedelta(minutes=rng.randint(0, 180))
            batch.append(
                make_event(rng, seq, EventSpec(at=at, api_key_id=rng.choice(["", "a" * 16])))
            )
        batches.append(batch)
    for batch in batches:
        await store_async(database_url, batch)
    assert await store_async(database_url, batches[2]) == 0  # a replay inserts nothing
    assert _mismatches(database_url) == 0
    with psycopg.connect(database_url) as conn:
        (requests,) = conn.execute("SELECT sum(requests) FROM usage_hourly_totals").fetchone()
    assert requests == 300
