"""The dashboard in a real browser: the main flows, screenshots of every page, no console errors."""

from __future__ import annotations

import hashlib
import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.integration.dashboard.real_proxy import chat
from tests.integration.dashboard_browser.conftest import (
    UPSTREAM_KEY,
    ConsoleWatch,
    Dashboard,
    RealDashboard,
    shot,
)

pytestmark = pytest.mark.browser
ADMIN_PASSWORD = "browser admin password"
PAGES = {
    "overview": "/dashboard",
    "api-keys": "/dashboard/api-keys",
    "providers": "/dashboard/providers",
    "custom-provider-new": "/dashboard/providers/custom/new",
    "settings": "/dashboard/settings",
    "users": "/dashboard/users",
    "audit": "/dashboard/audit",
    "proxy-settings": "/dashboard/config",
    "model-aliases": "/dashboard/model-aliases",
}


def setup_admin(page: Page, url: str) -> None:
    page.goto(url + "/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    shot(page, "setup")
    page.get_by_label("Admin username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Create admin account").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()


def test_main_flows(page: Page, dashboard: Dashboard) -> None:
    console = ConsoleWatch(page)
    setup_admin(page, dashboard.url)
    expect(page.locator("#health-badge")).to_contain_text("Healthy")

    # Client key: created, shown once with a copy button, pushed hashed to the proxy.
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="Client API keys")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text().strip()
    assert re.fullmatch(r"sk-[A-Za-z0-9]{48}", key)
    assert "sha256:" + hashlib.sha256(key.encode()).hexdigest() in dashboard.proxy.snapshot(
        "api-keys"
    )
    shot(page, "api-keys-created")
    page.get_by_role("button", name="Copy").click()
    page.get_by_role("link", name="API keys").click()
    expect(page.locator("#new-key")).to_have_count(0)
    expect(page.get_by_text(key[:8] + "…", exact=True)).to_be_visible()

    # Provider key.
    page.get_by_role("link", name="Providers").click()
    expect(page.get_by_role("heading", name="Providers", level=1)).to_be_visible()
    page.get_by_label("Provider", exact=True).select_option("claude")
    page.get_by_label("API key").fill("sk-ant-api03-" + "x" * 40 + "TAIL")
    page.get_by_label("Name (optional)").fill("team claude")
    page.get_by_role("button", name="Add key").click()
    expect(page.get_by_text("Added the claude key")).to_be_visible()
    expect(page.get_by_text("sk-ant…TAIL", exact=True)).to_be_visible()
    assert dashboard.proxy.snapshot("claude-api-key")[0]["api-key"].endswith("TAIL")

    # Custom provider with model discovery through the SSRF guard's allowlist.
    page.get_by_role("link", name="New custom provider").click()
    expect(page.get_by_role("heading", name="New custom provider")).to_be_visible()
    page.get_by_label("Display name").fill("Local router")
    page.get_by_label("Provider ID").fill("local-router")
    page.get_by_label("Base URL").fill(dashboard.upstream.url + "/v1")
    page.get_by_label("API key").fill(UPSTREAM_KEY)
    page.get_by_role("button", name="Discover models from the base URL").click()
    expect(page.get_by_text("2 models found.")).to_be_visible()
    page.get_by_label("gpt-4o-mini").check()
    page.get_by_label("New upstream model").first.fill("llama-3.1-8b")
    page.get_by_label("New alias").first.fill("llama")
    shot(page, "custom-provider-form")
    page.get_by_role("button", name="Create provider").click()
    expect(page.get_by_text("Provider “Local router” created")).to_be_visible()
    entry = dashboard.proxy.snapshot("openai-compatibility")[0]
    assert entry["name"] == "local-router" and entry["api-key-entries"] == [
        {"api-key": UPSTREAM_KEY}
    ]
    assert {m["name"] for m in entry["models"]} == {"gpt-4o-mini", "llama-3.1-8b"}
    shot(page, "providers")

    # Routing strategy.
    page.get_by_role("link", name="Proxy settings").click()
    expect(page.get_by_role("heading", name="Proxy settings", level=1)).to_be_visible()
    page.get_by_label("Routing strategy").select_option("fill-first")
    page.get_by_role("button", name="Preview YAML").click()
    expect(page.locator("#yaml-preview")).to_contain_text("strategy: fill-first")
    page.get_by_role("button", name="Save to every proxy").click()
    expect(page.get_by_text("Settings saved")).to_be_visible()
    assert dashboard.proxy.snapshot("routing") == {"strategy": "fill-first"}

    # Revoke through the confirmation dialog.
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="Client API keys")).to_be_visible()
    page.get_by_role("button", name="Revoke").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    shot(page, "confirm-dialog", full_page=False)
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("Key revoked")).to_be_visible()
    assert not any(
        e.startswith("sha256:" + hashlib.sha256(key.encode()).hexdigest())
        for e in dashboard.proxy.snapshot("api-keys")
    )

    for name, path in PAGES.items():
        page.goto(dashboard.url + path)
        shot(page, name)

    # Dark mode: the toggle wins over the system preference and survives a reload.
    page.get_by_role("button", name=re.compile("Switch to dark mode")).click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 19, 26)"
    for name, path in PAGES.items():
        page.goto(dashboard.url + path)
        shot(page, f"{name}-dark")
    assert not console.errors, "\n".join(console.errors)


