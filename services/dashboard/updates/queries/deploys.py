"""SQL on `deploys`: one row per pull-and-recreate, with its step log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import errors as pg_errors
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from services.core.db import Connection

# A 'running' deploy whose runner has not written for this long died with its replica.
ABANDONED_AFTER = "10 minutes"


@dataclass(frozen=True, slots=True)
class Deploy:
    id: int
    created_at: datetime
    trigger: str
    actor: str | None
    image: str
    status: str
    steps: list[dict[str, Any]]
    finished_at: datetime | None


_SELECT = "SELECT id, created_at, trigger, actor, image, status, steps, finished_at FROM deploys"


async def start(
    conn: Connection, trigger: str, actor_user_id: int | None, actor: str, image: str
) -> int | None:
    """A new running deploy's id, or None while another one runs."""
    await conn.execute(
        "UPDATE deploys SET status = 'abandoned', finished_at = now()"
        " WHERE status = 'running' AND heartbeat_at < now() - %s::interval",
        (ABANDONED_AFTER,),
    )
    try:
        async with conn.transaction():
            cur = await conn.execute(
                "INSERT INTO deploys (trigger, actor_user_id, actor, image)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                (trigger, actor_user_id, actor, image),
            )
            row = await cur.fetchone()
    except pg_errors.UniqueViolation:
        return None
    assert row is not None
    return int(row[0])


async def running_id(conn: Connection) -> int | None:
    cur = await conn.execute("SELECT id FROM deploys WHERE status = 'running'")
    row = await cur.fetchone()
    return int(row[0]) if row else None


async def add_step(conn: Connection, deploy_id: int, step: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE deploys SET steps = steps || %s, heartbeat_at = now() WHERE id = %s",
        (Jsonb([step]), deploy_id),
    )


async def finish(conn: Connection, deploy_id: int, status: str) -> None:
    await conn.execute(
        "UPDATE deploys SET status = %s, finished_at = now(), heartbeat_at = now()"
        " WHERE id = %s AND status = 'running'",
        (status, deploy_id),
    )


async def get(conn: Connection, deploy_id: int) -> Deploy | None:
    async with conn.cursor(row_factory=class_row(Deploy)) as cur:
        await cur.execute(_SELECT + " WHERE id = %s", (deploy_id,))
        return await cur.fetchone()


async def recent(conn: Connection, limit: int = 20) -> list[Deploy]:
    async with conn.cursor(row_factory=class_row(Deploy)) as cur:
        await cur.execute(_SELECT + " ORDER BY id DESC LIMIT %s", (limit,))
        return await cur.fetchall()
