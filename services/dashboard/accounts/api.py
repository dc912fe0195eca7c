"""First-run setup and authentication: /api/setup, /api/auth/*."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.dashboard.accounts import auth, guard, sessions
from services.dashboard.accounts.schemas import Credentials, PasswordChange
from services.dashboard.web import deps, rate_limit
from services.dashboard.web.inputs import body
from services.dashboard.web.responses import ok


async def setup_status(request: Request) -> Response:
    return ok({"setupRequired": await auth.setup_required(deps.pool(request))})


async def setup(request: Request) -> Response:
    await rate_limit.enforce(deps.pool(request), rate_limit.SETUP, deps.client_ip(request) or "-")
    data = await body(request, Credentials)
    user, token = await auth.create_first_admin(
        deps.pool(request),
        guard.actor(request, None),
        data.username,
        data.password,
        deps.settings(request).session_days,
    )
    return sessions.with_session(request, ok(auth.user_json(user), status=201), token)


async def login(request: Request) -> Response:
    await rate_limit.enforce(deps.pool(request), rate_limit.LOGIN, deps.client_ip(request) or "-")
    data = await body(request, Credentials)
    user, token = await auth.sign_in(
        deps.pool(request),
        guard.actor(request, None),
        data.username,
        data.password,
        deps.settings(request).session_days,
    )
    return sessions.with_session(request, ok(auth.user_json(user)), token)


async def logout(request: Request) -> Response:
    user = await guard.current_user(request)
    await auth.sign_out(
        deps.pool(request), guard.actor(request, user), guard.session_token(request)
    )
    response = ok({"loggedOut": True})
    sessions.clear_cookie(response)
    return response


async def me(request: Request) -> Response:
    return ok(auth.user_json(await guard.require_user(request)))


async def change_password(request: Request) -> Response:
    user = await guard.require_user(request)
    await rate_limit.enforce(deps.pool(request), rate_limit.PASSWORD, f"user:{user.id}")
    data = await body(request, PasswordChange)
    token = await auth.change_password(
        deps.pool(request),
        guard.actor(request, user),
        data.currentPassword,
        data.newPassword,
        deps.settings(request).session_days,
    )
    return sessions.with_session(request, ok({"changed": True}), token)


routes = [
    Route("/setup", setup_status, methods=["GET"]),
    Route("/setup", setup, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/me", me, methods=["GET"]),
    Route("/auth/change-password", change_password, methods=["POST"]),
]
