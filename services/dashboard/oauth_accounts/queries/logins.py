"""SQL on `oauth_logins`: logins the dashboard started, shared by every dashboard replica."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from services.core.db import Connection


@dataclass(frozen=True, slots=True)
class Login:
    state: str
    user_id: int
    provider: str
    proxy_url: str
    known_files: list[str]
    account_name: str | None
    created_at: datetime | None = None


async def insert(conn: Connection, login: Login) -> None:
    await conn.execute(
        "INSERT INTO oauth_logins (state, user_id, provider, proxy_url, known_files)"
        " VALUES (%s, %s, %s, %s, %s)",
        (login.state, login.user_id, login.provider, login.proxy_url, login.known_files),
    )
    # Pending logins live 30 min at the proxy; older rows are of no use.
    await conn.execute("DELETE FROM oauth_logins WHERE created_at < now() - interval '1 hour'")


async def get_for_update(conn: Connection, state: str) -> Login | None:
    """The login, locked until the transaction ends (two replicas never claim twice)."""
    async with conn.cursor(row_factory=class_row(Login)) as cur:
        await cur.execute(
            "SELECT state, user_id, provider, proxy_url, known_files, account_name, created_at"
            " FROM oauth_logins WHERE state = %s FOR UPDATE",
            (state,),
        )
        return await cur.fetchone()


async def set_account(conn: Connection, state: str, name: str) -> None:
    await conn.execute("UPDATE oauth_logins SET account_name = %s WHERE state = %s", (name, state))


async def delete(conn: Connection, state: str) -> None:
    await conn.execute("DELETE FROM oauth_logins WHERE state = %s", (state,))
