"""Apply what the database says to every proxy: client keys, provider keys, custom providers.

Every read-modify-write of a proxy list happens inside `config_lock`, a transaction holding
`pg_advisory_xact_lock`, so several dashboard replicas never interleave their writes. Callers
change the database inside the same transaction: if a proxy refuses the write, the exception
rolls the database back too (and `update_everywhere` restores the proxies already written).

What each list holds is the business of the feature that owns its rows: keys/sync.py builds
`api-keys`, providers/sync.py the provider key lists and `openai-compatibility`. The app hands
those pushers to ProxySync, which runs them in order for a full resync.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog

from services.core.crypto import CryptoError, unseal_any
from services.core.db import Connection, Pool
from services.dashboard.proxies.client import ManagementClient, ProxyUnavailable

log = structlog.get_logger(__name__)

# Any constant, shared by every dashboard replica; distinct from the migration and collector locks.
CONFIG_LOCK_KEY = 7_402_301


@asynccontextmanager
async def config_lock(pool: Pool) -> AsyncIterator[Connection]:
    """A connection inside a transaction that holds the proxy-config lock until it ends."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (CONFIG_LOCK_KEY,))
        yield conn


@dataclass(frozen=True, slots=True)
class SyncResult:
    proxy: str
    ok: bool
    message: str


# Writes one feature's lists to the proxies from what the database holds (inside config_lock).
Pusher = Callable[["ProxySync", Connection], Awaitable[None]]


class ProxySync:
    """Pushes the dashboard's desired state to the proxies (one instance per app).

    It carries what the pushers need: the key that opens stored provider secrets, the digest
    of the dashboard's own catalog key (always in `api-keys`) and FETCH_MODELS_ALLOW.
    """

    def __init__(
        self,
        client: ManagementClient,
        encryption_key: bytes,
        catalog_digest: str,
        upstream_allowed: frozenset[str] = frozenset(),
        pushers: Sequence[Pusher] = (),
        older_keys: Sequence[bytes] = (),
    ) -> None:
        self.client = client
        self.encryption_key = encryption_key
        self.older_keys = tuple(older_keys)  # during a key rotation: the key being replaced
        self.catalog_digest = catalog_digest
        self.upstream_allowed = upstream_allowed  # FETCH_MODELS_ALLOW host:port pairs
        self.pushers = tuple(pushers)

    def only(self, url: str) -> ProxySync:
        """The same syncer talking to one proxy (per-proxy resync results)."""
        return ProxySync(
            self.client.only(url),
            self.encryption_key,
            self.catalog_digest,
            self.upstream_allowed,
            self.pushers,
            self.older_keys,
        )

    async def push_all(self, conn: Connection) -> None:
        for push in self.pushers:
            await push(self, conn)

    def open_secret(self, sealed: str | None, what: str) -> str | None:
        """A stored secret in clear, or None (logged) when it is missing or unreadable."""
        if not sealed:
            return None
        try:
            return unseal_any((self.encryption_key, *self.older_keys), sealed)
        except CryptoError:
            log.warning("secret_unreadable", what=what)
            return None


async def resync(pool: Pool, sync: ProxySync) -> list[SyncResult]:
    """Push everything to each proxy on its own, so one proxy down does not block the others."""
    return [await resync_one(pool, sync, url) for url in list(sync.client.urls)]


async def resync_one(pool: Pool, sync: ProxySync, url: str) -> SyncResult:
    """Push everything to one proxy, never raising for one that refuses or cannot be reached."""
    try:
        async with config_lock(pool) as conn:
            await sync.only(url).push_all(conn)
    except ProxyUnavailable as exc:
        log.warning("proxy_resync_failed", proxy=url, error=exc.message)
        return SyncResult(url, False, exc.message)
    return SyncResult(url, True, "in sync")
