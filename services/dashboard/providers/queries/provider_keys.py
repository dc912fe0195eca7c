"""SQL on `provider_keys`: direct upstream keys with their owner and encrypted secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import errors as pg_errors
from psycopg.rows import class_row

from services.core.db import Connection
from services.core.errors import Conflict


@dataclass(frozen=True, slots=True)
class ProviderKey:
    id: int
    user_id: int
    owner: str
    provider: str
    name: str | None
    key_sha256: str
    masked_label: str
    secret_encrypted: str | None
    base_url: str | None
    target: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewProviderKey:
    user_id: int
    provider: str
    name: str | None
    key_sha256: str
    masked_label: str
    secret_encrypted: str
    base_url: str | None
    target: str | None


async def insert(conn: Connection, key: NewProviderKey) -> int:
    """Insert an ownership row; Conflict when the same key is already registered."""
    try:
        async with conn.transaction():
            cur = await conn.execute(
                "INSERT INTO provider_keys (user_id, provider, name, key_sha256, masked_label,"
                " secret_encrypted, base_url, target) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " RETURNING id",
                (
                    key.user_id,
                    key.provider,
                    key.name,
                    key.key_sha256,
                    key.masked_label,
                    key.secret_encrypted,
                    key.base_url,
                    key.target,
                ),
            )
    except pg_errors.UniqueViolation as exc:
        raise Conflict("this key is already registered", code="key_already_exists") from exc
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


_SELECT = (
    "SELECT k.id, k.user_id, u.username AS owner, k.provider, k.name, k.key_sha256,"
    " k.masked_label, k.secret_encrypted, k.base_url, k.target, k.created_at"
    " FROM provider_keys k JOIN users u ON u.id = k.user_id"
)


async def list_all(conn: Connection, provider: str | None = None) -> list[ProviderKey]:
    """Every key (of one provider when given), oldest first: the order they are pushed in."""
    async with conn.cursor(row_factory=class_row(ProviderKey)) as cur:
        await cur.execute(
            _SELECT + " WHERE %(p)s::text IS NULL OR k.provider = %(p)s ORDER BY k.id",
            {"p": provider},
        )
        return await cur.fetchall()


async def by_hash(conn: Connection, key_sha256: str) -> ProviderKey | None:
    async with conn.cursor(row_factory=class_row(ProviderKey)) as cur:
        await cur.execute(
            _SELECT + " WHERE k.key_sha256 = %s",
            (key_sha256,),
        )
        return await cur.fetchone()


async def delete(conn: Connection, key_id: int) -> None:
    await conn.execute("DELETE FROM provider_keys WHERE id = %s", (key_id,))


async def count_for(conn: Connection, user_id: int) -> int:
    cur = await conn.execute("SELECT count(*) FROM provider_keys WHERE user_id = %s", (user_id,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def count_all(conn: Connection) -> int:
    cur = await conn.execute("SELECT count(*) FROM provider_keys")
    row = await cur.fetchone()
    return int(row[0]) if row else 0
