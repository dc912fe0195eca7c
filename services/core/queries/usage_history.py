"""Usage history read from the rollups: series, totals, breakdowns; raw events only for the list.

Without a model/provider/key/credential filter, series and totals come from usage_hourly_users
and breakdowns from usage_daily_dims (whole UTC days) plus usage_hourly_dims (the edge hours);
with one, everything comes from usage_hourly, which keeps every dimension. Latency p95 comes
from the summed histograms (usage_hist_quantile).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from psycopg import sql
from psycopg.rows import class_row

from services.core.db import Connection
from services.core.queries.usage_events import HIST_BUCKETS

DAY = timedelta(days=1)
_HIST = "ARRAY[{}]::bigint[]".format(
    ", ".join(f"sum(latency_hist[{i}])" for i in range(1, HIST_BUCKETS + 1))
)
# One aggregate per metric; every rollup table has these columns.
_SUMMED = (
    *("requests", "failures", "input_tokens", "output_tokens", "cached_tokens"),
    *("reasoning_tokens", "cache_creation_tokens", "total_tokens", "latency_ms_sum"),
    *("latency_count", "ttft_ms_sum", "ttft_count"),
)
# One aggregate per metric; every rollup table has these columns. coalesce: an empty window
# still has a totals row.
_METRICS = sql.SQL(
    ", ".join(f"coalesce(sum({c}), 0)::bigint AS {c}" for c in _SUMMED)
    + ", coalesce(sum(cost_usd), 0) AS cost_usd, max(latency_ms_max) AS latency_ms_max,"
    " usage_hist_quantile(" + _HIST + ", 0.95, max(latency_ms_max)) AS p95_ms"
)
_COLUMNS = sql.SQL(
    "user_id, requests, failures, input_tokens, output_tokens, cached_tokens, reasoning_tokens,"
    " cache_creation_tokens, total_tokens, cost_usd, latency_ms_sum, latency_count,"
    " latency_ms_max, ttft_ms_sum, ttft_count, latency_hist"
)


@dataclass(frozen=True, slots=True)
class Scope:
    """What to count: a window of whole UTC hours, an owner and optional dimension filters."""

    start: datetime
    end: datetime
    tz: str
    bucket: Literal["hour", "day"]
    user_id: int | None = None  # None: every user (admins only)
    model: str | None = None
    provider: str | None = None
    api_key_id: str | None = None
    credential: str | None = None

    @property
    def narrow(self) -> bool:
        """Filtered by a dimension only usage_hourly keeps."""
        return any((self.model, self.provider, self.api_key_id, self.credential))

    def params(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "tz": self.tz,
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
    ttft_ms_sum: int
    ttft_count: int
    p95_ms: float | None


EMPTY = Metrics(0, 0, 0, 0, 0, 0, 0, 0, Decimal(0), 0, 0, None, 0, 0, None)


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
    # The local day holding the hour's middle (see services/dashboard/usage_window.py).
    return sql.SQL("date_trunc('day', bucket_start + interval '30 minutes', %(tz)s::text)")


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


async def summarize(conn: Connection, scope: Scope, *, breakdowns: bool = True) -> list[Group]:
    """Totals, the series and (unless `breakdowns` is false) the rows by user, model, key,
    credential and provider."""
    if scope.narrow:
        return await _groups(conn, _narrow_query(scope), scope)
    groups = await _groups(conn, _series_query(scope), scope)
    if breakdowns:
        groups += await _groups(conn, _dims_query(scope), scope)
    return groups


def _series_query(scope: Scope) -> sql.Composed:
    """Series, totals and per-user rows from usage_hourly_users in one scan."""
    return sql.SQL(
        "SELECT CASE WHEN grouping(b) = 0 THEN 'series'"
        "  WHEN grouping(user_id) = 0 THEN 'user' ELSE 'total' END AS kind,"
        " b AS bucket, user_id, NULL::text AS provider, NULL::text AS value, {metrics}"
        " FROM (SELECT {bucket} AS b, {columns} FROM usage_hourly_users"
        "  WHERE bucket_start >= %(start)s AND bucket_start < %(end)s AND {where}) r"
        " GROUP BY GROUPING SETS ((b), (user_id), ())"
    ).format(
        metrics=_METRICS,
        bucket=_bucket_expr(scope),
        columns=_COLUMNS,
        where=_where(scope, hourly=False),
    )


def _day_edges(scope: Scope) -> tuple[datetime, datetime]:
    """The whole UTC days inside the window: [first, last) (empty when first >= last)."""
    start, end = scope.start.astimezone(UTC), scope.end.astimezone(UTC)
    first = start.replace(hour=0)
    if first < start:
        first += DAY
    last = end.replace(hour=0)
    return first, max(first, last)


def _dims_query(scope: Scope) -> sql.Composed:
    """Breakdowns by model, key, credential (and provider) from the one-dimension rollups."""
    first, last = _day_edges(scope)
    rows = sql.SQL(
        "SELECT dimension AS d, provider, value, {columns} FROM usage_daily_dims"
        " WHERE bucket_start >= {first} AND bucket_start < {last} AND {where}"
        " UNION ALL SELECT dimension, provider, value, {columns} FROM usage_hourly_dims"
        " WHERE ((bucket_start >= %(start)s AND bucket_start < {first})"
        "  OR (bucket_start >= {last} AND bucket_start < %(end)s)) AND {where}"
    ).format(
        columns=_COLUMNS,
        first=sql.Literal(first),
        last=sql.Literal(last),
        where=_where(scope, hourly=False),
    )
    return sql.SQL(
        "SELECT CASE WHEN grouping(value) = 0 THEN d ELSE 'provider' END AS kind,"
        " NULL::timestamptz AS bucket, NULL::bigint AS user_id, provider, value, {metrics}"
        " FROM ({rows}) r GROUP BY GROUPING SETS ((d, provider, value), (d, provider))"
        " HAVING grouping(value) = 0 OR d = 'model'"
    ).format(metrics=_METRICS, rows=rows)


def _narrow_query(scope: Scope) -> sql.Composed:
    """Everything from usage_hourly (one scan) when a filter names a dimension it alone keeps."""
    return sql.SQL(
        "SELECT CASE WHEN grouping(b) = 0 THEN 'series' WHEN grouping(user_id) = 0 THEN 'user'"
        "  WHEN grouping(model) = 0 THEN 'model' WHEN grouping(api_key_id) = 0 THEN 'api_key'"
        "  WHEN grouping(credential) = 0 THEN 'credential'"
        "  WHEN grouping(provider) = 0 THEN 'provider' ELSE 'total' END AS kind,"
        " b AS bucket, user_id, CASE WHEN grouping(api_key_id) = 0 THEN '' ELSE provider END"
        " AS provider, coalesce(model, api_key_id, credential) AS value, {metrics}"
        " FROM (SELECT {bucket} AS b, provider, model, api_key_id, credential, {columns}"
        "  FROM usage_hourly"
        "  WHERE bucket_start >= %(start)s AND bucket_start < %(end)s AND {where}) r"
        " GROUP BY GROUPING SETS ((b), (user_id), (provider, model), (api_key_id),"
        "  (provider, credential), (provider), ())"
    ).format(
        metrics=_METRICS,
        bucket=_bucket_expr(scope),
        columns=_COLUMNS,
        where=_where(scope, hourly=True),
    )
