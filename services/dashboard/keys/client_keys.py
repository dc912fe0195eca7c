"""Client API keys (D5): issue (shown once), list masked, rename, revoke; pushed to every proxy."""

from __future__ import annotations

from dataclasses import dataclass

from services.core.db import Pool
from services.core.errors import NotFound, ValidationFailed
from services.dashboard.accounts import audit
from services.dashboard.accounts.audit import Actor
from services.dashboard.keys.queries import api_keys
from services.dashboard.keys.queries.api_keys import ApiKey
from services.dashboard.keys.sync import push_api_keys
from services.dashboard.proxies.sync import ProxySync, config_lock
from services.dashboard.web.secrets_display import digest, generate_client_key, key_prefix

MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key just created: `secret` is shown to its owner once and never stored."""

    key: ApiKey
    secret: str


def check_name(name: object, default: str | None = None) -> str:
    text = (name if isinstance(name, str) else "").strip()
    if not text and default is not None:
        return default
    if not text or len(text) > MAX_NAME:
        raise ValidationFailed(
            f"name must be 1-{MAX_NAME} characters",
            details=[{"field": "name", "message": "invalid length"}],
        )
    return text


async def list_keys(pool: Pool, user_id: int) -> list[ApiKey]:
    async with pool.connection() as conn:
        return await api_keys.list_for(conn, user_id)


async def issue(pool: Pool, sync: ProxySync, actor: Actor, name: str) -> IssuedKey:
    """Create a key and push it to every proxy; nothing is stored if a proxy refuses."""
    secret = generate_client_key()
    async with config_lock(pool) as conn:
        key = await api_keys.create(conn, actor.id, name, digest(secret), key_prefix(secret))
        await push_api_keys(sync, conn)
        await audit.record(conn, actor, "API_KEY_CREATED", "api_key", str(key.id), name=name)
    return IssuedKey(key, secret)


async def rename(pool: Pool, actor: Actor, key_id: int, name: str) -> ApiKey:
    async with pool.connection() as conn, conn.transaction():
        if not await api_keys.rename(conn, key_id, actor.id, name):
            raise NotFound("API key not found")
        await audit.record(conn, actor, "API_KEY_RENAMED", "api_key", str(key_id), name=name)
        key = await api_keys.get_owned(conn, key_id, actor.id)
    assert key is not None
    return key


async def revoke(pool: Pool, sync: ProxySync, actor: Actor, key_id: int) -> None:
    """Revoke one of the caller's keys and remove it from every proxy at once."""
    async with config_lock(pool) as conn:
        key = await api_keys.get_owned(conn, key_id, actor.id)
        if key is None or key.revoked_at is not None:
            raise NotFound("API key not found")
        await api_keys.revoke(conn, key_id, actor.id)
        await push_api_keys(sync, conn)
        await audit.record(conn, actor, "API_KEY_REVOKED", "api_key", str(key_id), name=key.name)
