"""SQL of the per-key limits: each key's own (`user_api_keys.limits`), the role defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from services.core.db import Connection
from services.dashboard.web.queries import system_settings

ROLE_DEFAULTS = "limits.role_defaults"  # {"user": {...}, "admin": {...}}


async def role_defaults(conn: Connection) -> dict[str, dict[str, Any]]:
    value = await system_settings.get(conn, ROLE_DEFAULTS, {})
    return value if isinstance(value, dict) else {}


async def set_role_defaults(
    conn: Connection, defaults: dict[str, dict[str, Any]], user_id: int
) -> None:
    await system_settings.put(conn, ROLE_DEFAULTS, defaults, user_id)


async def set_key_limits(conn: Connection, key_id: int, limits: dict[str, Any]) -> bool:
    cur = await conn.execute(
        "UPDATE user_api_keys SET limits = %s WHERE id = %s AND revoked_at IS NULL",
        (Jsonb(limits), key_id),
    )
    return cur.rowcount == 1


async def key_limits(conn: Connection, key_id: int) -> tuple[dict[str, Any], str] | None:
    """(the key's own limits, its owner's role), or None when no such active key."""
    cur = await conn.execute(
        "SELECT k.limits, u.role FROM user_api_keys k JOIN users u ON u.id = k.user_id"
        " WHERE k.id = %s AND k.revoked_at IS NULL",
        (key_id,),
    )
    row = await cur.fetchone()
    return (dict(row[0]), str(row[1])) if row else None


async def active_limits(conn: Connection) -> list[tuple[str, dict[str, Any], str]]:
    """(sha256, own limits, owner's role) of every active key."""
    cur = await conn.execute(
        "SELECT k.key_sha256, k.limits, u.role FROM user_api_keys k"
        " JOIN users u ON u.id = k.user_id WHERE k.revoked_at IS NULL ORDER BY k.id"
    )
    return [(str(r[0]), dict(r[1]), str(r[2])) for r in await cur.fetchall()]


async def limits_of_user(conn: Connection, user_id: int) -> list[tuple[int, dict[str, Any]]]:
    """(key id, own limits) of a user's active keys."""
    cur = await conn.execute(
        "SELECT id, limits FROM user_api_keys WHERE user_id = %s AND revoked_at IS NULL",
        (user_id,),
    )
    return [(int(r[0]), dict(r[1])) for r in await cur.fetchall()]


@dataclass(frozen=True, slots=True)
class LimitedKey:
    """An active key as the admin's limits page lists it."""

    id: int
    name: str
    display_prefix: str
    username: str
    role: str
    limits: dict[str, Any]


async def all_active(conn: Connection) -> list[LimitedKey]:
    async with conn.cursor(row_factory=class_row(LimitedKey)) as cur:
        await cur.execute(
            "SELECT k.id, k.name, k.display_prefix, u.username, u.role, k.limits"
            " FROM user_api_keys k JOIN users u ON u.id = k.user_id"
            " WHERE k.revoked_at IS NULL ORDER BY lower(u.username), k.id"
        )
        return await cur.fetchall()
