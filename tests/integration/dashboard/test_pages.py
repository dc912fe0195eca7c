"""Server-rendered pages: every page renders, forms work without JavaScript, user input is inert."""

from __future__ import annotations

import hashlib
import random
import re
from datetime import UTC, datetime

import psycopg
from starlette.testclient import TestClient

from services.dashboard.settings import DashboardSettings
from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard.conftest import PASSWORD, Browser
from tests.integration.usage.seed import EventSpec, make_event, store

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'"
PAGES = [
    "/dashboard",
    "/dashboard/api-keys",
    "/dashboard/providers",
    "/dashboard/providers/custom/new",
    "/dashboard/settings",
    "/dashboard/users",
    "/dashboard/audit",
    "/dashboard/config",
    "/dashboard/model-aliases",
]


def test_first_visit_leads_to_setup_then_login(anon: Browser) -> None:
    assert anon.get("/").headers["location"] == "/dashboard"
    page = anon.get("/dashboard")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert anon.get("/login").headers["location"] == "/setup"
    assert "Create the first administrator" in anon.get("/setup").text


def test_setup_and_login_forms(client: TestClient) -> None:
    browser = Browser(client)
    created = browser.post("/setup", data={"username": "root", "password": PASSWORD})
    assert (
        created.status_code == 303
        and created.headers["location"] == "/dashboard"
        and browser.cookie
    )
    assert browser.get("/setup").headers["location"] == "/login"
    browser.post("/logout")
    assert browser.cookie is None
    wrong = Browser(client).post("/login", data={"username": "root", "password": "bad-password"})
    assert wrong.status_code == 401 and "invalid username or password" in wrong.text
    good = Browser(client).post(
        "/login?next=/dashboard/api-keys", data={"username": "root", "password": PASSWORD}
    )
    assert good.headers["location"] == "/dashboard/api-keys"
    evil = Browser(client).post(
        "/login?next=//evil.example/", data={"username": "root", "password": PASSWORD}
    )
    assert evil.headers["location"] == "/dashboard"


def test_every_page_renders_for_an_admin(admin: Browser) -> None:
    for path in PAGES:
        response = admin.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert "<script>" not in response.text.replace("<script src=", "").replace(
            "<script defer src=", ""
        )
        assert 'style="' not in response.text  # the CSP forbids inline styles


def test_api_key_form_shows_the_key_once(alice: Browser, fake_proxy: FakeManagementAPI) -> None:
    page = alice.post("/dashboard/api-keys", data={"name": "from form"})
    assert page.status_code == 200
    key = re.search(r'<code id="new-key">(sk-[A-Za-z0-9]{48})</code>', page.text)
    assert key is not None
    assert "sha256:" + hashlib.sha256(key.group(1).encode()).hexdigest() in fake_proxy.snapshot(
        "api-keys"
    )
    listing = alice.get("/dashboard/api-keys").text
    assert key.group(1) not in listing and key.group(1)[:8] + "…" in listing


def test_form_errors_come_back_as_flash_messages(alice: Browser) -> None:
    response = alice.post(
        "/dashboard/providers/keys", data={"provider": "claude", "apiKey": "short"}
    )
    assert response.status_code == 303
    page = alice.get(response.headers["location"])
    assert "flash-error" in page.text and "8-512 characters" in page.text
    assert "flash-error" not in alice.get("/dashboard/providers").text  # shown once


def test_user_supplied_html_is_inert_everywhere(admin: Browser, alice: Browser) -> None:
    alice.post("/api/user/api-keys", json={"name": XSS})
    alice.post("/api/provider-groups", json={"name": "<b>g</b>"})
    alice.post(
        "/api/providers/keys",
        json={"provider": "claude", "apiKey": "sk-ant-" + "q" * 30, "name": XSS},
    )
    alice.post(
        "/api/custom-providers",
        json={
            "name": XSS[:100],
            "providerId": "xss",
            "baseUrl": "https://x.example/v1",
            "apiKey": "sk-x-" + "x" * 20,
            "models": [{"upstreamName": XSS, "alias": XSS}],
            "headers": {"X-H": XSS},
        },
    )
    admin.get("/api/admin/audit")
    admin.post("/api/auth/login", json={"username": "<img src=x>", "password": "whatever-pw"})
    pid = alice.get("/api/custom-providers").json()["data"]["providers"][0]["id"]
    pages = [
        (alice, "/dashboard/api-keys"),
        (alice, "/dashboard/providers"),
        (alice, f"/dashboard/providers/custom/{pid}"),
        (admin, "/dashboard/providers"),
        (admin, "/dashboard/audit"),
        (admin, "/dashboard/users"),
    ]
    for browser, path in pages:
        html = browser.get(path).text
        assert (
            "<script>alert(1)" not in html and "<img src=x" not in html and "<b>g</b>" not in html
        ), path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in alice.get("/dashboard/api-keys").text


