"""The proxies' provider lists: `claude-api-key`, `gemini-api-key`, `codex-api-key` (direct
provider keys) and `openai-compatibility` (custom providers of active groups, in order, plus the
keys users attached to an entry). Entries whose address the upstream policy refuses are left
out, and so removed from the proxies."""

from __future__ import annotations

from typing import Any

import structlog

from services.core.db import Connection
from services.dashboard.providers import admin_settings
from services.dashboard.providers.queries import custom_providers, provider_keys
from services.dashboard.providers.queries.custom_providers import CustomProvider
from services.dashboard.providers.ssrf import UpstreamPolicy, stored_refusal
from services.dashboard.proxies import lists as proxy_lists
from services.dashboard.proxies.sync import ProxySync
from services.dashboard.web.queries import system_settings

log = structlog.get_logger(__name__)

KEY_LISTS = {"claude": "claude-api-key", "gemini": "gemini-api-key", "codex": "codex-api-key"}
COMPAT = "openai-compatibility"
# What the last push wrote, so an entry the dashboard no longer wants is removed.
_PUSHED = {
    "provider-keys": "sync.pushed_provider_keys",
    "compat": "sync.pushed_compat_names",
}


async def push_provider_keys(sync: ProxySync, conn: Connection, provider: str) -> None:
    """One of claude/gemini/codex (openai-compatibility keys go with `push_compat`)."""
    rows = await provider_keys.list_all(conn, provider)
    policy = await admin_settings.upstream_policy(conn, sync.upstream_allowed)
    desired = []
    for row in rows:
        secret = sync.open_secret(row.secret_encrypted, f"provider key {row.id}")
        if secret is None or _refused(policy, f"provider key {row.id}", row.base_url):
            continue
        entry: dict[str, Any] = {"api-key": secret}
        if row.base_url:
            entry["base-url"] = row.base_url
        desired.append(entry)
    managed = await _managed_provider_hashes(conn)
    await sync.client.update_everywhere(
        KEY_LISTS[provider],
        lambda cur: proxy_lists.reconcile_keyed(cur or [], desired, managed),
    )


async def push_compat(sync: ProxySync, conn: Connection) -> None:
    """Custom providers (active groups only, in order) and keys attached to compat entries."""
    providers = await custom_providers.list_all(conn)
    policy = await admin_settings.upstream_policy(conn, sync.upstream_allowed)
    desired, skipped = [], set()
    for p in providers:
        entry = _compat_entry(sync, p)
        if entry is None:
            skipped.add(p.provider_id)
        elif p.group_active and not _refused(policy, p.provider_id, p.base_url, p.proxy_url):
            desired.append(entry)
    pushed = set(await system_settings.get(conn, _PUSHED["compat"], []))
    managed_names = (pushed | {p.provider_id for p in providers}) - skipped
    direct: dict[str, list[str]] = {}
    for row in await provider_keys.list_all(conn, COMPAT):
        secret = sync.open_secret(row.secret_encrypted, f"provider key {row.id}")
        if secret is not None and row.target:
            direct.setdefault(row.target, []).append(secret)
    managed_hashes = await _managed_provider_hashes(conn)
    await sync.client.update_everywhere(
        COMPAT,
        lambda cur: proxy_lists.reconcile_compat(
            cur or [], desired, managed_names, direct, managed_hashes
        ),
    )
    await system_settings.put(conn, _PUSHED["compat"], sorted(e["name"] for e in desired))


async def push_lists(sync: ProxySync, conn: Connection) -> None:
    """Every provider list (the full resync's share), then the provider keys now managed."""
    for provider in KEY_LISTS:
        await push_provider_keys(sync, conn, provider)
    await push_compat(sync, conn)
    hashes = sorted(row.key_sha256 for row in await provider_keys.list_all(conn))
    await system_settings.put(conn, _PUSHED["provider-keys"], hashes)


async def _managed_provider_hashes(conn: Connection) -> set[str]:
    pushed = set(await system_settings.get(conn, _PUSHED["provider-keys"], []))
    return pushed | {row.key_sha256 for row in await provider_keys.list_all(conn)}


async def remember_provider_keys(conn: Connection) -> None:
    """Record every provider key hash as managed, so a later delete removes it everywhere."""
    hashes = sorted(row.key_sha256 for row in await provider_keys.list_all(conn))
    previous = set(await system_settings.get(conn, _PUSHED["provider-keys"], []))
    await system_settings.put(conn, _PUSHED["provider-keys"], sorted(previous | set(hashes)))


def _compat_entry(sync: ProxySync, p: CustomProvider) -> dict[str, Any] | None:
    secret = sync.open_secret(p.api_key_encrypted, f"custom provider {p.provider_id}")
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


def _refused(policy: UpstreamPolicy, what: str, *urls: str | None) -> bool:
    """True when an entry names an address the policy refuses: it is not written (and so is
    removed from the proxies). Literal hosts only: no DNS lookups on every resync."""
    reason = stored_refusal(policy, *urls)
    if reason:
        log.warning("upstream_refused", entry=what, reason=reason)
    return reason is not None
