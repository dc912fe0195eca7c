"""The overview page (health, counts, model catalog) and the header's health badge."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard import health
from services.dashboard.accounts import guard
from services.dashboard.api.overview import overview_data
from services.dashboard.proxies import catalog
from services.dashboard.proxies.link import link
from services.dashboard.proxies.queries import model_preferences
from services.dashboard.usage.summary import overview_summary
from services.dashboard.web import deps
from services.dashboard.web.templating import render


async def overview_page(request: Request) -> Response:
    user = await guard.require_user(request)
    proxies = link(request)
    result = await health.check(deps.pool(request), proxies.client)
    models = await catalog.load(proxies.client, proxies.catalog_key)
    async with deps.pool(request).connection() as conn:
        hidden = set(await model_preferences.excluded(conn, user.id))
    names = (
        ["proxy"]
        if len(proxies.client.urls) == 1
        else [f"proxy {i + 1}" for i in range(len(proxies.client.urls))]
    )
    context = {
        **await overview_data(request, user.id, user.is_admin),
        "health": result,
        "models": [{"id": m, "hidden": m in hidden} for m in models.models],
        "source": models.source,
        "addresses": dict(zip(names, proxies.client.urls, strict=True)),
        "usage": await overview_summary(request, user),
    }
    return render(request, "overview.html", context, user=user, active="overview")


async def health_badge(request: Request) -> Response:
    await guard.require_user(request)
    result = await health.check(deps.pool(request), link(request).client)
    return deps.templates(request).TemplateResponse(
        request, "partials/health.html", {"health": result}
    )


routes = [
    Route("/dashboard", overview_page, methods=["GET"]),
    Route("/dashboard/partials/health", health_badge, methods=["GET"]),
]
