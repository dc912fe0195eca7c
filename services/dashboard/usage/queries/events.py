"""The raw usage events of a window, newest first, paged by (ts, event_id); and the lookups
that name what the rollups only know by id (keys, users), unpriced models and the collector's
freshness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from psycopg import sql
from psycopg.rows import class_row

from services.core.db import Connection
from services.dashboard.usage.queries.history import Scope

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    ts: datetime
    request_id: str | None
    api_key_id: str
    key_name: str | None
    user_id: int | None
    username: str | None
    provider: str
    auth_type: str | None
    credential: str
    source: str | None
    endpoint: str | None
    model: str
    alias: str | None
    latency_ms: int | None
    ttft_ms: int | None
    stream: bool
    failed: bool
    status_code: int | None
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cached_tokens: int
    cache_creation_tokens: int
    total_tokens: int
    cost_usd: Decimal
    reasoning_effort: str | None
    service_tier: str | None
    client_ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class KeyName:
    key_id: str
    name: str
    user_id: int
    revoked: bool


@dataclass(frozen=True, slots=True)
class Freshness:
    status: str
    leader_id: str | None
    heartbeat_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    wake_requested_at: datetime | None
    newest_event_at: datetime | None
    collected_any: bool  # any usage stored at all, by any collector run
    now: datetime


def _filters(scope: Scope) -> sql.Composed:
    # Bounds on ts let Postgres prune the month partitions outside the window.
    parts: list[sql.Composable] = [sql.SQL("e.ts >= %(start)s AND e.ts < %(end)s")]
    for column, key in (("user_id", "user_id"), ("model", "model"), ("provider", "provider"),
                        ("api_key_id", "api_key_id"), ("auth_index", "credential")):  # fmt: skip
        if getattr(scope, key) is not None:
            parts.append(sql.SQL("e.{} = %({})s").format(sql.Identifier(column), sql.SQL(key)))
    return sql.SQL(" AND ").join(parts)


async def latest(
    conn: Connection, scope: Scope, *, before: tuple[datetime, str] | None, limit: int
) -> list[Event]:
    """Up to `limit` events of the scope, newest first, older than the `before` cursor."""
    where = _filters(scope)
    params = {**scope.params(), "limit": min(limit, MAX_PAGE)}
    if before is not None:
        # ts <= cursor lets the planner skip newer partitions; the row comparison breaks ties.
        where = sql.SQL("{} AND e.ts <= %(before_ts)s AND (e.ts, e.event_id) <"
                        " (%(before_ts)s, %(before_id)s::uuid)").format(where)  # fmt: skip
        params.update(before_ts=before[0], before_id=before[1])
    query = sql.SQL(
        "SELECT e.event_id::text AS event_id, e.ts, e.request_id, e.api_key_id,"
        " k.name AS key_name, e.user_id, u.username, e.provider, e.auth_type,"
        " e.auth_index AS credential, e.source, e.endpoint, e.model, e.alias, e.latency_ms,"
        " e.ttft_ms, e.stream, e.failed, e.status_code, e.input_tokens, e.output_tokens,"
        " e.reasoning_tokens, e.cached_tokens, e.cache_creation_tokens, e.total_tokens,"
        " e.cost_usd, e.reasoning_effort, e.service_tier, e.client_ip, e.user_agent"
        " FROM usage_events e"
        " LEFT JOIN user_api_keys k ON k.id = e.user_key_id"
        " LEFT JOIN users u ON u.id = e.user_id"
        " WHERE {where} ORDER BY e.ts DESC, e.event_id DESC LIMIT %(limit)s"
    ).format(where=where)
    async with conn.cursor(row_factory=class_row(Event)) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def key_names(conn: Connection, key_ids: list[str]) -> dict[str, KeyName]:
    """Name and owner of each client key id (an active key wins over a revoked one)."""
    if not key_ids:
        return {}
    async with conn.cursor(row_factory=class_row(KeyName)) as cur:
        await cur.execute(
            "SELECT DISTINCT ON (key_id) key_id, name, user_id, revoked_at IS NOT NULL AS revoked"
            " FROM user_api_keys WHERE key_id = ANY(%s)"
            " ORDER BY key_id, revoked_at IS NOT NULL, id",
            (key_ids,),
        )
        return {row.key_id: row for row in await cur.fetchall()}


async def usernames(conn: Connection, user_ids: list[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    cur = await conn.execute("SELECT id, username FROM users WHERE id = ANY(%s)", (user_ids,))
    return {int(i): str(name) for i, name in await cur.fetchall()}


async def unpriced(
    conn: Connection, models: list[tuple[str, str]], at: datetime
) -> set[tuple[str, str]]:
    """The (provider, model) pairs without a price in force at `at`."""
    if not models:
        return set()
    cur = await conn.execute(
        "SELECT m.provider, m.model FROM unnest(%s::text[], %s::text[]) AS m(provider, model)"
        " WHERE NOT EXISTS (SELECT 1 FROM usage_price_for(m.provider, m.model, %s))",
        ([p for p, _ in models], [m for _, m in models], at),
    )
    return {(str(p), str(m)) for p, m in await cur.fetchall()}


async def freshness(conn: Connection) -> Freshness:
    """The collector's state row plus the newest stored event time, whether any usage was ever
    stored (one index probe on the small per-hour totals), and the database's now."""
    async with conn.cursor(row_factory=class_row(Freshness)) as cur:
        await cur.execute(
            "SELECT s.status, s.leader_id, s.heartbeat_at, s.last_success_at, s.last_error,"
            " s.last_error_at, s.wake_requested_at,"
            " (SELECT max(last_event_at) FROM collector_cursors) AS newest_event_at,"
            " EXISTS (SELECT 1 FROM usage_hourly_totals) AS collected_any,"
            " now() AS now FROM collector_state s"
        )
        row = await cur.fetchone()
        assert row is not None
        return row
