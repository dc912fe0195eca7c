"""SQL on `audit_log`: security-relevant actions, kept when their actor is deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from services.core.db import Connection


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    created_at: datetime
    actor_user_id: int | None
    actor_username: str | None
    action: str
    target_type: str | None
    target: str | None
    metadata: dict[str, Any]
    ip_address: str | None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    action: str | None = None
    actor: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class NewAuditEntry:
    action: str
    actor_user_id: int | None
    actor_username: str | None
    target_type: str | None
    target: str | None
    metadata: dict[str, Any]
    ip_address: str | None
    user_agent: str | None


async def insert(conn: Connection, entry: NewAuditEntry) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor_user_id, actor_username, action, target_type, target,"
        " metadata, ip_address, user_agent) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            entry.actor_user_id,
            entry.actor_username,
            entry.action,
            entry.target_type,
            entry.target,
            Jsonb(entry.metadata),
            entry.ip_address,
            (entry.user_agent or "")[:300] or None,
        ),
    )


async def search(conn: Connection, f: AuditFilter) -> list[AuditEntry]:
    """Newest first; `before_id` pages backwards (keyset paging, stable under inserts)."""
    async with conn.cursor(row_factory=class_row(AuditEntry)) as cur:
        await cur.execute(
            "SELECT id, created_at, actor_user_id, actor_username, action, target_type, target,"
            " metadata, ip_address FROM audit_log"
            " WHERE (%(action)s::text IS NULL OR action = %(action)s)"
            " AND (%(actor)s::text IS NULL OR lower(actor_username) = lower(%(actor)s))"
            " AND (%(target)s::text IS NULL OR target ILIKE '%%' || %(target)s || '%%')"
            " AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)"
            " AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s)"
            " AND (%(before)s::bigint IS NULL OR id < %(before)s)"
            " ORDER BY id DESC LIMIT %(limit)s",
            {
                "action": f.action,
                "actor": f.actor,
                "target": f.target,
                "since": f.since,
                "until": f.until,
                "before": f.before_id,
                "limit": f.limit,
            },
        )
        return await cur.fetchall()


async def actions(conn: Connection) -> list[str]:
    cur = await conn.execute("SELECT DISTINCT action FROM audit_log ORDER BY action")
    return [str(row[0]) for row in await cur.fetchall()]
