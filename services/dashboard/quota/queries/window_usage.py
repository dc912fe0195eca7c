"""SQL over `usage_events`: what this gateway recorded for one account (auth_index) in a window."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from services.core.db import Connection


async def totals(
    conn: Connection, auth_index: str, since: datetime, model: str | None
) -> tuple[int, Decimal, int]:
    """(tokens, cost in USD, requests) since `since`, for one model when given."""
    cur = await conn.execute(
        "SELECT coalesce(sum(total_tokens), 0), coalesce(sum(cost_usd), 0), count(*)"
        " FROM usage_events WHERE auth_index = %s AND ts >= %s"
        " AND (%s::text IS NULL OR model = %s)",
        (auth_index, since, model, model),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), Decimal(row[1]), int(row[2])
