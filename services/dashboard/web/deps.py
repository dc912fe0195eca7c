"""Typed access to what the app holds: settings, templates, the Postgres pool, the client address.

Starlette's `app.state` is untyped; handlers read it only through these functions.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from services.core.db import Pool
from services.dashboard.settings import DashboardSettings


def settings(request: Request) -> DashboardSettings:
    value = request.app.state.settings
    assert isinstance(value, DashboardSettings)
    return value


def templates(request: Request) -> Jinja2Templates:
    value = request.app.state.templates
    assert isinstance(value, Jinja2Templates)
    return value


def pool(request: Request) -> Pool:
    value = request.app.state.pool
    assert isinstance(value, AsyncConnectionPool)
    return value


def client_ip(request: Request) -> str | None:
    """The caller's address; X-Forwarded-For only when the operator says a proxy sets it."""
    if settings(request).trust_proxy_headers:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()  # the hop our own proxy appended
    return request.client.host if request.client else None
