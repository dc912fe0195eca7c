"""Provider groups: a user's folders of custom providers; a disabled group's providers are
removed from the proxies and restored when it is enabled again."""

from __future__ import annotations

import re
from typing import Any

from services.core.db import Connection, Pool
from services.core.errors import NotFound, ValidationFailed
from services.dashboard.accounts import audit
from services.dashboard.accounts.audit import Actor
from services.dashboard.providers.custom import to_json
from services.dashboard.providers.queries import custom_providers, provider_groups
from services.dashboard.providers.queries.provider_groups import ProviderGroup
from services.dashboard.providers.sync import push_compat
from services.dashboard.proxies.sync import ProxySync, config_lock

COLOR = re.compile(r"#[0-9A-Fa-f]{6}")


def check(name: str, color: str | None) -> tuple[str, str | None]:
    name = name.strip()
    if not 1 <= len(name) <= 50:
        raise ValidationFailed(
            "group name must be 1-50 characters",
            details=[{"field": "name", "message": "invalid length"}],
        )
    if color and not COLOR.fullmatch(color):
        raise ValidationFailed(
            "color must look like #RRGGBB", details=[{"field": "color", "message": "invalid color"}]
        )
    return name, color or None


async def owned(conn: Connection, actor: Actor, group_id: int) -> ProviderGroup:
    group = await provider_groups.get(conn, group_id)
    if group is None or (group.user_id != actor.id and not actor.is_admin):
        raise NotFound("group not found")
    return group


async def overview(pool: Pool, actor: Actor) -> dict[str, Any]:
    """`{groups: [...with providers], ungrouped: [...]}` as the seed answers."""
    scope = None if actor.is_admin else actor.id
    async with pool.connection() as conn:
        groups = await provider_groups.list_for(conn, scope)
        providers = await custom_providers.list_all(conn, scope)
    by_group: dict[int, list[dict[str, Any]]] = {g.id: [] for g in groups}
    ungrouped: list[dict[str, Any]] = []
    for p in providers:
        by_group.get(p.group_id or 0, ungrouped).append(to_json(p))
    return {
        "groups": [
            {
                "id": g.id,
                "name": g.name,
                "color": g.color,
                "isActive": g.is_active,
                "sortOrder": g.sort_order,
                "userId": g.user_id,
                "providers": by_group[g.id],
            }
            for g in groups
        ],
        "ungrouped": ungrouped,
    }


async def create(pool: Pool, actor: Actor, name: str, color: str | None) -> int:
    async with pool.connection() as conn, conn.transaction():
        group_id = await provider_groups.insert(conn, actor.id, name, color)
        await audit.record(conn, actor, "PROVIDER_GROUP_CREATED", "provider_group", name)
    return group_id


async def update(
    pool: Pool,
    sync: ProxySync,
    actor: Actor,
    group_id: int,
    name: str | None,
    color: str | None,
    is_active: bool | None,
) -> None:
    async with config_lock(pool) as conn:
        group = await owned(conn, actor, group_id)
        new_name, new_color = check(
            name if name is not None else group.name, color if color is not None else group.color
        )
        active = group.is_active if is_active is None else is_active
        await provider_groups.update(conn, group_id, new_name, new_color, active)
        if active != group.is_active:
            await push_compat(sync, conn)
            await audit.record(
                conn, actor, "PROVIDER_GROUP_TOGGLED", "provider_group", new_name, isActive=active
            )
        else:
            await audit.record(conn, actor, "PROVIDER_GROUP_UPDATED", "provider_group", new_name)


async def delete(pool: Pool, sync: ProxySync, actor: Actor, group_id: int) -> None:
    """Its providers become ungrouped (and so active again)."""
    async with config_lock(pool) as conn:
        group = await owned(conn, actor, group_id)
        await provider_groups.delete(conn, group_id)
        await push_compat(sync, conn)
        await audit.record(conn, actor, "PROVIDER_GROUP_DELETED", "provider_group", group.name)


async def reorder(pool: Pool, actor: Actor, ordered: list[int]) -> None:
    async with pool.connection() as conn, conn.transaction():
        for group_id in ordered:
            group = await owned(conn, actor, group_id)
            if group.user_id != actor.id:
                raise NotFound("group not found")
        await provider_groups.set_order(conn, actor.id, ordered)
