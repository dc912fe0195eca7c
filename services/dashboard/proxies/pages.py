"""Proxy pages: the proxy settings editor and the model alias editor (admins), and hiding a
model from one's own catalog on the overview."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.dashboard.accounts import guard
from services.dashboard.proxies import aliases as model_aliases
from services.dashboard.proxies import config as proxy_settings
from services.dashboard.proxies.client import ProxyUnavailable
from services.dashboard.proxies.link import link
from services.dashboard.proxies.queries import model_preferences
from services.dashboard.web import deps, flash
from services.dashboard.web.forms import form_action, is_htmx
from services.dashboard.web.inputs import raw_body
from services.dashboard.web.templating import render


def _form_settings(data: dict[str, Any]) -> dict[str, Any]:
    """Form fields to settings values: unchecked boxes are absent, so they mean false."""
    values: dict[str, Any] = {}
    for name, path in proxy_settings.PATHS.items():
        kind = proxy_settings.ProxySettings.model_fields[name].annotation
        if kind is bool:
            values[path] = data.get(path) in ("true", "on")
        elif path in data:
            values[path] = data[path]
    return values


async def config_page(request: Request) -> Response:
    admin = await guard.require_admin(request)
    unavailable = None
    try:
        current = await proxy_settings.read(link(request).sync)
    except ProxyUnavailable as exc:
        current, unavailable = proxy_settings.ProxySettings(), exc.message
    context = {
        "values": current.model_dump(by_alias=True),
        "yaml": proxy_settings.preview(current),
        "unavailable": unavailable,
    }
    return render(request, "config.html", context, user=admin, active="config")


@form_action("/dashboard/config")
async def save_config(request: Request) -> Response:
    admin = await guard.require_admin(request)
    values = proxy_settings.parse(_form_settings(await raw_body(request)))
    await proxy_settings.save(
        deps.pool(request), link(request).sync, guard.actor(request, admin), values
    )
    return flash.redirect(
        request, "/dashboard/config", "Settings saved and applied to every proxy."
    )


@form_action("/dashboard/config")
async def preview_config(request: Request) -> Response:
    admin = await guard.require_admin(request)
    values = proxy_settings.parse(_form_settings(await raw_body(request)))
    context = {"yaml": proxy_settings.preview(values)}
    if is_htmx(request):
        return deps.templates(request).TemplateResponse(
            request, "partials/yaml_preview.html", context
        )
    return render(
        request,
        "config.html",
        {**context, "values": values.model_dump(by_alias=True)},
        user=admin,
        active="config",
    )


async def aliases_page(request: Request) -> Response:
    admin = await guard.require_admin(request)
    unavailable, current = None, {}
    try:
        current = await model_aliases.read(link(request).sync)
    except ProxyUnavailable as exc:
        unavailable = exc.message
    rows = [
        {
            "channel": channel,
            "name": e.get("name", ""),
            "alias": e.get("alias", ""),
            "fork": bool(e.get("fork")),
        }
        for channel, entries in sorted(current.items())
        for e in entries
        if isinstance(e, dict)
    ]
    rows += [{"channel": "", "name": "", "alias": "", "fork": False}] * 3
    return render(
        request,
        "model_aliases.html",
        {"rows": rows, "unavailable": unavailable},
        user=admin,
        active="aliases",
    )


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else ([str(value)] if value else [])


@form_action("/dashboard/model-aliases")
async def save_aliases(request: Request) -> Response:
    admin = await guard.require_admin(request)
    data = await raw_body(request)
    channels, names, aliases, forks = (
        _as_list(data.get(k)) for k in ("channel", "modelName", "alias", "fork")
    )
    tree: dict[str, list[dict[str, Any]]] = {}
    for i, channel in enumerate(channels):
        name = names[i].strip() if i < len(names) else ""
        alias = aliases[i].strip() if i < len(aliases) else ""
        if channel.strip() and name and alias:
            tree.setdefault(channel.strip(), []).append(
                {"name": name, "alias": alias, "fork": i < len(forks) and forks[i] == "true"}
            )
    checked = model_aliases.check(tree)
    await model_aliases.save(
        deps.pool(request), link(request).sync, guard.actor(request, admin), checked
    )
    return flash.redirect(request, "/dashboard/model-aliases", "Aliases saved to every proxy.")


@form_action("/dashboard")
async def toggle_model(request: Request) -> Response:
    user = await guard.require_user(request)
    data = await raw_body(request)
    model = str(data.get("model", "")).strip()[:200]
    async with deps.pool(request).connection() as conn:
        hidden = set(await model_preferences.excluded(conn, user.id))
        if data.get("hidden") == "1":
            hidden.add(model)
        else:
            hidden.discard(model)
        await model_preferences.set_excluded(conn, user.id, sorted(hidden)[:500])
    return RedirectResponse("/dashboard", status_code=303)


routes = [
    Route("/dashboard/models/visibility", toggle_model, methods=["POST"]),
    Route("/dashboard/config", config_page, methods=["GET"]),
    Route("/dashboard/config", save_config, methods=["POST"]),
    Route("/dashboard/config/preview", preview_config, methods=["POST"]),
    Route("/dashboard/model-aliases", aliases_page, methods=["GET"]),
    Route("/dashboard/model-aliases", save_aliases, methods=["POST"]),
]
