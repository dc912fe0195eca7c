"""SQL on `custom_providers` and their model mappings and excluded patterns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import errors as pg_errors
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from services.core.db import Connection
from services.core.errors import Conflict


@dataclass(frozen=True, slots=True)
class ModelMapping:
    upstream_name: str
    alias: str | None


@dataclass(frozen=True, slots=True)
class CustomProvider:
    id: int
    user_id: int
    owner: str
    group_id: int | None
    provider_id: str
    name: str
    base_url: str
    prefix: str | None
    proxy_url: str | None
    headers: dict[str, str]
    api_key_sha256: str | None
    api_key_encrypted: str | None
    api_key_masked: str | None
    sort_order: int
    created_at: datetime
    updated_at: datetime
    group_active: bool
    models: list[ModelMapping] = field(default_factory=list)
    excluded_models: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ProviderFields:
    """What a create or update writes (the key columns only when a new key was given)."""

    name: str
    provider_id: str
    base_url: str
    prefix: str | None
    proxy_url: str | None
    headers: dict[str, str]
    group_id: int | None
    models: list[ModelMapping]
    excluded_models: list[str]
    api_key: tuple[str, str, str] | None  # (sha256, sealed, masked)


_SELECT = (
    "SELECT p.id, p.user_id, u.username AS owner, p.group_id, p.provider_id, p.name,"
    " p.base_url, p.prefix, p.proxy_url, p.headers, p.api_key_sha256, p.api_key_encrypted,"
    " p.api_key_masked, p.sort_order, p.created_at, p.updated_at,"
    " coalesce(g.is_active, true) AS group_active"
    " FROM custom_providers p JOIN users u ON u.id = p.user_id"
    " LEFT JOIN provider_groups g ON g.id = p.group_id"
)


async def list_all(conn: Connection, user_id: int | None = None) -> list[CustomProvider]:
    """Providers in proxy order (of one user when given), with mappings and patterns."""
    async with conn.cursor(row_factory=class_row(CustomProvider)) as cur:
        await cur.execute(
            _SELECT + " WHERE %(u)s::bigint IS NULL OR p.user_id = %(u)s"
            " ORDER BY p.sort_order, p.id",
            {"u": user_id},
        )
        providers = await cur.fetchall()
    return await _with_children(conn, providers)


async def get(conn: Connection, provider_id: int) -> CustomProvider | None:
    async with conn.cursor(row_factory=class_row(CustomProvider)) as cur:
        await cur.execute(
            _SELECT + " WHERE p.id = %s",
            (provider_id,),
        )
        row = await cur.fetchone()
    return (await _with_children(conn, [row]))[0] if row else None


async def _with_children(conn: Connection, providers: list[CustomProvider]) -> list[CustomProvider]:
    ids = [p.id for p in providers]
    models: dict[int, list[ModelMapping]] = {i: [] for i in ids}
    excluded: dict[int, list[str]] = {i: [] for i in ids}
    cur = await conn.execute(
        "SELECT custom_provider_id, upstream_name, alias FROM custom_provider_models"
        " WHERE custom_provider_id = ANY(%s) ORDER BY sort_order, id",
        (ids,),
    )
    for pid, upstream, alias in await cur.fetchall():
        models[pid].append(ModelMapping(upstream, alias))
    cur = await conn.execute(
        "SELECT custom_provider_id, pattern FROM custom_provider_excluded_models"
        " WHERE custom_provider_id = ANY(%s) ORDER BY id",
        (ids,),
    )
    for pid, pattern in await cur.fetchall():
        excluded[pid].append(pattern)
    for p in providers:
        p.models.extend(models[p.id])
        p.excluded_models.extend(excluded[p.id])
    return providers


async def name_taken(conn: Connection, user_id: int, name: str, except_id: int | None) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM custom_providers WHERE user_id = %s AND lower(name) = lower(%s)"
        " AND id IS DISTINCT FROM %s",
        (user_id, name, except_id),
    )
    return await cur.fetchone() is not None


async def insert(conn: Connection, user_id: int, f: ProviderFields) -> int:
    assert f.api_key is not None
    try:
        async with conn.transaction():
            cur = await conn.execute(
                "INSERT INTO custom_providers (user_id, group_id, provider_id, name, base_url,"
                " prefix, proxy_url, headers, api_key_sha256, api_key_encrypted, api_key_masked,"
                " sort_order) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " (SELECT coalesce(max(sort_order), -1) + 1 FROM custom_providers)) RETURNING id",
                (
                    user_id,
                    f.group_id,
                    f.provider_id,
                    f.name,
                    f.base_url,
                    f.prefix,
                    f.proxy_url,
                    Jsonb(f.headers),
                    *f.api_key,
                ),
            )
            row = await cur.fetchone()
            assert row is not None
            await _replace_children(conn, int(row[0]), f)
    except pg_errors.UniqueViolation as exc:
        raise Conflict("this provider ID is already in use", code="provider_id_taken") from exc
    return int(row[0])


async def update(conn: Connection, provider_id: int, f: ProviderFields) -> None:
    try:
        async with conn.transaction():
            await conn.execute(
                "UPDATE custom_providers SET name = %s, provider_id = %s, base_url = %s,"
                " prefix = %s, proxy_url = %s, headers = %s, group_id = %s, updated_at = now()"
                " WHERE id = %s",
                (
                    f.name,
                    f.provider_id,
                    f.base_url,
                    f.prefix,
                    f.proxy_url,
                    Jsonb(f.headers),
                    f.group_id,
                    provider_id,
                ),
            )
            if f.api_key is not None:
                await conn.execute(
                    "UPDATE custom_providers SET api_key_sha256 = %s, api_key_encrypted = %s,"
                    " api_key_masked = %s WHERE id = %s",
                    (*f.api_key, provider_id),
                )
            await _replace_children(conn, provider_id, f)
    except pg_errors.UniqueViolation as exc:
        raise Conflict("this provider ID is already in use", code="provider_id_taken") from exc


async def _replace_children(conn: Connection, provider_id: int, f: ProviderFields) -> None:
    await conn.execute(
        "DELETE FROM custom_provider_models WHERE custom_provider_id = %s", (provider_id,)
    )
    await conn.execute(
        "DELETE FROM custom_provider_excluded_models WHERE custom_provider_id = %s",
        (provider_id,),
    )
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO custom_provider_models (custom_provider_id, upstream_name, alias,"
            " sort_order) VALUES (%s, %s, %s, %s)",
            [(provider_id, m.upstream_name, m.alias, i) for i, m in enumerate(f.models)],
        )
        await cur.executemany(
            "INSERT INTO custom_provider_excluded_models (custom_provider_id, pattern)"
            " VALUES (%s, %s)",
            [(provider_id, pattern) for pattern in f.excluded_models],
        )


async def delete(conn: Connection, provider_id: int) -> None:
    await conn.execute("DELETE FROM custom_providers WHERE id = %s", (provider_id,))


async def set_order(conn: Connection, ordered_ids: list[int]) -> None:
    """Give `ordered_ids` the sort positions they already occupy, in the new order."""
    cur = await conn.execute(
        "SELECT sort_order FROM custom_providers WHERE id = ANY(%s) ORDER BY sort_order, id",
        (ordered_ids,),
    )
    slots = [int(row[0]) for row in await cur.fetchall()]
    if len(set(slots)) != len(slots):  # ties (legacy rows): spread them out first
        slots = [min(slots, default=0) + i for i in range(len(slots))]
    async with conn.cursor() as c:
        await c.executemany(
            "UPDATE custom_providers SET sort_order = %s, updated_at = now() WHERE id = %s",
            list(zip(slots, ordered_ids, strict=True)),
        )


async def count_all(conn: Connection) -> int:
    cur = await conn.execute("SELECT count(*) FROM custom_providers")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


def as_dict(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}
