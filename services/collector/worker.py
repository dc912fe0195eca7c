"""The collector loop: leader election, one page per proxy per round, wake on NOTIFY, backoff.

One process leads through `pg_try_advisory_lock` on its own connection and does all its work
on that same connection, so a leader that loses its connection also loses its transaction:
two leaders can never commit at once. Standbys retry the lock every `standby_retry_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import chain

import aiohttp
import psycopg
import structlog

from services.collector import bookkeeping, spend, usage_events
from services.collector.feed import ProxyFeed
from services.collector.health import HealthServer
from services.collector.ingest import PageResult, PageStore, retention_cutoff
from services.collector.settings import CollectorSettings
from services.collector.sources import SourceError, UsageSource
from services.collector.status import CollectorStatus, Metrics, ProxyStatus
from services.core.db import COLLECTOR_LEADER_LOCK, Connection, connect
from services.core.discovery import Replicas, Resolver

log = structlog.get_logger(__name__)

LEADER_LOCK_KEY = COLLECTOR_LEADER_LOCK
WAKE_CHANNEL = "usage_collect"


class Backoff:
    """Exponential delays with jitter, from `initial` up to `maximum`."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial, self.maximum, self.failures = initial, maximum, 0

    def next(self) -> float:
        delay = min(self.initial * 2.0 ** min(self.failures, 30), self.maximum)
        self.failures += 1
        jitter: float = random.uniform(0.8, 1.0)  # noqa: S311  # jitter, not cryptography
        return delay * jitter

    def reset(self) -> None:
        self.failures = 0


