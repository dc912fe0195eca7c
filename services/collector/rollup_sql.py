"""SQL of the usage rollups: aggregate the rows a statement inserted (its `inserted` CTE) per
UTC hour and dimension, then add them to usage_hourly, usage_hourly_users, usage_hourly_dims,
usage_daily_dims, usage_daily and usage_hourly_dim_totals in one upsert each
(usage_hourly_totals follows usage_hourly_users through its trigger, migration 0004).

Rollups hold sums, never averages, so partial rows merge by addition (histograms element-wise,
minimum and maximum by least/greatest); every writer locks rollup rows in one key order.
"""

from __future__ import annotations

from psycopg import sql

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
# What an `inserted` CTE must return for `aggregate_inserted` (and `bucket`, the row's
# latency histogram bucket).
RETURNED: tuple[str, ...] = ("ts", "user_id", "api_key_id", "provider", "model", "auth_index")
RETURNED += ("failed", *TOKEN_COLUMNS, "cost_usd", "latency_ms", "ttft_ms")

# Rollup metric columns and how two partial values of each merge.
_ADDED: tuple[str, ...] = ("requests", "failures", *TOKEN_COLUMNS, "cost_usd", "latency_ms_sum")
_ADDED += ("latency_count", "ttft_ms_sum", "ttft_count")
_METRICS = (*_ADDED, "latency_ms_max", "latency_ms_min", "latency_hist")
_DIMS = ("user_id", "api_key_id", "provider", "model", "credential")


def comma(items: list[sql.Composable]) -> sql.Composed:
    return sql.SQL(", ").join(items)


def identifiers(names: tuple[str, ...] | list[str]) -> sql.Composed:
    return comma([sql.Identifier(name) for name in names])


def _hist(cell: str) -> sql.Composed:
    """ARRAY[<cell with {i}> for every bucket] — element-wise work without a SQL loop."""
    return sql.SQL("ARRAY[{}]").format(
        comma([sql.SQL(cell.format(i=i)) for i in range(1, HIST_BUCKETS + 1)])
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
    ).format(metrics=comma([sql.SQL("{} AS {}").format(m, sql.Identifier(n))
                            for m, n in zip(metrics, _METRICS, strict=True)]))  # fmt: skip


def _sums() -> sql.Composed:
    """Re-aggregate `agg` rows: add the sums, keep the max and min, add histograms
    element-wise."""
    sums: list[sql.Composable] = [sql.SQL("sum({})").format(sql.Identifier(c)) for c in _ADDED]
    sums += [sql.SQL("max(latency_ms_max)"), sql.SQL("min(latency_ms_min)")]
    sums.append(_hist("sum(latency_hist[{i}])"))
    return comma(sums)


def _upsert(table: str, dims: tuple[str, ...], select: sql.Composable) -> sql.Composed:
    """INSERT rows from `select` into a rollup, adding them to the groups that exist."""
    merges: list[sql.Composable] = [
        sql.SQL("{0} = t.{0} + EXCLUDED.{0}").format(sql.Identifier(c)) for c in _ADDED
    ]
    merges.append(sql.SQL("latency_ms_max = greatest(t.latency_ms_max, EXCLUDED.latency_ms_max)"))
    merges.append(sql.SQL("latency_ms_min = least(t.latency_ms_min, EXCLUDED.latency_ms_min)"))
    merges.append(sql.SQL("latency_hist = usage_hist_add(t.latency_hist, EXCLUDED.latency_hist)"))
    positions = comma([sql.Literal(i) for i in range(1, len(dims) + 2)])
    return sql.SQL(
        "INSERT INTO {table} AS t (bucket_start, {dims}, {metrics}) {select}"
        " ORDER BY {positions}"  # one lock order for every writer: no deadlocks between them
        " ON CONFLICT ON CONSTRAINT {key} DO UPDATE SET {merges} RETURNING 1"
    ).format(
        table=sql.Identifier(table),
        dims=identifiers(dims),
        metrics=identifiers(_METRICS),
        select=select,
        positions=positions,
        key=sql.Identifier(f"{table}_key"),
        merges=comma(merges),
    )


def _start(bucket: str) -> sql.Composable:
    """The rollup's bucket of an `agg` row (whose bucket_start is a UTC hour)."""
    if bucket == "hour":
        return sql.SQL("bucket_start")
    return sql.SQL("date_trunc({}, bucket_start, 'UTC')").format(sql.Literal(bucket))


def _merge(table: str, dims: tuple[str, ...], bucket: str = "hour") -> sql.Composed:
    """Fold `agg` into a rollup keyed by `dims` per UTC hour or day."""
    positions = comma([sql.Literal(i) for i in range(1, len(dims) + 2)])
    select = sql.SQL("SELECT {start}, {dims}, {sums} FROM agg GROUP BY {positions}").format(
        start=_start(bucket), dims=identifiers(dims), sums=_sums(), positions=positions
    )
    return _upsert(table, dims, select)


def _merge_dims(table: str, bucket: str, *, per_user: bool = True) -> sql.Composed:
    """Fold `agg` into a one-dimension-at-a-time rollup (model, api_key, credential), per
    owner or (per_user=False) for everyone together."""
    owner = ("user_id",) if per_user else ()
    parts = [
        ("model", "provider", "model", ("provider", "model")),
        ("api_key", "''", "api_key_id", ("api_key_id",)),
        ("credential", "provider", "credential", ("provider", "credential")),
    ]
    select = sql.SQL(" UNION ALL ").join(
        sql.SQL(
            "SELECT {start}, {owner}{dimension}, {provider}, {value}, {sums} FROM agg"
            " GROUP BY 1, {groups}"
        ).format(
            start=_start(bucket),
            owner=sql.SQL("user_id, " if per_user else ""),
            dimension=sql.Literal(dimension),
            provider=sql.SQL(provider),
            value=sql.Identifier(value),
            sums=_sums(),
            groups=identifiers((*owner, *groups)),
        )
        for dimension, provider, value, groups in parts
    )
    return _upsert(table, (*owner, "dimension", "provider", "value"), select)


def rollup_ctes() -> sql.Composed:
    """CTEs to follow an `inserted` CTE (returning RETURNED and `bucket`): `agg`, then one
    upsert per rollup table (`hourly` returns one row per usage_hourly group it touched)."""
    return sql.SQL(
        " agg AS MATERIALIZED ({aggregate}),"
        " hourly AS ({hourly}),"
        " by_user AS ({by_user}),"
        " hourly_dims AS ({hourly_dims}),"
        " daily_dims AS ({daily_dims}),"
        " daily AS ({daily}),"
        " dim_totals AS ({dim_totals})"
    ).format(
        aggregate=_aggregate_inserted(),
        hourly=_merge("usage_hourly", _DIMS),
        by_user=_merge("usage_hourly_users", ("user_id",)),
        hourly_dims=_merge_dims("usage_hourly_dims", "hour"),
        daily_dims=_merge_dims("usage_daily_dims", "day"),
        daily=_merge("usage_daily", _DIMS, "day"),
        dim_totals=_merge_dims("usage_hourly_dim_totals", "hour", per_user=False),
    )
