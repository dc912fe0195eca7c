"""Custom OpenAI-compatible providers (D7): validated fields, encrypted key, proxy sync."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from services.core.crypto import seal
from services.core.db import Connection, Pool
from services.core.errors import Conflict, NotFound, ValidationFailed
from services.dashboard.accounts import audit
from services.dashboard.accounts.audit import Actor
from services.dashboard.providers import admin_settings
from services.dashboard.providers.queries import custom_providers, provider_groups
from services.dashboard.providers.queries.custom_providers import (
    CustomProvider,
    ModelMapping,
    ProviderFields,
)
from services.dashboard.providers.schemas import CustomProviderIn
from services.dashboard.providers.ssrf import PROXY_SCHEMES, check_field
from services.dashboard.providers.sync import push_compat
from services.dashboard.proxies.sync import ProxySync, config_lock
from services.dashboard.web.secrets_display import digest, mask_secret

PROVIDER_ID = re.compile(r"[a-z0-9-]{1,64}")
PREFIX = re.compile(r"[A-Za-z0-9._-]{0,50}")
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}")
MAX_MODELS, MAX_PATTERNS, MAX_HEADERS = 500, 500, 20


@dataclass(frozen=True, slots=True)
class ProviderInput:
    """A create or update request, as received (already type-checked by the API schema)."""

    name: str
    provider_id: str
    base_url: str
    api_key: str | None
    prefix: str | None
    proxy_url: str | None
    headers: dict[str, str]
    models: list[tuple[str, str | None]]
    excluded_models: list[str]
    group_id: int | None


def provider_input(data: CustomProviderIn) -> ProviderInput:
    """The request body (API or provider form) as a ProviderInput."""
    return ProviderInput(
        name=data.name,
        provider_id=data.providerId,
        base_url=data.baseUrl,
        api_key=data.apiKey or None,
        prefix=data.prefix,
        proxy_url=data.proxyUrl,
        headers=data.headers,
        models=[(m.upstreamName, m.alias) for m in data.models],
        excluded_models=data.excludedModels,
        group_id=data.groupId,
    )


def _fail(field: str, message: str) -> None:
    raise ValidationFailed(message, details=[{"field": field, "message": message}])


def validate(data: ProviderInput, *, creating: bool) -> None:
    """Check every field; raises ValidationFailed naming the first bad one."""
    if not 1 <= len(data.name.strip()) <= 100:
        _fail("name", "name must be 1-100 characters")
    if not PROVIDER_ID.fullmatch(data.provider_id):
        _fail("providerId", "provider ID must be 1-64 characters of a-z, 0-9 and '-'")
    base = urlsplit(data.base_url)
    if base.scheme not in {"http", "https"} or not base.hostname:
        _fail("baseUrl", "base URL must be an http:// or https:// URL")
    if creating and not data.api_key:
        _fail("apiKey", "an API key is required")
    if data.api_key is not None and (
        len(data.api_key) > 512 or any(c.isspace() for c in data.api_key)
    ):
        _fail("apiKey", "the API key must be at most 512 characters without spaces")
    if data.prefix and not PREFIX.fullmatch(data.prefix):
        _fail("prefix", "prefix must be up to 50 characters of letters, digits, '.', '_' or '-'")
    if (
        data.proxy_url
        and data.proxy_url not in {"direct", "none"}
        and urlsplit(data.proxy_url).scheme not in {"http", "https", "socks5", "socks5h"}
    ):
        _fail("proxyUrl", "proxy URL must be http(s):// or socks5://, or 'direct'")
    _validate_lists(data)


def _validate_lists(data: ProviderInput) -> None:
    if len(data.headers) > MAX_HEADERS:
        _fail("headers", f"at most {MAX_HEADERS} headers")
    for name, value in data.headers.items():
        if (
            not HEADER_NAME.fullmatch(name)
            or any(c in value for c in "\r\n\0")
            or len(value) > 2000
        ):
            _fail("headers", f"invalid header {name[:40]!r}")
    if not data.models:
        _fail("models", "add at least one model")
    if len(data.models) > MAX_MODELS:
        _fail("models", f"at most {MAX_MODELS} models")
    for upstream, alias in data.models:
        if not upstream.strip() or len(upstream) > 200 or (alias and len(alias) > 200):
            _fail("models", "each model needs an upstream name of at most 200 characters")
    if len(data.excluded_models) > MAX_PATTERNS or any(
        not p.strip() or len(p) > 200 for p in data.excluded_models
    ):
        _fail("excludedModels", f"at most {MAX_PATTERNS} patterns of 1-200 characters")


def _fields(data: ProviderInput, key: bytes) -> ProviderFields:
    sealed = None
    if data.api_key:
        sealed = (digest(data.api_key), seal(key, data.api_key), mask_secret(data.api_key))
    models, seen = [], set()
    for upstream, alias in data.models:
        pair = (upstream.strip(), (alias or "").strip() or None)
        if pair not in seen:
            seen.add(pair)
            models.append(ModelMapping(*pair))
    return ProviderFields(
        name=data.name.strip(),
        provider_id=data.provider_id,
        base_url=data.base_url.rstrip("/"),
        prefix=data.prefix or None,
        proxy_url=data.proxy_url or None,
        headers=dict(data.headers),
        group_id=data.group_id,
        models=models,
        excluded_models=list(dict.fromkeys(p.strip() for p in data.excluded_models)),
        api_key=sealed,
    )


async def check_upstreams(pool: Pool, sync: ProxySync, data: ProviderInput) -> None:
    """The base URL and proxy URL the proxies would call must pass the SSRF guard (before the
    config lock: the check may resolve names)."""
    async with pool.connection() as conn:
        policy = await admin_settings.upstream_policy(conn, sync.upstream_allowed)
    await check_field("baseUrl", data.base_url, policy)
    if data.proxy_url and data.proxy_url not in {"direct", "none"}:
        await check_field("proxyUrl", data.proxy_url, policy, PROXY_SCHEMES)


async def _check_group(conn: Connection, group_id: int | None, owner_id: int) -> None:
    if group_id is None:
        return
    group = await provider_groups.get(conn, group_id)
    if group is None or group.user_id != owner_id:
        _fail("groupId", "no such group")


async def visible(pool: Pool, actor: Actor) -> list[CustomProvider]:
    """The caller's providers; an admin sees everyone's."""
    async with pool.connection() as conn:
        return await custom_providers.list_all(conn, None if actor.is_admin else actor.id)


async def get_owned(conn: Connection, actor: Actor, provider_id: int) -> CustomProvider:
    """The provider if the caller owns it (or is an admin); otherwise 404."""
    provider = await custom_providers.get(conn, provider_id)
    if provider is None or (provider.user_id != actor.id and not actor.is_admin):
        raise NotFound("custom provider not found")
    return provider


async def create(
    pool: Pool, sync: ProxySync, key: bytes, actor: Actor, data: ProviderInput
) -> CustomProvider:
    validate(data, creating=True)
    await check_upstreams(pool, sync, data)
    async with config_lock(pool) as conn:
        if await custom_providers.name_taken(conn, actor.id, data.name.strip(), None):
            raise Conflict("you already have a provider with this name", code="name_taken")
        await _check_group(conn, data.group_id, actor.id)
        new_id = await custom_providers.insert(conn, actor.id, _fields(data, key))
        await push_compat(sync, conn)
        await audit.record(
            conn, actor, "CUSTOM_PROVIDER_CREATED", "custom_provider", data.provider_id
        )
        created = await custom_providers.get(conn, new_id)
    assert created is not None
    return created


async def update(
    pool: Pool, sync: ProxySync, key: bytes, actor: Actor, provider_id: int, data: ProviderInput
) -> CustomProvider:
    validate(data, creating=False)
    await check_upstreams(pool, sync, data)
    async with config_lock(pool) as conn:
        current = await get_owned(conn, actor, provider_id)
        if await custom_providers.name_taken(conn, current.user_id, data.name.strip(), provider_id):
            raise Conflict("a provider with this name already exists", code="name_taken")
        await _check_group(conn, data.group_id, current.user_id)
        await custom_providers.update(conn, provider_id, _fields(data, key))
        await push_compat(sync, conn)
        await audit.record(
            conn,
            actor,
            "CUSTOM_PROVIDER_UPDATED",
            "custom_provider",
            data.provider_id,
            keyChanged=bool(data.api_key),
        )
        updated = await custom_providers.get(conn, provider_id)
    assert updated is not None
    return updated


async def delete(pool: Pool, sync: ProxySync, actor: Actor, provider_id: int) -> None:
    async with config_lock(pool) as conn:
        current = await get_owned(conn, actor, provider_id)
        await custom_providers.delete(conn, provider_id)
        await push_compat(sync, conn)
        await audit.record(
            conn, actor, "CUSTOM_PROVIDER_DELETED", "custom_provider", current.provider_id
        )


async def reorder(pool: Pool, sync: ProxySync, actor: Actor, ordered: list[int]) -> None:
    """Put the caller's providers in `ordered` order; the proxy list follows."""
    if len(set(ordered)) != len(ordered):
        _fail("providerIds", "each provider may appear once")
    async with config_lock(pool) as conn:
        for provider_id in ordered:
            await get_owned(conn, actor, provider_id)
        await custom_providers.set_order(conn, ordered)
        await push_compat(sync, conn)
        await audit.record(
            conn, actor, "CUSTOM_PROVIDER_REORDERED", "custom_provider", None, order=ordered
        )


def to_json(p: CustomProvider) -> dict[str, Any]:
    """The API view: the key itself is never returned, only whether one is stored, masked."""
    return {
        "id": p.id,
        "name": p.name,
        "providerId": p.provider_id,
        "baseUrl": p.base_url,
        "prefix": p.prefix,
        "proxyUrl": p.proxy_url,
        "headers": p.headers,
        "groupId": p.group_id,
        "groupActive": p.group_active,
        "sortOrder": p.sort_order,
        "hasEncryptedKey": bool(p.api_key_encrypted),
        "apiKeyMasked": p.api_key_masked,
        "owner": p.owner,
        "userId": p.user_id,
        "models": [{"upstreamName": m.upstream_name, "alias": m.alias} for m in p.models],
        "excludedModels": list(p.excluded_models),
        "createdAt": p.created_at,
        "updatedAt": p.updated_at,
    }
