"""GET /api/usage/history and /events: every answer equals a recount of the raw events, users
see only their own usage, and invalid windows are refused with the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from tests.integration.dashboard.conftest import Browser
from tests.integration.usage.conftest import Seeded
from tests.integration.usage.recount import check_answer, raw_events, recount

pytestmark = pytest.mark.usefixtures("seeded")


def history(browser: Browser, **params: object) -> dict:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    response = browser.get(f"/api/usage/history?{query}")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _custom(days_back: int, length: int) -> dict[str, str]:
    today = datetime.now(UTC).date()
    start = today - timedelta(days=days_back)
    return {"from": start.isoformat(), "to": (start + timedelta(days=length - 1)).isoformat()}


def _within_one_day(days_back: int) -> dict[str, str]:
    """Local date-times (off the hour) in one past day: the window ends long before the day."""
    day = datetime.now(UTC).date() - timedelta(days=days_back)
    return {"from": f"{day}T01:17:00", "to": f"{day}T14:43:00"}


WINDOWS = [
    {"window": "24h"},
    {"window": "7d"},
    {"window": "30d"},
    {"window": "7d", "bucket": "hour"},
    _custom(20, 10),
    {"from": "unaligned"},
    _within_one_day(3),
]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: "-".join(map(str, w.values()))[:30])
@pytest.mark.parametrize("tz", ZONES)
def test_admin_history_matches_a_recount(users, seeded: Seeded, window, tz) -> None:
    """Totals, series and breakdowns equal the raw events, for each window and time zone."""
    if window.get("from") == "unaligned":  # local date-times off the hour: widened to hours
        now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
        start, end = now - timedelta(days=40, minutes=43), now - timedelta(days=2, minutes=-17)
        window = {"from": start.isoformat(), "to": end.isoformat()}
    data = history(users["admin"], tz=tz, **window)
    check_answer(data, recount(raw_events(seeded.dsn), data, {}))
    assert data["window"]["tz"] == tz
    half_hour = tz in ("Asia/Kolkata", "Pacific/Chatham")
    if "window" in window and data["window"]["bucket"] == "day":
        assert data["window"]["approximate"] is half_hour
    if window.get("from"):
        assert data["window"]["name"] == "custom"
        assert data["window"]["approximate"] is (half_hour or ":" in window["from"])


def _filters(seeded: Seeded) -> list[dict[str, object]]:
    alice, bob = seeded.user_ids["alice"], seeded.user_ids["bob"]
    return [
        {"userId": alice},
        {"userId": bob, "model": "gpt-5.4"},
        {"model": "claude-sonnet-4-5-20250929"},
        {"provider": "codex"},
        {"apiKey": seeded.keys["alice"][1]},
        {"credential": "gemini-2"},
        {"provider": "claude", "credential": "claude-1", "userId": alice},
    ]


@pytest.mark.parametrize("index", range(7))
@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo"])
def test_filtered_history_matches_a_recount(users, seeded: Seeded, index: int, tz: str) -> None:
    """Filters by user, model, provider, key and credential (alone and combined)."""
    filters = _filters(seeded)[index]
    data = history(users["admin"], window="30d", tz=tz, **filters)
    expected = recount(raw_events(seeded.dsn), data, filters)
    assert expected.totals.requests > 0
    check_answer(data, expected)
    events = [e["eventId"] for e in data["events"]["items"]]
    assert events == [e.event_id for e in expected.events[: len(events)]]


def _single_and_mixed(seeded: Seeded) -> list[dict[str, object]]:
    """One filter per source of the series: one dimension for everyone (usage_hourly_dim_totals)
    or for one user (usage_hourly_dims), and dimensions combined (usage_hourly)."""
    alice, bob = seeded.user_ids["alice"], seeded.user_ids["bob"]
    return [
        {"model": "gpt-5.4", "provider": "openai"},
        {"credential": "gemini-2", "provider": "gemini"},
        {"userId": alice, "provider": "codex"},
        {"userId": bob, "apiKey": seeded.keys["bob"][0]},
        {"apiKey": seeded.keys["alice"][0], "model": "gpt-5.4"},
        {"model": "claude-opus-5-5", "credential": "claude-1"},
    ]


FILTERED_WINDOWS = [
    {"window": "7d"},
    {"window": "24h"},
    {"window": "7d", "bucket": "hour"},
    _custom(20, 10),
    _within_one_day(2),
]


@pytest.mark.parametrize("window", FILTERED_WINDOWS, ids=lambda w: "-".join(map(str, w.values())))
@pytest.mark.parametrize("index", range(6))
@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Kolkata"])
def test_filtered_windows_match_a_recount(
    users, seeded: Seeded, window: dict[str, str], index: int, tz: str
) -> None:
    """Each filtered source agrees with the raw events at every edge: windows starting hours
    away from a UTC midnight, hour buckets, past windows and a window inside one day."""
    filters = _single_and_mixed(seeded)[index]
    data = history(users["admin"], tz=tz, eventsLimit=0, **window, **filters)
    check_answer(data, recount(raw_events(seeded.dsn), data, filters))


def test_events_page_back_to_the_first(users, seeded: Seeded) -> None:
    """The event list pages newest first with a cursor and ends exactly at the last event."""
    browser = users["admin"]
    first = history(browser, window="7d", eventsLimit=40)
    expected = recount(raw_events(seeded.dsn), first, {}).events
    seen = [e["eventId"] for e in first["events"]["items"]]
    cursor = first["events"]["next"]
    while cursor:
        page = browser.get(f"/api/usage/events?window=7d&limit=40&before={cursor}").json()["data"]
        seen += [e["eventId"] for e in page["items"]]
        cursor = page["next"]
    assert seen == [e.event_id for e in expected]


@pytest.mark.parametrize("name", ["alice", "bob"])
def test_a_user_sees_only_their_own_usage(users, seeded: Seeded, name: str) -> None:
    """Series, breakdowns and events of a user hold nothing of anyone else."""
    own_id = seeded.user_ids[name]
    data = history(users[name], window="30d", eventsLimit=500)
    expected = recount(raw_events(seeded.dsn), data, {"userId": own_id})
    check_answer(data, expected)
    assert data["filters"]["userId"] == own_id
    assert {r["id"] for r in data["breakdowns"]["apiKey"]} <= set(seeded.keys[name])
    assert [r["id"] for r in data["breakdowns"]["user"]] == [str(own_id)]
    assert {e["userId"] for e in data["events"]["items"]} == {own_id}
    assert {e["apiKeyId"] for e in data["events"]["items"]} <= set(seeded.keys[name])


def test_a_user_cannot_reach_another_users_usage(users, seeded: Seeded) -> None:
    """Asking for bob's id is refused; naming bob's key or model finds nothing of his."""
    alice = users["alice"]
    refused = alice.get(f"/api/usage/history?userId={seeded.user_ids['bob']}")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "admin_required"
    by_key = history(alice, window="30d", apiKey=seeded.keys["bob"][0])
    assert by_key["totals"]["requests"] == 0 and by_key["events"]["items"] == []
    events = alice.get(f"/api/usage/events?window=30d&apiKey={seeded.keys['bob'][0]}")
    assert events.json()["data"]["items"] == []
    csv = alice.get("/api/usage/export.csv?window=30d&kind=events").text
    assert seeded.keys["bob"][0] not in csv and seeded.keys["admin"][0] not in csv
    assert seeded.keys["alice"][0] in csv


def test_admin_sees_unowned_usage_and_names(users, seeded: Seeded) -> None:
    """Requests without a known key count under '(no owner)'; keys carry names and owners."""
    data = history(users["admin"], window="30d")
    labels = {r["id"]: r for r in data["breakdowns"]["user"]}
    assert labels[""]["label"] == "(no owner)"
    assert labels[str(seeded.user_ids["alice"])]["label"] == "alice"
    keys = {r["id"]: r for r in data["breakdowns"]["apiKey"]}
    assert keys[seeded.keys["alice"][0]]["label"] == "alice-laptop"
    assert keys[seeded.keys["alice"][0]]["owner"] == "alice"
    assert keys[""]["label"] == "(no client key)"


def test_unpriced_models_are_flagged(users) -> None:
    """mystery-model has no price: it is listed, costs 0, and priced models are not flagged."""
    data = history(users["admin"], window="30d")
    assert data["unpricedModels"] == [{"provider": "openai", "model": "mystery-model"}]
    models = {r["id"]: r for r in data["breakdowns"]["model"]}
    assert models["mystery-model"]["priced"] is False
    assert models["mystery-model"]["costUsd"] == 0
    assert "priced" not in models["gpt-5"] and models["gpt-5"]["costUsd"] > 0  # via codex
    assert models["claude-sonnet-4-5-20250929"]["costUsd"] > 0  # dated name, base price


def test_collector_state_is_included(users) -> None:
    data = history(users["alice"], window="24h")
    assert data["collector"]["level"] in ("ok", "warn", "bad")
    assert "lagSeconds" in data["collector"]


INVALID = [
    ("window=1y", "window"),
    ("from=2026-01-01", "to"),
    ("to=2026-01-01", "from"),
    ("from=2026-02-01&to=2026-01-01", "to"),
    ("from=yesterday&to=2026-01-01", "from"),
    ("from=2020-01-01&to=2026-01-01", "to"),
    ("from=1999-01-01&to=1999-02-01", "from"),
    ("from=2090-01-01&to=2090-01-02", "from"),
    ("window=7d&from=2026-01-01&to=2026-01-02", "window"),
    ("tz=Mars/Olympus_Mons", "tz"),
    ("tz=../../etc/passwd", "tz"),
    ("tz=" + "A" * 80, "tz"),
    ("from=2026-01-01&to=2026-03-01&bucket=hour", "bucket"),
    ("bucket=week", "bucket"),
    ("before=not-a-cursor", "before"),
    ("apiKey=xyz", "apiKey"),
    ("eventsLimit=1000", "eventsLimit"),
    ("userId=abc", "userId"),
]


@pytest.mark.parametrize(("query", "field"), INVALID)
def test_invalid_windows_are_400_with_the_reason(users, query: str, field: str) -> None:
    response = users["admin"].get(f"/api/usage/history?{query}")
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == field
    assert error["message"]


def test_history_needs_a_session(usage_client) -> None:
    response = Browser(usage_client).get("/api/usage/history")
    assert response.status_code == 401
