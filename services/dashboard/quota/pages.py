"""The Quota page (/dashboard/quota)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import guard
from services.dashboard.proxies.client import ProxyUnavailable
from services.dashboard.proxies.link import link
from services.dashboard.quota import view
from services.dashboard.web import deps
from services.dashboard.web.templating import render


async def quota_page(request: Request) -> Response:
    user = await guard.require_user(request)
    error = None
    try:
        found = await view.rows(
            deps.pool(request), link(request).client, guard.actor(request, user)
        )
    except ProxyUnavailable as exc:
        found, error = [], exc.message
    context = {"rows": found, "countdown": view.countdown, "proxy_error": error}
    return render(request, "quota.html", context, user=user, active="quota")


routes = [Route("/dashboard/quota", quota_page, methods=["GET"])]
