"""usage_events and its rollups: store a batch exactly once, partitions, retention.

`record` inserts a batch and folds exactly the rows it inserted into usage_hourly, usage_daily
and usage_hourly_users, in one statement; the caller owns the transaction.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg import sql

from services.core.db import Connection

HIST_BUCKETS = 16
# Mirrors usage_latency_bounds() in SQL: bucket i covers [bound i, bound i+1) milliseconds.
LATENCY_BOUNDS_MS: tuple[int, ...] = (
    *(0, 100, 250, 500, 750, 1000, 1500, 2000),
    *(3000, 5000, 7500, 10000, 15000, 20000, 30000, 60000),
)
TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "total_tokens",
)
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
)
_NOT_NULL_TEXT = frozenset({"provider", "auth_index", "model"})  # '' when the event has none
_PARTITION_NAME = re.compile(r"^usage_events_(\d{4})_(\d{2})$")


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One validated event; `tokens` and `text` follow TOKEN_COLUMNS and TEXT_COLUMNS."""

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
    tokens: tuple[int, int, int, int, int, int, int]
    text: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one `record` call changed."""

    inserted: int
    hourly_rows: int


# Column name -> SQL array type, in the order of the unnest() below.
_BATCH_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "uuid"),
    ("ts", "timestamptz"),
    ("instance_id", "text"),
    ("seq", "bigint"),
    ("api_key_id", "text"),
    ("latency_ms", "integer"),
    ("ttft_ms", "integer"),
    ("stream", "boolean"),
    ("failed", "boolean"),
    ("status_code", "integer"),
    *((name, "bigint") for name in TOKEN_COLUMNS),
    *((name, "text") for name in TEXT_COLUMNS),
)
_SUMMED = (*TOKEN_COLUMNS, "cost_usd")


def _rollup(table: str, bucket: str, dims: tuple[str, ...], key: str) -> sql.Composed:
    """INSERT ... SELECT ... FROM inserted GROUP BY dims ON CONFLICT merge, for one rollup."""
    source_dims: list[sql.Composable] = [
        sql.SQL("date_trunc({}, ts, 'UTC')").format(sql.Literal(bucket))
    ]
    source_dims += [sql.Identifier("auth_index" if d == "credential" else d) for d in dims]
    hist = sql.SQL(", ").join(
        sql.SQL("count(*) FILTER (WHERE bucket = {})").format(sql.Literal(i))
        for i in range(1, HIST_BUCKETS + 1)
    )
    metrics: list[sql.Composable] = [
        sql.SQL("count(*)"),
        sql.SQL("count(*) FILTER (WHERE failed)"),
        *(sql.SQL("sum({})").format(sql.Identifier(c)) for c in _SUMMED),
        sql.SQL("coalesce(sum(latency_ms), 0)"),
        sql.SQL("count(latency_ms)"),
        sql.SQL("max(latency_ms)"),
        sql.SQL("coalesce(sum(ttft_ms), 0)"),
        sql.SQL("count(ttft_ms)"),
        sql.SQL("ARRAY[{}]").format(hist),
    ]
    added: tuple[str, ...] = ("requests", "failures", *_SUMMED, "latency_ms_sum", "latency_count")
    added += ("ttft_ms_sum", "ttft_count")
    merges: list[sql.Composable] = [
        sql.SQL("{0} = t.{0} + EXCLUDED.{0}").format(sql.Identifier(c)) for c in added
    ]
    merges.append(sql.SQL("latency_ms_max = greatest(t.latency_ms_max, EXCLUDED.latency_ms_max)"))
    merges.append(sql.SQL("latency_hist = usage_hist_add(t.latency_hist, EXCLUDED.latency_hist)"))
    targets: tuple[str, ...] = ("bucket_start", *dims, "requests", "failures", *_SUMMED)
    targets += ("latency_ms_sum", "latency_count", "latency_ms_max", "ttft_ms_sum", "ttft_count")
    targets += ("latency_hist",)
    positions = sql.SQL(", ").join(sql.Literal(i) for i in range(1, len(dims) + 2))
    return sql.SQL(
        "INSERT INTO {table} AS t ({targets}) SELECT {dims}, {metrics} FROM inserted"
        " GROUP BY {positions} ORDER BY {positions}"
        " ON CONFLICT ON CONSTRAINT {key} DO UPDATE SET {merges} RETURNING 1"
    ).format(
        table=sql.Identifier(table),
        targets=sql.SQL(", ").join(map(sql.Identifier, targets)),
        dims=sql.SQL(", ").join(source_dims),
        metrics=sql.SQL(", ").join(metrics),
        positions=positions,
        key=sql.Identifier(key),
        merges=sql.SQL(", ").join(merges),
    )


def _record_statement() -> sql.Composed:
    arrays = sql.SQL(", ").join(
        sql.SQL("{}::{}[]").format(sql.Placeholder(name), sql.SQL(kind))
        for name, kind in _BATCH_COLUMNS
    )
    names = [name for name, _ in _BATCH_COLUMNS]
    stored = [*names, "user_key_id", "user_id", "cost_usd"]
    dims = ("user_id", "api_key_id", "provider", "model", "credential")
    returned = ["ts", "user_id", "api_key_id", "provider", "model", "auth_index", "failed"]
    returned += [*TOKEN_COLUMNS, "cost_usd", "latency_ms", "ttft_ms"]
    return sql.SQL(
        "WITH batch AS (SELECT * FROM unnest({arrays}) AS b({names})),"
        " enriched AS ("
        "  SELECT b.*, k.id AS user_key_id, k.user_id,"
        "   coalesce(usage_event_cost(b.provider, b.input_tokens, b.output_tokens,"
        "    b.reasoning_tokens, b.cached_tokens, b.cache_read_tokens, b.cache_creation_tokens,"
        "    p.input_per_mtok, p.output_per_mtok, p.cached_input_per_mtok,"
        "    p.cache_write_per_mtok, p.reasoning_per_mtok), 0) AS cost_usd"
        "  FROM batch b"
        "  LEFT JOIN LATERAL (SELECT id, user_id FROM user_api_keys"
        "   WHERE key_id = b.api_key_id AND b.api_key_id <> ''"
        "   ORDER BY revoked_at IS NOT NULL, id LIMIT 1) k ON true"
        "  LEFT JOIN LATERAL usage_price_for(b.provider, b.model, b.ts) p ON true),"
        " inserted AS ("
        "  INSERT INTO usage_events ({stored}) SELECT {stored} FROM enriched"
        "  ON CONFLICT DO NOTHING"
        "  RETURNING {returned},"
        "   width_bucket(latency_ms, usage_latency_bounds()) AS bucket),"
        " hourly AS ({hourly}),"
        " daily AS ({daily}),"
        " by_user AS ({by_user})"
        " SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM hourly)"
    ).format(
        arrays=arrays,
        names=sql.SQL(", ").join(map(sql.Identifier, names)),
        stored=sql.SQL(", ").join(map(sql.Identifier, stored)),
        returned=sql.SQL(", ").join(map(sql.Identifier, returned)),
        hourly=_rollup("usage_hourly", "hour", dims, "usage_hourly_key"),
        daily=_rollup("usage_daily", "day", dims, "usage_daily_key"),
        by_user=_rollup("usage_hourly_users", "hour", ("user_id",), "usage_hourly_users_key"),
    )


_RECORD = _record_statement()


def _columns(events: list[NewEvent]) -> dict[str, list[object]]:
    columns: dict[str, list[object]] = {
        "event_id": [e.event_id for e in events],
        "ts": [e.ts for e in events],
        "instance_id": [e.instance_id for e in events],
        "seq": [e.seq for e in events],
        "api_key_id": [e.api_key_id for e in events],
        "latency_ms": [e.latency_ms for e in events],
        "ttft_ms": [e.ttft_ms for e in events],
        "stream": [e.stream for e in events],
        "failed": [e.failed for e in events],
        "status_code": [e.status_code for e in events],
    }
    for i, name in enumerate(TOKEN_COLUMNS):
        columns[name] = [e.tokens[i] for e in events]
    for i, name in enumerate(TEXT_COLUMNS):
        default = "" if name in _NOT_NULL_TEXT else None
        columns[name] = [e.text[i] if e.text[i] is not None else default for e in events]
    return columns


async def record(conn: Connection, events: list[NewEvent]) -> Recorded:
    """Insert new events (repeats are skipped) and add exactly those rows to every rollup.

    Each event's partition must exist (`ensure_partitions`). Owners come from user_api_keys
    by `api_key_id`; cost from model_pricing at the event's time (0 when unpriced).
    """
    if not events:
        return Recorded(0, 0)
    cur = await conn.execute(_RECORD, _columns(events))
    row = await cur.fetchone()
    assert row is not None
    return Recorded(inserted=int(row[0]), hourly_rows=int(row[1]))


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
