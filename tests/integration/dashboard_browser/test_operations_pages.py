"""The operations pages in Chromium without Docker: the bell (a proxy goes down, the checker
raises it, the user opens the bell and dismisses it), the proxies' logs followed live from a
real proxy process, Monitoring refreshing, and every operations page free of console errors
(the CSP included) in both themes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard.conftest import MGMT_KEY
from tests.integration.dashboard.real_proxy import RealProxy
from tests.integration.dashboard_browser.conftest import (
    ConsoleWatch,
    Dashboard,
    shot,
    spawn_dashboard,
)

pytestmark = pytest.mark.browser
PASSWORD = "operations pages password"
PAGES = {
    "monitoring": "/dashboard/monitoring",
    "containers-unavailable": "/dashboard/containers",
    "updates-unavailable": "/dashboard/updates",
    "logs": "/dashboard/logs",
    "error-logs": "/dashboard/logs/errors",
}


def sign_up(page: Page, url: str) -> None:
    """The first admin, created through the API with the browser context's cookie jar."""
    answer = page.context.request.post(
        url + "/api/setup", data={"username": "admin", "password": PASSWORD}
    )
    assert answer.status == 201, answer.text()


def wait_for(check: Callable[[], bool], limit: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {limit:.0f} s")
        time.sleep(0.2)  # the checker runs on its own schedule


@pytest.fixture
def fast_checker(database_url: str, fake_proxy: FakeManagementAPI) -> Iterator[str]:
    env = {"NOTIFICATION_CHECK_INTERVAL": "0.5"}
    with spawn_dashboard(database_url, fake_proxy.url, **env) as (url, _log):
        yield url


def test_the_bell_shows_a_proxy_down_and_is_dismissed(
    page: Page, fast_checker: str, fake_proxy: FakeManagementAPI
) -> None:
    url = fast_checker
    console = ConsoleWatch(page)
    sign_up(page, url)
    fake_proxy.healthy = False

    def opened() -> bool:
        answer = page.context.request.get(url + "/api/notifications")
        return bool(answer.json()["data"]["open"])

    wait_for(opened, what="the checker raised 'proxy is down'")
    page.goto(url + "/dashboard")
    expect(page.locator("#bell-count")).to_have_attribute("data-count", "1")
    page.locator("#bell summary").click()
    item = page.locator(".bell-item", has_text="proxy is down")
    expect(item).to_be_visible()
    shot(page, "bell-open", full_page=False)
    item.get_by_role("button", name="Dismiss").click()
    expect(page.locator("#bell-list")).to_contain_text("Nothing needs your attention")
    expect(page.locator("#bell-count")).to_have_attribute("data-count", "0")
    page.reload()
    expect(page.locator("#bell-count")).to_have_attribute("data-count", "0")
    assert not console.errors, "\n".join(console.errors)


def test_operations_pages_render_without_console_errors(page: Page, dashboard: Dashboard) -> None:
    console = ConsoleWatch(page)
    sign_up(page, dashboard.url)
    for name, path in PAGES.items():
        page.goto(dashboard.url + path)
        expect(page.locator("h1")).to_be_visible()
        shot(page, name)
    page.goto(dashboard.url + "/dashboard/updates")
    expect(page.locator("#update-check")).to_contain_text("Updates are unavailable")
    expect(page.locator("#update-check")).to_contain_text("DOCKER_HOST is not set")
    page.goto(dashboard.url + "/dashboard/monitoring")
    expect(page.locator('tr[data-replica="proxy"]')).to_contain_text("up")
    dashboard.proxy.healthy = False  # the panels poll every 5 s: the change shows by itself
    expect(page.locator('tr[data-replica="proxy"]')).to_contain_text("down", timeout=15_000)
    page.emulate_media(color_scheme="dark")
    page.evaluate("localStorage.setItem('theme', 'dark')")
    for name, path in PAGES.items():
        page.goto(dashboard.url + path)
        shot(page, f"{name}-dark")
    assert not console.errors, "\n".join(console.errors)


@pytest.fixture
def logged_proxy(database_url: str, tmp_path: Path) -> Iterator[tuple[str, RealProxy]]:
    proxy = RealProxy(tmp_path)
    try:
        headers = {"Authorization": f"Bearer {MGMT_KEY}"}
        httpx.put(
            f"{proxy.url}/v0/management/logging-to-file", json={"value": True}, headers=headers
        ).raise_for_status()
        with spawn_dashboard(database_url, proxy.url) as (url, _log):
            yield url, proxy
    finally:
        proxy.stop()


def test_logs_follow_new_lines_live(page: Page, logged_proxy: tuple[str, RealProxy]) -> None:
    url, proxy = logged_proxy
    console = ConsoleWatch(page)
    sign_up(page, url)
    page.goto(url + "/dashboard/logs?follow=1")
    expect(page.locator("#log-lines")).to_contain_text("setting=logging-to-file")
    expect(page.locator("#log-lines")).not_to_contain_text("setting=request-retry")
    httpx.put(
        f"{proxy.url}/v0/management/request-retry",
        json={"value": 3},
        headers={"Authorization": f"Bearer {MGMT_KEY}"},
    ).raise_for_status()
    expect(page.locator("#log-lines")).to_contain_text("setting=request-retry", timeout=10_000)
    # Once, not again at every poll.
    with page.expect_response(lambda r: "/dashboard/partials/logs/follow" in r.url):
        pass  # one more poll round: nothing may be appended twice
    assert page.locator(".log-line", has_text="setting=request-retry").count() == 1
    shot(page, "logs-follow")
    assert not console.errors, "\n".join(console.errors)
