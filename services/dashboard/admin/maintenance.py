"""Background upkeep of a dashboard process: proxy resync and purging expired rows."""

from __future__ import annotations

import asyncio

import structlog

from services.core.db import Pool
from services.dashboard.accounts.queries import sessions
from services.dashboard.proxies.sync import ProxySync, resync
from services.dashboard.web.queries import rate_limits

log = structlog.get_logger(__name__)


async def purge_expired(pool: Pool) -> None:
    async with pool.connection() as conn:
        await sessions.purge_expired(conn)
        await rate_limits.purge_expired(conn)


async def run_forever(pool: Pool, sync: ProxySync, interval_s: float) -> None:
    """Resync now, then every `interval_s`: a proxy replica that restarted empty catches up.

    `interval_s <= 0` runs one round only (tests). Failures are logged and retried next round.
    """
    while True:
        try:
            await resync(pool, sync)
            await purge_expired(pool)
        except Exception:  # the loop must outlive a database or proxy outage
            log.exception("maintenance_round_failed")
        if interval_s <= 0:
            return
        await asyncio.sleep(interval_s)
