"""Usage history read from the rollups: series, totals, breakdowns; raw events only for the list.

Every read takes whole UTC days from a daily rollup and only the edge hours from its hourly
twin, or reads a rollup with a row or two per hour:

- no filter: series and totals from usage_hourly_totals (everyone) or usage_hourly_users (one
  user); breakdowns from usage_daily_dims and usage_hourly_dims;
- a filter by one of model, provider, key or credential (a provider may go with a model or a
  credential): series and totals from usage_hourly_dim_totals (everyone) or usage_hourly_dims
  (one user); breakdowns from usage_daily and usage_hourly, which keep every dimension;
- any other combination: series and totals from usage_hourly; breakdowns as above.

Latency p95 comes from the summed histograms (usage_hist_quantile), kept inside the observed
[min, max].
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from psycopg import sql
from psycopg.rows import class_row

from services.core.db import Connection
from services.core.latency_histogram import HIST_BUCKETS

DAY = timedelta(days=1)
_HIST = "ARRAY[{}]::bigint[]".format(
    ", ".join(f"sum(latency_hist[{i}])" for i in range(1, HIST_BUCKETS + 1))
)
_SUMMED = (
    *("requests", "failures", "input_tokens", "output_tokens", "cached_tokens"),
    *("reasoning_tokens", "cache_creation_tokens", "total_tokens", "latency_ms_sum"),
    *("latency_count", "ttft_ms_sum", "ttft_count"),
)
# Each query aggregates in two steps: first into a few partial rows (per bucket and user, or
# per breakdown value; the columns keep the rollups' names), then those into the answer. The
# costly part, 16 array subscripts per rollup row for the histogram, runs once per row in
# plain hash aggregation instead of once per grouping set.
_PARTIAL = sql.SQL(
    ", ".join(f"sum({c})::bigint AS {c}" for c in _SUMMED)
    + ", sum(cost_usd) AS cost_usd, max(latency_ms_max) AS latency_ms_max,"
    " min(latency_ms_min) AS latency_ms_min, " + _HIST + " AS latency_hist"
)
# The answer's metrics, from rollup rows or partial rows alike. coalesce: an empty window still
# has a totals row.
_METRICS = sql.SQL(
    ", ".join(f"coalesce(sum({c}), 0)::bigint AS {c}" for c in _SUMMED)
    + ", coalesce(sum(cost_usd), 0) AS cost_usd, max(latency_ms_max) AS latency_ms_max,"
    " min(latency_ms_min) AS latency_ms_min, usage_hist_quantile("
    + _HIST
    + ", 0.95, min(latency_ms_min), max(latency_ms_max)) AS p95_ms"
)
_COLUMNS = sql.SQL(
    "user_id, requests, failures, input_tokens, output_tokens, cached_tokens, reasoning_tokens,"
    " cache_creation_tokens, total_tokens, cost_usd, latency_ms_sum, latency_count,"
    " latency_ms_max, latency_ms_min, ttft_ms_sum, ttft_count, latency_hist"
)


@dataclass(frozen=True, slots=True)
class Scope:
    """What to count: a window of whole UTC hours, an owner and optional dimension filters."""

    start: datetime
    end: datetime
    bucket: Literal["hour", "day"]
    # Day buckets: the start (UTC) of every local day of the window, in order. An hour belongs
    # to the day holding its middle (services/dashboard/usage_window.py says why).
    day_starts: tuple[datetime, ...] = ()
    user_id: int | None = None  # None: every user (admins only)
    model: str | None = None
    provider: str | None = None
    api_key_id: str | None = None
    credential: str | None = None

    @property
    def narrow(self) -> bool:
        """Filtered by a model, provider, key or credential (not only by owner)."""
        return any((self.model, self.provider, self.api_key_id, self.credential))

    def params(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "day_starts": list(self.day_starts),
            "user_id": self.user_id,
            "model": self.model,
            "provider": self.provider,
            "api_key_id": self.api_key_id,
            "credential": self.credential,
        }


@dataclass(frozen=True, slots=True)
class Metrics:
    requests: int
    failures: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cache_creation_tokens: int
    total_tokens: int
    cost_usd: Decimal
    latency_ms_sum: int
    latency_count: int
    latency_ms_max: int | None
    latency_ms_min: int | None
    ttft_ms_sum: int
    ttft_count: int
    p95_ms: float | None


EMPTY = Metrics(0, 0, 0, 0, 0, 0, 0, 0, Decimal(0), 0, 0, None, None, 0, 0, None)


@dataclass(frozen=True, slots=True)
class Group(Metrics):
    """One row of a grouped answer; `kind` says which grouping it belongs to.

    kind: total | series (bucket) | user (user_id) | model (provider, value) |
    api_key (value) | credential (provider, value) | provider (provider)
    """

    kind: str
    bucket: datetime | None
    user_id: int | None
    provider: str | None
    value: str | None


def _bucket_expr(scope: Scope) -> sql.SQL:
    if scope.bucket == "hour":
        return sql.SQL("bucket_start")
    # A binary search in the window's day starts; cheaper than converting every row's time zone.
    return sql.SQL(
        "(%(day_starts)s::timestamptz[])[greatest(1, width_bucket("
        "bucket_start + interval '30 minutes', %(day_starts)s::timestamptz[]))]"
    )


def _where(scope: Scope, *, hourly: bool) -> sql.Composed:
    """Owner and (for usage_hourly) dimension filters; the time range is added by callers."""
    parts: list[sql.Composable] = [sql.SQL("true")]
    if scope.user_id is not None:
        parts.append(sql.SQL("user_id = %(user_id)s"))
    if hourly:
        for key in ("model", "provider", "api_key_id", "credential"):
            if getattr(scope, key) is not None:
                parts.append(sql.SQL("{0} = %({0})s").format(sql.SQL(key)))
    return sql.SQL(" AND ").join(parts)


async def _groups(conn: Connection, query: sql.Composed, scope: Scope) -> list[Group]:
    async with conn.cursor(row_factory=class_row(Group)) as cur:
        await cur.execute(query, scope.params())
        return await cur.fetchall()


async def tune(conn: Connection) -> None:
    """Settings for the reads below, inside the caller's transaction. Their aggregations are
    small and run side by side on other connections: parallel workers would only add start-up
    and merge cost; a larger work_mem keeps their sorts and hashes in memory."""
    await conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    await conn.execute("SET LOCAL work_mem = '32MB'")


async def totals_and_series(conn: Connection, scope: Scope) -> list[Group]:
    """Rows of kind total and series."""
    return await _groups(conn, _series_query(scope), scope)


async def breakdowns(conn: Connection, scope: Scope) -> list[Group]:
    """Rows of kind model, api_key, credential, provider and user."""
    query = _narrow_breakdowns_query(scope) if scope.narrow else _dims_query(scope)
    return await _groups(conn, query, scope)


def _one_dimension(scope: Scope) -> tuple[str, str] | None:
    """(dimension, filter on `value`) when the filters name one dimension of the
    one-dimension rollups (a provider goes with a model or a credential, or alone); None for
    other combinations, which only usage_hourly can answer."""
    if scope.api_key_id is not None:
        alone = scope.model is None and scope.provider is None and scope.credential is None
        return ("api_key", "value = %(api_key_id)s") if alone else None
    if scope.model is not None and scope.credential is not None:
        return None
    if scope.credential is not None:
        return "credential", "value = %(credential)s"
    return "model", "value = %(model)s" if scope.model is not None else "true"


def _series_source(scope: Scope) -> tuple[str, sql.Composable]:
    """The table a series reads and its filter (owner and dimensions; no time range).

    No dimension filter: the per-hour totals (everyone) or usage_hourly_users (one user).
    One dimension: usage_hourly_dim_totals (everyone) or usage_hourly_dims (one user), one or
    two rows per hour. Several dimensions: the full-detail usage_hourly."""
    if not scope.narrow:
        table = "usage_hourly_totals" if scope.user_id is None else "usage_hourly_users"
        return table, _where(scope, hourly=False)
    one = _one_dimension(scope)
    if one is None:
        return "usage_hourly", _where(scope, hourly=True)
    dimension, value = one
    parts: list[sql.Composable] = [_where(scope, hourly=False)]
    parts.append(sql.SQL("dimension = {}").format(sql.Literal(dimension)))
    parts.append(sql.SQL(value))
    if scope.provider is not None:
        parts.append(sql.SQL("provider = %(provider)s"))
    table = "usage_hourly_dim_totals" if scope.user_id is None else "usage_hourly_dims"
    return table, sql.SQL(" AND ").join(parts)


def _series_query(scope: Scope) -> sql.Composed:
    """Series and totals from the smallest rollup that holds the scope (_series_source)."""
    table, where = _series_source(scope)
    return sql.SQL(
        "WITH f AS MATERIALIZED (SELECT {bucket} AS b, {partial} FROM {table}"
        "  WHERE bucket_start >= %(start)s AND bucket_start < %(end)s AND {where}"
        "  GROUP BY 1)"
        " SELECT 'series' AS kind, b AS bucket, NULL::bigint AS user_id, NULL::text AS provider,"
        "  NULL::text AS value, {metrics} FROM f GROUP BY b"
        " UNION ALL SELECT 'total', NULL, NULL, NULL, NULL, {metrics} FROM f"
    ).format(
        partial=_PARTIAL,
        metrics=_METRICS,
        table=sql.Identifier(table),
        bucket=_bucket_expr(scope),
        where=where,
    )


def _day_edges(scope: Scope) -> tuple[datetime, datetime]:
    """The whole UTC days inside the window: [first, last) (empty when first >= last)."""
    start, end = scope.start.astimezone(UTC), scope.end.astimezone(UTC)
    first = start.replace(hour=0)
    if first < start:
        first += DAY
    last = end.replace(hour=0)
    return first, max(first, last)


def _daily_until(scope: Scope, last: datetime) -> sql.Composable:
    """Where the daily rows stop. A window usually ends in the current hour of a day still
    under way: when nothing is stored after the window's end that day (only clock-skewed
    events could be), that day's daily row equals its hours so far, so it replaces them."""
    if scope.end <= last:
        return sql.Literal(last)
    table, owner = ("usage_hourly_totals", sql.SQL(""))
    if scope.user_id is not None:
        table, owner = ("usage_hourly_users", sql.SQL(" AND user_id = %(user_id)s"))
    return sql.SQL(
        "CASE WHEN EXISTS (SELECT 1 FROM {table} WHERE bucket_start >= %(end)s"
        " AND bucket_start < {next}{owner}) THEN {last} ELSE {next} END"
    ).format(
        table=sql.Identifier(table),
        next=sql.Literal(last + DAY),
        owner=owner,
        last=sql.Literal(last),
    )


