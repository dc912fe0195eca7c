"""Admin pages: users, audit log, proxy settings and model aliases."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard import model_aliases, proxy_settings, users_admin
from services.dashboard.accounts import guard, passwords
from services.dashboard.accounts.queries import audit_log
from services.dashboard.api.admin import audit_filter
from services.dashboard.proxy_client import ProxyUnavailable
from services.dashboard.web import deps, flash, rate_limit
from services.dashboard.web.forms import form_action, is_htmx
from services.dashboard.web.inputs import int_param, path_id, raw_body
from services.dashboard.web.templating import render


async def users_page(request: Request) -> Response:
    admin = await guard.require_admin(request)
    page = await users_admin.list_users(
        deps.pool(request), int_param(request, "page", 1, 1, 100_000), 50
    )
    return render(request, "users.html", {"page": page}, user=admin, active="users")


@form_action("/dashboard/users")
async def create_user(request: Request) -> Response:
    admin = await guard.require_admin(request)
    await rate_limit.enforce(deps.pool(request), rate_limit.USER_CREATE, f"user:{admin.id}")
    data = await raw_body(request)
    username = passwords.check_username(data.get("username"))
    password = passwords.check_password(data.get("password"))
    role = "admin" if data.get("isAdmin") in ("true", "on") else "user"
    await users_admin.create_user(
        deps.pool(request), guard.actor(request, admin), username, password, role
    )
    return flash.redirect(request, "/dashboard/users", f"User “{username}” created.")


@form_action("/dashboard/users")
async def change_role(request: Request) -> Response:
    admin = await guard.require_admin(request)
    role = str((await raw_body(request)).get("role", ""))
    user = await users_admin.set_role(
        deps.pool(request), guard.actor(request, admin), path_id(request), role
    )
    return flash.redirect(
        request,
        "/dashboard/users",
        f"{user.username} is now {'an admin' if user.is_admin else 'a user'}.",
    )


@form_action("/dashboard/users")
async def delete_user(request: Request) -> Response:
    admin = await guard.require_admin(request)
    res = deps.resources(request)
    user = await users_admin.delete_user(
        res.pool, res.sync, guard.actor(request, admin), path_id(request)
    )
    return flash.redirect(request, "/dashboard/users", f"User “{user.username}” deleted.")


async def audit_page(request: Request) -> Response:
    admin = await guard.require_admin(request)
    f = audit_filter(request)
    async with deps.pool(request).connection() as conn:
        entries = await audit_log.search(conn, f)
        actions = await audit_log.actions(conn)
    next_before = entries[-1].id if len(entries) == f.limit else None
    query = {k: v for k, v in request.query_params.items() if k != "before" and v}
    context = {
        "entries": entries,
        "actions": actions,
        "filters": dict(request.query_params),
        "next_before": next_before,
        "next_query": urlencode({**query, "before": next_before or ""}),
    }
    return render(request, "audit.html", context, user=admin, active="audit")


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
        current = await proxy_settings.read(deps.resources(request).sync)
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
    res = deps.resources(request)
    await proxy_settings.save(res.pool, res.sync, guard.actor(request, admin), values)
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
        current = await model_aliases.read(deps.resources(request).sync)
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
    res = deps.resources(request)
    await model_aliases.save(res.pool, res.sync, guard.actor(request, admin), checked)
    return flash.redirect(request, "/dashboard/model-aliases", "Aliases saved to every proxy.")


routes = [
    Route("/dashboard/users", users_page, methods=["GET"]),
    Route("/dashboard/users", create_user, methods=["POST"]),
    Route("/dashboard/users/{id:int}/role", change_role, methods=["POST"]),
    Route("/dashboard/users/{id:int}/delete", delete_user, methods=["POST"]),
    Route("/dashboard/audit", audit_page, methods=["GET"]),
    Route("/dashboard/config", config_page, methods=["GET"]),
    Route("/dashboard/config", save_config, methods=["POST"]),
    Route("/dashboard/config/preview", preview_config, methods=["POST"]),
    Route("/dashboard/model-aliases", aliases_page, methods=["GET"]),
    Route("/dashboard/model-aliases", save_aliases, methods=["POST"]),
]
