"""Client API keys: shown once, stored hashed, pushed to every proxy, owner-only changes."""

from __future__ import annotations

import hashlib
import re

import psycopg

from services.dashboard.settings import DashboardSettings
from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard.conftest import Browser


def entry(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def test_key_is_shown_once_and_pushed_hashed(
    alice: Browser, fake_proxy: FakeManagementAPI, settings: DashboardSettings
) -> None:
    created = alice.post("/api/user/api-keys", json={"name": "laptop"})
    assert created.status_code == 201, created.text
    key = created.json()["data"]["key"]
    assert re.fullmatch(r"sk-[A-Za-z0-9]{48}", key)
    assert entry(key) in fake_proxy.snapshot("api-keys")
    assert key not in fake_proxy.snapshot("api-keys")
    listed = alice.get("/api/user/api-keys").json()["data"]
    assert listed[0]["name"] == "laptop" and listed[0]["keyPreview"] == key[:8] + "…"
    assert key not in alice.get("/api/user/api-keys").text
    with psycopg.connect(settings.database_url.get_secret_value()) as conn:
        rows = conn.execute("SELECT key_sha256, display_prefix FROM user_api_keys").fetchall()
    assert rows == [(hashlib.sha256(key.encode()).hexdigest(), key[:8])]


def test_revoke_removes_the_key_from_the_proxy(
    alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    key = alice.post("/api/user/api-keys", json={"name": "ci"}).json()["data"]
    assert entry(key["key"]) in fake_proxy.snapshot("api-keys")
    assert alice.delete(f"/api/user/api-keys?id={key['id']}").status_code == 200
    assert entry(key["key"]) not in fake_proxy.snapshot("api-keys")
    listed = alice.get("/api/user/api-keys").json()["data"]
    assert listed[0]["active"] is False and listed[0]["revokedAt"]


def test_operator_entries_are_kept(alice: Browser, fake_proxy: FakeManagementAPI) -> None:
    fake_proxy.config["api-keys"] = ["operator-plain-key", "sha256:" + "a" * 64]
    key = alice.post("/api/user/api-keys", json={"name": "x"}).json()["data"]
    alice.delete(f"/api/user/api-keys/{key['id']}")
    remaining = fake_proxy.snapshot("api-keys")
    assert "operator-plain-key" in remaining and "sha256:" + "a" * 64 in remaining


def test_rename(alice: Browser) -> None:
    key = alice.post("/api/user/api-keys", json={"name": "old"}).json()["data"]
    renamed = alice.patch(f"/api/user/api-keys/{key['id']}", json={"name": "new name"})
    assert renamed.status_code == 200 and renamed.json()["data"]["name"] == "new name"
    empty = alice.patch(f"/api/user/api-keys/{key['id']}", json={"name": "   "})
    assert empty.status_code == 400


def test_other_users_keys_are_untouchable(alice: Browser, bob: Browser) -> None:
    key = alice.post("/api/user/api-keys", json={"name": "mine"}).json()["data"]
    assert bob.delete(f"/api/user/api-keys?id={key['id']}").status_code == 404
    assert bob.patch(f"/api/user/api-keys/{key['id']}", json={"name": "pwned"}).status_code == 404
    assert bob.get("/api/user/api-keys").json()["data"] == []
    assert alice.get("/api/user/api-keys").json()["data"][0]["name"] == "mine"


def test_proxy_refusing_the_write_stores_nothing(
    alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    fake_proxy.fail_writes = True
    response = alice.post("/api/user/api-keys", json={"name": "x"})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "proxy_error"
    fake_proxy.fail_writes = False
    assert alice.get("/api/user/api-keys").json()["data"] == []


def test_key_creation_is_rate_limited(alice: Browser) -> None:
    codes = [
        alice.post("/api/user/api-keys", json={"name": f"k{i}"}).status_code for i in range(11)
    ]
    assert codes[:10] == [201] * 10 and codes[10] == 429


def test_unauthenticated_key_routes_are_401(anon: Browser) -> None:
    assert anon.get("/api/user/api-keys").status_code == 401
    assert anon.post("/api/user/api-keys", json={}).status_code == 401