def _days_and_edges(
    scope: Scope, tables: tuple[str, str], columns: sql.Composable, where: sql.Composable
) -> sql.Composed:
    """Rows of a window from a (daily, hourly) pair of rollups: whole UTC days from the daily
    one, the hours at the edges from the hourly one. Defines the CTE `until` first. The whole
    days before the last are a range known when the query is planned, so the planner can
    estimate them and pick the index of a filter."""
    first, last = _day_edges(scope)
    return sql.SQL(
        "WITH until AS MATERIALIZED (SELECT {until} AS t)"
        " SELECT {columns} FROM {daily}"
        " WHERE bucket_start >= {first} AND bucket_start < {last} AND {where}"
        " UNION ALL SELECT {columns} FROM {daily}"
        " WHERE bucket_start = {last} AND (SELECT t FROM until) > {last} AND {where}"
        " UNION ALL SELECT {columns} FROM {hourly}"
        " WHERE ((bucket_start >= %(start)s AND bucket_start < least({first}, %(end)s))"
        "  OR (bucket_start >= (SELECT t FROM until) AND bucket_start < %(end)s)) AND {where}"
    ).format(
        until=_daily_until(scope, last),
        columns=columns,
        daily=sql.Identifier(tables[0]),
        hourly=sql.Identifier(tables[1]),
        first=sql.Literal(first),
        last=sql.Literal(last),
        where=where,
    )


