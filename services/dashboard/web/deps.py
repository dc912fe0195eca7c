"""Typed access to what the app holds (settings, pool, proxy client) and to the current user.

Starlette's `app.state` is untyped; handlers read it only through these functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from services.core.db import Pool
from services.core.errors import Forbidden, Unauthorized
from services.dashboard import sessions
from services.dashboard.audit import Actor
from services.dashboard.proxy_client import ManagementClient
from services.dashboard.proxy_sync import ProxySync
from services.dashboard.queries.users import User
from services.dashboard.settings import DashboardSettings
from services.dashboard.ssrf import UpstreamPolicy


@dataclass(frozen=True, slots=True)
class Resources:
    """What the lifespan opens: the Postgres pool and the proxies' management client."""

    pool: Pool
    http: aiohttp.ClientSession
    client: ManagementClient
    sync: ProxySync
    catalog_key: str


def settings(request: Request) -> DashboardSettings:
    value = request.app.state.settings
    assert isinstance(value, DashboardSettings)
    return value


def templates(request: Request) -> Jinja2Templates:
    value = request.app.state.templates
    assert isinstance(value, Jinja2Templates)
    return value


def resources(request: Request) -> Resources:
    value = request.app.state.resources
    assert isinstance(value, Resources)
    return value


def pool(request: Request) -> Pool:
    return resources(request).pool


async def upstream_policy(request: Request) -> UpstreamPolicy:
    """What user-supplied upstream URLs may address (admin setting + FETCH_MODELS_ALLOW)."""
    res = resources(request)
    async with res.pool.connection() as conn:
        return await res.sync.upstream_policy(conn)


def client_ip(request: Request) -> str | None:
    """The caller's address; X-Forwarded-For only when the operator says a proxy sets it."""
    if settings(request).trust_proxy_headers:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()  # the hop our own proxy appended
    return request.client.host if request.client else None


async def current_user(request: Request) -> User | None:
    """The user of the request's session cookie, looked up once per request."""
    if "user" in request.scope.setdefault("state", {}):
        cached = request.state.user
        return cached if isinstance(cached, User) else None
    token = sessions.token_from_cookie(request.cookies.get(sessions.COOKIE), _secret(request))
    user = None
    if token is not None:
        async with pool(request).connection() as conn:
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
    return Actor(user, client_ip(request), request.headers.get("user-agent"))


def _secret(request: Request) -> str:
    return settings(request).jwt_secret.get_secret_value()
