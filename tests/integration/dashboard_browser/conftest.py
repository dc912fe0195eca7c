"""Browser tests: the dashboard as a real process, driven by headless Debian Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.conftest import free_port
from tests.fakes.management_api import FakeManagementAPI
from tests.fakes.openai_models import FakeModelsUpstream
from tests.integration.dashboard.conftest import ENC_KEY, JWT_SECRET, MGMT_KEY
from tests.integration.dashboard.real_proxy import RealProxy, ThreadedUpstream

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "test-artifacts" / "screenshots"
UPSTREAM_KEY = "sk-upstream-browser-" + "b" * 24
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


@dataclass
class Dashboard:
    url: str
    proxy: FakeManagementAPI
    upstream: FakeModelsUpstream
    log: Path


@pytest.fixture
def fake_proxy() -> Iterator[FakeManagementAPI]:
    proxy = FakeManagementAPI(MGMT_KEY).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def upstream() -> Iterator[FakeModelsUpstream]:
    server = FakeModelsUpstream(UPSTREAM_KEY, ["gpt-4o-mini", "llama-3.1-8b"]).start()
    yield server
    server.stop()


@dataclass
class RealDashboard:
    url: str
    proxy: RealProxy
    upstream: ThreadedUpstream


@contextmanager
def spawn_dashboard(
    database_url: str, proxy_url: str, **extra_env: str
) -> Iterator[tuple[str, Path]]:
    """`python -m services.dashboard` on a free port; yields its URL and log file."""
    port = free_port()
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = SHOTS.parent / f"dashboard-{port}.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "MANAGEMENT_API_KEY": MGMT_KEY,
        "PROVIDER_ENCRYPTION_KEY": ENC_KEY,
        "PROXY_URL": proxy_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_FORMAT": "console",
        "HEALTH_COLLECTOR": "false",  # tests that run a collector say so
        **extra_env,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.dashboard"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def dashboard(
    database_url: str, fake_proxy: FakeManagementAPI, upstream: FakeModelsUpstream
) -> Iterator[Dashboard]:
    allow = f"127.0.0.1:{upstream.port}"
    with spawn_dashboard(database_url, fake_proxy.url, FETCH_MODELS_ALLOW=allow) as (url, log):
        yield Dashboard(url, fake_proxy, upstream, log)


@pytest.fixture
def real_dashboard(database_url: str, tmp_path: Path) -> Iterator[RealDashboard]:
    proxy, upstream = RealProxy(tmp_path), ThreadedUpstream()
    try:
        with spawn_dashboard(database_url, proxy.url) as (url, _log):
            yield RealDashboard(url, proxy, upstream)
    finally:
        proxy.stop()
        upstream.stop()


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dashboard exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/api/setup", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("dashboard did not start in 30 s")


@pytest.fixture(scope="module")
def browser(migrated_template: str) -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop running while open, which stops every asyncio
    # test from starting: it must close with its module, and the template (asyncio.run) must
    # exist before it opens.
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class ConsoleWatch:
    """Collects console errors and page errors (CSP violations show up here too)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} @ {message.location.get('url', '')}")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def shot(page: Page, name: str, *, full_page: bool = True) -> Path:
    path = SHOTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")  # sticky header and sidebar stay at the top
    page.screenshot(path=str(path), full_page=full_page)
    return path
