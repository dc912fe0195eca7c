"""Apply what the database says to every proxy: client keys, provider keys, custom providers.

Every read-modify-write of a proxy list happens inside `config_lock`, a transaction holding
`pg_advisory_xact_lock`, so several dashboard replicas never interleave their writes. Callers
change the database inside the same transaction: if a proxy refuses the write, the exception
rolls the database back too (and `update_everywhere` restores the proxies already written).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog

from services.core.crypto import CryptoError, unseal
from services.core.db import Connection, Pool
from services.dashboard.keys.queries import api_keys
from services.dashboard.providers import admin_settings
from services.dashboard.providers.queries import custom_providers, provider_keys
from services.dashboard.providers.queries.custom_providers import CustomProvider
from services.dashboard.providers.ssrf import UpstreamPolicy, stored_refusal
from services.dashboard.proxies import lists as proxy_lists
from services.dashboard.proxies.client import ManagementClient, ProxyUnavailable
from services.dashboard.web.queries import system_settings

log = structlog.get_logger(__name__)

# Any constant, shared by every dashboard replica; distinct from the migration and collector locks.
CONFIG_LOCK_KEY = 7_402_301
KEY_LISTS = {"claude": "claude-api-key", "gemini": "gemini-api-key", "codex": "codex-api-key"}
COMPAT = "openai-compatibility"
_PUSHED = {
    "api-keys": "sync.pushed_api_keys",
    "provider-keys": "sync.pushed_provider_keys",
    "compat": "sync.pushed_compat_names",
}


@asynccontextmanager
async def config_lock(pool: Pool) -> AsyncIterator[Connection]:
    """A connection inside a transaction that holds the proxy-config lock until it ends."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (CONFIG_LOCK_KEY,))
        yield conn


def catalog_key(management_key: str) -> str:
    """The dashboard's own client key, used only to read `/v1/models` for the model catalog.

    Derived from the management key, so every replica computes the same one without storing it;
    whoever knows the management key controls the proxy anyway.
    """
    mac = hmac.new(management_key.encode(), b"dashboard-model-catalog", hashlib.sha256).digest()
    body = base64.b32encode(mac).decode().rstrip("=").lower()
    return "sk-" + (body * 2)[:48]


@dataclass(frozen=True, slots=True)
class SyncResult:
    proxy: str
    ok: bool
    message: str


