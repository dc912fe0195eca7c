"""The notification bell: conditions raised by the monitoring checker (a proxy down, the
collector lagging, the usage outbox, low quota on one's own accounts), each once under its key
across rounds, resolved when they end, scoped to their audience and dismissible per user."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from services.dashboard.monitoring import checker
from services.dashboard.monitoring.checker import CheckerState
from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard.conftest import Browser


def check_round(client: TestClient, state: CheckerState | None = None) -> bool:
    """One round of the background checker, on the app's own loop, pool and proxy link."""
    app: Any = client.app
    st = app.state
    assert client.portal is not None
    return client.portal.call(
        checker.check_round, st.pool, st.proxies.client, st.docker, state or CheckerState()
    )


def bell(browser: Browser) -> dict[str, Any]:
    response = browser.get("/api/notifications")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def keys(browser: Browser) -> list[str]:
    return [n["key"] for n in bell(browser)["notifications"]]


def own_account(dsn: str, username: str, account: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO oauth_accounts (user_id, provider, account_name)"
            " SELECT id, 'claude', %s FROM users WHERE username = %s",
            (account, username),
        )


def test_proxy_down_reaches_everyone_once_and_resolves(client, admin, alice, fake_proxy):
    fake_proxy.healthy = False
    assert check_round(client)
    assert check_round(client)  # a second round does not raise it twice
    assert keys(admin) == keys(alice) == ["proxy-down:proxy"]
    [item] = bell(alice)["notifications"]
    assert item["severity"] == "critical" and item["resolvedAt"] is None
    assert bell(alice)["open"] == 1

    fake_proxy.healthy = True
    assert check_round(client)
    [item] = bell(alice)["notifications"]
    assert item["resolvedAt"] is not None  # still shown for a day, marked resolved
    assert bell(alice)["open"] == 0

    fake_proxy.healthy = False
    check_round(client)  # down again: a new notification, seen even by who dismissed the old
    assert [n["resolvedAt"] is None for n in bell(alice)["notifications"]] == [True, False]


def test_dismissing_is_per_user(client, admin, alice, fake_proxy):
    fake_proxy.healthy = False
    check_round(client)
    [item] = bell(alice)["notifications"]
    assert alice.post(f"/api/notifications/{item['id']}/dismiss").status_code == 200
    assert keys(alice) == []
    assert keys(admin) == ["proxy-down:proxy"]
    # Dismissing what one cannot see (or twice) is a 404, never someone else's row.
    assert alice.post(f"/api/notifications/{item['id']}/dismiss").status_code == 404
    assert alice.post("/api/notifications/999999/dismiss").status_code == 404
    assert admin.post("/api/notifications/dismiss-all").json()["data"]["dismissed"] == 1
    assert keys(admin) == []


def test_low_quota_goes_to_the_accounts_owner_only(client, admin, alice, bob, fake_proxy):
    dsn = client.app.state.settings.database_url.get_secret_value()  # type: ignore[attr-defined]
    own_account(dsn, "alice", "alice-claude.json")
    fake_proxy.auth_files = [
        {"name": "alice-claude.json", "status_message": "2 model(s) cooling down",
         "unavailable": True},
        {"name": "unowned.json", "status_message": "1 model(s) cooling down"},
        {"name": "fine.json", "status_message": ""},
    ]  # fmt: skip
    check_round(client)
    assert keys(alice) == [f"quota-low:{user_id(dsn, 'alice')}:alice-claude.json"]
    assert "all its models" in bell(alice)["notifications"][0]["body"]
    assert keys(bob) == [] and keys(admin) == []
    fake_proxy.auth_files = []
    check_round(client)
    assert bell(alice)["open"] == 0


def test_outbox_alarm_and_collector_lag_go_to_admins(client, admin, alice, fake_proxy):
    dsn = client.app.state.settings.database_url.get_secret_value()  # type: ignore[attr-defined]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE collector_state SET heartbeat_at = now() - interval '10 minutes'")
    check_round(client)
    assert keys(admin) == ["collector-lag"]
    assert "no heartbeat" in bell(admin)["notifications"][0]["body"]
    assert keys(alice) == []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE collector_state SET heartbeat_at = now()")
    check_round(client)
    assert bell(admin)["open"] == 0


def test_the_bell_partials_render_for_every_user(client, alice, fake_proxy):
    fake_proxy.healthy = False
    check_round(client)
    count = alice.get("/dashboard/partials/notifications/count")
    assert count.status_code == 200 and 'data-count="1"' in count.text
    listing = alice.get("/dashboard/partials/notifications")
    assert "proxy is down" in listing.text and "Dismiss" in listing.text
    page = alice.get("/dashboard")
    assert 'id="bell"' in page.text


@pytest.mark.parametrize("path", ["/api/notifications", "/dashboard/partials/notifications"])
def test_the_bell_needs_a_session(anon, path):
    assert anon.get(path).status_code in (401, 303)


def user_id(dsn: str, username: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT id FROM users WHERE username = %s", (username,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def proxies(fake_proxy: FakeManagementAPI) -> list[FakeManagementAPI]:
    return [fake_proxy]
