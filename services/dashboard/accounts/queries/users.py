"""SQL on `users`: accounts, roles and password hashes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import errors as pg_errors
from psycopg.rows import class_row

from services.core.db import Connection
from services.core.errors import Conflict


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: str
    created_at: datetime
    last_login_at: datetime | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True, slots=True)
class UserListRow:
    id: int
    username: str
    role: str
    created_at: datetime
    last_login_at: datetime | None
    api_key_count: int


async def count(conn: Connection) -> int:
    cur = await conn.execute("SELECT count(*) FROM users")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def create(conn: Connection, username: str, password_hash: str, role: str) -> User:
    """Insert a user; Conflict when the name is taken (case-insensitively)."""
    try:
        async with conn.transaction(), conn.cursor(row_factory=class_row(User)) as cur:
            await cur.execute(
                "INSERT INTO users (username, password_hash, role) VALUES (%s, %s, %s)"
                " RETURNING id, username, role, created_at, last_login_at",
                (username, password_hash, role),
            )
            user = await cur.fetchone()
    except pg_errors.UniqueViolation as exc:
        raise Conflict("a user with this name already exists", code="user_exists") from exc
    assert user is not None
    return user


async def by_id(conn: Connection, user_id: int) -> User | None:
    async with conn.cursor(row_factory=class_row(User)) as cur:
        await cur.execute(
            "SELECT id, username, role, created_at, last_login_at FROM users WHERE id = %s",
            (user_id,),
        )
        return await cur.fetchone()


async def by_name_with_hash(conn: Connection, username: str) -> tuple[User, str] | None:
    """The user and password hash for a login name, ignoring case."""
    cur = await conn.execute(
        "SELECT id, username, role, created_at, last_login_at, password_hash FROM users WHERE "
        "lower(username) = lower(%s)",
        (username,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return User(*row[:5]), str(row[5])


async def password_hash(conn: Connection, user_id: int) -> str | None:
    cur = await conn.execute("SELECT password_hash FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    return str(row[0]) if row else None


async def set_password(conn: Connection, user_id: int, new_hash: str) -> None:
    await conn.execute(
        "UPDATE users SET password_hash = %s, password_changed_at = now(), updated_at = now()"
        " WHERE id = %s",
        (new_hash, user_id),
    )


async def touch_login(conn: Connection, user_id: int) -> None:
    await conn.execute("UPDATE users SET last_login_at = now() WHERE id = %s", (user_id,))


async def list_page(conn: Connection, limit: int, offset: int) -> list[UserListRow]:
    async with conn.cursor(row_factory=class_row(UserListRow)) as cur:
        await cur.execute(
            "SELECT u.id, u.username, u.role, u.created_at, u.last_login_at,"
            " (SELECT count(*) FROM user_api_keys k"
            "   WHERE k.user_id = u.id AND k.revoked_at IS NULL)::int AS api_key_count"
            " FROM users u ORDER BY u.created_at, u.id LIMIT %s OFFSET %s",
            (limit, offset),
        )
        return await cur.fetchall()


async def lock_admins(conn: Connection) -> list[int]:
    """Ids of all admins, row-locked until the transaction ends (last-admin checks)."""
    cur = await conn.execute("SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE")
    return [int(row[0]) for row in await cur.fetchall()]


async def set_role(conn: Connection, user_id: int, role: str) -> bool:
    cur = await conn.execute(
        "UPDATE users SET role = %s, updated_at = now() WHERE id = %s", (role, user_id)
    )
    return cur.rowcount == 1


async def delete(conn: Connection, user_id: int) -> bool:
    cur = await conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
    return cur.rowcount == 1
