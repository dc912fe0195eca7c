"""SQL on `oauth_quota_cache`: the last provider answer per account, shared by all replicas."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from services.core.db import Connection


async def lock(conn: Connection, auth_index: str) -> None:
    """Serialise lookups of one account across viewers and replicas (until the transaction ends)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('oauth-quota:' || %s))", (auth_index,)
    )


async def fresh(conn: Connection, auth_index: str, max_age_s: int) -> tuple[Any, str | None] | None:
    cur = await conn.execute(
        "SELECT report, error FROM oauth_quota_cache WHERE auth_index = %s"
        " AND fetched_at > now() - make_interval(secs => %s)",
        (auth_index, max_age_s),
    )
    row = await cur.fetchone()
    return (row[0], row[1]) if row else None


async def store(conn: Connection, auth_index: str, report: Any, error: str | None) -> None:
    await conn.execute(
        "INSERT INTO oauth_quota_cache (auth_index, fetched_at, report, error)"
        " VALUES (%s, now(), %s, %s) ON CONFLICT (auth_index) DO UPDATE"
        " SET fetched_at = now(), report = EXCLUDED.report, error = EXCLUDED.error",
        (auth_index, Jsonb(report) if report is not None else None, error),
    )
