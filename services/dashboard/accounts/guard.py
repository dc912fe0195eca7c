"""Who is asking: the user of the request's session cookie (looked up once per request), the
sign-in and admin guards every route starts with, and the request's actor for the audit log."""

from __future__ import annotations

from starlette.requests import Request

from services.core.errors import Forbidden, Unauthorized
from services.dashboard.accounts import sessions
from services.dashboard.accounts.audit import Actor
from services.dashboard.accounts.queries.users import User
from services.dashboard.web import deps


async def current_user(request: Request) -> User | None:
    """The user of the request's session cookie, looked up once per request."""
    if "user" in request.scope.setdefault("state", {}):
        cached = request.state.user
        return cached if isinstance(cached, User) else None
    token = sessions.token_from_cookie(request.cookies.get(sessions.COOKIE), _secret(request))
    user = None
    if token is not None:
        async with deps.pool(request).connection() as conn:
            user = await sessions.user_for(conn, token)
    request.state.user = user
    request.state.session_token = token if user else None
    return user


async def require_user(request: Request) -> User:
    user = await current_user(request)
    if user is None:
        raise Unauthorized("sign in first", code="auth_required")
    return user


async def require_admin(request: Request) -> User:
    user = await require_user(request)
    if not user.is_admin:
        raise Forbidden("this needs an admin account", code="admin_required")
    return user


def session_token(request: Request) -> str | None:
    value = getattr(request.state, "session_token", None)
    return value if isinstance(value, str) else None


def actor(request: Request, user: User | None) -> Actor:
    return Actor(user, deps.client_ip(request), request.headers.get("user-agent"))


def _secret(request: Request) -> str:
    return deps.settings(request).jwt_secret.get_secret_value()
