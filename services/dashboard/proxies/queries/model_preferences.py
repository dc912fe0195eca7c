"""SQL on `model_preferences`: the models a user hides from the catalog."""

from __future__ import annotations

from services.core.db import Connection


async def excluded(conn: Connection, user_id: int) -> list[str]:
    cur = await conn.execute(
        "SELECT excluded_models FROM model_preferences WHERE user_id = %s", (user_id,)
    )
    row = await cur.fetchone()
    return list(row[0]) if row else []


async def set_excluded(conn: Connection, user_id: int, models: list[str]) -> None:
    await conn.execute(
        "INSERT INTO model_preferences (user_id, excluded_models) VALUES (%s, %s)"
        " ON CONFLICT (user_id) DO UPDATE SET excluded_models = EXCLUDED.excluded_models,"
        " updated_at = now()",
        (user_id, models),
    )
