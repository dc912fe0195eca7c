"""Proxy-facing routes: health, overview, model catalog and preferences, model aliases, proxy
settings."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core.errors import ValidationFailed
from services.dashboard import catalog, health, model_aliases, proxy_settings
from services.dashboard.accounts import audit, guard
from services.dashboard.accounts.queries import users
from services.dashboard.queries import api_keys, custom_providers, model_preferences, provider_keys
from services.dashboard.schemas import AliasesIn, Preferences
from services.dashboard.web import deps
from services.dashboard.web.inputs import body, raw_body
from services.dashboard.web.responses import OrjsonResponse, ok


async def get_health(request: Request) -> Response:
    res = deps.resources(request)
    result = await health.check(res.pool, res.client)
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


async def list_models(request: Request) -> Response:
    user = await guard.require_user(request)
    res = deps.resources(request)
    result = await catalog.load(res.client, res.catalog_key)
    async with res.pool.connection() as conn:
        hidden = set(await model_preferences.excluded(conn, user.id))
    models = [{"id": m, "hidden": m in hidden} for m in result.models]
    return ok({"models": models, "source": result.source})


async def get_preferences(request: Request) -> Response:
    user = await guard.require_user(request)
    async with deps.pool(request).connection() as conn:
        return ok({"excludedModels": await model_preferences.excluded(conn, user.id)})


async def put_preferences(request: Request) -> Response:
    user = await guard.require_user(request)
    data = await body(request, Preferences)
    models = sorted({m.strip() for m in data.excludedModels if m.strip()})
    if any(len(m) > 200 for m in models):
        raise ValidationFailed(
            "model names are at most 200 characters",
            details=[{"field": "excludedModels", "message": "too long"}],
        )
    async with deps.pool(request).connection() as conn:
        await model_preferences.set_excluded(conn, user.id, models)
    return ok({"excludedModels": models})


async def get_aliases(request: Request) -> Response:
    await guard.require_admin(request)
    return ok({"aliases": await model_aliases.read(deps.resources(request).sync)})


async def put_aliases(request: Request) -> Response:
    admin = await guard.require_admin(request)
    data = await body(request, AliasesIn)
    aliases = model_aliases.check(data.aliases)
    res = deps.resources(request)
    await model_aliases.save(res.pool, res.sync, guard.actor(request, admin), aliases)
    return ok({"aliases": aliases})


async def get_proxy_settings(request: Request) -> Response:
    await guard.require_admin(request)
    current = await proxy_settings.read(deps.resources(request).sync)
    return ok(
        {"settings": current.model_dump(by_alias=True), "yaml": proxy_settings.preview(current)}
    )


async def preview_proxy_settings(request: Request) -> Response:
    await guard.require_admin(request)
    values = proxy_settings.parse((await raw_body(request)).get("settings") or {})
    return ok({"yaml": proxy_settings.preview(values)})


async def put_proxy_settings(request: Request) -> Response:
    admin = await guard.require_admin(request)
    values = proxy_settings.parse((await raw_body(request)).get("settings") or {})
    res = deps.resources(request)
    await proxy_settings.save(res.pool, res.sync, guard.actor(request, admin), values)
    return ok(
        {"settings": values.model_dump(by_alias=True), "yaml": proxy_settings.preview(values)}
    )


routes = [
    Route("/health", get_health, methods=["GET"]),
    Route("/overview", overview, methods=["GET"]),
    Route("/models", list_models, methods=["GET"]),
    Route("/model-preferences", get_preferences, methods=["GET"]),
    Route("/model-preferences", put_preferences, methods=["PUT"]),
    Route("/model-aliases", get_aliases, methods=["GET"]),
    Route("/model-aliases", put_aliases, methods=["PUT"]),
    Route("/proxy-settings", get_proxy_settings, methods=["GET"]),
    Route("/proxy-settings", put_proxy_settings, methods=["PUT"]),
    Route("/proxy-settings/preview", preview_proxy_settings, methods=["POST"]),
]

__all__ = ["audit", "routes"]
