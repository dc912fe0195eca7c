"""Admin pages: users and the audit log."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard import users_admin
from services.dashboard.accounts import guard, passwords
from services.dashboard.accounts.queries import audit_log
from services.dashboard.api.admin import audit_filter
from services.dashboard.proxies.link import link
from services.dashboard.web import deps, flash, rate_limit
from services.dashboard.web.forms import form_action
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


routes = [
    Route("/dashboard/users", users_page, methods=["GET"]),
    Route("/dashboard/users", create_user, methods=["POST"]),
    Route("/dashboard/users/{id:int}/role", change_role, methods=["POST"]),
    Route("/dashboard/users/{id:int}/delete", delete_user, methods=["POST"]),
    Route("/dashboard/audit", audit_page, methods=["GET"]),
]
