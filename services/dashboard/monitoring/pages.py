"""The Monitoring page (admin), its panels refreshed every 5 s by htmx."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import guard
from services.dashboard.monitoring.view import current
from services.dashboard.web import deps
from services.dashboard.web.templating import render


async def monitoring_page(request: Request) -> Response:
    admin = await guard.require_admin(request)
    context = {"snap": await current(request)}
    return render(request, "monitoring.html", context, user=admin, active="monitoring")


async def monitoring_panels(request: Request) -> Response:
    await guard.require_admin(request)
    return deps.templates(request).TemplateResponse(
        request, "partials/monitoring_panels.html", {"snap": await current(request)}
    )


routes = [
    Route("/dashboard/monitoring", monitoring_page, methods=["GET"]),
    Route("/dashboard/partials/monitoring", monitoring_panels, methods=["GET"]),
]
