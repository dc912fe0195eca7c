"""Health and the overview counts over HTTP."""

from __future__ import annotations

from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard.conftest import Browser


def test_health_ok_then_degraded(anon: Browser, fake_proxy: FakeManagementAPI) -> None:
    ok = anon.get("/api/health")
    assert ok.status_code == 200 and ok.json()["data"]["status"] == "ok"
    fake_proxy.healthy = False
    down = anon.get("/api/health")
    assert down.status_code == 503
    body = down.json()
    assert body["data"]["failed"] == ["proxy"] and body["error"]["message"] == "unavailable: proxy"


def test_overview_counts(admin: Browser, alice: Browser) -> None:
    alice.post("/api/user/api-keys", json={"name": "a"})
    assert alice.get("/api/overview").json()["data"]["counts"]["apiKeys"] == 1
    assert admin.get("/api/overview").json()["data"]["counts"]["users"] == 2
