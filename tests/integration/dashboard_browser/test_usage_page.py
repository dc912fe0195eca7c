"""The usage page in a real browser with seeded usage: charts drawn, window switching, sorting,
older requests, CSV downloads, the viewer's time zone, light/dark/mobile screenshots."""

from __future__ import annotations

import json
import random
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.integration.dashboard.conftest import PASSWORD
from tests.integration.dashboard_browser.conftest import ConsoleWatch, Dashboard, shot
from tests.integration.usage.seed import add_keys, key_id_for, random_events, store

pytestmark = pytest.mark.browser
CHARTS = ["chart-requests", "chart-tokens", "chart-cost", "chart-latency", "chart-models",
          "chart-keys"]  # fmt: skip


def _seed(database_url: str, admin_id: int) -> None:
    """Keys for the admin plus ~900 events over 35 days, stored as the collector stores them.
    Runs in a thread: Playwright keeps an event loop running in this one."""
    keys = add_keys(database_url, admin_id, ["laptop", "ci-runner", "notebook"])
    events = random_events(random.Random(3), 900, [*keys, key_id_for("stranger"), ""],
                           datetime.now(UTC))  # fmt: skip
    worker = threading.Thread(target=store, args=(database_url, events))
    worker.start()
    worker.join(60)
    with psycopg.connect(database_url, autocommit=True) as conn:  # as if a collector ran
        conn.execute(
            "UPDATE collector_state SET status = 'idle', leader_id = 'browser-test:1',"
            " heartbeat_at = now(), last_success_at = now() - interval '20 seconds'"
        )


def _sign_in(page: Page, url: str) -> int:
    """Create the admin through the API and hand its session cookie to the browser."""
    response = httpx.post(f"{url}/api/setup", json={"username": "admin", "password": PASSWORD},
                          headers={"Origin": url})  # fmt: skip
    assert response.status_code == 201, response.text
    page.context.add_cookies(
        [{"name": "session", "value": response.cookies["session"], "url": url}]
    )
    return int(response.json()["data"]["id"])


def _charts_drawn(page: Page) -> None:
    for chart in CHARTS:
        expect(page.locator(f"#{chart}")).to_have_attribute("data-drawn", "1")
    drawn = page.evaluate(
        "ids => ids.filter(id => window.Chart.getChart(document.getElementById(id))).length",
        CHARTS,
    )
    assert drawn == len(CHARTS)


def _series_length(page: Page) -> int:
    data = page.locator("#usage-data").get_attribute("data-chart")
    return len(json.loads(data or "{}")["series"])


def test_usage_page(
    browser: Browser, dashboard: Dashboard, database_url: str, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light",
                                  timezone_id="Europe/Paris", accept_downloads=True)  # fmt: skip
    page = context.new_page()
    page.set_default_timeout(15_000)
    console = ConsoleWatch(page)
    _seed(database_url, _sign_in(page, dashboard.url))

    # First visit: drawn in UTC, then reloaded once in the browser's zone (cookie + query).
    page.goto(dashboard.url + "/dashboard/usage")
    expect(page).to_have_url(re.compile(r"tz=Europe%2FParis"))
    expect(page.locator("[data-tz-source]")).to_have_attribute("data-tz", "Europe/Paris")
    _charts_drawn(page)
    assert _series_length(page) == 7  # the default window: 7 local days
    expect(page.locator("#unpriced")).to_contain_text("mystery-model")
    shot(page, "usage")
    shot(page, "usage-top", full_page=False)
    for i, part in enumerate(
        ["section.usage-controls", "section.usage-charts", "#table-model", "table.events"]
    ):
        page.locator(part).screenshot(path=f"/tmp/part{i}.png")

    # Window switching keeps the zone and redraws every chart.
    page.get_by_role("link", name="30 days").click()
    expect(page).to_have_url(re.compile(r"window=30d.*tz=Europe|tz=Europe.*window=30d"))
    expect(page.get_by_role("link", name="30 days")).to_have_attribute("aria-current", "true")
    _charts_drawn(page)
    assert _series_length(page) == 30
    page.get_by_role("link", name="24 hours").click()
    expect(page.get_by_role("link", name="24 hours")).to_have_attribute("aria-current", "true")
    _charts_drawn(page)
    assert _series_length(page) == 24
    page.get_by_role("link", name="30 days").click()
    expect(page.get_by_role("link", name="30 days")).to_have_attribute("aria-current", "true")
    _charts_drawn(page)
    # Charts of pages swapped out by htmx are released, not kept alive.
    assert page.evaluate("Object.keys(window.Chart.instances).length") == len(CHARTS)

    # Sorting a breakdown by cost, both ways.
    models = page.locator("#table-model")
    cost = models.get_by_role("button", name="Cost")
    cost.click()
    expect(models.locator("th").nth(7)).to_have_attribute("aria-sort", "ascending")
    values = models.locator("tbody tr td:nth-child(8)").evaluate_all(
        "cells => cells.map(c => parseFloat(c.dataset.value))"
    )
    assert values == sorted(values)
    cost.click()
    expect(models.locator("th").nth(7)).to_have_attribute("aria-sort", "descending")

    # Older requests come in below the first page.
    rows = page.locator("table.events tbody tr:not(#events-more)")
    before = rows.count()
    page.get_by_role("link", name="Older requests").click()
    expect(rows).to_have_count(before + 50)

    # CSV of the chart series and of the raw requests.
    with page.expect_download() as info:
        page.locator("[data-csv=series]").click()
    series = info.value
    assert series.suggested_filename.startswith("usage-30d-series-")
    text = Path(series.path()).read_text()
    assert text.splitlines()[0].startswith("start,label,requests,failures")
    assert len(text.strip().splitlines()) == 31
    with page.expect_download() as info:
        page.locator("[data-csv=events]").click()
    events_csv = Path(info.value.path()).read_text().splitlines()
    assert events_csv[0].startswith("timestamp,eventId") and len(events_csv) > 500

    # Dark mode redraws the charts with the dark palette.
    page.get_by_role("button", name="Switch to dark mode").click()
    _charts_drawn(page)
    shot(page, "usage-dark")
    shot(page, "usage-dark-top", full_page=False)

    page.goto(dashboard.url + "/dashboard")
    expect(page.get_by_text("Usage, last 7 days")).to_be_visible()
    shot(page, "overview-usage-dark")
    page.get_by_role("button", name="Switch to light mode").click()
    shot(page, "overview-usage")
    page.goto(dashboard.url + "/dashboard/pricing")
    expect(page.get_by_text("claude-sonnet-5-5").first).to_be_visible()
    shot(page, "pricing")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(dashboard.url + "/dashboard/usage?window=7d")
    _charts_drawn(page)
    shot(page, "usage-mobile")
    shot(page, "usage-mobile-top", full_page=False)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()
    assert not console.errors, "\n".join(console.errors)
