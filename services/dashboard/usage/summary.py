"""The overview's usage card: the last 7 days in the viewer's time zone, with daily points."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from services.dashboard.accounts.queries.users import User
from services.dashboard.usage import history as usage_history
from services.dashboard.usage.collect import report_freshness
from services.dashboard.usage.window import parse_window, viewer_params
from services.dashboard.web import deps


async def overview_summary(request: Request, user: User) -> dict[str, Any]:
    """The card for `user`'s usage over the last 7 days in the viewer's zone."""
    params, _ = viewer_params(request)
    window = parse_window({"window": "7d", "tz": params["tz"]}, datetime.now(UTC))
    scope = usage_history.scope_for(user, {}, window)
    pool = deps.pool(request)
    report = await usage_history.summary(pool, window, scope)
    success = [
        (p.metrics.requests - p.metrics.failures) / p.metrics.requests if p.metrics.requests else 1
        for p in report.series
    ]
    return {
        "totals": report.totals,
        "points": [p.metrics for p in report.series],
        "success": success,
        "freshness": report_freshness(report),
    }
