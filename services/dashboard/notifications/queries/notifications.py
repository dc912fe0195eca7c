"""SQL on `notifications` and `notification_dismissals`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from services.core.db import Connection


@dataclass(frozen=True, slots=True)
class NewNotification:
    dedupe_key: str
    audience: str  # everyone | admins | user
    severity: str  # info | warning | critical
    title: str
    body: str = ""
    link: str | None = None
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    dedupe_key: str
    severity: str
    title: str
    body: str
    link: str | None
    created_at: datetime
    resolved_at: datetime | None


_VISIBLE = (
    " FROM notifications n"
    " WHERE (n.audience = 'everyone' OR (n.audience = 'admins' AND %(admin)s)"
    "        OR (n.audience = 'user' AND n.user_id = %(user)s))"
    # A resolved condition stays a day (so "proxy 2 was down" is seen) unless dismissed.
    " AND (n.resolved_at IS NULL OR n.resolved_at > now() - interval '24 hours')"
    " AND NOT EXISTS (SELECT 1 FROM notification_dismissals d"
    "                 WHERE d.notification_id = n.id AND d.user_id = %(user)s)"
)


async def open_(conn: Connection, item: NewNotification) -> bool:
    """Raise a condition; False when it is already open under that key (another replica)."""
    cur = await conn.execute(
        "INSERT INTO notifications (dedupe_key, audience, user_id, severity, title, body, link)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (dedupe_key) WHERE resolved_at IS NULL DO NOTHING",
        (
            item.dedupe_key,
            item.audience,
            item.user_id,
            item.severity,
            item.title,
            item.body,
            item.link,
        ),
    )
    return cur.rowcount == 1


async def resolve(conn: Connection, dedupe_key: str) -> bool:
    cur = await conn.execute(
        "UPDATE notifications SET resolved_at = now()"
        " WHERE dedupe_key = %s AND resolved_at IS NULL",
        (dedupe_key,),
    )
    return cur.rowcount > 0


async def open_keys(conn: Connection, prefix: str) -> set[str]:
    """Keys of the open conditions whose key starts with `prefix`."""
    cur = await conn.execute(
        "SELECT dedupe_key FROM notifications WHERE resolved_at IS NULL AND dedupe_key LIKE %s",
        (prefix.replace("%", r"\%").replace("_", r"\_") + "%",),
    )
    return {str(row[0]) for row in await cur.fetchall()}


async def visible(
    conn: Connection, user_id: int, is_admin: bool, limit: int = 50
) -> list[Notification]:
    """What the user's bell shows, newest first: open ones, and resolved ones of the last day."""
    async with conn.cursor(row_factory=class_row(Notification)) as cur:
        await cur.execute(
            "SELECT n.id, n.dedupe_key, n.severity, n.title, n.body, n.link, n.created_at,"
            " n.resolved_at" + _VISIBLE + " ORDER BY n.resolved_at IS NOT NULL, n.id DESC"
            " LIMIT %(limit)s",
            {"admin": is_admin, "user": user_id, "limit": limit},
        )
        return await cur.fetchall()


async def count_visible(conn: Connection, user_id: int, is_admin: bool) -> int:
    cur = await conn.execute("SELECT count(*)" + _VISIBLE, {"admin": is_admin, "user": user_id})
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def dismiss(conn: Connection, user_id: int, is_admin: bool, notification_id: int) -> bool:
    """Dismiss one notification the user can see; False when there is none such."""
    cur = await conn.execute(
        "INSERT INTO notification_dismissals (notification_id, user_id)"
        " SELECT n.id, %(user)s" + _VISIBLE + " AND n.id = %(id)s"
        " ON CONFLICT DO NOTHING",
        {"admin": is_admin, "user": user_id, "id": notification_id},
    )
    return cur.rowcount == 1


async def dismiss_all(conn: Connection, user_id: int, is_admin: bool) -> int:
    cur = await conn.execute(
        "INSERT INTO notification_dismissals (notification_id, user_id)"
        " SELECT n.id, %(user)s" + _VISIBLE + " ON CONFLICT DO NOTHING",
        {"admin": is_admin, "user": user_id},
    )
    return cur.rowcount


async def purge_old(conn: Connection) -> None:
    """Resolved notifications older than a month go (their dismissals cascade)."""
    await conn.execute("DELETE FROM notifications WHERE resolved_at < now() - interval '30 days'")
