"""Admin routes: /api/admin/users, /settings, /revoke-sessions, /audit; and /api/health,
/api/overview (every signed-in user)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import auth, guard, sessions
from services.dashboard.accounts.auth import revoke_all_sessions
from services.dashboard.accounts.queries import audit_log
from services.dashboard.admin import health
from services.dashboard.admin import users as users_admin
from services.dashboard.admin.audit import audit_filter, audit_json
from services.dashboard.admin.overview import overview_data
from services.dashboard.admin.schemas import RoleChange, SettingIn, UserCreate
from services.dashboard.providers import admin_settings
from services.dashboard.proxies.link import link
from services.dashboard.web import deps, rate_limit
from services.dashboard.web.inputs import body, int_param, path_or_query_id
from services.dashboard.web.responses import OrjsonResponse, ok


async def list_users(request: Request) -> Response:
    await guard.require_admin(request)
    page = int_param(request, "page", 1, 1, 100_000)
    limit = int_param(request, "limit", 50, 1, 100)
    result = await users_admin.list_users(deps.pool(request), page, limit)
    rows = [
        {
            "id": u.id,
            "username": u.username,
            "isAdmin": u.role == "admin",
            "role": u.role,
            "createdAt": u.created_at,
            "lastLoginAt": u.last_login_at,
            "apiKeyCount": u.api_key_count,
        }
        for u in result.users
    ]
    pages = max(1, -(-result.total // limit))
    return ok(
        {
            "users": rows,
            "pagination": {
                "page": page,
                "limit": limit,
                "total": result.total,
                "totalPages": pages,
            },
        }
    )


async def create_user(request: Request) -> Response:
    admin = await guard.require_admin(request)
    await rate_limit.enforce(deps.pool(request), rate_limit.USER_CREATE, f"user:{admin.id}")
    data = await body(request, UserCreate)
    user = await users_admin.create_user(
        deps.pool(request),
        guard.actor(request, admin),
        data.username,
        data.password,
        "admin" if data.isAdmin else "user",
    )
    return ok(auth.user_json(user), 201)


async def delete_user(request: Request) -> Response:
    admin = await guard.require_admin(request)
    deleted = await users_admin.delete_user(
        deps.pool(request),
        link(request).sync,
        guard.actor(request, admin),
        path_or_query_id(request, "userId"),
    )
    return ok({"deleted": deleted.id, "username": deleted.username})


async def change_role(request: Request) -> Response:
    admin = await guard.require_admin(request)
    data = await body(request, RoleChange)
    role = "admin" if data.isAdmin else "user"
    user = await users_admin.set_role(
        deps.pool(request),
        link(request).sync,
        guard.actor(request, admin),
        path_or_query_id(request, "userId"),
        role,
    )
    return ok(auth.user_json(user))


async def get_settings(request: Request) -> Response:
    await guard.require_admin(request)
    values = await admin_settings.read_all(deps.pool(request))
    return ok({"settings": values, "items": [{"key": k, "value": v} for k, v in values.items()]})


async def put_settings(request: Request) -> Response:
    admin = await guard.require_admin(request)
    data = await body(request, SettingIn)
    key, value = admin_settings.check(data.key, data.value)
    await admin_settings.write(deps.pool(request), guard.actor(request, admin), key, value)
    return ok({"key": key, "value": value})


async def revoke_sessions(request: Request) -> Response:
    admin = await guard.require_admin(request)
    ended, token = await revoke_all_sessions(
        deps.pool(request), guard.actor(request, admin), deps.settings(request).session_days
    )
    return sessions.with_session(request, ok({"revoked": ended}), token)


async def list_audit(request: Request) -> Response:
    await guard.require_admin(request)
    f = audit_filter(request)
    async with deps.pool(request).connection() as conn:
        entries = await audit_log.search(conn, f)
        actions = await audit_log.actions(conn)
    next_before = entries[-1].id if len(entries) == f.limit else None
    return ok(
        {"entries": [audit_json(e) for e in entries], "nextBefore": next_before, "actions": actions}
    )


async def get_health(request: Request) -> Response:
    result = await health.of(request)
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


routes = [
    Route("/admin/users", list_users, methods=["GET"]),
    Route("/admin/users", create_user, methods=["POST"]),
    Route("/admin/users", delete_user, methods=["DELETE"]),
    Route("/admin/users/{id:int}", delete_user, methods=["DELETE"]),
    Route("/admin/users/{id:int}", change_role, methods=["PATCH"]),
    Route("/admin/settings", get_settings, methods=["GET"]),
    Route("/admin/settings", put_settings, methods=["PUT"]),
    Route("/admin/revoke-sessions", revoke_sessions, methods=["POST"]),
    Route("/admin/audit", list_audit, methods=["GET"]),
    Route("/health", get_health, methods=["GET"]),
    Route("/overview", overview, methods=["GET"]),
]
