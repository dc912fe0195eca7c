"""`POST /api/usage/collect` rules and the collector freshness shown on the usage page.

A caller is either the collector bearer (COLLECTOR_API_KEY, compared in constant time) or an
admin session (the CSRF middleware has already required a same-origin Origin for cookies).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr

from services.core.db import Pool
from services.core.errors import Unauthorized
from services.dashboard.usage.history import Report
from services.dashboard.usage.queries import collector_wake
from services.dashboard.usage.queries import events as events_q
from services.dashboard.usage.queries.events import Freshness

FRESH_S = 120  # the collector drains every few seconds while it runs
STALE_S = 900
HEARTBEAT_DEAD_S = 120


@dataclass(frozen=True, slots=True)
class FreshnessView:
    """How old the newest usage data may be, as a level (ok | warn | bad) and a sentence."""

    level: str
    lag_seconds: float | None
    message: str
    state: Freshness


def bearer_matches(header: str, configured: SecretStr | None) -> bool:
    """True when `Authorization: Bearer <key>` carries COLLECTOR_API_KEY (constant time)."""
    scheme, _, token = header.partition(" ")
    if configured is None or scheme.lower() != "bearer" or not token.strip():
        return False
    expected = configured.get_secret_value().encode()
    return hmac.compare_digest(token.strip().encode(), expected)


def require_bearer(header: str, configured: SecretStr | None) -> None:
    if not bearer_matches(header, configured):
        raise Unauthorized("the bearer token is not the collector key", code="auth_failed")


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max((now - then).total_seconds(), 0.0)


def view(state: Freshness) -> FreshnessView:
    """Turn the collector's state row into what the freshness badge says."""
    lag = _age(state.now, state.last_success_at)
    heartbeat = _age(state.now, state.heartbeat_at)
    if lag is None:
        return FreshnessView("bad", None, "The collector has not stored anything yet.", state)
    if heartbeat is None or heartbeat > HEARTBEAT_DEAD_S:
        return FreshnessView("bad", lag, "The collector is not running.", state)
    if state.status == "error" and state.last_error:
        return FreshnessView("warn", lag, f"A proxy did not answer: {state.last_error}", state)
    if lag > STALE_S:
        return FreshnessView("bad", lag, "Usage data is stale.", state)
    if lag > FRESH_S:
        return FreshnessView("warn", lag, "Usage data is a few minutes old.", state)
    if not state.collected_any:  # "up to date" would suggest there is data to look at
        return FreshnessView(
            "ok", lag, "Nothing has been collected yet: no requests so far.", state
        )
    return FreshnessView("ok", lag, "Usage data is up to date.", state)


async def freshness(pool: Pool) -> FreshnessView:
    async with pool.connection() as conn:
        return view(await events_q.freshness(conn))


async def wake(pool: Pool, reason: str) -> FreshnessView:
    """Ask the collector to collect now; answers with its state as of this request."""
    async with pool.connection() as conn:
        await collector_wake.request_wake(conn, reason)
        return view(await events_q.freshness(conn))


def report_freshness(report: Report) -> FreshnessView:
    """The collector's state as read in the report's own snapshot."""
    assert report.collector is not None
    return view(report.collector)
