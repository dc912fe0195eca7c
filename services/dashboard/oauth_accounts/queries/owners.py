"""SQL on `oauth_accounts`: which user owns which auth file (by its name at the proxy)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import errors as pg_errors
from psycopg.rows import class_row

from services.core.db import Connection
from services.core.errors import Conflict


@dataclass(frozen=True, slots=True)
class Owner:
    account_name: str
    user_id: int
    username: str
    provider: str
    account_email: str | None


_SELECT = (
    "SELECT o.account_name, o.user_id, u.username, o.provider, o.account_email"
    " FROM oauth_accounts o JOIN users u ON u.id = o.user_id"
)


async def all_owners(conn: Connection) -> dict[str, Owner]:
    async with conn.cursor(row_factory=class_row(Owner)) as cur:
        await cur.execute(_SELECT)
        return {row.account_name: row for row in await cur.fetchall()}


async def owner_of(conn: Connection, name: str) -> Owner | None:
    async with conn.cursor(row_factory=class_row(Owner)) as cur:
        await cur.execute(_SELECT + " WHERE o.account_name = %s", (name,))
        return await cur.fetchone()


async def claim(
    conn: Connection, user_id: int, provider: str, name: str, email: str | None
) -> None:
    """Record the owner; Conflict when someone already owns the file."""
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO oauth_accounts (user_id, provider, account_name, account_email)"
                " VALUES (%s, %s, %s, %s)",
                (user_id, provider, name, email),
            )
    except pg_errors.UniqueViolation:
        raise Conflict("this account already has an owner", code="already_owned") from None


async def release(conn: Connection, name: str) -> None:
    await conn.execute("DELETE FROM oauth_accounts WHERE account_name = %s", (name,))


async def names_of(conn: Connection, user_id: int) -> set[str]:
    cur = await conn.execute(
        "SELECT account_name FROM oauth_accounts WHERE user_id = %s", (user_id,)
    )
    return {row[0] for row in await cur.fetchall()}
