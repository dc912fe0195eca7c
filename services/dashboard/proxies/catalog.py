"""Model catalog (D19): what the proxies serve, read with the dashboard's own client key."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import structlog

from services.core.db import Pool
from services.dashboard.proxies.client import ManagementClient, ProxyUnavailable
from services.dashboard.proxies.queries import model_preferences

log = structlog.get_logger(__name__)


def catalog_key(management_key: str) -> str:
    """The dashboard's own client key, used only to read `/v1/models` for the model catalog.

    Derived from the management key, so every replica computes the same one without storing it;
    whoever knows the management key controls the proxy anyway.
    """
    mac = hmac.new(management_key.encode(), b"dashboard-model-catalog", hashlib.sha256).digest()
    body = base64.b32encode(mac).decode().rstrip("=").lower()
    return "sk-" + (body * 2)[:48]


@dataclass(frozen=True, slots=True)
class Catalog:
    models: list[str]
    source: str  # "proxy" (live /v1/models), "config" (fallback) or "unavailable"


async def load(client: ManagementClient, catalog_key: str) -> Catalog:
    """Live `/v1/models` from the first proxy that answers; else models named in its config."""
    for url in client.urls:
        try:
            return Catalog(await client.list_models(url, catalog_key), "proxy")
        except ProxyUnavailable as exc:
            log.info("catalog_live_failed", proxy=url, error=exc.message)
    for url in client.urls:
        try:
            return Catalog(models_in_config(await client.get_config(url)), "config")
        except ProxyUnavailable:
            continue
    return Catalog([], "unavailable")


async def for_user(
    pool: Pool, client: ManagementClient, catalog_key: str, user_id: int
) -> tuple[list[dict[str, Any]], str]:
    """The catalog as `user_id` sees it (each model flagged `hidden` when they hid it), and its
    source."""
    catalog = await load(client, catalog_key)
    async with pool.connection() as conn:
        hidden = set(await model_preferences.excluded(conn, user_id))
    return [{"id": m, "hidden": m in hidden} for m in catalog.models], catalog.source


def models_in_config(config: dict[str, Any]) -> list[str]:
    """Model names the config exposes: compat models (with prefix), key models, aliases."""
    ids: set[str] = set()
    for entry in config.get("openai-compatibility") or []:
        if isinstance(entry, dict) and not entry.get("disabled"):
            prefix = entry.get("prefix") or ""
            for model in entry.get("models") or []:
                name = model.get("alias") or model.get("name") if isinstance(model, dict) else None
                if name:
                    ids.add(f"{prefix}/{name}" if prefix else str(name))
    for section in ("claude-api-key", "gemini-api-key", "codex-api-key"):
        for entry in config.get(section) or []:
            for model in (entry.get("models") or []) if isinstance(entry, dict) else []:
                if isinstance(model, dict) and (model.get("alias") or model.get("name")):
                    ids.add(str(model.get("alias") or model.get("name")))
    for aliases in (config.get("oauth-model-alias") or {}).values():
        for item in aliases or []:
            if isinstance(item, dict) and item.get("alias"):
                ids.add(str(item["alias"]))
    return sorted(ids)
