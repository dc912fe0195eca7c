"""Health and the overview counts: /api/health, /api/overview."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard import health
from services.dashboard.accounts import guard
from services.dashboard.accounts.queries import users
from services.dashboard.keys.queries import api_keys
from services.dashboard.providers.queries import custom_providers, provider_keys
from services.dashboard.proxies.link import link
from services.dashboard.web import deps
from services.dashboard.web.responses import OrjsonResponse, ok


async def get_health(request: Request) -> Response:
    result = await health.check(deps.pool(request), link(request).client)
    checks = [
        {"name": c.name, "ok": c.ok, "latencyMs": c.latency_ms, "error": c.error}
        for c in result.checks
    ]
    data = {"status": "ok" if result.ok else "degraded", "checks": checks, "failed": result.failed}
    if result.ok:
        return ok(data)
    message = "unavailable: " + ", ".join(result.failed)
    return OrjsonResponse(
        {
            "data": data,
            "error": {"code": "unavailable", "message": message, "details": result.failed},
        },
        503,
    )


async def overview(request: Request) -> Response:
    user = await guard.require_user(request)
    return ok(await overview_data(request, user.id, user.is_admin))


async def overview_data(request: Request, user_id: int, is_admin: bool) -> dict[str, object]:
    async with deps.pool(request).connection() as conn:
        counts = {
            "apiKeys": await api_keys.count_active(conn, None if is_admin else user_id),
            "providerKeys": await provider_keys.count_all(conn),
            "customProviders": await custom_providers.count_all(conn),
        }
        if is_admin:
            counts["users"] = await users.count(conn)
    return {"counts": counts}


routes = [
    Route("/health", get_health, methods=["GET"]),
    Route("/overview", overview, methods=["GET"]),
]
