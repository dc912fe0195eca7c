"""SQL on `rate_limit_counters`: fixed-window counters shared by every dashboard replica."""

from __future__ import annotations

from services.core.db import Connection


async def hit(conn: Connection, bucket: str, window_s: int) -> tuple[int, float]:
    """Count one hit in the current window of `bucket`; returns (hits so far, seconds left)."""
    cur = await conn.execute(
        "WITH w AS (SELECT to_timestamp(floor(extract(epoch FROM now()) / %(w)s) * %(w)s) AS start)"
        " INSERT INTO rate_limit_counters (bucket, window_start, hits, expires_at)"
        " SELECT %(b)s, w.start, 1, w.start + make_interval(secs => %(w)s) FROM w"
        " ON CONFLICT (bucket, window_start)"
        " DO UPDATE SET hits = rate_limit_counters.hits + 1"
        " RETURNING hits, extract(epoch FROM expires_at - now())",
        {"b": bucket, "w": window_s},
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


async def purge_expired(conn: Connection) -> None:
    await conn.execute("DELETE FROM rate_limit_counters WHERE expires_at < now()")
