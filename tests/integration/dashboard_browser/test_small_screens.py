"""Issue 11's small UI points in a real browser: the overview on a 375 px phone (Health table
addresses in view, nothing past the screen's edge), "nothing collected yet" before the first
request, and a p95 line that stays visible when it meets the average."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.integration.dashboard.conftest import PASSWORD
from tests.integration.dashboard_browser.conftest import ConsoleWatch, Dashboard, shot
from tests.integration.usage.seed import EventSpec, make_event, store

pytestmark = pytest.mark.browser
PHONE = {"width": 375, "height": 812}


def _admin_cookie(url: str) -> str:
    response = httpx.post(
        f"{url}/api/setup",
        json={"username": "admin", "password": PASSWORD},
        headers={"Origin": url},
    )
    assert response.status_code == 201, response.text
    return str(response.cookies["session"])


def _collector_ran(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE collector_state SET status = 'idle', leader_id = 'browser-test:1',"
            " heartbeat_at = now(), last_success_at = now() - interval '10 seconds'"
        )


def _page(browser: Browser, url: str, cookie: str, **context: object) -> Page:
    ctx = browser.new_context(**context)  # type: ignore[arg-type]
    ctx.add_cookies([{"name": "session", "value": cookie, "url": url}])
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    return page


def test_overview_on_a_phone(browser: Browser, dashboard: Dashboard, database_url: str) -> None:
    cookie = _admin_cookie(dashboard.url)
    _collector_ran(database_url)
    page = _page(browser, dashboard.url, cookie, viewport=PHONE, color_scheme="light")
    console = ConsoleWatch(page)
    page.goto(dashboard.url + "/dashboard")
    summary = page.locator("section.usage-summary")
    expect(summary).to_contain_text("Nothing has been collected yet")
    expect(summary).not_to_contain_text("up to date")

    # The proxy's address is shown, inside the screen and inside its card: not in a fourth
    # column scrolled out of view.
    health = page.locator("section[aria-labelledby=health-title]")
    address = health.locator(".address:visible")
    expect(address).to_have_text(dashboard.proxy.url)
    box, card = address.bounding_box(), health.bounding_box()
    assert box and card
    assert card["x"] <= box["x"] and box["x"] + box["width"] <= card["x"] + card["width"]
    assert box["x"] + box["width"] <= PHONE["width"]
    wrap = health.locator(".table-wrap")
    assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth"), "the table scrolls sideways"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    expect(page.get_by_role("button", name="Sign out")).to_be_in_viewport(ratio=1)
    health.scroll_into_view_if_needed()
    shot(page, "overview-phone-375")

    # At desktop width the address has its own column again.
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(health.locator("th", has_text="Address")).to_be_visible()
    assert not console.errors, "\n".join(console.errors)


def _steady_latency_events() -> list:
    """Six hours of traffic at one steady latency per hour: p95 equals the average."""
    rng = random.Random(5)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    events, seq = [], 0
    for hours_ago in range(1, 7):  # six whole past hours
        latency = 800 + 300 * hours_ago
        for _ in range(5):
            seq += 1
            at = hour - timedelta(hours=hours_ago, minutes=-rng.randint(0, 59))
            event = make_event(rng, seq, EventSpec(at=at, failed=False))
            events.append(replace(event, latency_ms=latency))
    return events


_COLOURED = """([id, colour]) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const want = [1, 3, 5].map(i => parseInt(colour.slice(i, i + 2), 16));
  let hits = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 200 && want.every((v, k) => Math.abs(data[i + k] - v) < 24)) hits++;
  }
  return hits;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_p95_line_stays_visible_where_it_meets_the_average(
    browser: Browser, dashboard: Dashboard, database_url: str, scheme: str
) -> None:
    cookie = _admin_cookie(dashboard.url)
    worker = threading.Thread(target=store, args=(database_url, _steady_latency_events()))
    worker.start()
    worker.join(60)
    page = _page(browser, dashboard.url, cookie, viewport={"width": 1280, "height": 900},
                 color_scheme=scheme, timezone_id="UTC")  # fmt: skip
    page.goto(dashboard.url + "/dashboard/usage?window=24h&tz=UTC")
    chart = page.locator("#chart-latency")
    expect(chart).to_have_attribute("data-drawn", "1")
    series = page.evaluate(
        "JSON.parse(document.getElementById('usage-data').dataset.chart).series"
        ".filter(p => p.requests)"
    )
    assert len(series) == 6 and all(p["latencyP95Ms"] == p["latencyAvgMs"] for p in series)
    warning = page.evaluate("getComputedStyle(document.documentElement)"
                            ".getPropertyValue('--warning').trim()")  # fmt: skip
    accent = page.evaluate("getComputedStyle(document.documentElement)"
                           ".getPropertyValue('--accent').trim()")  # fmt: skip
    p95_pixels = page.evaluate(_COLOURED, ["chart-latency", warning])
    average_pixels = page.evaluate(_COLOURED, ["chart-latency", accent])
    chart.locator("xpath=ancestor::div[contains(@class,'card')][1]").screenshot(
        path=str(shot(page, f"usage-latency-overlap-{scheme}").with_name(
            f"usage-latency-overlap-{scheme}-chart.png"))
    )  # fmt: skip
    # Where the two lines coincide, the p95 line is the one on top, and the thicker.
    assert p95_pixels > 1.5 * average_pixels, (p95_pixels, average_pixels)
    assert p95_pixels > 400
