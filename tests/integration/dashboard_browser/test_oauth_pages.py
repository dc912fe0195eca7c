"""The OAuth accounts page in Chromium, against a real proxy served by the providers' fakes:
connect Claude by pasting the redirect URL, connect xAI by device code, import a file,
download it, disable and delete it; a second user sees the accounts only anonymised.
Screenshots are kept."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.integration.dashboard.oauth.fakes_thread import (
    ThreadedFakes,
    claude_file,
    follow_sign_in,
    oauth_proxy,
)
from tests.integration.dashboard.real_proxy import RealProxy
from tests.integration.dashboard_browser.conftest import ConsoleWatch, shot, spawn_dashboard

pytestmark = pytest.mark.browser
PASSWORD = "oauth pages password"


@dataclass
class OAuthStack:
    url: str
    proxy: RealProxy
    fakes: ThreadedFakes


@pytest.fixture
def stack(database_url: str, tmp_path: Path) -> Iterator[OAuthStack]:
    fakes = ThreadedFakes()
    proxy = oauth_proxy(tmp_path / "proxy", fakes)
    try:
        with spawn_dashboard(database_url, proxy.url) as (url, _log):
            yield OAuthStack(url, proxy, fakes)
    finally:
        proxy.stop()
        fakes.stop()


def signed_in(
    browser: Browser, stack: OAuthStack, username: str, blocked: list[str] | None = None
) -> Page:
    """A browser context signed in as `username`; the providers' pages are unreachable from it
    (as from a browser far from the server), so sign-ins end with a pasted URL or the test's own
    visit of the verification page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")

    def refuse(route: Route) -> None:
        (blocked if blocked is not None else []).append(route.request.url)
        route.abort()

    for origin in stack.fakes.fakes.overrides.values():
        context.route(origin + "/**", refuse)
    page = context.new_page()
    page.set_default_timeout(20_000)
    login = {"username": username, "password": PASSWORD}
    answer = page.request.post(stack.url + "/api/auth/login", data=login)
    assert answer.status == 200, answer.text()
    return page


def create_users(stack: OAuthStack) -> None:
    with httpx.Client(base_url=stack.url, headers={"Origin": stack.url}) as http:
        setup = http.post("/api/setup", json={"username": "admin", "password": PASSWORD})
        assert setup.status_code == 201, setup.text
        bob = {"username": "bob", "password": PASSWORD}
        assert http.post("/api/admin/users", json=bob).status_code == 201


def test_connect_import_toggle_delete_and_anonymised_view(
    browser: Browser, stack: OAuthStack, tmp_path: Path
) -> None:
    create_users(stack)
    fakes = stack.fakes
    ann = fakes.call(fakes.fakes.claude.add_account, "ann@example.com")
    fakes.call(fakes.fakes.claude.sign_in, ann)
    fakes.call(fakes.fakes.claude.set_usage, ann, "five_hour", 64.0, 2 * 3600)
    fakes.call(fakes.fakes.claude.set_usage, ann, "seven_day", 20.0, 3 * 86400)
    tried: list[str] = []  # what the browser tried to load at the providers
    page = signed_in(browser, stack, "admin", tried)
    console = ConsoleWatch(page)
    page.goto(stack.url + "/dashboard/oauth")

    # Claude: the sign-in opens in a new tab; its localhost redirect goes nowhere: paste it.
    with page.context.expect_page() as opened:
        page.get_by_role("button", name="Claude (Pro/Max)").click()
    link = page.locator("[data-login-url]")
    expect(link).to_be_visible()
    expect(page.locator("[data-login-status]")).to_contain_text("Waiting")
    href = str(link.get_attribute("href"))
    opened.value.wait_for_event("requestfailed")
    assert href in tried  # the new tab went to the provider's sign-in page
    redirect = follow_sign_in(href)
    page.get_by_label(re.compile("paste that page")).fill(redirect)
    shot(page, "oauth-connect-paste")
    page.get_by_role("button", name="Finish sign-in").click()
    row = page.locator("#oauth-accounts tr", has_text="ann@example.com")
    expect(row).to_contain_text("active")

    # xAI: a device code to enter on the provider's page; the page polls until approved.
    fakes.call(fakes.fakes.xai.set_device_policy, pending_polls=None, interval=1)
    page.get_by_role("button", name="xAI Grok").click()
    code = page.locator("[data-login-code]")
    expect(code).to_have_text(re.compile(r"\S+"))
    shot(page, "oauth-connect-device")
    verify = str(page.locator("[data-login-url]").get_attribute("href"))
    assert httpx.get(verify, timeout=10).status_code == 200  # the user approves
    expect(page.locator("#oauth-accounts tr", has_text="xai")).to_contain_text("active")

    # Import a file, disable it, then delete it (with the confirmation dialog).
    upload = tmp_path / "claude-imported@example.com.json"
    upload.write_text(json.dumps(claude_file(fakes, "imported@example.com")))
    page.locator("#oauth-file").set_input_files(upload)
    page.get_by_role("button", name="Import", exact=True).click()
    imported = page.locator("#oauth-accounts tr", has_text="imported@example.com")
    expect(imported).to_contain_text("active")
    with page.expect_download() as downloading:  # the owner downloads the file back
        imported.get_by_role("link", name="Download").click()
    saved = json.loads(Path(downloading.value.path()).read_text())
    assert saved["email"] == "imported@example.com" and saved["type"] == "claude"
    imported.get_by_role("button", name="Disable").click()
    expect(imported).to_contain_text("disabled")
    shot(page, "oauth-accounts")
    imported.get_by_role("button", name="Delete").click()
    page.locator("[data-confirm-ok]").click()
    expect(imported).to_have_count(0)
    assert "claude-imported@example.com.json" not in json.dumps(
        stack.proxy.management("auth-files")
    )
    assert not console.errors, "\n".join(console.errors)

    # The Quota page: the fake's windows, percent used and a reset countdown.
    page.goto(stack.url + "/dashboard/quota")
    card = page.locator("[data-quota-account]", has_text="ann@example.com")
    five = card.locator("tr[data-window=five_hour]")
    expect(five).to_contain_text("64.0%")
    expect(five).to_contain_text(re.compile(r"in 1 h 5\d min|in 2 h 0 min"))
    expect(card.locator("tr[data-window=seven_day]")).to_contain_text("20.0%")
    expect(page.locator("[data-quota-account]", has_text="xai")).to_contain_text("no quota API")
    shot(page, "quota")
    assert not console.errors, "\n".join(console.errors)

    # Bob sees the accounts only as type and masked e-mail, with no actions.
    other = signed_in(browser, stack, "bob")
    other.goto(stack.url + "/dashboard/oauth")
    table = other.locator("#oauth-accounts")
    expect(table).to_contain_text("a***@example.com")
    expect(table).not_to_contain_text("ann@example.com")
    expect(table.get_by_role("link", name="Settings")).to_have_count(0)
    shot(other, "oauth-accounts-anonymised")