def default_leader_id() -> str:
    """host:pid, enough for an operator to find the process that leads."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Collector:
    """One collector process; `run()` until `stop()`."""

    def __init__(
        self,
        settings: CollectorSettings,
        *,
        leader_id: str | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.settings = settings
        # PROXY_URL's replicas; `resolver` answers its dns+ names (tests map names to addresses).
        self.replicas = Replicas.from_setting(settings.proxy_urls, resolver)
        self.status = CollectorStatus.for_urls(
            leader_id or default_leader_id(), tuple(self.replicas.urls)
        )
        self.metrics = Metrics()
        self.health = HealthServer(self.status, self.metrics)
        self.store = PageStore(
            retention_months=settings.retention_months,
            max_future=timedelta(seconds=settings.max_future_s),
        )
        self.stopping = asyncio.Event()
        self.leading = asyncio.Event()  # set while this process leads (tests await it)
        self._maintained_at = float("-inf")
        self._spend_published_at = float("-inf")
        self._feeds: dict[str, ProxyFeed] = {}  # one per replica known now
        # Per replica: feeds of its other outboxes (a proxy with worker processes lists them).
        self._outbox_feeds: dict[str, list[ProxyFeed]] = {}
        self._new_feed: Callable[[str], ProxyFeed] | None = None

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        """Serve /healthz, then lead or stand by until stopped; never exits on outages."""
        timeout = aiohttp.ClientTimeout(total=self.settings.http_timeout_s)
        key = self.settings.collector_api_key.get_secret_value()
        await self.health.start(self.settings.health_host, self.settings.health_port)
        await self.replicas.refresh()
        watching = asyncio.create_task(self.replicas.watch(self.settings.discovery_interval_s))
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:

                def new_feed(url: str) -> ProxyFeed:
                    status = self.status.proxies.setdefault(url, ProxyStatus(url))
                    source = UsageSource(http, url, key)
                    return ProxyFeed(source, self.store, status, self.settings.batch_size)

                self._new_feed = new_feed
                await self._run_sessions()
        finally:
            self.status.role = "stopping"
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            await self.health.stop()

    def current_feeds(self) -> list[ProxyFeed]:
        """One feed per replica known now: a replica that appeared gets one (its cursor comes
        from Postgres by the outbox's instance_id), one that went away is no longer polled."""
        assert self._new_feed is not None
        urls = self.replicas.urls
        for url in [u for u in self._feeds if u not in urls]:
            self._feeds.pop(url).abandon()
            for feed in self._outbox_feeds.pop(url, []):
                feed.abandon()
            self.status.proxies.pop(url, None)
            self.metrics.forget(url)
        for url in urls:
            if url not in self._feeds:
                self._feeds[url] = self._new_feed(url)
        return [f for url in urls for f in (self._feeds[url], *self._outbox_feeds.get(url, []))]

    async def _run_sessions(self) -> None:
        backoff = Backoff(self.settings.backoff_initial_s, self.settings.backoff_max_s)
        while not self.stopping.is_set():
            try:
                async with await connect(self.settings.database_url, autocommit=True) as conn:
                    self.status.database_ok = True
                    if await self._acquire_leadership(conn):
                        backoff.reset()
                        await self._lead(conn)
            except psycopg.Error as exc:
                self._lost_database(exc)
                await self._sleep(backoff.next())

    def _lost_database(self, exc: psycopg.Error) -> None:
        was_leader = self.leading.is_set()
        self.leading.clear()
        self.status.role, self.status.database_ok = "standby", False
        self.status.last_error = f"database: {type(exc).__name__}"
        self.store.forget_partitions()
        self.metrics.errors.labels("database").inc()
        log.warning("database_unavailable", error=str(exc).strip()[:300], was_leader=was_leader)

    async def _acquire_leadership(self, conn: Connection) -> bool:
        while not self.stopping.is_set():
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,))
            row = await cur.fetchone()
            if row is not None and row[0]:
                return True
            if self.status.role != "standby":
                log.info("collector_standby", leader_id=self.status.leader_id)
            self.status.role = "standby"
            await self._sleep(self.settings.standby_retry_s)
        return False

    async def _lead(self, conn: Connection) -> None:
        await conn.execute("LISTEN usage_collect")  # WAKE_CHANNEL
        await bookkeeping.mark_leader(conn, self.status.leader_id)
        for feed in self.current_feeds():
            feed.reset()  # another leader may have moved the cursors meanwhile
        self.status.role = "leader"
        self.leading.set()
        log.info("collector_leading", leader_id=self.status.leader_id)
        try:
            while not self.stopping.is_set():
                await self._maintain_if_due(conn)
                feeds = self.current_feeds()
                more = await self.run_once(conn, feeds)
                await self._publish_spend_if_due(conn, feeds)
                if not more:
                    await self._idle(conn)
        finally:
            self.leading.clear()
            for feed in [*self._feeds.values(), *chain.from_iterable(self._outbox_feeds.values())]:
                await feed.close()

    async def run_once(self, conn: Connection, feeds: list[ProxyFeed]) -> bool:
        """One page from every proxy that is not backing off; True when more may wait."""
        more = False
        for feed in feeds:
            if feed.status.retry_at > time.monotonic():
                continue
            try:
                more |= (await self.collect(conn, feed)).more
            except SourceError as exc:
                feed.reset()
                self._proxy_failed(feed.status, exc)
                continue
            more |= self._follow_instances(feeds, feed)
        return more

    def _follow_instances(self, feeds: list[ProxyFeed], feed: ProxyFeed) -> bool:
        """Add a feed for every outbox the proxy lists that no feed follows yet (workers)."""
        kept = self._outbox_feeds.setdefault(feed.source.url, [])
        followed = {f.instance for f in (*feeds, *kept) if f.source.url == feed.source.url}
        added = [
            ProxyFeed(feed.source, self.store, feed.status, feed.limit, instance)
            for instance in feed.instances
            if instance not in followed
        ]
        for new in added:
            log.info("proxy_outbox_found", proxy=feed.source.url, instance_id=new.instance)
        kept.extend(added)  # polled from the next round on, with the replica's own feed
        feeds.extend(added)  # run_once's loop reaches them in this same round
        return bool(added)

    async def collect(self, conn: Connection, feed: ProxyFeed) -> PageResult:
        """Fetch one page (read ahead when possible), store it in one transaction, commit,
        then ack in the background."""
        started = time.monotonic()
        parsed = await feed.next_page(conn)
        feed.read_ahead(parsed)
        try:
            result = await self.store.store(conn, parsed)
        except BaseException:
            feed.reset()
            raise
        feed.committed(result)
        self._record_progress(feed.status, result)
        self.metrics.batch_seconds.observe(time.monotonic() - started)
        return result

    def _record_progress(self, proxy: ProxyStatus, result: PageResult) -> None:
        proxy.instance_id, proxy.cursor = result.instance_id, result.cursor
        proxy.failures, proxy.last_error, proxy.retry_at = 0, None, 0.0
        if not result.more:
            proxy.last_drained_at = time.monotonic()
        self.status.last_success_at = time.time()
        self.status.stored_since_start += result.inserted
        url = proxy.url
        self.metrics.stored.labels(url).inc(result.inserted)
        self.metrics.rejected.labels(url).inc(result.rejected)
        self.metrics.duplicates.labels(url).inc(result.received - result.inserted - result.rejected)
        self.metrics.batches.labels(url).inc()

    def _proxy_failed(self, proxy: ProxyStatus, exc: SourceError) -> None:
        url = proxy.url
        backoff = Backoff(self.settings.backoff_initial_s, self.settings.backoff_max_s)
        backoff.failures = proxy.failures
        proxy.failures += 1
        proxy.retry_at = time.monotonic() + backoff.next()
        proxy.last_error = str(exc)
        self.metrics.errors.labels("proxy").inc()
        log.warning("proxy_unavailable", proxy=url, error=str(exc), failures=proxy.failures)

    async def _idle(self, conn: Connection) -> None:
        """Wait for NOTIFY usage_collect, the idle interval, a proxy's retry time or stop."""
        failing = [p.last_error for p in self.status.proxies.values() if p.last_error]
        # The row the dashboard reads: a heartbeat, and whether every proxy answered.
        await bookkeeping.mark_run(
            conn, status="error" if failing else "idle", error=failing[0] if failing else None
        )
        now = time.monotonic()
        wait = self.settings.idle_interval_s
        retries = [p.retry_at - now for p in self.status.proxies.values() if p.retry_at > now]
        spend_due = self._spend_published_at + self.settings.spend_interval_s - now
        wait = max(min([wait, spend_due, *retries]), 0.0)
        if await self._wait_for_wake(conn, wait):
            for proxy in self.status.proxies.values():
                proxy.retry_at = 0.0  # someone asked to collect now: try every proxy
            log.info("collector_woken")

    async def _wait_for_wake(self, conn: Connection, seconds: float) -> bool:
        async def first_notify() -> bool:
            async for _ in conn.notifies(timeout=seconds, stop_after=1):
                return True
            return False

        notified = asyncio.ensure_future(first_notify())
        stopped = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait({notified, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not notified.done():
            notified.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await notified
            return False
        return notified.result()

    async def _publish_spend_if_due(self, conn: Connection, feeds: list[ProxyFeed]) -> None:
        """Spend per key to every proxy, every `spend_interval_s` (after the pages stored)."""
        if time.monotonic() - self._spend_published_at >= self.settings.spend_interval_s:
            self._spend_published_at = time.monotonic()
            await spend.publish(conn, [feed.source for feed in feeds])

    async def _maintain_if_due(self, conn: Connection) -> None:
        if time.monotonic() - self._maintained_at >= self.settings.maintenance_interval_s:
            await self.maintain(conn)

    async def maintain(self, conn: Connection) -> None:
        """Partitions for this month and next; drop months older than the retention."""
        now = datetime.now(UTC)
        next_month = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
        created = await usage_events.ensure_partitions(conn, [now, next_month])
        dropped: list[str] = []
        if self.settings.retention_months > 0:
            cutoff = retention_cutoff(now, self.settings.retention_months)
            dropped = await usage_events.drop_partitions_before(conn, cutoff.year, cutoff.month)
            await conn.execute(
                "DELETE FROM usage_events_rejected WHERE rejected_at < %s", (cutoff,)
            )
        self.store.forget_partitions()
        self._maintained_at = time.monotonic()
        log.info("usage_partitions_maintained", ensured=created, dropped=dropped)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
