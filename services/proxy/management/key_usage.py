"""`GET /api-key-usage`: traffic of each configured provider key, in CLIProxyAPI's shape.

`{provider: {"<base-url>|<api-key>": {success, failed, recent_requests: [{time, success,
failed}]}}}`, 20 buckets of 10 minutes, from the per-credential counters the proxy keeps. The
provider is `claude`, `gemini`, `codex`, `vertex`, or an OpenAI-compatible entry's name in lower
case; the base URL is the one written in the config (empty when the entry has none). Keys whose
credential is not live (a disabled provider) are left out, as CLIProxyAPI does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from services.proxy.config.model import ProxyConfig
from services.proxy.routing.credentials import PROVIDER_LISTS, compat_key_index, provider_key_index

from .context import AuthStats, ManagementContext
from .middleware import MANAGEMENT_PREFIX, json_response


@dataclass(frozen=True, slots=True)
class ConfigKey:
    provider: str
    base_url: str
    api_key: str
    auth_index: str


def config_keys(config: ProxyConfig) -> Iterator[ConfigKey]:
    """Every upstream key written in the config, with its credential id."""
    for provider, section in PROVIDER_LISTS.items():
        for entry in getattr(config, section.replace("-", "_")):
            index = provider_key_index(provider, entry)
            yield ConfigKey(provider, entry.base_url.strip(), entry.api_key.strip(), index)
    for compat in config.openai_compatibility:
        name = compat.name.strip().lower() or "openai-compatibility"
        for key in compat.api_key_entries:
            index = compat_key_index(compat, key)
            yield ConfigKey(name, compat.base_url.strip(), key.api_key.strip(), index)


def _entry(stats: AuthStats) -> dict[str, Any]:
    return {
        "success": stats.success,
        "failed": stats.failed,
        "recent_requests": [
            {"time": b.time, "success": b.success, "failed": b.failed}
            for b in stats.recent_requests
        ],
    }


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    """The same base URL and key written twice: one entry, counts added (as CLIProxyAPI)."""
    into["success"] += more["success"]
    into["failed"] += more["failed"]
    for bucket, extra in zip(into["recent_requests"], more["recent_requests"], strict=False):
        bucket["success"] += extra["success"]
        bucket["failed"] += extra["failed"]


def key_usage(ctx: ManagementContext) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key in config_keys(ctx.store.current.config):
        if not key.api_key or ctx.credential_for(key.auth_index) is None:
            continue
        entry = _entry(ctx.auth_stats(key.auth_index))
        bucket = out.setdefault(key.provider, {})
        name = f"{key.base_url}|{key.api_key}"
        if name in bucket:
            _merge(bucket[name], entry)
        else:
            bucket[name] = entry
    return out


def key_usage_routes(ctx: ManagementContext) -> list[web.RouteDef]:
    async def get_key_usage(_request: web.Request) -> web.Response:
        return json_response(key_usage(ctx))

    return [web.get(f"{MANAGEMENT_PREFIX}/api-key-usage", get_key_usage)]
