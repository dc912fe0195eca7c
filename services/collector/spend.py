"""Spend per client key, published to every proxy so budgets hold (docs/limits.md).

Every `COLLECTOR_SPEND_INTERVAL` seconds the leader sums the cost it stored per key for the
current UTC day and month (from the daily rollup usage_daily: one row per key, model and
credential a day, where the hourly rollup has up to 24) and sends it with the prices in force
to each proxy (`PUT /v0/usage/spend`). A proxy refuses a key whose budget is spent from then
on, so a budget reached takes effect on every replica within one interval plus the collection
delay.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog

from services.collector.sources import SourceError, UsageSource
from services.core.db import Connection

log = structlog.get_logger(__name__)

_SPEND = (
    "SELECT api_key_id,"
    " coalesce(sum(cost_usd) FILTER (WHERE bucket_start >= %(day)s), 0),"
    " sum(cost_usd)"
    " FROM usage_daily"  # UTC days: the day and the month are whole days of it
    " WHERE bucket_start >= %(month)s AND api_key_id <> ''"
    " GROUP BY api_key_id HAVING sum(cost_usd) > 0"
)
# One price per (provider, model) in force now, as usage_price_for would choose it.
_PRICES = (
    "SELECT DISTINCT ON (lower(provider), lower(model)) provider, model, input_per_mtok,"
    " output_per_mtok, cached_input_per_mtok, cache_write_per_mtok, reasoning_per_mtok"
    " FROM model_pricing WHERE is_active AND effective_from <= %(now)s"
    " ORDER BY lower(provider), lower(model), effective_from DESC"
)


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


async def publication(conn: Connection, now: datetime) -> dict[str, Any]:
    """The body of `PUT /v0/usage/spend` for `now` (UTC)."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    cur = await conn.execute(_SPEND, {"day": day, "month": month})
    keys = {
        key: {"day": float(spent_day), "month": float(spent_month)}
        for key, spent_day, spent_month in await cur.fetchall()
    }
    cur = await conn.execute(_PRICES, {"now": now})
    prices = [
        {
            "provider": provider,
            "model": model,
            "input": float(inp),
            "output": float(out),
            "cached_input": _number(cached),
            "cache_write": _number(write),
            "reasoning": _number(reasoning),
        }
        for provider, model, inp, out, cached, write, reasoning in await cur.fetchall()
    ]
    return {
        "as_of": now.isoformat(timespec="seconds"),
        "day": day.strftime("%Y-%m-%d"),
        "month": month.strftime("%Y-%m"),
        "keys": keys,
        "prices": prices,
    }


async def publish(conn: Connection, sources: list[UsageSource]) -> int:
    """Send the spend to every proxy at once; returns how many took it (failures are logged)."""
    body = await publication(conn, datetime.now(UTC))
    results = await asyncio.gather(
        *(source.publish_spend(body) for source in sources), return_exceptions=True
    )
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, SourceError):
            log.warning("spend_publish_failed", proxy=source.url, error=str(result))
        elif isinstance(result, BaseException):
            raise result
    return sum(1 for r in results if not isinstance(r, BaseException))
