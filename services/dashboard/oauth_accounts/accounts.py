"""OAuth accounts: the list a viewer may see, and every change (owner or admin), audited.

Each change runs inside the proxies' config lock (`proxies.sync.config_lock`): the database
change and the writes to every proxy replica commit together, and a refused proxy write rolls
the database back.
"""

from __future__ import annotations

from typing import Any

from services.core.db import Pool
from services.core.errors import Forbidden, NotFound
from services.dashboard.accounts import audit
from services.dashboard.accounts.audit import Actor
from services.dashboard.oauth_accounts import proxy_files
from services.dashboard.oauth_accounts.queries import owners
from services.dashboard.oauth_accounts.queries.owners import Owner
from services.dashboard.oauth_accounts.views import AccountView, view
from services.dashboard.proxies.client import ManagementClient
from services.dashboard.proxies.sync import config_lock


async def visible(pool: Pool, client: ManagementClient, actor: Actor) -> list[AccountView]:
    files = await proxy_files.listing(client)
    async with pool.connection() as conn:
        owned = await owners.all_owners(conn)
    entries = [f for f in files if f.get("auth_type", "oauth") == "oauth"]
    views = [view(f, owned.get(str(f["name"])), actor.id, actor.is_admin) for f in entries]
    return sorted(views, key=lambda v: (not v.is_own, v.provider, v.email))


async def entry(client: ManagementClient, name: str) -> dict[str, Any]:
    for item in await proxy_files.listing(client):
        if item.get("name") == name:
            return item
    raise NotFound("no such account")


def check_manage(actor: Actor, owner: Owner | None) -> None:
    """Owners manage their accounts; admins manage all; unowned ones are the admins'. Others
    get 404: another user's file name is not theirs to learn."""
    if actor.is_admin or (owner is not None and owner.user_id == actor.id):
        return
    raise NotFound("no such account")


async def manageable(pool: Pool, client: ManagementClient, actor: Actor, name: str) -> Owner | None:
    async with pool.connection() as conn:
        owner = await owners.owner_of(conn, name)
    check_manage(actor, owner)
    await entry(client, name)
    return owner


async def set_disabled(
    pool: Pool, client: ManagementClient, actor: Actor, name: str, disabled: bool
) -> None:
    await manageable(pool, client, actor, name)
    async with config_lock(pool) as conn:
        await proxy_files.set_disabled(client, name, disabled)
        action = "OAUTH_ACCOUNT_DISABLED" if disabled else "OAUTH_ACCOUNT_ENABLED"
        await audit.record(conn, actor, action, "oauth_account", name)


async def delete(pool: Pool, client: ManagementClient, actor: Actor, name: str) -> None:
    await manageable(pool, client, actor, name)
    async with config_lock(pool) as conn:
        await owners.release(conn, name)
        await proxy_files.delete(client, name)
        await audit.record(conn, actor, "OAUTH_ACCOUNT_DELETED", "oauth_account", name)


async def update_settings(
    pool: Pool, client: ManagementClient, actor: Actor, name: str, fields: dict[str, Any]
) -> None:
    await manageable(pool, client, actor, name)
    async with config_lock(pool) as conn:
        await proxy_files.patch_fields(client, name, fields)
        await audit.record(
            conn, actor, "OAUTH_ACCOUNT_UPDATED", "oauth_account", name, fields=sorted(fields)
        )


async def download(pool: Pool, client: ManagementClient, actor: Actor, name: str) -> bytes:
    await manageable(pool, client, actor, name)
    data = await proxy_files.download(client, name)
    async with pool.connection() as conn:
        await audit.record(conn, actor, "OAUTH_ACCOUNT_DOWNLOADED", "oauth_account", name)
    return data


async def claim(pool: Pool, client: ManagementClient, actor: Actor, name: str) -> None:
    """An admin takes an unowned file (one already in the auth folder) as their own."""
    if not actor.is_admin:
        raise Forbidden("only an admin can claim an account")
    item = await entry(client, name)
    async with pool.connection() as conn, conn.transaction():
        await owners.claim(conn, actor.id, str(item.get("type") or ""), name, _email(item))
        await audit.record(conn, actor, "OAUTH_ACCOUNT_CLAIMED", "oauth_account", name)


def _email(item: dict[str, Any]) -> str | None:
    return str(item.get("email") or "") or None
