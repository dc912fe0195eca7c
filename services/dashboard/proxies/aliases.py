"""Model alias editor (D9): the proxies' `oauth-model-alias` map, validated and applied to all."""

from __future__ import annotations

import re
from typing import Any

from services.core.db import Pool
from services.core.errors import ValidationFailed
from services.dashboard.accounts import audit
from services.dashboard.accounts.audit import Actor
from services.dashboard.proxies.client import ManagementClient, same_value
from services.dashboard.proxies.sync import ProxySync, config_lock

CHANNEL = re.compile(r"[a-z0-9-]{1,40}")
NAME = "oauth-model-alias"
MAX_ALIASES = 1000


def _fail(message: str) -> None:
    raise ValidationFailed(message, details=[{"field": "aliases", "message": message}])


def check(value: Any) -> dict[str, list[dict[str, Any]]]:
    """`{channel: [{name, alias, fork?}]}` with names trimmed and duplicates dropped."""
    if not isinstance(value, dict):
        _fail("aliases must be an object of channel -> list")
    result: dict[str, list[dict[str, Any]]] = {}
    total = 0
    for channel, entries in value.items():
        if not isinstance(channel, str) or not CHANNEL.fullmatch(channel):
            _fail(f"invalid channel name {str(channel)[:40]!r}")
        if not isinstance(entries, list):
            _fail(f"channel {channel} needs a list")
        clean, seen = [], set()
        for item in entries:
            entry = _check_entry(channel, item)
            if (entry["name"], entry["alias"]) not in seen:
                seen.add((entry["name"], entry["alias"]))
                clean.append(entry)
        total += len(clean)
        if clean:
            result[channel] = clean
    if total > MAX_ALIASES:
        _fail(f"at most {MAX_ALIASES} aliases")
    return result


def _check_entry(channel: str, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        _fail(f"channel {channel}: each alias is an object")
    name = str(item.get("name", "")).strip()
    alias = str(item.get("alias", "")).strip()
    if not name or not alias or len(name) > 200 or len(alias) > 200:
        _fail(f"channel {channel}: name and alias are required (at most 200 characters)")
    entry: dict[str, Any] = {"name": name, "alias": alias}
    if item.get("fork") in (True, "true", "on", "1"):
        entry["fork"] = True
    return entry


async def read(sync: ProxySync) -> dict[str, Any]:
    value = await sync.client.get_value(sync.client.first, NAME)
    return value if isinstance(value, dict) else {}


async def save(
    pool: Pool, sync: ProxySync, actor: Actor, aliases: dict[str, list[dict[str, Any]]]
) -> None:
    async with config_lock(pool) as conn:
        await sync.client.update_everywhere(NAME, lambda _current: aliases)
        count = sum(len(v) for v in aliases.values())
        await audit.record(
            conn, actor, "MODEL_ALIASES_CHANGED", "proxy_config", NAME, aliases=count
        )


async def copy_aliases(client: ManagementClient, peer: str, url: str) -> None:
    """Give the replica at `url` the model aliases of `peer` (a new replica's seeding)."""
    value = await client.get_value(peer, NAME)
    if not same_value(await client.get_value(url, NAME), value):
        await client.put_value(url, NAME, value if isinstance(value, dict) else {})
