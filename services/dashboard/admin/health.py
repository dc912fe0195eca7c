"""Health (D18): Postgres and every proxy answer, or the names of what failed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from services.core.db import Pool
from services.dashboard.proxies.client import ManagementClient, ProxyUnavailable

TIMEOUT_S = 3.0


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


async def check(pool: Pool, client: ManagementClient) -> Health:
    checks = await asyncio.gather(
        _database(pool),
        *(
            _proxy(client, url, label)
            for url, label in zip(client.urls, client.labels, strict=True)
        ),
    )
    return Health(list(checks))


async def _database(pool: Pool) -> Check:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(TIMEOUT_S), pool.connection(timeout=TIMEOUT_S) as conn:
            await conn.execute("SELECT 1")
    except Exception as exc:  # any failure means "down"; the name says what
        return Check("database", False, _ms(started), type(exc).__name__)
    return Check("database", True, _ms(started))


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
