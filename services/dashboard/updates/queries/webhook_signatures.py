"""SQL on `webhook_signatures`: the replay guard of the deploy webhook."""

from __future__ import annotations

from services.core.db import Connection


async def first_use(conn: Connection, signature_sha256: str, window_s: int) -> bool:
    """Record a signature; False when it was already used (a replay). Entries older than the
    timestamp window go first: a replay of those is refused as stale anyway."""
    await conn.execute(
        "DELETE FROM webhook_signatures WHERE seen_at < now() - make_interval(secs => %s)",
        (window_s * 2,),
    )
    cur = await conn.execute(
        "INSERT INTO webhook_signatures (signature_sha256) VALUES (%s) ON CONFLICT DO NOTHING",
        (signature_sha256,),
    )
    return cur.rowcount == 1
