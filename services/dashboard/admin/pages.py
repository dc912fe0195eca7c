"""Admin pages: users, the audit log, the admin part of the settings page; and the overview
(health, counts, model catalog, usage card) with the header's health badge."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import auth, guard, sessions
from services.dashboard.accounts.queries import audit_log
from services.dashboard.admin import health
from services.dashboard.admin import users as users_admin
from services.dashboard.admin.audit import audit_filter
from services.dashboard.admin.overview import overview_data
from services.dashboard.providers import admin_settings
from services.dashboard.proxies import catalog
from services.dashboard.proxies.link import link
from services.dashboard.usage.summary import overview_summary
from services.dashboard.web import deps, flash, rate_limit
from services.dashboard.web.forms import form_action
from services.dashboard.web.inputs import int_param, path_id, raw_body
from services.dashboard.web.templating import render
from services.dashboard.web.wording import plural


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
    role = "admin" if data.get("isAdmin") in ("true", "on") else "user"
    user = await users_admin.create_user(
        deps.pool(request),
        guard.actor(request, admin),
        data.get("username"),
        data.get("password"),
        role,
    )
    return flash.redirect(request, "/dashboard/users", f"User “{user.username}” created.")


@form_action("/dashboard/users")
async def change_role(request: Request) -> Response:
    admin = await guard.require_admin(request)
    role = str((await raw_body(request)).get("role", ""))
    user = await users_admin.set_role(
        deps.pool(request), link(request).sync, guard.actor(request, admin), path_id(request), role
    )
    return flash.redirect(
        request,
        "/dashboard/users",
        f"{user.username} is now {'an admin' if user.is_admin else 'a user'}.",
    )


@form_action("/dashboard/users")
async def delete_user(request: Request) -> Response:
    admin = await guard.require_admin(request)
    user = await users_admin.delete_user(
        deps.pool(request), link(request).sync, guard.actor(request, admin), path_id(request)
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


async def overview_page(request: Request) -> Response:
    user = await guard.require_user(request)
    proxies = link(request)
    result = await health.of(request)
    models, source = await catalog.for_user(
        deps.pool(request), proxies.client, proxies.catalog_key, user.id
    )
    client = proxies.client
    context = {
        **await overview_data(request, user.id, user.is_admin),
        "health": result,
        "models": models,
        "source": source,
        "addresses": dict(zip(client.labels, client.urls, strict=True)),
        "usage": await overview_summary(request, user),
    }
    return render(request, "overview.html", context, user=user, active="overview")


async def health_badge(request: Request) -> Response:
    """The header's badge, refreshed by every open page. Public like /api/health, which says
    the same: a badge that wanted a session (in the database) stayed "Healthy" while the
    database was down."""
    result = await health.of(request)
    return deps.templates(request).TemplateResponse(
        request, "partials/health.html", {"health": result}
    )


BACK = "/dashboard/settings"


async def settings_page(request: Request) -> Response:
    user = await guard.require_user(request)
    values = await admin_settings.read_all(deps.pool(request)) if user.is_admin else {}
    return render(request, "settings.html", {"settings": values}, user=user, active="settings")


@form_action(BACK)
async def save_limits(request: Request) -> Response:
    admin = await guard.require_admin(request)
    data = await raw_body(request)
    # An unticked checkbox sends nothing: for a yes/no setting that means "no".
    key, value = admin_settings.check(data.get("key"), data.get("value", ""))
    await admin_settings.write(deps.pool(request), guard.actor(request, admin), key, value)
    return flash.redirect(request, BACK, "Setting saved.")


@form_action(BACK)
async def revoke_sessions(request: Request) -> Response:
    admin = await guard.require_admin(request)
    ended, token = await auth.revoke_all_sessions(
        deps.pool(request), guard.actor(request, admin), deps.settings(request).session_days
    )
    response = flash.redirect(
        request, BACK, f"Signed out {plural(ended, 'session')}; you have a fresh one."
    )
    return sessions.with_session(request, response, token)


routes = [
    Route("/dashboard/users", users_page, methods=["GET"]),
    Route("/dashboard/users", create_user, methods=["POST"]),
    Route("/dashboard/users/{id:int}/role", change_role, methods=["POST"]),
    Route("/dashboard/users/{id:int}/delete", delete_user, methods=["POST"]),
    Route("/dashboard/audit", audit_page, methods=["GET"]),
    Route("/dashboard", overview_page, methods=["GET"]),
    Route("/dashboard/partials/health", health_badge, methods=["GET"]),
    Route("/dashboard/settings", settings_page, methods=["GET"]),
    Route("/dashboard/settings/limits", save_limits, methods=["POST"]),
    Route("/dashboard/settings/revoke-sessions", revoke_sessions, methods=["POST"]),
]