def _dims_query(scope: Scope) -> sql.Composed:
    """Breakdowns by model, key, credential, provider and user from the one-dimension rollups
    (usage_daily_dims and usage_hourly_dims). A user total is the sum of the user's 'api_key'
    rows (every event has exactly one)."""
    rows = _days_and_edges(
        scope,
        ("usage_daily_dims", "usage_hourly_dims"),
        sql.SQL("dimension AS d, provider, value, {}").format(_COLUMNS),
        _where(scope, hourly=False),
    )
    return sql.SQL(
        "WITH f AS MATERIALIZED (SELECT d, provider, value,"
        "  CASE WHEN d = 'api_key' THEN user_id END AS uid, {partial} FROM ({rows}) r"
        "  GROUP BY 1, 2, 3, 4)"
        " SELECT d AS kind, NULL::timestamptz AS bucket, NULL::bigint AS user_id, provider,"
        "  value, {metrics} FROM f GROUP BY d, provider, value"
        " UNION ALL SELECT 'provider', NULL, NULL, provider, NULL, {metrics} FROM f"
        "  WHERE d = 'model' GROUP BY provider"
        " UNION ALL SELECT 'user', NULL, uid, NULL, NULL, {metrics} FROM f"
        "  WHERE d = 'api_key' GROUP BY uid"
    ).format(partial=_PARTIAL, metrics=_METRICS, rows=rows)


def _narrow_breakdowns_query(scope: Scope) -> sql.Composed:
    """Breakdowns under a model/provider/key/credential filter, from the full-detail rollups
    (usage_daily for whole days, usage_hourly for the edges): partial rows per full
    dimension key, then the grouping sets over those."""
    rows = _days_and_edges(
        scope,
        ("usage_daily", "usage_hourly"),
        sql.SQL("provider, model, api_key_id, credential, {}").format(_COLUMNS),
        _where(scope, hourly=True),
    )
    return sql.SQL(
        "WITH f AS MATERIALIZED (SELECT user_id, provider, model, api_key_id, credential,"
        "  {partial} FROM ({rows}) r GROUP BY 1, 2, 3, 4, 5)"
        " SELECT CASE WHEN grouping(user_id) = 0 THEN 'user' WHEN grouping(model) = 0 THEN 'model'"
        "  WHEN grouping(api_key_id) = 0 THEN 'api_key'"
        "  WHEN grouping(credential) = 0 THEN 'credential' ELSE 'provider' END AS kind,"
        " NULL::timestamptz AS bucket, user_id,"
        " CASE WHEN grouping(api_key_id) = 0 THEN '' ELSE provider END AS provider,"
        " coalesce(model, api_key_id, credential) AS value, {metrics} FROM f"
        " GROUP BY GROUPING SETS ((user_id), (provider, model), (api_key_id),"
        "  (provider, credential), (provider))"
    ).format(partial=_PARTIAL, metrics=_METRICS, rows=rows)
