"""The proxies' `api-keys` list: the digest of every active client key, plus the dashboard's own
catalog key. Keys an operator added by hand stay; keys the dashboard pushed before and no
longer wants are removed."""

from __future__ import annotations

from services.core.db import Connection
from services.dashboard.keys.key_limits import push_key_limits
from services.dashboard.keys.queries import api_keys
from services.dashboard.proxies.lists import reconcile_api_keys
from services.dashboard.proxies.sync import ProxySync
from services.dashboard.web.queries import system_settings

PUSHED = "sync.pushed_api_keys"  # what the last push wrote, so a revoked key is removed


async def push_api_keys(sync: ProxySync, conn: Connection) -> None:
    desired = [f"sha256:{h}" for h in [sync.catalog_digest, *await api_keys.active_digests(conn)]]
    pushed = set(await system_settings.get(conn, PUSHED, []))
    managed = pushed | {f"sha256:{h}" for h in await api_keys.all_digests(conn)}
    await sync.client.update_everywhere(
        "api-keys", lambda cur: reconcile_api_keys(cur or [], desired, managed)
    )
    await system_settings.put(conn, PUSHED, desired)
    # Limits follow the keys: a new key gets its role's default, a revoked one loses its entry.
    await push_key_limits(sync, conn)
