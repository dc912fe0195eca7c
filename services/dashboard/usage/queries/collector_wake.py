"""collector_state from the dashboard's side: ask the collector to run now."""

from __future__ import annotations

from services.core.db import Connection

WAKE_CHANNEL = "usage_collect"  # the collector LISTENs on it (services/collector/worker.py)


async def request_wake(conn: Connection, reason: str) -> None:
    """Record the wake request and NOTIFY the collector; both land at the same commit."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE collector_state SET wake_requested_at = now(), wake_reason = %s,"
            " updated_at = now()",
            (reason[:200],),
        )
        await conn.execute("SELECT pg_notify(%s, %s)", (WAKE_CHANNEL, reason[:200]))