class ProxySync:
    """Pushes the dashboard's desired state to the proxies (one instance per app)."""

    def __init__(
        self,
        client: ManagementClient,
        encryption_key: bytes,
        catalog_digest: str,
        upstream_allowed: frozenset[str] = frozenset(),
    ) -> None:
        self.client = client
        self._key = encryption_key
        self._catalog_digest = catalog_digest
        self.upstream_allowed = upstream_allowed  # FETCH_MODELS_ALLOW host:port pairs

    def only(self, url: str) -> ProxySync:
        """The same syncer talking to one proxy (per-proxy resync results)."""
        return ProxySync(
            self.client.only(url), self._key, self._catalog_digest, self.upstream_allowed
        )

    async def upstream_policy(self, conn: Connection) -> UpstreamPolicy:
        return await admin_settings.upstream_policy(conn, self.upstream_allowed)

    async def push_api_keys(self, conn: Connection) -> None:
        desired = [
            f"sha256:{h}" for h in [self._catalog_digest, *await api_keys.active_digests(conn)]
        ]
        pushed = set(await system_settings.get(conn, _PUSHED["api-keys"], []))
        managed = pushed | {f"sha256:{h}" for h in await api_keys.all_digests(conn)}
        await self.client.update_everywhere(
            "api-keys", lambda cur: proxy_lists.reconcile_api_keys(cur or [], desired, managed)
        )
        await system_settings.put(conn, _PUSHED["api-keys"], desired)

    async def push_provider_keys(self, conn: Connection, provider: str) -> None:
        """One of claude/gemini/codex (openai-compatibility keys go with `push_compat`)."""
        rows = await provider_keys.list_all(conn, provider)
        policy = await self.upstream_policy(conn)
        desired = []
        for row in rows:
            secret = self._open(row.secret_encrypted, f"provider key {row.id}")
            if secret is None or _refused(policy, f"provider key {row.id}", row.base_url):
                continue
            entry: dict[str, Any] = {"api-key": secret}
            if row.base_url:
                entry["base-url"] = row.base_url
            desired.append(entry)
        managed = await self._managed_provider_hashes(conn)
        await self.client.update_everywhere(
            KEY_LISTS[provider],
            lambda cur: proxy_lists.reconcile_keyed(cur or [], desired, managed),
        )

    async def push_compat(self, conn: Connection) -> None:
        """Custom providers (active groups only, in order) and keys attached to compat entries."""
        providers = await custom_providers.list_all(conn)
        policy = await self.upstream_policy(conn)
        desired, skipped = [], set()
        for p in providers:
            entry = self._compat_entry(p)
            if entry is None:
                skipped.add(p.provider_id)
            elif p.group_active and not _refused(policy, p.provider_id, p.base_url, p.proxy_url):
                desired.append(entry)
        pushed = set(await system_settings.get(conn, _PUSHED["compat"], []))
        managed_names = (pushed | {p.provider_id for p in providers}) - skipped
        direct: dict[str, list[str]] = {}
        for row in await provider_keys.list_all(conn, COMPAT):
            secret = self._open(row.secret_encrypted, f"provider key {row.id}")
            if secret is not None and row.target:
                direct.setdefault(row.target, []).append(secret)
        managed_hashes = await self._managed_provider_hashes(conn)
        await self.client.update_everywhere(
            COMPAT,
            lambda cur: proxy_lists.reconcile_compat(
                cur or [], desired, managed_names, direct, managed_hashes
            ),
        )
        await system_settings.put(conn, _PUSHED["compat"], sorted(e["name"] for e in desired))

    async def push_all(self, conn: Connection) -> None:
        await self.push_api_keys(conn)
        for provider in KEY_LISTS:
            await self.push_provider_keys(conn, provider)
        await self.push_compat(conn)
        hashes = sorted(row.key_sha256 for row in await provider_keys.list_all(conn))
        await system_settings.put(conn, _PUSHED["provider-keys"], hashes)

    async def _managed_provider_hashes(self, conn: Connection) -> set[str]:
        pushed = set(await system_settings.get(conn, _PUSHED["provider-keys"], []))
        return pushed | {row.key_sha256 for row in await provider_keys.list_all(conn)}

    async def remember_provider_keys(self, conn: Connection) -> None:
        """Record every provider key hash as managed, so a later delete removes it everywhere."""
        hashes = sorted(row.key_sha256 for row in await provider_keys.list_all(conn))
        previous = set(await system_settings.get(conn, _PUSHED["provider-keys"], []))
        await system_settings.put(conn, _PUSHED["provider-keys"], sorted(previous | set(hashes)))

    def _compat_entry(self, p: CustomProvider) -> dict[str, Any] | None:
        secret = self._open(p.api_key_encrypted, f"custom provider {p.provider_id}")
        if secret is None:
            return None
        key_entry: dict[str, Any] = {"api-key": secret}
        if p.proxy_url:
            key_entry["proxy-url"] = p.proxy_url
        entry: dict[str, Any] = {
            "name": p.provider_id,
            "base-url": p.base_url,
            "api-key-entries": [key_entry],
            "models": [{"name": m.upstream_name, "alias": m.alias or ""} for m in p.models],
        }
        if p.prefix:
            entry["prefix"] = p.prefix
        if p.headers:
            entry["headers"] = dict(p.headers)
        if p.excluded_models:
            entry["excluded-models"] = list(p.excluded_models)
        return entry

    def _open(self, sealed: str | None, what: str) -> str | None:
        if not sealed:
            return None
        try:
            return unseal(self._key, sealed)
        except CryptoError:
            log.warning("secret_unreadable", what=what)
            return None


def _refused(policy: UpstreamPolicy, what: str, *urls: str | None) -> bool:
    """True when an entry names an address the policy refuses: it is not written (and so is
    removed from the proxies). Literal hosts only: no DNS lookups on every resync."""
    reason = stored_refusal(policy, *urls)
    if reason:
        log.warning("upstream_refused", entry=what, reason=reason)
    return reason is not None


async def resync(pool: Pool, sync: ProxySync) -> list[SyncResult]:
    """Push everything to each proxy on its own, so one proxy down does not block the others."""
    results = []
    for url in sync.client.urls:
        try:
            async with config_lock(pool) as conn:
                await sync.only(url).push_all(conn)
            results.append(SyncResult(url, True, "in sync"))
        except ProxyUnavailable as exc:
            log.warning("proxy_resync_failed", proxy=url, error=exc.message)
            results.append(SyncResult(url, False, exc.message))
    return results
