"""SQL on `sessions`: one row per signed-in browser, keyed by the sha256 of its token."""

from __future__ import annotations

from datetime import datetime

from services.core.db import Connection
from services.dashboard.accounts.queries.users import User


async def create(
    conn: Connection,
    token_sha256: str,
    user_id: int,
    expires_at: datetime,
    ip: str | None,
    user_agent: str | None,
) -> None:
    await conn.execute(
        "INSERT INTO sessions (id, user_id, expires_at, ip_address, user_agent)"
        " VALUES (%s, %s, %s, %s, %s)",
        (token_sha256, user_id, expires_at, ip, (user_agent or "")[:300]),
    )


async def user_of(conn: Connection, token_sha256: str) -> User | None:
    """The user of a live session (not revoked, not expired), else None."""
    cur = await conn.execute(
        "SELECT u.id, u.username, u.role, u.created_at, u.last_login_at FROM sessions s"
        " JOIN users u ON u.id = s.user_id"
        " WHERE s.id = %s AND s.revoked_at IS NULL AND s.expires_at > now()",
        (token_sha256,),
    )
    row = await cur.fetchone()
    return User(*row) if row else None


async def touch(conn: Connection, token_sha256: str) -> None:
    # Written at most once a minute per session, so page views do not each cost a write.
    await conn.execute(
        "UPDATE sessions SET last_seen_at = now()"
        " WHERE id = %s AND last_seen_at < now() - interval '1 minute'",
        (token_sha256,),
    )


async def revoke(conn: Connection, token_sha256: str) -> None:
    await conn.execute(
        "UPDATE sessions SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
        (token_sha256,),
    )


async def revoke_user(conn: Connection, user_id: int) -> int:
    cur = await conn.execute(
        "UPDATE sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
        (user_id,),
    )
    return cur.rowcount


async def revoke_everyone(conn: Connection) -> int:
    cur = await conn.execute("UPDATE sessions SET revoked_at = now() WHERE revoked_at IS NULL")
    return cur.rowcount


async def purge_expired(conn: Connection) -> None:
    await conn.execute("DELETE FROM sessions WHERE expires_at < now() - interval '7 days'")