def test_custom_provider_form_round_trip(alice: Browser, fake_proxy: FakeManagementAPI) -> None:
    form = {
        "name": "Form Provider",
        "providerId": "form-p",
        "baseUrl": "https://f.example/v1",
        "apiKey": "sk-form-" + "f" * 20,
        "headersText": "X-One: 1\nX-Two: two",
        "modelUpstream": ["m-a", "m-b", ""],
        "modelAlias": ["a", "", ""],
        "excludedText": "*-old\n",
    }
    created = alice.post("/dashboard/providers/custom", data=form)
    assert created.status_code == 303, created.text[:500]
    entry = fake_proxy.snapshot("openai-compatibility")[0]
    assert entry["models"] == [{"name": "m-a", "alias": "a"}, {"name": "m-b", "alias": ""}]
    assert entry["headers"] == {"X-One": "1", "X-Two": "two"} and entry["excluded-models"] == [
        "*-old"
    ]
    bad = alice.post(
        "/dashboard/providers/custom", data={**form, "providerId": "Bad Id", "name": "Other"}
    )
    assert (
        bad.status_code == 200 and "provider ID must be" in bad.text and 'value="Other"' in bad.text
    )


def test_settings_page_password_change(alice: Browser) -> None:
    wrong = alice.post(
        "/dashboard/settings/password",
        data={"currentPassword": "not-it-at-all", "newPassword": "a whole new pw"},
    )
    assert wrong.headers["location"] == "/dashboard/settings"
    assert "current password is wrong" in alice.get("/dashboard/settings").text
    changed = alice.post(
        "/dashboard/settings/password",
        data={"currentPassword": PASSWORD, "newPassword": "a whole new pw"},
    )
    assert changed.status_code == 303
    assert "Password changed" in alice.get("/dashboard/settings").text


def test_config_page_saves_routing_strategy(admin: Browser, fake_proxy: FakeManagementAPI) -> None:
    page = admin.get("/dashboard/config").text
    assert 'value="round-robin" selected' in page
    form = {
        "routing.strategy": "weighted-round-robin",
        "request-retry": "2",
        "max-retry-credentials": "0",
        "max-retry-interval": "30",
        "streaming.keepalive-seconds": "15",
        "streaming.bootstrap-retries": "1",
        "logs-max-total-size-mb": "0",
        "error-logs-max-files": "10",
        "request-body-limit-mb": "32",
        "proxy-url": "",
        "usage-statistics-enabled": "true",
    }
    assert admin.post("/dashboard/config", data=form).status_code == 303
    assert fake_proxy.snapshot("routing") == {"strategy": "weighted-round-robin"}
    assert fake_proxy.snapshot("debug") is False
    preview = admin.post(
        "/dashboard/config/preview", data={**form, "debug": "true"}, headers={"HX-Request": "true"}
    )
    assert (
        preview.status_code == 200 and "debug: true" in preview.text and "<html" not in preview.text
    )


def test_overview_says_nothing_was_collected_before_the_first_request(
    admin: Browser, settings: DashboardSettings
) -> None:
    """Issue 11: "Usage data is up to date" showed before anything was ever collected."""
    dsn = settings.database_url.get_secret_value()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE collector_state SET status = 'idle', leader_id = 'test:1',"
            " heartbeat_at = now(), last_success_at = now()"
        )
    page = admin.get("/dashboard").text
    assert "Nothing has been collected yet" in page and "up to date" not in page
    api = admin.get("/api/usage/collector").json()["data"]
    assert api["level"] == "ok" and api["collectedAny"] is False
    event = make_event(random.Random(1), 1, EventSpec(at=datetime.now(UTC)))
    assert store(dsn, [event]) == 1
    assert "Usage data is up to date." in admin.get("/dashboard").text
    assert admin.get("/api/usage/collector").json()["data"]["collectedAny"] is True
