"""Typed access to what the app holds: settings, templates, the pool, the proxy client.

Starlette's `app.state` is untyped; handlers read it only through these functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from services.core.db import Pool
from services.dashboard.proxies.client import ManagementClient
from services.dashboard.proxies.sync import ProxySync
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
