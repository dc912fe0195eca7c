"""One account's quota: the proxy's `GET /v0/management/quota` (which reaches the provider
through the account's own token, as `api-call` does), at most once a minute per account whatever
the number of viewers and dashboard replicas, next to the gateway's own usage in each window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.core.db import Pool
from services.dashboard.proxies.client import ManagementClient, ProxyUnavailable
from services.dashboard.quota.queries import cache, window_usage

CACHE_SECONDS = 60
# Per-model windows (Antigravity, Gemini CLI) name no length: Google's quotas reset daily.
MODEL_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Window:
    id: str
    label: str
    used_percent: float | None
    resets_at: datetime | None
    window_seconds: int | None
    tokens: int
    cost_usd: Decimal
    requests: int


@dataclass(frozen=True, slots=True)
class AccountQuota:
    plan: str
    windows: list[Window]
    error: str | None


async def report(pool: Pool, client: ManagementClient, auth_index: str) -> tuple[Any, str | None]:
    """The cached provider report (or its error), asking the proxy when older than a minute."""
    async with pool.connection() as conn, conn.transaction():
        await cache.lock(conn, auth_index)
        hit = await cache.fresh(conn, auth_index, CACHE_SECONDS)
        if hit is not None:
            return hit
        body, error = await _ask(client, auth_index)
        await cache.store(conn, auth_index, body, error)
    return body, error


async def _ask(client: ManagementClient, auth_index: str) -> tuple[Any, str | None]:
    try:
        body = await client.get_json(
            client.first, "/v0/management/quota", {"auth_index": auth_index}
        )
    except ProxyUnavailable as exc:
        status = exc.details.get("status") if isinstance(exc.details, dict) else None
        if status == 501:
            return None, "this provider has no quota API"
        return None, exc.message.rsplit(": ", 1)[-1] or "quota lookup failed"
    return body, None


async def account_quota(pool: Pool, client: ManagementClient, auth_index: str) -> AccountQuota:
    body, error = await report(pool, client, auth_index)
    if error or not isinstance(body, dict):
        return AccountQuota("", [], error or "no answer")
    raw = [w for w in body.get("windows") or [] if isinstance(w, dict)]
    async with pool.connection() as conn:
        windows = [await _window(conn, auth_index, w) for w in raw]
    return AccountQuota(str(body.get("plan") or ""), windows, None)


async def _window(conn: Any, auth_index: str, raw: dict[str, Any]) -> Window:
    wid = str(raw.get("id") or "")
    resets = _time(raw.get("resets_at"))
    seconds = raw.get("window_seconds") if isinstance(raw.get("window_seconds"), int) else None
    model = wid.removeprefix("model:") if wid.startswith("model:") else None
    length = timedelta(seconds=seconds) if seconds else (MODEL_WINDOW if model else None)
    tokens, cost, requests = 0, Decimal(0), 0
    if length is not None:
        since = (resets or datetime.now(UTC)) - length
        tokens, cost, requests = await window_usage.totals(conn, auth_index, since, model)
    used = raw.get("used_percent")
    return Window(
        wid,
        str(raw.get("label") or wid),
        float(used) if isinstance(used, int | float) else None,
        resets,
        seconds,
        tokens,
        cost,
        requests,
    )


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
