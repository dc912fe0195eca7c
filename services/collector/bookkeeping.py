"""collector_cursors, collector_state and usage_events_rejected: the collector's bookkeeping."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import orjson
from psycopg.rows import class_row

from services.core.db import Connection


@dataclass(frozen=True, slots=True)
class Cursor:
    """How far the collector has stored one proxy instance's outbox."""

    instance_id: str
    proxy_url: str
    last_seq: int


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """An event set aside, with the reason."""

    instance_id: str
    seq: int | None
    event_id: str | None
    reason: str
    raw: object


async def get_cursor(conn: Connection, instance_id: str) -> Cursor | None:
    """The cursor of a proxy instance, if the collector has seen it."""
    async with conn.cursor(row_factory=class_row(Cursor)) as cur:
        await cur.execute(
            "SELECT instance_id, proxy_url, last_seq FROM collector_cursors WHERE instance_id = %s",
            (instance_id,),
        )
        return await cur.fetchone()


async def latest_cursor_for_url(conn: Connection, proxy_url: str) -> Cursor | None:
    """The most recently advanced cursor of whatever instance answers at `proxy_url`."""
    async with conn.cursor(row_factory=class_row(Cursor)) as cur:
        await cur.execute(
            "SELECT instance_id, proxy_url, last_seq FROM collector_cursors"
            " WHERE proxy_url = %s ORDER BY updated_at DESC LIMIT 1",
            (proxy_url,),
        )
        return await cur.fetchone()


async def advance_cursor(
    conn: Connection,
    cursor: Cursor,
    *,
    stored: int,
    newest_event_at: datetime | None,
) -> int:
    """Move the cursor forward (never back) and count stored events; return the new seq."""
    cur = await conn.execute(
        "INSERT INTO collector_cursors AS c"
        " (instance_id, proxy_url, last_seq, events_stored, last_event_at)"
        " VALUES (%(instance_id)s, %(proxy_url)s, %(last_seq)s, %(stored)s, %(newest)s)"
        " ON CONFLICT (instance_id) DO UPDATE SET"
        "  proxy_url = EXCLUDED.proxy_url,"
        "  last_seq = greatest(c.last_seq, EXCLUDED.last_seq),"
        "  events_stored = c.events_stored + EXCLUDED.events_stored,"
        "  last_event_at = greatest(c.last_event_at, EXCLUDED.last_event_at),"
        "  updated_at = now()"
        " RETURNING last_seq",
        {
            "instance_id": cursor.instance_id,
            "proxy_url": cursor.proxy_url,
            "last_seq": cursor.last_seq,
            "stored": stored,
            "newest": newest_event_at,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def _canonical_json(raw: object) -> bytes:
    # jsonb cannot hold NUL characters; a replacement keeps the rest of the event readable.
    text = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    return text.replace(b"\\u0000", b"\\ufffd")


async def record_rejected(conn: Connection, rejected: list[RejectedEvent]) -> int:
    """Store events set aside; a replay of the same raw event is stored once. Return new rows."""
    if not rejected:
        return 0
    params = []
    for item in rejected:
        raw = _canonical_json(item.raw)
        params.append(
            {
                "instance_id": item.instance_id,
                "seq": item.seq,
                "event_id": item.event_id,
                "reason": item.reason,
                "raw": raw.decode(),
                "digest": hashlib.sha256(raw).hexdigest(),
            }
        )
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO usage_events_rejected"
            " (instance_id, seq, event_id, reason, raw, raw_sha256)"
            " VALUES (%(instance_id)s, %(seq)s, %(event_id)s, %(reason)s, %(raw)s::jsonb,"
            " %(digest)s) ON CONFLICT DO NOTHING",
            params,
            returning=False,
        )
        return max(cur.rowcount, 0)


async def mark_leader(conn: Connection, leader_id: str) -> None:
    """Record that `leader_id` now leads."""
    await conn.execute(
        "UPDATE collector_state SET leader_id = %s, leader_since = now(), heartbeat_at = now(),"
        " status = 'idle', updated_at = now()",
        (leader_id,),
    )


async def mark_run(
    conn: Connection,
    *,
    status: str,
    stored: int = 0,
    rejected: int = 0,
    error: str | None = None,
) -> None:
    """Heartbeat of the leader: status, counters, and the last success or error."""
    await conn.execute(
        "UPDATE collector_state SET status = %(status)s, heartbeat_at = now(),"
        " events_stored = events_stored + %(stored)s,"
        " events_rejected = events_rejected + %(rejected)s,"
        " last_success_at = CASE WHEN %(error)s::text IS NULL THEN now()"
        "  ELSE last_success_at END,"
        " last_error = coalesce(%(error)s, last_error),"
        " last_error_at = CASE WHEN %(error)s::text IS NULL THEN last_error_at ELSE now() END,"
        " updated_at = now()",
        {"status": status, "stored": stored, "rejected": rejected, "error": error},
    )
