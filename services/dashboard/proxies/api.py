"""Proxy-facing routes: the model catalog and preferences, model aliases, proxy settings."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.core.errors import ValidationFailed
from services.dashboard.accounts import audit, guard
from services.dashboard.proxies import aliases as model_aliases
from services.dashboard.proxies import catalog
from services.dashboard.proxies import config as proxy_settings
from services.dashboard.proxies.link import link
from services.dashboard.proxies.queries import model_preferences
from services.dashboard.proxies.schemas import AliasesIn, Preferences
from services.dashboard.web import deps
from services.dashboard.web.inputs import body, raw_body
from services.dashboard.web.responses import ok


async def list_models(request: Request) -> Response:
    user = await guard.require_user(request)
    proxies = link(request)
    models, source = await catalog.for_user(
        deps.pool(request), proxies.client, proxies.catalog_key, user.id
    )
    return ok({"models": models, "source": source})


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
    return ok({"aliases": await model_aliases.read(link(request).sync)})


async def put_aliases(request: Request) -> Response:
    admin = await guard.require_admin(request)
    data = await body(request, AliasesIn)
    aliases = model_aliases.check(data.aliases)
    await model_aliases.save(
        deps.pool(request), link(request).sync, guard.actor(request, admin), aliases
    )
    return ok({"aliases": aliases})


async def get_proxy_settings(request: Request) -> Response:
    await guard.require_admin(request)
    current = await proxy_settings.read(link(request).sync)
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
    await proxy_settings.save(
        deps.pool(request), link(request).sync, guard.actor(request, admin), values
    )
    return ok(
        {"settings": values.model_dump(by_alias=True), "yaml": proxy_settings.preview(values)}
    )


routes = [
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
