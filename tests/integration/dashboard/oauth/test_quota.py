"""The Quota API against real proxies and the providers' fakes: the provider's windows, the
gateway's recorded usage in the same window, the once-a-minute cache, per-account failures and
who sees which account."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tests.integration.dashboard.conftest import Browser
from tests.integration.dashboard.oauth.fakes_thread import ThreadedFakes, claude_file
from tests.integration.dashboard.real_proxy import RealProxy


def record_usage(dsn: str, auth_index: str, at: datetime, tokens: int, cost: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT usage_ensure_partition(%s)", (at,))
        conn.execute(
            "INSERT INTO usage_events (event_id, ts, instance_id, seq, auth_index, model,"
            " total_tokens, cost_usd) VALUES (%s, %s, 'p1', 1, %s, 'claude-x', %s, %s)",
            (uuid.uuid4(), at, auth_index, tokens, cost),
        )


def quota_requests(fakes: ThreadedFakes) -> int:
    return fakes.call(lambda: fakes.fakes.log.count(provider="claude", kind="quota"))


def test_windows_beside_recorded_usage_cached_and_scoped(
    alice: Browser,
    bob: Browser,
    admin: Browser,
    fakes: ThreadedFakes,
    replicas: list[RealProxy],
    dashboard_db: str,
) -> None:
    data = claude_file(fakes, "quota@example.com")
    claude = fakes.fakes.claude
    account = fakes.call(lambda: claude.accounts["quota@example.com"])
    fakes.call(claude.set_usage, account, "five_hour", 42.0, 3600)
    fakes.call(claude.set_usage, account, "seven_day", 12.5, 3 * 86400)
    name = "claude-quota@example.com.json"
    imported = alice.post(
        "/api/oauth/import", json={"fileName": name, "fileContent": json.dumps(data)}
    )
    assert imported.status_code == 201, imported.text
    index = alice.get("/api/oauth/accounts").json()["data"]["accounts"][0]["authIndex"]
    now = datetime.now(UTC)
    record_usage(dashboard_db, index, now - timedelta(hours=1), 1000, "0.5")  # both windows
    record_usage(dashboard_db, index, now - timedelta(days=2), 300, "0.25")  # the week only
    record_usage(dashboard_db, "someone-else", now - timedelta(hours=1), 7, "1")

    before = quota_requests(fakes)
    answer = alice.get("/api/quota")
    assert answer.status_code == 200, answer.text
    [entry] = answer.json()["data"]["accounts"]
    assert entry["error"] is None and entry["name"] == name
    windows = {w["id"]: w for w in entry["windows"]}
    assert windows["five_hour"]["usedPercent"] == 42.0
    assert (windows["five_hour"]["tokens"], windows["five_hour"]["costUsd"]) == (1000, 0.5)
    assert (windows["seven_day"]["tokens"], windows["seven_day"]["costUsd"]) == (1300, 0.75)
    assert windows["five_hour"]["resetsAt"] and windows["five_hour"]["windowSeconds"] == 18000

    # Cached: more viewers within the minute do not ask the provider again.
    assert admin.get("/api/quota").status_code == 200
    assert alice.get("/api/quota").status_code == 200
    assert quota_requests(fakes) - before == 1
    # Scoped: bob sees none of alice's accounts; the admin sees them all.
    assert bob.get("/api/quota").json()["data"]["accounts"] == []
    assert [a["name"] for a in admin.get("/api/quota").json()["data"]["accounts"]] == [name]


def test_one_failing_account_does_not_break_the_others(
    alice: Browser, fakes: ThreadedFakes, replicas: list[RealProxy]
) -> None:
    good = claude_file(fakes, "fine@example.com")
    broken = claude_file(fakes, "broken@example.com")
    claude = fakes.fakes.claude
    bad = fakes.call(lambda: claude.accounts["broken@example.com"])
    fakes.call(claude.fail, bad, "quota", 500, {"error": "boom"}, times=None)
    for name, data in (
        ("claude-fine@example.com.json", good),
        ("claude-broken@example.com.json", broken),
    ):
        body = {"fileName": name, "fileContent": json.dumps(data)}
        assert alice.post("/api/oauth/import", json=body).status_code == 201
    accounts: list[dict[str, Any]] = alice.get("/api/quota").json()["data"]["accounts"]
    by_name = {a["name"]: a for a in accounts}
    assert by_name["claude-broken@example.com.json"]["error"]
    assert by_name["claude-fine@example.com.json"]["error"] is None
    fakes.call(claude.clear_faults, bad)


def test_low_quota_threshold_notifies_the_owner_with_when_it_comes_back(
    client: Any,
    admin: Browser,
    alice: Browser,
    bob: Browser,
    fakes: ThreadedFakes,
    replicas: list[RealProxy],
) -> None:
    from services.dashboard.monitoring import checker

    data = claude_file(fakes, "low@example.com")
    claude = fakes.fakes.claude
    account = fakes.call(lambda: claude.accounts["low@example.com"])
    fakes.call(claude.set_usage, account, "five_hour", 100.0, 1800)
    body = {"fileName": "claude-low@example.com.json", "fileContent": json.dumps(data)}
    assert alice.post("/api/oauth/import", json=body).status_code == 201
    setting = {"key": "quota_low_percent", "value": 95}
    assert admin.put("/api/admin/settings", json=setting).status_code == 200
    state = client.app.state
    client.portal.call(
        checker.check_round, state.pool, state.proxies.client, state.docker, checker.CheckerState()
    )
    [note] = alice.get("/api/notifications").json()["data"]["notifications"]
    assert note["key"].startswith("quota-low:") and "5h Session at 100%" in note["body"]
    assert "back " in note["body"]
    assert bob.get("/api/notifications").json()["data"]["notifications"] == []
    page = alice.get("/dashboard/quota")
    assert "data-exhausted" in page.text and "exhausted, back in" in page.text
