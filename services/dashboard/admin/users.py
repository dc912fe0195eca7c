"""Users administration: list, create, delete, change role; the last admin is protected."""

from __future__ import annotations

from dataclasses import dataclass

from services.core.db import Pool
from services.core.errors import BadRequest, NotFound, ValidationFailed
from services.dashboard.accounts import audit, passwords
from services.dashboard.accounts.audit import Actor
from services.dashboard.accounts.queries import users
from services.dashboard.accounts.queries.users import User, UserListRow
from services.dashboard.keys.key_limits import push_key_limits
from services.dashboard.keys.sync import push_api_keys
from services.dashboard.oauth_accounts import proxy_files
from services.dashboard.oauth_accounts.queries import owners as oauth_owners
from services.dashboard.providers import sync as provider_sync
from services.dashboard.providers.queries import provider_keys
from services.dashboard.proxies.sync import ProxySync, config_lock

ROLES = ("admin", "user")


@dataclass(frozen=True, slots=True)
class Page:
    users: list[UserListRow]
    page: int
    limit: int
    total: int


async def list_users(pool: Pool, page: int, limit: int) -> Page:
    async with pool.connection() as conn:
        rows = await users.list_page(conn, limit, (page - 1) * limit)
        total = await users.count(conn)
    return Page(rows, page, limit, total)


async def create_user(
    pool: Pool, actor: Actor, username: object, password: object, role: str
) -> User:
    """Create a user (username and password checked by the account rules)."""
    username = passwords.check_username(username)
    password = passwords.check_password(password)
    if role not in ROLES:
        raise ValidationFailed(
            "role must be admin or user", details=[{"field": "role", "message": "invalid"}]
        )
    hashed = await passwords.hash_password(password)
    async with pool.connection() as conn, conn.transaction():
        user = await users.create(conn, username, hashed, role)
        await audit.record(conn, actor, "USER_CREATED", "user", user.username, role=role)
    return user


async def delete_user(pool: Pool, sync: ProxySync, actor: Actor, user_id: int) -> User:
    """Delete a user, their keys, providers and OAuth accounts (removed from the proxies in the
    same step: a departed user's subscriptions must not go on serving the team)."""
    if user_id == actor.id:
        raise BadRequest("you cannot delete your own account", code="cannot_delete_self")
    async with config_lock(pool) as conn:
        admins = await users.lock_admins(conn)
        target = await users.by_id(conn, user_id)
        if target is None:
            raise NotFound("user not found")
        if target.is_admin and admins == [target.id]:
            raise BadRequest("the last admin cannot be deleted", code="last_admin")
        had_provider_keys = bool(
            [k for k in await provider_keys.list_all(conn) if k.user_id == user_id]
        )
        oauth_files = await oauth_owners.names_of(conn, user_id)
        await provider_sync.remember_provider_keys(conn)
        await users.delete(conn, user_id)
        for name in sorted(oauth_files):
            await proxy_files.delete(sync.client, name)
        await push_api_keys(sync, conn)
        await provider_sync.push_compat(sync, conn)
        if had_provider_keys:
            for provider in ("claude", "gemini", "codex"):
                await provider_sync.push_provider_keys(sync, conn, provider)
        await audit.record(
            conn, actor, "USER_DELETED", "user", target.username, oauth_accounts=len(oauth_files)
        )
    return target


async def set_role(pool: Pool, sync: ProxySync, actor: Actor, user_id: int, role: str) -> User:
    """Change a user's role; their keys' limits follow the new role's default (when the keys
    have none of their own), so they are pushed again."""
    if role not in ROLES:
        raise ValidationFailed(
            "role must be admin or user", details=[{"field": "role", "message": "invalid"}]
        )
    async with config_lock(pool) as conn:
        admins = await users.lock_admins(conn)
        target = await users.by_id(conn, user_id)
        if target is None:
            raise NotFound("user not found")
        if target.is_admin and role != "admin" and admins == [target.id]:
            raise BadRequest("the last admin cannot be demoted", code="last_admin")
        await users.set_role(conn, user_id, role)
        await push_key_limits(sync, conn)
        await audit.record(conn, actor, "USER_ROLE_CHANGED", "user", target.username, role=role)
        updated = await users.by_id(conn, user_id)
    assert updated is not None
    return updated
