"""The Quota page's content: the viewer's accounts (admins: all), each looked up on its own so
one failing account never breaks the page."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.core.db import Pool
from services.dashboard.accounts.audit import Actor
from services.dashboard.oauth_accounts import accounts
from services.dashboard.oauth_accounts.views import AccountView
from services.dashboard.quota.lookup import AccountQuota, account_quota

PARALLEL = 4  # lookups at once: each holds a database connection while the proxy answers


@dataclass(frozen=True, slots=True)
class QuotaRow:
    account: AccountView
    quota: AccountQuota


async def rows(pool: Pool, client: Any, actor: Actor) -> list[QuotaRow]:
    views = [
        v
        for v in await accounts.visible(pool, client, actor)
        if v.auth_index and (v.is_own or actor.is_admin)
    ]
    gate = asyncio.Semaphore(PARALLEL)

    async def one(v: AccountView) -> QuotaRow:
        if v.state == "disabled":
            return QuotaRow(v, AccountQuota("", [], "disabled"))
        async with gate:
            return QuotaRow(v, await account_quota(pool, client, str(v.auth_index)))

    return list(await asyncio.gather(*(one(v) for v in views)))


def countdown(at: datetime | None, now: datetime | None = None) -> str:
    """ "in 2 h 5 min", "in 3 d 4 h", "now" (the page's script keeps it ticking)."""
    if at is None:
        return "—"
    left = int((at - (now or datetime.now(UTC))).total_seconds())
    if left <= 0:
        return "now"
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = max(1, rest // 60) if not days and not hours else rest // 60
    if days:
        return f"in {days} d {hours} h"
    return f"in {hours} h {minutes} min" if hours else f"in {minutes} min"


def to_json(row: QuotaRow) -> dict[str, Any]:
    return {
        "name": row.account.name,
        "provider": row.account.provider,
        "email": row.account.email,
        "authIndex": row.account.auth_index,
        "plan": row.quota.plan,
        "error": row.quota.error,
        "windows": [
            {
                "id": w.id,
                "label": w.label,
                "usedPercent": w.used_percent,
                "resetsAt": w.resets_at,
                "windowSeconds": w.window_seconds,
                "tokens": w.tokens,
                "costUsd": float(w.cost_usd),
                "requests": w.requests,
            }
            for w in row.quota.windows
        ],
    }
