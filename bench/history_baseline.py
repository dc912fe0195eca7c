"""The previous reads of a filtered usage history, kept so `bench.usage_history` can time them
against the current ones in the same run (same data, same load).

Until migration 0010 (December 2026), a window filtered by a model, provider, key or
credential read everything (series, totals and every breakdown) from the full-detail hourly
rollup usage_hourly, in one query on one connection. `previous_reads()` swaps that back in for
`totals_and_series` and `breakdowns` of services/dashboard/usage/queries/history.py while it
is active; unfiltered scopes keep the current reads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from psycopg import sql

from services.core.db import Connection
from services.dashboard.usage.queries import history as history_q
from services.dashboard.usage.queries.history import Group, Scope


def _narrow_query(scope: Scope) -> sql.Composed:
    """The previous query, verbatim: partial rows per bucket and full dimension key from
    usage_hourly, then the grouping sets over those."""
    return sql.SQL(
        "WITH f AS MATERIALIZED (SELECT {bucket} AS b, user_id, provider, model, api_key_id,"
        "  credential, {partial} FROM usage_hourly"
        "  WHERE bucket_start >= %(start)s AND bucket_start < %(end)s AND {where}"
        "  GROUP BY 1, 2, 3, 4, 5, 6)"
        " SELECT CASE WHEN grouping(b) = 0 THEN 'series' WHEN grouping(user_id) = 0 THEN 'user'"
        "  WHEN grouping(model) = 0 THEN 'model' WHEN grouping(api_key_id) = 0 THEN 'api_key'"
        "  WHEN grouping(credential) = 0 THEN 'credential'"
        "  WHEN grouping(provider) = 0 THEN 'provider' ELSE 'total' END AS kind,"
        " b AS bucket, user_id, CASE WHEN grouping(api_key_id) = 0 THEN '' ELSE provider END"
        " AS provider, coalesce(model, api_key_id, credential) AS value, {metrics} FROM f"
        " GROUP BY GROUPING SETS ((b), (user_id), (provider, model), (api_key_id),"
        "  (provider, credential), (provider), ())"
    ).format(
        partial=history_q._PARTIAL,
        metrics=history_q._METRICS,
        bucket=history_q._bucket_expr(scope),
        where=history_q._where(scope, hourly=True),
    )


@contextlib.contextmanager
def previous_reads() -> Iterator[None]:
    current_series, current_breakdowns = history_q.totals_and_series, history_q.breakdowns

    async def totals_and_series(conn: Connection, scope: Scope) -> list[Group]:
        if not scope.narrow:
            return await current_series(conn, scope)
        return await history_q._groups(conn, _narrow_query(scope), scope)

    async def breakdowns(conn: Connection, scope: Scope) -> list[Group]:
        return [] if scope.narrow else await current_breakdowns(conn, scope)

    history_q.totals_and_series, history_q.breakdowns = totals_and_series, breakdowns
    try:
        yield
    finally:
        history_q.totals_and_series, history_q.breakdowns = current_series, current_breakdowns
