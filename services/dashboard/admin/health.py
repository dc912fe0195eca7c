"""Health (D18): Postgres, the collector and every proxy answer, or the names of what failed.

Postgres is asked on a connection of the check's own (`DatabaseProbe`), never the pool's: the
pool checks its connections on checkout and waits for a fresh one, so a check that borrowed
from it waited through a short Postgres outage and then said 200. The collector counts as up
while one collector process holds the leader lock in this database (read from `pg_locks` on the
same round trip): its session ends, and the lock with it, the moment the process dies, and any
replica that takes over leads under the same lock, so the check needs no list of collectors.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from starlette.requests import Request

from services.core.db import COLLECTOR_LEADER_LOCK, Connection, connect
from services.dashboard.proxies.client import ManagementClient, ProxyUnavailable
from services.dashboard.proxies.link import link
from services.dashboard.web import deps

TIMEOUT_S = 3.0
CONNECT_TIMEOUT_S = 2  # libpq's minimum; TIMEOUT_S bounds the whole check anyway
_LEADERS = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 1
  AND classid = %s::oid AND objid = %s::oid
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    latency_ms: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Health:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]


class DatabaseProbe:
    """One connection outside the pool, kept open between checks and opened again after a
    failure: a killed Postgres fails the next check at once (its socket is closed), and a
    Postgres still down fails the connect. Costs one idle connection per dashboard process."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()  # one query at a time on the one connection

    async def leaders(self) -> int:
        """How many collectors hold the leader lock here; raises while Postgres is down."""
        key = (COLLECTOR_LEADER_LOCK >> 32, COLLECTOR_LEADER_LOCK & 0xFFFFFFFF)
        async with self._lock:
            try:
                conn = await self._connection()
                row = await (await conn.execute(_LEADERS, key)).fetchone()
            except BaseException:  # cancelled by the timeout too: never reuse a half-used one
                await self.aclose()
                raise
        return int(row[0]) if row else 0

    async def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = await connect(
                self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            )
        return self._conn

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()


async def of(request: Request) -> Health:
    """The checks as this dashboard is configured: its probe, its proxies, a collector or not."""
    probe = request.app.state.health_probe
    assert isinstance(probe, DatabaseProbe)
    return await check(probe, link(request).client, deps.settings(request).health_collector)


async def check(probe: DatabaseProbe, client: ManagementClient, collector: bool) -> Health:
    """Every check at once; `collector` says whether a collector is expected to lead."""
    proxies = asyncio.gather(
        *(_proxy(client, url, label) for url, label in zip(client.urls, client.labels, strict=True))
    )
    store, answered = await asyncio.gather(_store(probe, collector), proxies)
    return Health([*store, *answered])


async def _store(probe: DatabaseProbe, collector: bool) -> list[Check]:
    """The database, then the collector; while the database is down only it is named (no
    collector can work then, and whether one leads cannot be read)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(TIMEOUT_S):
            leaders = await probe.leaders()
    except Exception as exc:  # any failure means "down"; the name says what
        return [Check("database", False, _ms(started), type(exc).__name__)]
    checks = [Check("database", True, _ms(started))]
    if collector:
        error = None if leaders else "no collector leads"
        checks.append(Check("collector", leaders > 0, _ms(started), error))
    return checks


async def _proxy(client: ManagementClient, url: str, label: str) -> Check:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(TIMEOUT_S):
            await client.healthz(url)
    except (ProxyUnavailable, TimeoutError) as exc:
        return Check(label, False, _ms(started), type(exc).__name__)
    return Check(label, True, _ms(started))


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
