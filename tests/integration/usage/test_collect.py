"""POST /api/usage/collect: who may call it, what it answers, and that a collector wakes."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.collector.worker import Collector
from services.core.db import connect
from tests.fakes.usage_source import FakeUsageSource
from tests.integration.collector.helpers import API_KEY, eventually, settings_for
from tests.integration.dashboard.conftest import Browser
from tests.integration.usage.asgi import dashboard, sign_in
from tests.integration.usage.conftest import COLLECTOR_KEY


def _as(browser: Browser, origin: str | None) -> Browser:
    """The same signed-in user sending another Origin (or none)."""
    other = Browser(browser.client, origin=origin)
    other.cookies = dict(browser.cookies)
    return other


def test_bearer_is_accepted(usage_client) -> None:
    response = Browser(usage_client, origin=None).post(
        "/api/usage/collect", headers={"Authorization": f"Bearer {COLLECTOR_KEY}"}
    )
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert data["queued"] is True
    assert data["collector"]["wakeRequestedAt"]
    assert data["collector"]["level"] in ("ok", "warn", "bad")


@pytest.mark.parametrize("header", [f"Bearer {COLLECTOR_KEY}x", "Bearer ", "Basic abc", "Bearer"])
def test_wrong_bearer_is_401(usage_client, users, header: str) -> None:
    """A wrong bearer is refused even from a signed-in admin: no fallback to the cookie."""
    response = _as(users["admin"], None).post(
        "/api/usage/collect", headers={"Authorization": header}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "auth_failed"


def test_admin_with_origin_is_202(users) -> None:
    response = users["admin"].post("/api/usage/collect")
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("origin", [None, "https://evil.example"])
def test_admin_without_our_origin_is_403(users, origin: str | None) -> None:
    response = _as(users["admin"], origin).post("/api/usage/collect")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


def test_non_admin_is_403(users) -> None:
    response = users["alice"].post("/api/usage/collect")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "admin_required"


def test_anonymous_is_401(usage_client) -> None:
    response = Browser(usage_client).post("/api/usage/collect")
    assert response.status_code == 401


async def test_bearer_is_refused_when_no_collector_key_is_set(database_url) -> None:
    async with dashboard(database_url) as client:
        response = await client.post(
            "/api/usage/collect", headers={"Authorization": "Bearer anything-at-all-123456"}
        )
    assert response.status_code == 401


async def test_collect_sends_notify(database_url) -> None:
    """The request sends NOTIFY usage_collect and records the wake request."""
    async with await connect(database_url, autocommit=True) as listener:
        await listener.execute("LISTEN usage_collect")
        async with dashboard(database_url, collector_api_key=COLLECTOR_KEY) as client:
            headers = await sign_in(client, "root", setup=True)
            response = await client.post("/api/usage/collect", headers=headers)
            assert response.status_code == 202
        received = [n async for n in listener.notifies(timeout=5, stop_after=1)]
        cur = await listener.execute("SELECT wake_reason, wake_requested_at FROM collector_state")
        reason, at = await cur.fetchone()
    assert [n.channel for n in received] == ["usage_collect"]
    assert received[0].payload == "admin:root"
    assert reason == "admin:root" and at is not None


async def test_collect_wakes_an_idle_collector(database_url) -> None:
    """A collector idling for 60 s stores new events within seconds of the request."""
    source = FakeUsageSource(instance_id="proxy-wake", api_key=API_KEY)
    source.add_events(5)
    url = await source.start()
    collector = Collector(settings_for(database_url, url, idle_interval_s=60))
    task = asyncio.create_task(collector.run())
    try:
        await eventually(lambda: source.pending == 0, what="first drain")
        await eventually(lambda: collector.status.proxies[url].last_drained_at, what="idle")
        source.add_events(7)
        async with dashboard(database_url, collector_api_key=COLLECTOR_KEY) as client:
            started = time.monotonic()
            response = await client.post(
                "/api/usage/collect", headers={"Authorization": f"Bearer {COLLECTOR_KEY}"}
            )
            assert response.status_code == 202
            await eventually(lambda: source.pending == 0, within=10, what="woken drain")
            assert time.monotonic() - started < 5  # far below the 60 s idle interval
    finally:
        collector.stop()
        await asyncio.wait_for(task, 10)
        await source.stop()
    async with await connect(database_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM usage_events")
        assert (await cur.fetchone()) == (12,)
