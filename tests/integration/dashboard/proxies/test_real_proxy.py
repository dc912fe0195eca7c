"""The dashboard driving the real proxy process (`python -m services.proxy`) end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.dashboard.settings import DashboardSettings
from tests.integration.dashboard.conftest import ENC_KEY, JWT_SECRET, MGMT_KEY, Browser
from tests.integration.dashboard.real_proxy import RealProxy, ThreadedUpstream, chat, eventually

UPSTREAM_KEY = "sk-upstream-real-proxy-0123456789"


@pytest.fixture
def upstream() -> Iterator[ThreadedUpstream]:
    server = ThreadedUpstream()
    yield server
    server.stop()


@pytest.fixture
def real_proxy(tmp_path: Path) -> Iterator[RealProxy]:
    proxy = RealProxy(tmp_path)
    yield proxy
    proxy.stop()


@pytest.fixture
def settings(dashboard_db: str, real_proxy: RealProxy) -> DashboardSettings:
    return DashboardSettings(
        database_url=dashboard_db,
        jwt_secret=JWT_SECRET,
        management_api_key=MGMT_KEY,
        provider_encryption_key=ENC_KEY,
        proxy_url=real_proxy.url,
        health_collector=False,
    )


def test_keys_and_providers_work_at_the_real_proxy(
    alice: Browser, admin: Browser, real_proxy: RealProxy, upstream: ThreadedUpstream
) -> None:
    provider = {
        "name": "Fake",
        "providerId": "fake-up",
        "baseUrl": upstream.fake.base_url,
        "apiKey": UPSTREAM_KEY,
        "models": [{"upstreamName": "gpt-test"}, {"upstreamName": "gpt-test", "alias": "nick"}],
    }
    refused = alice.post("/api/custom-providers", json=provider)
    assert refused.status_code == 400  # the fake upstream listens on loopback
    allow = {"key": "allow_private_upstreams", "value": True}
    assert admin.put("/api/admin/settings", json=allow).status_code == 200
    created = alice.post("/api/custom-providers", json=provider)
    assert created.status_code == 201, created.text
    key = alice.post("/api/user/api-keys", json={"name": "sdk"}).json()["data"]
    reply = chat(real_proxy, key["key"])
    assert reply.status_code == 200, reply.text
    assert chat(real_proxy, key["key"], "nick").status_code == 200
    assert upstream.fake.requests[-1].api_key == UPSTREAM_KEY

    models = alice.get("/api/models").json()["data"]
    assert models["source"] == "proxy" and {"gpt-test", "nick"} <= {
        m["id"] for m in models["models"]
    }
    assert admin.get("/api/health").status_code == 200

    # Revoked in the dashboard: refused by the proxy within seconds.
    alice.delete(f"/api/user/api-keys/{key['id']}")
    eventually(lambda: chat(real_proxy, key["key"]).status_code == 401)

    # A disabled group takes its provider off the proxy; enabling it brings it back.
    other = alice.post("/api/user/api-keys", json={"name": "second"}).json()["data"]["key"]
    gid = alice.post("/api/provider-groups", json={"name": "g"}).json()["data"]["id"]
    pid = created.json()["data"]["provider"]["id"]
    assert alice.patch(f"/api/custom-providers/{pid}", json={"groupId": gid}).status_code == 200
    alice.patch(f"/api/provider-groups/{gid}", json={"isActive": False})
    eventually(lambda: chat(real_proxy, other).status_code != 200)
    alice.patch(f"/api/provider-groups/{gid}", json={"isActive": True})
    eventually(lambda: chat(real_proxy, other).status_code == 200)


def test_settings_aliases_and_provider_keys_at_the_real_proxy(
    admin: Browser, real_proxy: RealProxy
) -> None:
    settings = admin.get("/api/proxy-settings").json()["data"]["settings"]
    saved = admin.put(
        "/api/proxy-settings",
        json={"settings": {**settings, "routing.strategy": "fill-first", "request-retry": 2}},
    )
    assert saved.status_code == 200, saved.text
    config = real_proxy.management("config")
    assert config["routing"]["strategy"] == "fill-first" and config["request-retry"] == 2
    assert "api-keys" in real_proxy.config_path.read_text()  # the rest of the file survived

    aliases = {"claude": [{"name": "claude-sonnet-4-5", "alias": "sonnet"}]}
    assert admin.put("/api/model-aliases", json={"aliases": aliases}).status_code == 200
    stored = real_proxy.management("oauth-model-alias")["oauth-model-alias"]["claude"][0]
    assert stored["name"] == "claude-sonnet-4-5" and stored["alias"] == "sonnet"

    key = "sk-ant-api03-" + "r" * 40
    assert (
        admin.post("/api/providers/keys", json={"provider": "claude", "apiKey": key}).status_code
        == 201
    )
    assert [e["api-key"] for e in real_proxy.management("claude-api-key")["claude-api-key"]] == [
        key
    ]


def test_resync_against_an_unchanged_proxy_writes_nothing(
    admin: Browser, real_proxy: RealProxy
) -> None:
    admin.post("/api/user/api-keys", json={"name": "k"})
    admin.post(
        "/api/custom-providers",
        json={
            "name": "P",
            "providerId": "p",
            "baseUrl": "https://p.example/v1",
            "apiKey": "sk-p-0123456789abcdef",
            "models": [{"upstreamName": "m"}],
        },
    )
    admin.post(
        "/api/providers/keys",
        json={
            "provider": "codex",
            "apiKey": "sk-codex-0123456789abcdef",
            "baseUrl": "https://api.openai.com/v1",
        },
    )
    before = real_proxy.config_path.read_text()
    mtime = real_proxy.config_path.stat().st_mtime_ns
    assert admin.post("/api/custom-providers/resync").status_code == 200
    assert real_proxy.config_path.read_text() == before
    assert real_proxy.config_path.stat().st_mtime_ns == mtime
