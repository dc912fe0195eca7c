"""Proxy replicas that appear while the dashboard runs get the whole desired state at once.

PROXY_URL's `dns+http://NAME:PORT` entries are resolved again every PROXY_DISCOVERY_INTERVAL
seconds (services/core/discovery.py). A replica that appears is filled under the config lock:
first what only the proxies hold, copied from a replica that was already there (the editable
settings, the model aliases, the OAuth auth files it lacks), then everything the database
holds (client keys, provider keys, custom providers: the resync pushers). A replica that cannot
take it yet (still starting) is tried again on every refresh until it has it, so a replacement
with an empty volume serves the same keys and accounts within one interval, not at the 60 s
resync. Until then the management client leaves it out of reads and writes: pages would show
its empty lists, and a write it cannot take yet would fail for every replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import structlog

from services.core.db import Pool
from services.core.discovery import Change, Replicas
from services.dashboard.proxies.client import ManagementClient, ProxyUnavailable
from services.dashboard.proxies.sync import ProxySync, SyncResult, config_lock

log = structlog.get_logger(__name__)

# Copies one kind of proxy-held state from `peer` (a replica already in service) to `url`.
Seeder = Callable[[ManagementClient, str, str], Awaitable[None]]


class ReplicaWatcher:
    """Keeps the management client's replicas current and fills each one that appears."""

    def __init__(
        self, pool: Pool, sync: ProxySync, interval_s: float, seeders: Sequence[Seeder] = ()
    ) -> None:
        self.pool, self.sync, self.interval_s = pool, sync, interval_s
        self.seeders = tuple(seeders)
        self.replicas: Replicas = sync.client.replicas
        self.pending = sync.client.waiting  # appeared, not filled yet: the client skips them
        self.filled: dict[str, SyncResult] = {}  # appeared and filled (tests await these)
        self._failing: dict[str, str] = {}  # the last failure logged per waiting replica
        self._progress = asyncio.Condition()

    async def run_forever(self) -> None:
        """Refresh every interval; returns at once when PROXY_URL names no DNS entry."""
        await self.replicas.watch(self.interval_s, self.apply)

    async def apply(self, change: Change) -> None:
        """Note what came and went, then fill every replica still waiting for its state."""
        self.pending |= set(change.added)
        self.pending -= set(change.removed)
        for url in change.removed:
            self.filled.pop(url, None)
            self._failing.pop(url, None)
        for url in [u for u in self.replicas.urls if u in self.pending]:
            result = await self.fill(url)
            if result.ok:
                self.filled[url] = result
                log.info("proxy_replica_filled", proxy=url)
        async with self._progress:
            self._progress.notify_all()

    async def fill(self, url: str) -> SyncResult:
        """Everything a new replica needs, in one config-lock transaction; it joins the
        replicas in service inside the lock, so the next write cannot miss it."""
        try:
            async with config_lock(self.pool) as conn:
                await self._seed(url, self.sync.client.urls)
                await self.sync.only(url).push_all(conn)
                self.pending.discard(url)
        except ProxyUnavailable as exc:
            if self._failing.get(url) != exc.message:  # once per change, not every interval
                log.warning("proxy_replica_fill_failed", proxy=url, error=exc.message)
            self._failing[url] = exc.message
            return SyncResult(url, False, exc.message)
        self._failing.pop(url, None)
        return SyncResult(url, True, "in sync")

    async def wait_filled(self, url: str) -> SyncResult:
        """Wait until the replica at `url` has appeared and been filled."""
        async with self._progress:
            await self._progress.wait_for(lambda: url in self.filled)
            return self.filled[url]

    async def _seed(self, url: str, peers: list[str]) -> None:
        """Copy from the first peer that answers; with no peer (every replica is new) there is
        nothing to copy, and the database's share is still pushed."""
        failure: ProxyUnavailable | None = None
        for peer in peers:
            try:
                for seeder in self.seeders:
                    await seeder(self.sync.client, peer, url)
            except ProxyUnavailable as exc:
                failure = exc
                continue
            return
        if failure is not None:
            raise failure
