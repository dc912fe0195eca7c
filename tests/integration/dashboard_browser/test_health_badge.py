"""The header's health badge in Chromium names the collector when no collector leads: a real
`python -m services.collector` process leads, then crashes (SIGKILL), and the badge and the
overview's health table say so."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import free_port
from tests.fakes.management_api import FakeManagementAPI
from tests.integration.dashboard_browser.conftest import ROOT, ConsoleWatch, shot, spawn_dashboard
from tests.integration.dashboard_browser.test_browser import setup_admin

pytestmark = pytest.mark.browser


@contextmanager
def collector_process(database_url: str, proxy_url: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PROXY_URL": proxy_url,
        "COLLECTOR_API_KEY": "collector-browser-key-0123456789",
        "COLLECTOR_HEALTH_PORT": str(free_port()),
        "LOG_FORMAT": "console",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.collector"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def _failed(url: str) -> list[str] | None:
    try:
        failed: list[str] = httpx.get(f"{url}/api/health", timeout=5).json()["data"]["failed"]
    except httpx.HTTPError:
        return None
    return failed


def _await_failed(url: str, expected: list[str]) -> None:
    """/api/health names exactly `expected` (polled; a process starting gives no event)."""
    deadline = time.monotonic() + 30
    while (seen := _failed(url)) != expected:
        assert time.monotonic() < deadline, f"/api/health failed={seen}, not {expected}"
        time.sleep(0.1)


def test_the_header_names_a_crashed_collector(
    page: Page, database_url: str, fake_proxy: FakeManagementAPI
) -> None:
    console = ConsoleWatch(page)
    with (
        spawn_dashboard(database_url, fake_proxy.url, HEALTH_COLLECTOR="true") as (url, _log),
        collector_process(database_url, fake_proxy.url) as collector,
    ):
        _await_failed(url, [])
        setup_admin(page, url)
        badge = page.locator("#health-badge")
        expect(badge).to_contain_text("Healthy")
        collector.kill()  # SIGKILL: a crash; its session ends and the leader lock with it
        _await_failed(url, ["collector"])
        page.reload()
        expect(badge).to_contain_text("Degraded: collector")
        expect(badge).to_have_attribute("title", "Not answering: collector")
        row = page.get_by_role("row", name="collector")
        expect(row).to_contain_text("down")
        expect(row).to_contain_text("no collector leads")
        shot(page, "health-collector-down", full_page=False)
    assert not console.errors, console.errors
