"""Monitoring: every proxy replica's health and counts from its /metrics (the proxy's own
Metrics class renders the fake's), cooling credentials, the usage outbox, the collector's
progress and Postgres; one replica down does not hide the others."""

from __future__ import annotations

import pytest

from services.dashboard.monitoring import probes
from services.dashboard.monitoring.probes import Rates
from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard.conftest import MGMT_KEY


@pytest.fixture
def second_proxy() -> FakeManagementAPI:
    proxy = FakeManagementAPI(MGMT_KEY).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxies(fake_proxy, second_proxy):
    return [fake_proxy, second_proxy]


def snapshot(admin) -> dict:
    response = admin.get("/api/monitoring")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_each_replica_its_counts_the_collector_and_postgres(admin, fake_proxy, second_proxy):
    for status in (200, 200, 200, 502, 0):
        fake_proxy.metrics.request("/v1/chat/completions", status, 0.1)
    fake_proxy.gauges.update(
        cooldowns_active=1, credentials=3, usage_outbox_depth_events=7,
        usage_outbox_depth_bytes=2048, usage_outbox_dropping=1,
    )  # fmt: skip
    second_proxy.healthy = False
    snap = snapshot(admin)
    first, second = snap["proxies"]
    assert (first["label"], first["up"], second["label"], second["up"]) == (
        "proxy 1", True, "proxy 2", False,
    )  # fmt: skip
    assert first["requests_total"] == 5 and first["errors_total"] == 2  # 5xx and network
    assert (first["cooling"], first["credentials"]) == (1, 3)
    assert (first["outbox_events"], first["outbox_alarm"]) == (7, "dropping")
    assert "503" in second["error"]
    assert snap["database"]["up"] and snap["database"]["version"]
    assert snap["collector"]["status"]
    assert snap["waitingEvents"] == 7
    assert MGMT_KEY not in str(snap)


def test_the_page_and_its_live_panels(admin, alice, fake_proxy):
    page = admin.get("/dashboard/monitoring")
    assert page.status_code == 200
    assert 'hx-trigger="every 5s"' in page.text and 'data-replica="proxy 1"' in page.text
    panels = admin.get("/dashboard/partials/monitoring")
    assert panels.status_code == 200 and "Postgres" in panels.text
    assert alice.get("/api/monitoring").status_code == 403
    assert alice.get("/dashboard/monitoring").status_code == 403


def test_rates_come_from_two_samples(monkeypatch):
    clock = iter([100.0, 102.0, 102.1, 110.0])
    monkeypatch.setattr(probes.time, "monotonic", lambda: next(clock))
    rates = Rates()
    assert rates.update("p", 10, 1) == (None, None)  # first sample: totals only
    assert rates.update("p", 20, 3) == (5.0, 1.0)  # 10 requests, 2 errors in 2 s
    assert rates.update("p", 25, 3) == (None, None)  # too soon after the last one
    assert rates.update("p", 4, 0) == (None, None)  # counters went back: the proxy restarted
