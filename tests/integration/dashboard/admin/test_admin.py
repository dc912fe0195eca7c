"""Admin routes: users and roles, last-admin protection, settings, audit log, access control."""

from __future__ import annotations

import hashlib

from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard.conftest import PASSWORD, Browser

ADMIN_ROUTES = [
    ("GET", "/api/admin/users", None),
    ("POST", "/api/admin/users", {"username": "eve2", "password": PASSWORD}),
    ("DELETE", "/api/admin/users?userId=1", None),
    ("PATCH", "/api/admin/users/1", {"isAdmin": False}),
    ("GET", "/api/admin/settings", None),
    ("PUT", "/api/admin/settings", {"key": "max_provider_keys_per_user", "value": 99}),
    ("POST", "/api/admin/revoke-sessions", None),
    ("GET", "/api/admin/audit", None),
    ("GET", "/api/model-aliases", None),
    ("PUT", "/api/model-aliases", {"aliases": {}}),
    ("GET", "/api/proxy-settings", None),
    ("PUT", "/api/proxy-settings", {"settings": {}}),
    ("POST", "/api/proxy-settings/preview", {"settings": {}}),
]


def test_non_admin_is_refused_on_admin_routes(alice: Browser, anon: Browser) -> None:
    for method, path, body in ADMIN_ROUTES:
        response = alice.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "admin_required"
        assert anon.request(method, path, json=body).status_code == 401, (method, path)


def test_admin_pages_are_refused_to_users(alice: Browser) -> None:
    for path in (
        "/dashboard/users",
        "/dashboard/audit",
        "/dashboard/config",
        "/dashboard/model-aliases",
    ):
        response = alice.get(path)
        assert response.status_code == 403 and "Not allowed" in response.text


def test_list_create_and_duplicate_users(admin: Browser, alice: Browser) -> None:
    listing = admin.get("/api/admin/users?page=1&limit=10").json()["data"]
    assert [u["username"] for u in listing["users"]] == ["admin", "alice"]
    assert listing["pagination"] == {"page": 1, "limit": 10, "total": 2, "totalPages": 1}
    dup = admin.post("/api/admin/users", json={"username": "ALICE", "password": PASSWORD})
    assert dup.status_code == 409
    assert admin.get("/api/admin/users?limit=1000").status_code == 400


def test_role_change_and_last_admin_protection(admin: Browser, alice: Browser) -> None:
    me = admin.get("/api/auth/me").json()["data"]
    demote_self = admin.patch(f"/api/admin/users/{me['id']}", json={"isAdmin": False})
    assert demote_self.status_code == 400 and demote_self.json()["error"]["code"] == "last_admin"
    alice_id = alice.get("/api/auth/me").json()["data"]["id"]
    promoted = admin.patch(f"/api/admin/users/{alice_id}", json={"isAdmin": True})
    assert promoted.status_code == 200 and promoted.json()["data"]["isAdmin"] is True
    assert alice.get("/api/admin/users").status_code == 200
    assert alice.patch(f"/api/admin/users/{me['id']}", json={"isAdmin": False}).status_code == 200
    last = alice.patch(f"/api/admin/users/{alice_id}", json={"isAdmin": False})
    assert last.status_code == 400 and last.json()["error"]["code"] == "last_admin"
    assert admin.get("/api/admin/users").status_code == 403  # demoted


def test_last_admin_cannot_be_deleted(admin: Browser, alice: Browser) -> None:
    admin_id = admin.get("/api/auth/me").json()["data"]["id"]
    alice_id = alice.get("/api/auth/me").json()["data"]["id"]
    assert (
        admin.delete(f"/api/admin/users/{admin_id}").json()["error"]["code"] == "cannot_delete_self"
    )
    admin.patch(f"/api/admin/users/{alice_id}", json={"isAdmin": True})
    admin.patch(f"/api/admin/users/{admin_id}", json={"isAdmin": False})
    # alice is now the only admin; the former admin cannot act any more, and alice cannot
    # delete herself, so the last admin always survives.
    assert alice.delete(f"/api/admin/users/{alice_id}").status_code == 400


def test_deleting_a_user_removes_their_keys_everywhere_and_keeps_the_audit(
    admin: Browser, alice: Browser, fake_proxy: FakeManagementAPI
) -> None:
    key = alice.post("/api/user/api-keys", json={"name": "k"}).json()["data"]["key"]
    alice.post("/api/providers/keys", json={"provider": "claude", "apiKey": "sk-ant-" + "z" * 40})
    alice.post(
        "/api/custom-providers",
        json={
            "name": "P",
            "providerId": "p1",
            "baseUrl": "https://p.example/v1",
            "apiKey": "sk-p-" + "p" * 20,
            "models": [{"upstreamName": "m"}],
        },
    )
    digest = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert digest in fake_proxy.snapshot("api-keys")
    alice_id = alice.get("/api/auth/me").json()["data"]["id"]
    assert admin.delete(f"/api/admin/users?userId={alice_id}").status_code == 200
    assert digest not in fake_proxy.snapshot("api-keys")
    assert fake_proxy.snapshot("claude-api-key") == []
    assert fake_proxy.snapshot("openai-compatibility") == []
    assert alice.get("/api/auth/me").status_code == 401
    entries = admin.get("/api/admin/audit?actor=alice").json()["data"]["entries"]
    assert {"API_KEY_CREATED", "USER_LOGIN"} <= {e["action"] for e in entries}
    assert all(e["userId"] is None and e["username"] == "alice" for e in entries)


def test_settings_validation(admin: Browser) -> None:
    assert admin.get("/api/admin/settings").json()["data"]["settings"] == {
        "max_provider_keys_per_user": 10,
        "allow_private_upstreams": False,
        "quota_low_percent": 90,
    }
    for key, value in (("max_provider_keys_per_user", True), ("allow_private_upstreams", 3)):
        refused = admin.put("/api/admin/settings", json={"key": key, "value": value})
        assert refused.status_code == 400, (key, value)
    assert admin.put("/api/admin/settings", json={"key": "unknown", "value": 1}).status_code == 400
    assert (
        admin.put(
            "/api/admin/settings", json={"key": "max_provider_keys_per_user", "value": -1}
        ).status_code
        == 400
    )
    assert (
        admin.put(
            "/api/admin/settings", json={"key": "max_provider_keys_per_user", "value": 3}
        ).status_code
        == 200
    )
    assert (
        admin.get("/api/admin/settings").json()["data"]["settings"]["max_provider_keys_per_user"]
        == 3
    )


def test_audit_filters_and_paging(admin: Browser, anon: Browser) -> None:
    for _ in range(3):
        anon.post("/api/auth/login", json={"username": "admin", "password": "wrong-password"})
    failed = admin.get("/api/admin/audit?action=USER_LOGIN_FAILED").json()["data"]
    assert len(failed["entries"]) == 3 and "USER_LOGIN_FAILED" in failed["actions"]
    page = admin.get("/api/admin/audit?limit=2").json()["data"]
    assert len(page["entries"]) == 2 and page["nextBefore"]
    older = admin.get(f"/api/admin/audit?limit=2&before={page['nextBefore']}").json()["data"][
        "entries"
    ]
    assert all(e["id"] < page["nextBefore"] for e in older)
    assert admin.get("/api/admin/audit?from=not-a-date").status_code == 400
    future = admin.get("/api/admin/audit?from=2999-01-01T00:00:00%2B00:00").json()["data"][
        "entries"
    ]
    assert future == []
