"""SQL on `provider_groups`: a user's folders of custom providers, each on or off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import errors as pg_errors
from psycopg.rows import class_row

from services.core.db import Connection
from services.core.errors import Conflict


@dataclass(frozen=True, slots=True)
class ProviderGroup:
    id: int
    user_id: int
    name: str
    color: str | None
    sort_order: int
    is_active: bool
    created_at: datetime


async def list_for(conn: Connection, user_id: int | None) -> list[ProviderGroup]:
    async with conn.cursor(row_factory=class_row(ProviderGroup)) as cur:
        await cur.execute(
            "SELECT id, user_id, name, color, sort_order, is_active, created_at FROM "
            "provider_groups"
            " WHERE %(u)s::bigint IS NULL OR user_id = %(u)s ORDER BY sort_order, id",
            {"u": user_id},
        )
        return await cur.fetchall()


async def get(conn: Connection, group_id: int) -> ProviderGroup | None:
    async with conn.cursor(row_factory=class_row(ProviderGroup)) as cur:
        await cur.execute(
            "SELECT id, user_id, name, color, sort_order, is_active, created_at FROM "
            "provider_groups WHERE id = %s",
            (group_id,),
        )
        return await cur.fetchone()


async def insert(conn: Connection, user_id: int, name: str, color: str | None) -> int:
    try:
        async with conn.transaction():
            cur = await conn.execute(
                "INSERT INTO provider_groups (user_id, name, color, sort_order) VALUES"
                " (%s, %s, %s, (SELECT coalesce(max(sort_order), -1) + 1 FROM provider_groups"
                " WHERE user_id = %s)) RETURNING id",
                (user_id, name, color, user_id),
            )
    except pg_errors.UniqueViolation as exc:
        raise Conflict("a group with this name already exists", code="group_exists") from exc
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def update(
    conn: Connection, group_id: int, name: str, color: str | None, is_active: bool
) -> None:
    try:
        async with conn.transaction():
            await conn.execute(
                "UPDATE provider_groups SET name = %s, color = %s, is_active = %s,"
                " updated_at = now() WHERE id = %s",
                (name, color, is_active, group_id),
            )
    except pg_errors.UniqueViolation as exc:
        raise Conflict("a group with this name already exists", code="group_exists") from exc


async def delete(conn: Connection, group_id: int) -> None:
    await conn.execute("DELETE FROM provider_groups WHERE id = %s", (group_id,))


async def set_order(conn: Connection, user_id: int, ordered_ids: list[int]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "UPDATE provider_groups SET sort_order = %s, updated_at = now()"
            " WHERE id = %s AND user_id = %s",
            [(i, gid, user_id) for i, gid in enumerate(ordered_ids)],
        )
