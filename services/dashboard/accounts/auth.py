"""Accounts: first-run setup, sign-in and sign-out, password change, revoking sessions."""

from __future__ import annotations

from services.core.db import Pool
from services.core.errors import BadRequest, Unauthorized, ValidationFailed
from services.dashboard.accounts import audit, passwords, sessions
from services.dashboard.accounts.audit import Actor
from services.dashboard.accounts.queries import sessions as session_rows
from services.dashboard.accounts.queries import users
from services.dashboard.accounts.queries.users import User

# Serializes first-run setup across replicas: exactly one request creates the first admin.
SETUP_LOCK_KEY = 7_402_302


async def setup_required(pool: Pool) -> bool:
    async with pool.connection() as conn:
        return await users.count(conn) == 0


async def create_first_admin(
    pool: Pool, actor: Actor, username: object, password: object, session_days: int
) -> tuple[User, str]:
    """Create the first admin and sign them in; refused once any user exists."""
    username = passwords.check_username(username)
    hashed = await passwords.hash_password(passwords.check_password(password))
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SETUP_LOCK_KEY,))
        if await users.count(conn) > 0:
            raise BadRequest("setup is already complete", code="setup_already_completed")
        user = await users.create(conn, username, hashed, "admin")
        token = await sessions.start(conn, user, session_days, actor.ip, actor.user_agent)
        await audit.record(
            conn, Actor(user, actor.ip, actor.user_agent), "SETUP_COMPLETED", "user", user.username
        )
    return user, token


async def sign_in(
    pool: Pool, actor: Actor, username: str, password: str, session_days: int
) -> tuple[User, str]:
    """Check the password and open a session; every failure is the same 401."""
    async with pool.connection() as conn:
        found = await users.by_name_with_hash(conn, username)
    stored = found[1] if found else None
    if not await passwords.verify_password(stored, password) or found is None:
        async with pool.connection() as conn:
            await audit.record(
                conn, actor, "USER_LOGIN_FAILED", "user", username[:50], username=username[:50]
            )
        raise Unauthorized("invalid username or password", code="auth_failed")
    user = found[0]
    async with pool.connection() as conn, conn.transaction():
        token = await sessions.start(conn, user, session_days, actor.ip, actor.user_agent)
        await users.touch_login(conn, user.id)
        await audit.record(
            conn, Actor(user, actor.ip, actor.user_agent), "USER_LOGIN", "user", user.username
        )
    return user, token


async def sign_out(pool: Pool, actor: Actor, token: str | None) -> None:
    if token is None:
        return
    async with pool.connection() as conn, conn.transaction():
        await sessions.end(conn, token)
        if actor.user is not None:
            await audit.record(conn, actor, "USER_LOGOUT", "user", actor.user.username)


async def change_password(
    pool: Pool, actor: Actor, current: str, new: object, session_days: int
) -> str:
    """Set a new password, end every session of the user, and return a fresh one for the caller."""
    new = passwords.check_password(new, "newPassword")
    user = actor.user
    assert user is not None
    if current == new:
        raise ValidationFailed(
            "the new password must differ from the current one",
            details=[{"field": "newPassword", "message": "same as current"}],
        )
    async with pool.connection() as conn:
        stored = await users.password_hash(conn, user.id)
    if not await passwords.verify_password(stored, current):
        raise Unauthorized("the current password is wrong", code="auth_failed")
    hashed = await passwords.hash_password(new)
    async with pool.connection() as conn, conn.transaction():
        await users.set_password(conn, user.id, hashed)
        ended = await session_rows.revoke_user(conn, user.id)
        token = await sessions.start(conn, user, session_days, actor.ip, actor.user_agent)
        await audit.record(
            conn, actor, "PASSWORD_CHANGED", "user", user.username, sessionsEnded=ended
        )
    return token


async def revoke_all_sessions(pool: Pool, actor: Actor, session_days: int) -> tuple[int, str]:
    """End every session of every user; the admin who asked gets a fresh one."""
    assert actor.user is not None
    async with pool.connection() as conn, conn.transaction():
        ended = await session_rows.revoke_everyone(conn)
        token = await sessions.start(conn, actor.user, session_days, actor.ip, actor.user_agent)
        await audit.record(conn, actor, "SESSIONS_REVOKED", "sessions", "all", sessionsEnded=ended)
    return ended, token


def user_json(user: User) -> dict[str, object]:
    """How the API shows a user."""
    return {
        "id": user.id,
        "username": user.username,
        "isAdmin": user.is_admin,
        "role": user.role,
        "createdAt": user.created_at,
    }
