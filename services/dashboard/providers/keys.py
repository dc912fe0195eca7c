"""Provider keys (D6): direct Claude/Gemini/Codex/OpenAI-compatible keys with an owner.

Add and delete run in one transaction holding the proxy-config lock: the ownership row is
written, the proxies are updated, and a refused proxy write rolls the row back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from services.core.crypto import seal
from services.core.db import Connection, Pool
from services.core.errors import Forbidden, NotFound, ValidationFailed
from services.dashboard.accounts import audit
from services.dashboard.accounts.audit import Actor
from services.dashboard.providers import admin_settings
from services.dashboard.providers import sync as provider_sync
from services.dashboard.providers.queries import provider_keys
from services.dashboard.providers.queries.provider_keys import NewProviderKey
from services.dashboard.providers.ssrf import check_field
from services.dashboard.providers.sync import COMPAT, KEY_LISTS
from services.dashboard.proxies.sync import ProxySync, config_lock
from services.dashboard.web.secrets_display import digest, mask_secret

PROVIDERS = (*KEY_LISTS, COMPAT)


@dataclass(frozen=True, slots=True)
class NewKey:
    provider: str
    api_key: str
    name: str | None
    base_url: str | None
    target: str | None


@dataclass(frozen=True, slots=True)
class KeyView:
    """One key as a given viewer may see it: masked, or anonymised as "Key N"."""

    provider: str
    key_hash: str | None
    key_identifier: str
    name: str | None
    is_own: bool
    owner: str | None
    base_url: str | None
    target: str | None
    created_at: datetime


def check_new_key(
    provider: str, api_key: str, name: str | None, base_url: str | None, target: str | None
) -> NewKey:
    """Validate the fields of a key to add; raises ValidationFailed naming the field."""
    if provider not in PROVIDERS:
        _invalid("provider", f"provider must be one of {', '.join(PROVIDERS)}")
    api_key = api_key.strip()
    if not 8 <= len(api_key) <= 512 or any(c.isspace() for c in api_key):
        _invalid("apiKey", "the key must be 8-512 characters without spaces")
    if base_url and urlsplit(base_url).scheme not in {"http", "https"}:
        _invalid("baseUrl", "the base URL must start with http:// or https://")
    if provider == COMPAT and not target:
        _invalid("target", "name the openai-compatibility entry this key belongs to")
    if name is not None and len(name) > 100:
        _invalid("name", "the name must be at most 100 characters")
    return NewKey(provider, api_key, name or None, base_url or None, target or None)


def _invalid(field: str, message: str) -> None:
    raise ValidationFailed(message, details=[{"field": field, "message": message}])


async def list_keys(pool: Pool, actor: Actor, provider: str | None) -> list[KeyView]:
    async with pool.connection() as conn:
        rows = await provider_keys.list_all(conn, provider)
    views, others = [], 0
    for row in rows:
        own = row.user_id == actor.id
        if own or actor.is_admin:
            views.append(
                KeyView(
                    row.provider,
                    row.key_sha256,
                    row.masked_label,
                    row.name,
                    own,
                    row.owner,
                    row.base_url,
                    row.target,
                    row.created_at,
                )
            )
        else:
            others += 1
            views.append(
                KeyView(
                    row.provider,
                    None,
                    f"Key {others}",
                    None,
                    False,
                    None,
                    None,
                    None,
                    row.created_at,
                )
            )
    return views


async def add_key(pool: Pool, sync: ProxySync, key: bytes, actor: Actor, new: NewKey) -> KeyView:
    if new.base_url:  # the proxies will call it: the SSRF guard first (it may resolve names)
        async with pool.connection() as conn:
            policy = await admin_settings.upstream_policy(conn, sync.upstream_allowed)
        await check_field("baseUrl", new.base_url, policy)
    async with config_lock(pool) as conn:
        limit = await admin_settings.max_provider_keys(conn)
        if await provider_keys.count_for(conn, actor.id) >= limit:
            raise Forbidden(
                f"you already have the maximum of {limit} provider keys", code="limit_reached"
            )
        if new.provider == COMPAT and not await _compat_entry_exists(sync, new.target or ""):
            _invalid("target", f"no openai-compatibility entry is named {new.target!r}")
        row = NewProviderKey(
            actor.id,
            new.provider,
            new.name,
            digest(new.api_key),
            mask_secret(new.api_key),
            seal(key, new.api_key),
            new.base_url,
            new.target,
        )
        await provider_keys.insert(conn, row)
        await provider_sync.remember_provider_keys(conn)
        await _push(sync, conn, new.provider)
        await audit.record(
            conn,
            actor,
            "PROVIDER_KEY_ADDED",
            "provider_key",
            row.masked_label,
            provider=new.provider,
        )
        created = await provider_keys.by_hash(conn, row.key_sha256)
    assert created is not None
    return KeyView(
        created.provider,
        created.key_sha256,
        created.masked_label,
        created.name,
        True,
        created.owner,
        created.base_url,
        created.target,
        created.created_at,
    )


async def delete_key(
    pool: Pool, sync: ProxySync, actor: Actor, key_hash: str, provider: str | None
) -> None:
    """Owner or admin only; others get 404 (the key's existence is not theirs to know)."""
    async with config_lock(pool) as conn:
        row = await provider_keys.by_hash(conn, key_hash)
        if row is None or (provider and row.provider != provider):
            raise NotFound("provider key not found")
        if row.user_id != actor.id and not actor.is_admin:
            raise NotFound("provider key not found")
        await provider_sync.remember_provider_keys(conn)
        await provider_keys.delete(conn, row.id)
        await _push(sync, conn, row.provider)
        await audit.record(
            conn,
            actor,
            "PROVIDER_KEY_REMOVED",
            "provider_key",
            row.masked_label,
            provider=row.provider,
        )


async def _push(sync: ProxySync, conn: Connection, provider: str) -> None:
    if provider == COMPAT:
        await provider_sync.push_compat(sync, conn)
    else:
        await provider_sync.push_provider_keys(sync, conn, provider)


async def _compat_entry_exists(sync: ProxySync, name: str) -> bool:
    entries = await sync.client.get_value(sync.client.first, COMPAT)
    return any(isinstance(e, dict) and e.get("name") == name for e in entries or [])
