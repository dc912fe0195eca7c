"""SQL on `user_api_keys`: client keys, stored as sha256 and a display prefix only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from services.core.db import Connection


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    user_id: int
    name: str
    display_prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def create(conn: Connection, user_id: int, name: str, sha256: str, prefix: str) -> ApiKey:
    async with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(
            "INSERT INTO user_api_keys (user_id, name, key_sha256, display_prefix)"
            " VALUES (%s, %s, %s, %s) RETURNING id, user_id, name, display_prefix, created_at, "
            "last_used_at, revoked_at",
            (user_id, name, sha256, prefix),
        )
        row = await cur.fetchone()
    assert row is not None
    return row


async def list_for(conn: Connection, user_id: int) -> list[ApiKey]:
    """A user's keys, active ones first, newest first."""
    async with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(
            "SELECT id, user_id, name, display_prefix, created_at, last_used_at, revoked_at "
            "FROM user_api_keys WHERE user_id = %s"
            " ORDER BY revoked_at IS NOT NULL, created_at DESC, id DESC",
            (user_id,),
        )
        return await cur.fetchall()


async def get_owned(conn: Connection, key_id: int, user_id: int) -> ApiKey | None:
    async with conn.cursor(row_factory=class_row(ApiKey)) as cur:
        await cur.execute(
            "SELECT id, user_id, name, display_prefix, created_at, last_used_at, revoked_at "
            "FROM user_api_keys WHERE id = %s AND user_id = %s",
            (key_id, user_id),
        )
        return await cur.fetchone()


async def rename(conn: Connection, key_id: int, user_id: int, name: str) -> bool:
    cur = await conn.execute(
        "UPDATE user_api_keys SET name = %s WHERE id = %s AND user_id = %s",
        (name, key_id, user_id),
    )
    return cur.rowcount == 1


async def revoke(conn: Connection, key_id: int, user_id: int) -> bool:
    cur = await conn.execute(
        "UPDATE user_api_keys SET revoked_at = now()"
        " WHERE id = %s AND user_id = %s AND revoked_at IS NULL",
        (key_id, user_id),
    )
    return cur.rowcount == 1


async def active_digests(conn: Connection) -> list[str]:
    """sha256 of every usable key, oldest first (the order they are pushed in)."""
    cur = await conn.execute(
        "SELECT key_sha256 FROM user_api_keys WHERE revoked_at IS NULL ORDER BY id"
    )
    return [str(row[0]) for row in await cur.fetchall()]


async def all_digests(conn: Connection) -> set[str]:
    """sha256 of every key the dashboard ever issued and still remembers, revoked included."""
    cur = await conn.execute("SELECT key_sha256 FROM user_api_keys")
    return {str(row[0]) for row in await cur.fetchall()}


async def count_active(conn: Connection, user_id: int | None) -> int:
    if user_id is None:
        cur = await conn.execute("SELECT count(*) FROM user_api_keys WHERE revoked_at IS NULL")
    else:
        cur = await conn.execute(
            "SELECT count(*) FROM user_api_keys WHERE revoked_at IS NULL AND user_id = %s",
            (user_id,),
        )
    row = await cur.fetchone()
    return int(row[0]) if row else 0
