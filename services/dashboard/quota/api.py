"""GET /api/quota: the viewer's OAuth accounts with their provider windows and recorded usage."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import guard
from services.dashboard.proxies.link import link
from services.dashboard.quota import view
from services.dashboard.web import deps
from services.dashboard.web.responses import ok


async def get_quota(request: Request) -> Response:
    user = await guard.require_user(request)
    found = await view.rows(deps.pool(request), link(request).client, guard.actor(request, user))
    return ok({"accounts": [view.to_json(r) for r in found]})


routes = [Route("/quota", get_quota, methods=["GET"])]
