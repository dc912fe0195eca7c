"""usage_events and its rollups: store a batch exactly once, partitions, retention.

`store_rows` copies a batch into a per-connection staging table (binary COPY), then ONE
statement inserts the rows that are new into usage_events (`ON CONFLICT DO NOTHING ...
RETURNING`) and folds exactly those into usage_hourly, usage_hourly_users, usage_hourly_dims
and usage_daily_dims; the caller owns the transaction that makes it stick.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from psycopg import sql
from psycopg.pq import TransactionStatus

from services.collector.rollup_sql import RETURNED, comma, identifiers, rollup_ctes
from services.collector.rollup_sql import TOKEN_COLUMNS as TOKEN_COLUMNS  # re-exported
from services.core.db import Connection

TEXT_COLUMNS = (
    "request_id",
    "provider",
    "executor_type",
    "auth_type",
    "auth_index",
    "source",
    "endpoint",
    "model",
    "alias",
    "reasoning_effort",
    "service_tier",
    "client_ip",
    "user_agent",
    "refused",  # the limit that refused the request (0007); NULL when it went upstream
)
NOT_NULL_TEXT = frozenset({"provider", "auth_index", "model"})  # '' when the event has none
_PARTITION_NAME = re.compile(r"^usage_events_(\d{4})_(\d{2})$")


class EventRow(NamedTuple):
    """One validated event as the staging table takes it: final values (texts in
    NOT_NULL_TEXT are '' rather than None), one field per column, in column order."""

    event_id: uuid.UUID
    ts: datetime
    instance_id: str
    seq: int
    api_key_id: str
    latency_ms: int | None
    ttft_ms: int | None
    stream: bool
    failed: bool
    status_code: int | None
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cached_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    total_tokens: int
    request_id: str | None
    provider: str
    executor_type: str | None
    auth_type: str | None
    auth_index: str
    source: str | None
    endpoint: str | None
    model: str
    alias: str | None
    reasoning_effort: str | None
    service_tier: str | None
    client_ip: str | None
    user_agent: str | None
    refused: str | None


_SCALAR_TYPES: tuple[str, ...] = ("uuid", "timestamptz", "text", "bigint", "text", "integer")
_SCALAR_TYPES += ("integer", "boolean", "boolean", "integer")
STAGING_TYPES: tuple[str, ...] = (
    *_SCALAR_TYPES,
    *("bigint" for _ in TOKEN_COLUMNS),
    *("text" for _ in TEXT_COLUMNS),
)
assert EventRow._fields[10:] == (*TOKEN_COLUMNS, *TEXT_COLUMNS)
assert len(STAGING_TYPES) == len(EventRow._fields)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One validated event; `tokens` and `text` follow TOKEN_COLUMNS and TEXT_COLUMNS."""

    event_id: str  # canonical lowercase UUID text
    ts: datetime
    instance_id: str
    seq: int
    api_key_id: str
    latency_ms: int | None
    ttft_ms: int | None
    stream: bool
    failed: bool
    status_code: int | None
    tokens: tuple[int, int, int, int, int, int, int]
    text: tuple[str | None, ...]

    def row(self) -> EventRow:
        texts = tuple(
            (value or "") if name in NOT_NULL_TEXT else value
            for name, value in zip(TEXT_COLUMNS, self.text, strict=True)
        )
        return EventRow._make(
            (uuid.UUID(self.event_id), self.ts, self.instance_id, self.seq, self.api_key_id,
             self.latency_ms, self.ttft_ms, self.stream, self.failed, self.status_code,
             *self.tokens, *texts)
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one `record` call changed."""

    inserted: int
    hourly_rows: int


# The staging table lives as long as the session and is emptied by every commit, so it never
# holds more than one batch; temporary tables write no WAL. DELETE covers a second batch in the
# same transaction (the one-by-one fallback); it finds nothing otherwise. Both statements
# travel in one round trip.
_PREPARE_STAGING = (
    sql.SQL(
        "CREATE TEMP TABLE IF NOT EXISTS usage_events_staging ({columns}) ON COMMIT DELETE ROWS;"
        " DELETE FROM pg_temp.usage_events_staging"
    )
    .format(
        columns=comma(
            [
                sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
                for name, kind in zip(EventRow._fields, STAGING_TYPES, strict=True)
            ]
        )
    )
    .as_bytes(None)
)
_COPY = (
    sql.SQL("COPY pg_temp.usage_events_staging ({}) FROM STDIN (FORMAT binary)")
    .format(identifiers(EventRow._fields))
    .as_bytes(None)
)


def _store_statement() -> sql.Composed:
    stored = (*EventRow._fields, "user_key_id", "user_id", "cost_usd")
    prices: tuple[str, ...] = ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok")
    prices += ("cache_write_per_mtok", "reasoning_per_mtok")
    return sql.SQL(
        # Owners: one hash join against the batch's few distinct keys, not a probe per event.
        "WITH owners AS (SELECT DISTINCT ON (key_id) key_id, id, user_id FROM user_api_keys"
        "  WHERE key_id IN (SELECT api_key_id FROM pg_temp.usage_events_staging"
        "   WHERE api_key_id <> '')"
        "  ORDER BY key_id, revoked_at IS NOT NULL, id),"
        # Prices: one lookup per (provider, model) of the batch, valid for all its events
        # unless a price of that model takes effect within their time span (`steady`); only
        # those (rare: a page straddling a price change) are looked up per distinct instant
        # (`moments`). Both join by hash: no index probe per event.
        " spans AS MATERIALIZED (SELECT s.*, NOT EXISTS (SELECT 1 FROM model_pricing q"
        "   WHERE q.is_active AND q.effective_from > s.lo AND q.effective_from <= s.hi"
        "   AND lower(q.model) IN (lower(s.model), usage_model_base(s.model))) AS steady"
        "  FROM (SELECT provider, model, min(ts) AS lo, max(ts) AS hi"
        "   FROM pg_temp.usage_events_staging GROUP BY provider, model) s),"
        " steady AS MATERIALIZED (SELECT s.provider, s.model, {price_columns} FROM spans s"
        "  LEFT JOIN LATERAL usage_price_for(s.provider, s.model, s.hi) p ON true"
        "  WHERE s.steady),"
        # Evaluated once: with every span steady, the staging table is not even read here.
        " moments AS MATERIALIZED (SELECT m.provider, m.model, m.ts, {price_columns}"
        "  FROM (SELECT DISTINCT b.provider, b.model, b.ts"
        "   FROM pg_temp.usage_events_staging b JOIN spans s USING (provider, model)"
        "   WHERE NOT s.steady AND EXISTS (SELECT 1 FROM spans WHERE NOT steady)) m"
        "  LEFT JOIN LATERAL usage_price_for(m.provider, m.model, m.ts) p ON true),"
        " enriched AS ("
        "  SELECT b.*, o.id AS user_key_id, o.user_id,"
        "   coalesce(usage_event_cost(b.provider, b.input_tokens, b.output_tokens,"
        "    b.reasoning_tokens, b.cached_tokens, b.cache_read_tokens, b.cache_creation_tokens,"
        "    {either_price}), 0) AS cost_usd"
        "  FROM pg_temp.usage_events_staging b LEFT JOIN owners o ON o.key_id = b.api_key_id"
        "  LEFT JOIN steady s ON s.provider = b.provider AND s.model = b.model"
        "  LEFT JOIN moments m ON m.provider = b.provider AND m.model = b.model AND m.ts = b.ts),"
        " inserted AS ("
        "  INSERT INTO usage_events ({stored}) SELECT {stored} FROM enriched"
        "  ON CONFLICT DO NOTHING"
        "  RETURNING {returned}, width_bucket(latency_ms, usage_latency_bounds()) AS bucket),"
        "{rollups}"
        " SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM hourly)"
    ).format(
        price_columns=comma([sql.SQL("p.{}").format(sql.Identifier(c)) for c in prices]),
        either_price=comma(
            [sql.SQL("coalesce(s.{0}, m.{0})").format(sql.Identifier(c)) for c in prices]
        ),
        stored=identifiers(stored),
        returned=identifiers(RETURNED),
        rollups=rollup_ctes(),
    )


# Rendered once: composing this statement again costs about 10 ms of CPU per page.
_STORE = _store_statement().as_bytes(None)


async def store_rows(conn: Connection, rows: Sequence[EventRow]) -> Recorded:
    """Insert new events (repeats are skipped) and add exactly those rows to every rollup.

    Each event's partition must exist (`ensure_partitions`). Owners come from user_api_keys
    by `api_key_id`; cost from model_pricing at the event's time (0 when unpriced). Runs in
    the caller's transaction (or savepoint) when there is one, else in one of its own.
    """
    if not rows:
        return Recorded(0, 0)
    if conn.info.transaction_status == TransactionStatus.IDLE:
        async with conn.transaction():
            return await _store(conn, rows)
    return await _store(conn, rows)


async def _store(conn: Connection, rows: Sequence[EventRow]) -> Recorded:
    """COPY the rows into the staging table, then the one statement: three round trips."""
    async with conn.cursor() as cur:
        await cur.execute(_PREPARE_STAGING, prepare=False)
        async with cur.copy(_COPY) as copy:
            copy.set_types(STAGING_TYPES)
            for row in rows:
                await copy.write_row(row)
        await cur.execute(_STORE, prepare=True)
        counts = await cur.fetchone()
    assert counts is not None
    return Recorded(inserted=int(counts[0]), hourly_rows=int(counts[1]))


async def record(conn: Connection, events: list[NewEvent]) -> Recorded:
    """`store_rows` for NewEvent objects (tests and tools build those)."""
    return await store_rows(conn, [event.row() for event in events])


async def ensure_partitions(conn: Connection, instants: list[datetime]) -> list[str]:
    """Create the month partitions holding `instants` where missing; return their names."""
    months = sorted({(t.astimezone(UTC).year, t.astimezone(UTC).month) for t in instants})
    names: list[str] = []
    for year, month in months:
        cur = await conn.execute(
            "SELECT usage_ensure_partition(make_timestamptz(%s, %s, 1, 0, 0, 0, 'UTC'))",
            (year, month),
        )
        row = await cur.fetchone()
        assert row is not None
        names.append(str(row[0]))
    return names


async def list_partitions(conn: Connection) -> list[str]:
    """Names of the month partitions of usage_events, oldest first."""
    cur = await conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'usage_events'::regclass ORDER BY c.relname"
    )
    return [str(name) for (name,) in await cur.fetchall()]


async def drop_partitions_before(conn: Connection, year: int, month: int) -> list[str]:
    """Drop every month partition that ends on or before the start of (year, month).

    Rollups are separate tables, so history stays; only raw events of those months go.
    """
    dropped: list[str] = []
    for name in await list_partitions(conn):
        found = _PARTITION_NAME.match(name)
        if found and (int(found[1]), int(found[2])) < (year, month):
            await conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
            dropped.append(name)
    return dropped
