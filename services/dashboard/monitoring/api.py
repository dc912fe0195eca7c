"""/api/monitoring (admin): the same snapshot as the page, as JSON."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import guard
from services.dashboard.monitoring.view import current
from services.dashboard.web.responses import ok


async def get_monitoring(request: Request) -> Response:
    await guard.require_admin(request)
    snap = await current(request)
    collector = asdict(snap.collector) if snap.collector else None
    if snap.collector and collector is not None:
        collector["lagging"] = snap.collector.lagging(snap.waiting_events)
    return ok(
        {
            "proxies": [asdict(p) for p in snap.proxies],
            "collector": collector,
            "database": asdict(snap.database),
            "waitingEvents": snap.waiting_events,
            "takenAt": snap.taken_at,
        }
    )


routes = [Route("/monitoring", get_monitoring, methods=["GET"])]