def login(page: Page, url: str, password: str = ADMIN_PASSWORD) -> None:
    page.goto(url + "/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_login_dark_system_theme_keyboard_and_mobile(
    browser: Browser, dashboard: Dashboard
) -> None:
    desktop = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="dark")
    page = desktop.new_page()
    console = ConsoleWatch(page)
    setup_admin(page, dashboard.url)
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(15, 19, 26)"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, "login-dark")
    login(page, dashboard.url, "wrong password!")
    expect(page.get_by_text("invalid username or password")).to_be_visible()
    desktop.close()
    # A failed sign-in answers 401, which Chromium logs as a failed resource load.
    errors = [e for e in console.errors if "401" not in e]

    mobile = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="light")
    page = mobile.new_page()
    console = ConsoleWatch(page)
    login(page, dashboard.url)
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    menu = page.get_by_role("button", name="Menu")
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    menu.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#sidebar")).to_be_in_viewport(ratio=1)
    shot(page, "mobile-menu", full_page=False)
    page.get_by_role("link", name="API keys").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Client API keys")).to_be_visible()
    page.get_by_label("Name", exact=True).focus()
    page.keyboard.type("typed with keys")
    page.keyboard.press("Enter")
    expect(page.locator("#new-key")).to_be_visible()
    shot(page, "mobile-api-keys")
    mobile.close()
    errors += console.errors
    assert not errors, "\n".join(errors)


def test_key_made_in_the_browser_works_at_the_real_proxy(
    page: Page, real_dashboard: RealDashboard
) -> None:
    console = ConsoleWatch(page)
    setup_admin(page, real_dashboard.url)
    # The fake upstream listens on loopback: an admin allows private upstream addresses first.
    page.goto(real_dashboard.url + "/dashboard/settings")
    page.get_by_label("Allow private upstream addresses").check()
    page.get_by_label("Allow private upstream addresses").locator(
        "xpath=ancestor::form"
    ).get_by_role("button", name="Save").click()
    expect(page.get_by_text("Setting saved.")).to_be_visible()
    expect(page.get_by_label("Allow private upstream addresses")).to_be_checked()
    page.goto(real_dashboard.url + "/dashboard/providers/custom/new")
    page.get_by_label("Display name").fill("Fake upstream")
    page.get_by_label("Provider ID").fill("fake-upstream")
    page.get_by_label("Base URL").fill(real_dashboard.upstream.fake.base_url)
    page.get_by_label("API key").fill(UPSTREAM_KEY)
    page.get_by_label("New upstream model").first.fill("gpt-test")
    page.get_by_role("button", name="Create provider").click()
    expect(page.get_by_text("created and applied to the proxy")).to_be_visible()
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="Client API keys")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("sdk")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text().strip()
    reply = chat(real_dashboard.proxy, key)
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"]
    page.goto(real_dashboard.url + "/dashboard")
    expect(page.get_by_text("gpt-test", exact=True)).to_be_visible()
    expect(page.get_by_text("1 model · source")).to_be_visible()  # not "1 models"
    shot(page, "overview-real-proxy")
    assert not console.errors, "\n".join(console.errors)
