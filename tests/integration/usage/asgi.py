"""The dashboard app in-process for async tests and benchmarks: lifespan run by hand, requests
through httpx's ASGI transport (no sockets, no threads)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from services.dashboard.app import create_app
from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard.conftest import MGMT_KEY, ORIGIN, PASSWORD, make_settings


@contextlib.asynccontextmanager
async def dashboard(database_url: str, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    """An AsyncClient bound to a running dashboard app (its lifespan opened and closed), with a
    fake proxy management API for its start-up resync."""
    proxy = FakeManagementAPI(MGMT_KEY).start()
    app = create_app(make_settings(database_url, [proxy], **settings), resync_interval_s=0)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url=ORIGIN, headers={"Origin": ORIGIN}
            ) as client:
                yield client
    finally:
        proxy.stop()


async def sign_in(
    client: httpx.AsyncClient, username: str, *, setup: bool = False
) -> dict[str, str]:
    """Create the first admin (setup) or log in; returns the Cookie header for later calls."""
    path = "/api/setup" if setup else "/api/auth/login"
    response = await client.post(path, json={"username": username, "password": PASSWORD})
    assert response.status_code in (200, 201), response.text
    cookie = response.cookies.get("session")
    assert cookie
    client.cookies.clear()  # each caller sends its own cookie explicitly
    return {"Cookie": f"session={cookie}"}
