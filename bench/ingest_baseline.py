"""The collector's previous batch insert, kept so the ingest benchmark can measure it against
the current one in the same run (same machine load, same events, same PostgreSQL).

Until December 2026 a page travelled as one JSON parameter (orjson-serialized event objects)
unpacked by json_to_recordset, and each event looked its price up with an index probe. The
rollup half of the statement is the current one (`rollup_ctes`), and the events come from the
current validation (rows, turned into dicts here, where the previous code serialized its own
dataclass): only the way rows get in differs. `previous_insert()` swaps it in for
`usage_events.store_rows` while it is active.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import orjson
from psycopg import sql

from services.collector import events, ingest, rollup_sql, usage_events
from services.collector.rollup_sql import RETURNED, comma, identifiers, rollup_ctes
from services.collector.usage_events import (
    STAGING_TYPES,
    EventRow,
    Recorded,
)
from services.core.db import Connection

# The batch arrives as a JSON array of objects, one per event, typed by this record.
_BATCH_RECORD = comma(
    [
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
        for name, kind in zip(EventRow._fields, STAGING_TYPES, strict=True)
    ]
)


def _statement() -> sql.Composed:
    stored = (*EventRow._fields, "user_key_id", "user_id", "cost_usd")
    return sql.SQL(
        "WITH batch AS (SELECT * FROM json_to_recordset(%(events)s::json) AS e({record})),"
        " owners AS (SELECT DISTINCT ON (key_id) key_id, id, user_id FROM user_api_keys"
        "  WHERE key_id IN (SELECT api_key_id FROM batch WHERE api_key_id <> '')"
        "  ORDER BY key_id, revoked_at IS NOT NULL, id),"
        " pricing AS (SELECT EXISTS (SELECT 1 FROM model_pricing WHERE is_active) AS found),"
        " enriched AS ("
        "  SELECT b.*, o.id AS user_key_id, o.user_id,"
        "   coalesce(usage_event_cost(b.provider, b.input_tokens, b.output_tokens,"
        "    b.reasoning_tokens, b.cached_tokens, b.cache_read_tokens, b.cache_creation_tokens,"
        "    p.input_per_mtok, p.output_per_mtok, p.cached_input_per_mtok,"
        "    p.cache_write_per_mtok, p.reasoning_per_mtok), 0) AS cost_usd"
        "  FROM batch b LEFT JOIN owners o ON o.key_id = b.api_key_id"
        "  LEFT JOIN LATERAL (SELECT * FROM usage_price_for(b.provider, b.model, b.ts)"
        "   WHERE (SELECT found FROM pricing)) p ON true),"
        " inserted AS ("
        "  INSERT INTO usage_events ({stored}) SELECT {stored} FROM enriched"
        "  ON CONFLICT DO NOTHING"
        "  RETURNING {returned}, width_bucket(latency_ms, usage_latency_bounds()) AS bucket),"
        "{rollups}"
        " SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM hourly)"
    ).format(
        record=_BATCH_RECORD,
        stored=identifiers(stored),
        returned=identifiers(RETURNED),
        rollups=rollup_ctes(),
    )


_RECORD = _statement()


async def store_rows(conn: Connection, rows: Sequence[EventRow]) -> Recorded:
    """The previous `usage_events.store_rows`: the batch as one JSON parameter."""
    if not rows:
        return Recorded(0, 0)
    batch = orjson.dumps([row._asdict() for row in rows]).decode()
    cur = await conn.execute(_RECORD, {"events": batch})
    row = await cur.fetchone()
    assert row is not None
    return Recorded(inserted=int(row[0]), hourly_rows=int(row[1]))


@contextlib.contextmanager
def previous_insert() -> Iterator[None]:
    """Let the collector store pages with the previous insert while active."""
    current = usage_events.store_rows
    usage_events.store_rows = store_rows
    try:
        yield
    finally:
        usage_events.store_rows = current


def _rollups_before_0010() -> sql.Composed:
    """The rollup CTEs as they were before migration 0010 (no usage_daily and no
    usage_hourly_dim_totals)."""
    return sql.SQL(
        " agg AS MATERIALIZED ({aggregate}), hourly AS ({hourly}), by_user AS ({by_user}),"
        " hourly_dims AS ({hourly_dims}), daily_dims AS ({daily_dims})"
    ).format(
        aggregate=rollup_sql._aggregate_inserted(),
        hourly=rollup_sql._merge("usage_hourly", rollup_sql._DIMS),
        by_user=rollup_sql._merge("usage_hourly_users", ("user_id",)),
        hourly_dims=rollup_sql._merge_dims("usage_hourly_dims", "hour"),
        daily_dims=rollup_sql._merge_dims("usage_daily_dims", "day"),
    )


@contextlib.contextmanager
def rollups_before_0010() -> Iterator[None]:
    """Let the collector store pages with the current insert minus the two rollups of
    migration 0010 while active: what those rollups cost per event."""
    current_ctes, current_store = usage_events.rollup_ctes, usage_events._STORE
    usage_events.rollup_ctes = _rollups_before_0010
    try:
        usage_events._STORE = usage_events._store_statement().as_bytes(None)
    finally:
        usage_events.rollup_ctes = current_ctes
    try:
        yield
    finally:
        usage_events._STORE = current_store


@contextlib.contextmanager
def full_validator() -> Iterator[None]:
    """Let the collector validate every event with the full validator alone (no compiled fast
    path, as before December 2026) while active: what `event_shape` saves per event."""
    current = ingest.parse_event
    ingest.parse_event = events.check_event
    try:
        yield
    finally:
        ingest.parse_event = current
