"""usage_events and its rollups: store a batch exactly once, partitions, retention.

`record` inserts a batch and folds exactly the rows it inserted into usage_hourly,
usage_hourly_users, usage_hourly_dims and usage_daily_dims in one statement; the caller owns
the transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from psycopg import sql

from services.core.db import Connection
from services.core.latency_histogram import HIST_BUCKETS

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
    "refused",  # the limit that refused the request (0007); NULL when it went upstream
)
_NOT_NULL_TEXT = frozenset({"provider", "auth_index", "model"})  # '' when the event has none
_PARTITION_NAME = re.compile(r"^usage_events_(\d{4})_(\d{2})$")


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


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one `record` call changed."""

    inserted: int
    hourly_rows: int


# The batch travels as one JSON array of NewEvent objects (orjson serializes the dataclass in
# C) and is unpacked by json_to_recordset: far cheaper than 30 Python-dumped arrays.
_BATCH_RECORD = (
    "event_id uuid, ts timestamptz, instance_id text, seq bigint, api_key_id text,"
    " latency_ms integer, ttft_ms integer, stream boolean, failed boolean,"
    " status_code integer, tokens bigint[], text text[]"
)
_SCALARS: tuple[str, ...] = ("event_id", "ts", "instance_id", "seq", "api_key_id", "latency_ms")
_SCALARS += ("ttft_ms", "stream", "failed", "status_code")
# Rollup metric columns and how two partial values of each merge.
_ADDED: tuple[str, ...] = ("requests", "failures", *TOKEN_COLUMNS, "cost_usd", "latency_ms_sum")
_ADDED += ("latency_count", "ttft_ms_sum", "ttft_count")
_METRICS = (*_ADDED, "latency_ms_max", "latency_ms_min", "latency_hist")
_DIMS = ("user_id", "api_key_id", "provider", "model", "credential")


def _list(items: list[sql.Composable]) -> sql.Composed:
    return sql.SQL(", ").join(items)


def _names(names: tuple[str, ...] | list[str]) -> sql.Composed:
    return _list([sql.Identifier(name) for name in names])


def _hist(cell: str) -> sql.Composed:
    """ARRAY[<cell with {i}> for every bucket] — element-wise work without a SQL loop."""
    return sql.SQL("ARRAY[{}]").format(
        _list([sql.SQL(cell.format(i=i)) for i in range(1, HIST_BUCKETS + 1)])
    )


def _aggregate_inserted() -> sql.Composed:
    """Per UTC hour and every dimension: the sums of exactly the rows just inserted."""
    metrics: list[sql.Composable] = [
        sql.SQL("count(*)"),
        sql.SQL("count(*) FILTER (WHERE failed)"),
        *(sql.SQL("sum({})").format(sql.Identifier(c)) for c in (*TOKEN_COLUMNS, "cost_usd")),
        sql.SQL("coalesce(sum(latency_ms), 0)"),
        sql.SQL("count(latency_ms)"),
        sql.SQL("coalesce(sum(ttft_ms), 0)"),
        sql.SQL("count(ttft_ms)"),
        sql.SQL("max(latency_ms)"),
        sql.SQL("min(latency_ms)"),
        _hist("count(*) FILTER (WHERE bucket = {i})"),
    ]
    return sql.SQL(
        "SELECT date_trunc('hour', ts, 'UTC') AS bucket_start, user_id, api_key_id, provider,"
        " model, auth_index AS credential, {metrics} FROM inserted GROUP BY 1, 2, 3, 4, 5, 6"
    ).format(metrics=_list([sql.SQL("{} AS {}").format(m, sql.Identifier(n))
                            for m, n in zip(metrics, _METRICS, strict=True)]))  # fmt: skip


def _sums() -> sql.Composed:
    """Re-aggregate `agg` rows: add the sums, keep the max and min, add histograms
    element-wise."""
    sums: list[sql.Composable] = [sql.SQL("sum({})").format(sql.Identifier(c)) for c in _ADDED]
    sums += [sql.SQL("max(latency_ms_max)"), sql.SQL("min(latency_ms_min)")]
    sums.append(_hist("sum(latency_hist[{i}])"))
    return _list(sums)


def _upsert(table: str, dims: tuple[str, ...], select: sql.Composable) -> sql.Composed:
    """INSERT rows from `select` into a rollup, adding them to the groups that exist."""
    merges: list[sql.Composable] = [
        sql.SQL("{0} = t.{0} + EXCLUDED.{0}").format(sql.Identifier(c)) for c in _ADDED
    ]
    merges.append(sql.SQL("latency_ms_max = greatest(t.latency_ms_max, EXCLUDED.latency_ms_max)"))
    merges.append(sql.SQL("latency_ms_min = least(t.latency_ms_min, EXCLUDED.latency_ms_min)"))
    merges.append(sql.SQL("latency_hist = usage_hist_add(t.latency_hist, EXCLUDED.latency_hist)"))
    positions = _list([sql.Literal(i) for i in range(1, len(dims) + 2)])
    return sql.SQL(
        "INSERT INTO {table} AS t (bucket_start, {dims}, {metrics}) {select}"
        " ORDER BY {positions}"  # one lock order for every writer: no deadlocks between them
        " ON CONFLICT ON CONSTRAINT {key} DO UPDATE SET {merges} RETURNING 1"
    ).format(
        table=sql.Identifier(table),
        dims=_names(dims),
        metrics=_names(_METRICS),
        select=select,
        positions=positions,
        key=sql.Identifier(f"{table}_key"),
        merges=_list(merges),
    )


