"""Setup, sign-in, sessions, password change and the CSRF rule over HTTP."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.integration.dashboard.conftest import PASSWORD, Browser, setup_admin


def test_setup_creates_the_first_admin_then_closes(client: TestClient, anon: Browser) -> None:
    assert anon.get("/api/setup").json() == {"data": {"setupRequired": True}}
    admin = setup_admin(client)
    me = admin.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["data"]["username"] == "admin" and me.json()["data"]["isAdmin"] is True
    assert anon.get("/api/setup").json()["data"]["setupRequired"] is False
    again = anon.post("/api/setup", json={"username": "mallory", "password": PASSWORD})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "setup_already_completed"


def test_setup_validates_username_and_password(anon: Browser) -> None:
    bad_name = anon.post("/api/setup", json={"username": "a b", "password": PASSWORD})
    assert bad_name.status_code == 400
    assert bad_name.json()["error"]["details"][0]["field"] == "username"
    short = anon.post("/api/setup", json={"username": "admin", "password": "short"})
    assert short.status_code == 400 and short.json()["error"]["code"] == "validation_error"


def test_session_cookie_flags(client: TestClient) -> None:
    response = Browser(client).post("/api/setup", json={"username": "admin", "password": PASSWORD})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # served over plain http in the test


def test_login_wrong_password_and_unknown_user_look_the_same(admin: Browser, anon: Browser) -> None:
    wrong = anon.post("/api/auth/login", json={"username": "admin", "password": "nope-nope-nope"})
    unknown = anon.post("/api/auth/login", json={"username": "ghost", "password": "nope-nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"] == unknown.json()["error"]


def test_logout_revokes_the_session_server_side(admin: Browser, client: TestClient) -> None:
    stolen = admin.cookie
    assert admin.post("/api/auth/logout").status_code == 200
    replay = Browser(client)
    replay.cookie = stolen
    assert replay.get("/api/auth/me").status_code == 401


def test_password_change_ends_other_sessions_keeps_caller(
    admin: Browser, client: TestClient
) -> None:
    other = Browser(client)
    assert (
        other.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).status_code
        == 200
    )
    changed = admin.post(
        "/api/auth/change-password",
        json={"currentPassword": PASSWORD, "newPassword": "another secret pw"},
    )
    assert changed.status_code == 200, changed.text
    assert other.get("/api/auth/me").status_code == 401
    assert admin.get("/api/auth/me").status_code == 200
    relogin = Browser(client).post(
        "/api/auth/login", json={"username": "admin", "password": "another secret pw"}
    )
    assert relogin.status_code == 200


def test_password_change_needs_the_current_password(admin: Browser) -> None:
    wrong = admin.post(
        "/api/auth/change-password",
        json={"currentPassword": "wrong-one!", "newPassword": "another secret pw"},
    )
    assert wrong.status_code == 401


def test_revoke_all_sessions_ends_everyone_but_the_caller(admin: Browser, alice: Browser) -> None:
    assert admin.post("/api/admin/revoke-sessions").status_code == 200
    assert alice.get("/api/auth/me").status_code == 401
    assert admin.get("/api/auth/me").status_code == 200


def test_tampered_cookie_is_rejected(admin: Browser) -> None:
    assert admin.cookie
    admin.cookie = admin.cookie[:-2] + ("aa" if not admin.cookie.endswith("aa") else "bb")
    assert admin.get("/api/auth/me").status_code == 401


def test_csrf_cookie_request_without_origin_is_refused(admin: Browser) -> None:
    admin.origin = None
    response = admin.post("/api/user/api-keys", json={"name": "x"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"


def test_csrf_foreign_origin_is_refused(admin: Browser) -> None:
    response = admin.post(
        "/api/user/api-keys", json={"name": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    form = admin.post(
        "/dashboard/api-keys", data={"name": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert form.status_code == 403


def test_csrf_matching_referer_is_accepted(admin: Browser) -> None:
    admin.origin = None
    response = admin.post(
        "/api/user/api-keys",
        json={"name": "x"},
        headers={"Referer": "http://testserver/dashboard/api-keys"},
    )
    assert response.status_code == 201


def test_csrf_foreign_origin_on_login_is_refused(admin: Browser, anon: Browser) -> None:
    response = anon.post(
        "/api/auth/login",
        json={"username": "admin", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_security_headers_on_pages_and_api(anon: Browser) -> None:
    for path in ("/login", "/api/health", "/api/auth/me", "/no-such-page"):
        response = anon.get(path)
        csp = response.headers["content-security-policy"]
        assert (
            "script-src 'self'" in csp
            and "frame-ancestors 'none'" in csp
            and "unsafe-inline" not in csp
        )
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-content-type-options"] == "nosniff"
