"""SQL on `system_settings`: small JSON values by key (admin settings, sync bookkeeping)."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from services.core.db import Connection


async def get(conn: Connection, key: str, default: Any = None) -> Any:
    cur = await conn.execute("SELECT value FROM system_settings WHERE key = %s", (key,))
    row = await cur.fetchone()
    return row[0] if row else default


async def put(conn: Connection, key: str, value: Any, user_id: int | None = None) -> None:
    await conn.execute(
        "INSERT INTO system_settings (key, value, updated_by) VALUES (%s, %s, %s)"
        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(),"
        " updated_by = EXCLUDED.updated_by",
        (key, Jsonb(value), user_id),
    )