def _merge(table: str, dims: tuple[str, ...]) -> sql.Composed:
    """Fold `agg` into an hourly rollup keyed by `dims`."""
    positions = _list([sql.Literal(i) for i in range(1, len(dims) + 2)])
    select = sql.SQL("SELECT bucket_start, {dims}, {sums} FROM agg GROUP BY {positions}").format(
        dims=_names(dims), sums=_sums(), positions=positions
    )
    return _upsert(table, dims, select)


def _merge_dims(table: str, bucket: str) -> sql.Composed:
    """Fold `agg` into a one-dimension-at-a-time rollup (model, api_key, credential)."""
    start = sql.SQL("date_trunc({}, bucket_start, 'UTC')").format(sql.Literal(bucket))
    parts = [
        ("model", "provider", "model", "1, 2, 4, 5"),
        ("api_key", "''", "api_key_id", "1, 2, 5"),
        ("credential", "provider", "credential", "1, 2, 4, 5"),
    ]
    select = sql.SQL(" UNION ALL ").join(
        sql.SQL(
            "SELECT {start}, user_id, {dimension}, {provider}, {value}, {sums} FROM agg"
            " GROUP BY {groups}"
        ).format(
            start=start,
            dimension=sql.Literal(dimension),
            provider=sql.SQL(provider),
            value=sql.Identifier(value),
            sums=_sums(),
            groups=sql.SQL(groups),
        )
        for dimension, provider, value, groups in parts
    )
    return _upsert(table, ("user_id", "dimension", "provider", "value"), select)


def _batch_columns() -> sql.Composed:
    """SELECT list turning one json_to_recordset row into usage_events columns."""
    columns: list[sql.Composable] = [sql.Identifier(name) for name in _SCALARS]
    for i, name in enumerate(TOKEN_COLUMNS, start=1):
        columns.append(sql.SQL("tokens[{}] AS {}").format(sql.Literal(i), sql.Identifier(name)))
    for i, name in enumerate(TEXT_COLUMNS, start=1):
        value = sql.SQL("text[{}]").format(sql.Literal(i))
        if name in _NOT_NULL_TEXT:
            value = sql.SQL("coalesce({}, '')").format(value)
        columns.append(sql.SQL("{} AS {}").format(value, sql.Identifier(name)))
    return _list(columns)


def _record_statement() -> sql.Composed:
    names = (*_SCALARS, *TOKEN_COLUMNS, *TEXT_COLUMNS)
    stored = (*names, "user_key_id", "user_id", "cost_usd")
    returned: tuple[str, ...] = ("ts", "user_id", "api_key_id", "provider", "model", "auth_index")
    returned += ("failed",)
    returned += (*TOKEN_COLUMNS, "cost_usd", "latency_ms", "ttft_ms")
    return sql.SQL(
        "WITH batch AS (SELECT {columns}"
        "  FROM json_to_recordset(%(events)s::json) AS e({record})),"
        # Owners: one hash join against the batch's few distinct keys, not a probe per event.
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
        " agg AS MATERIALIZED ({aggregate}),"
        " hourly AS ({hourly}),"
        " by_user AS ({by_user}),"
        " hourly_dims AS ({hourly_dims}),"
        " daily_dims AS ({daily_dims})"
        " SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM hourly)"
    ).format(
        columns=_batch_columns(),
        record=sql.SQL(_BATCH_RECORD),
        stored=_names(stored),
        returned=_names(returned),
        aggregate=_aggregate_inserted(),
        hourly=_merge("usage_hourly", _DIMS),
        by_user=_merge("usage_hourly_users", ("user_id",)),
        hourly_dims=_merge_dims("usage_hourly_dims", "hour"),
        daily_dims=_merge_dims("usage_daily_dims", "day"),
    )


_RECORD = _record_statement()


async def record(conn: Connection, events: list[NewEvent]) -> Recorded:
    """Insert new events (repeats are skipped) and add exactly those rows to every rollup.

    Each event's partition must exist (`ensure_partitions`). Owners come from user_api_keys
    by `api_key_id`; cost from model_pricing at the event's time (0 when unpriced).
    """
    if not events:
        return Recorded(0, 0)
    cur = await conn.execute(_RECORD, {"events": orjson.dumps(events).decode()})
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
