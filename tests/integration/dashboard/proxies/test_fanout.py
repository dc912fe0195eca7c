"""Several proxies in PROXY_URL: every change reaches all of them, or none."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard.conftest import MGMT_KEY, Browser


def entry(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture
def proxies(fake_proxy: FakeManagementAPI) -> Iterator[list[FakeManagementAPI]]:
    second = FakeManagementAPI(MGMT_KEY).start()
    yield [fake_proxy, second]
    second.stop()


def test_two_proxies_health_names_the_one_down(
    anon: Browser, proxies: list[FakeManagementAPI]
) -> None:
    proxies[1].healthy = False
    down = anon.get("/api/health")
    assert down.status_code == 503 and down.json()["data"]["failed"] == ["proxy 2"]


def test_settings_reach_every_proxy_or_none(
    admin: Browser, proxies: list[FakeManagementAPI]
) -> None:
    first, second = proxies
    settings = admin.get("/api/proxy-settings").json()["data"]["settings"]
    second.fail_writes = True
    failed = admin.put(
        "/api/proxy-settings", json={"settings": {**settings, "routing.strategy": "fill-first"}}
    )
    assert failed.status_code == 502
    assert first.snapshot("routing") == {"strategy": "round-robin"}
    second.fail_writes = False
    assert (
        admin.put(
            "/api/proxy-settings", json={"settings": {**settings, "routing.strategy": "fill-first"}}
        ).status_code
        == 200
    )
    assert first.snapshot("routing") == second.snapshot("routing") == {"strategy": "fill-first"}


def test_every_proxy_gets_the_key_and_a_failure_restores_all(
    alice: Browser, proxies: list[FakeManagementAPI]
) -> None:
    first, second = proxies
    key = alice.post("/api/user/api-keys", json={"name": "both"}).json()["data"]["key"]
    assert entry(key) in first.snapshot("api-keys") and entry(key) in second.snapshot("api-keys")
    before = first.snapshot("api-keys")
    second.fail_writes = True
    assert alice.post("/api/user/api-keys", json={"name": "half"}).status_code == 502
    assert first.snapshot("api-keys") == before  # written, then put back
    assert len(alice.get("/api/user/api-keys").json()["data"]) == 1
