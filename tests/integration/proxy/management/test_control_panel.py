"""`/management.html`: the Management Center's release file, fetched, cached and served,
against a local fake of GitHub's release API and asset download."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from services.proxy.config.model import ProxyConfig
from services.proxy.management import control_panel
from services.proxy.management.control_panel import DEFAULT_RELEASE_URL, ControlPanel, release_url
from services.proxy.upstream.sessions import UpstreamClients
from tests.conftest import free_port
from tests.fakes.github_releases import FakeReleases

from ..harness import CLIENT_KEY, run_proxy

V2 = b"<!doctype html><title>CPAMC</title><p>Management Center v2</p>"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def panel_client(
    tmp_path: Path, repo: str, aiohttp_client: Any, *, enabled: bool = True, **options: Any
) -> AsyncIterator[tuple[Any, ControlPanel, dict[str, Any]]]:
    """A ControlPanel behind a one-route app; `settings` is its live `remote-management`."""
    settings: dict[str, Any] = {"panel-github-repository": repo}
    clients = UpstreamClients()
    await clients.start()
    options = {"min_attempt_gap": 0.0, **options}
    panel = ControlPanel(
        tmp_path / "state" / "static",
        lambda: ProxyConfig.model_validate({"remote-management": settings}),
        clients,
        enabled=lambda: enabled,
        **options,
    )
    app = web.Application()
    app.router.add_get("/management.html", panel.handle)
    try:
        yield await aiohttp_client(app), panel, settings
    finally:
        await panel.stop()
        await clients.close()


async def test_first_request_downloads_the_release_asset_and_later_ones_use_the_copy(tmp_path):
    async with FakeReleases() as gh:
        config = {
            "api-keys": [CLIENT_KEY],
            "remote-management": {"panel-github-repository": gh.release_url},
        }
        async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
            for _ in range(3):
                async with session.get(px.base_url + "/management.html") as resp:
                    assert resp.status == 200
                    assert await resp.read() == gh.html
                    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
                    assert resp.headers["X-Content-Type-Options"] == "nosniff"
                    assert resp.headers["X-Frame-Options"] == "DENY"
                    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert (gh.release_calls, gh.downloads) == (1, 1)
    assert gh.user_agents[0]  # GitHub's API refuses requests without a User-Agent
    assert (tmp_path / "state" / "static" / "management.html").read_bytes() == gh.html


async def test_disabled_panel_is_404_and_fetches_nothing(tmp_path):
    async with FakeReleases() as gh:
        config = {
            "api-keys": [CLIENT_KEY],
            "remote-management": {
                "panel-github-repository": gh.release_url,
                "disable-control-panel": True,
            },
        }
        async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
            async with session.get(px.base_url + "/management.html") as resp:
                assert resp.status == 404
    assert gh.release_calls == 0


async def test_without_a_management_key_there_is_no_panel(tmp_path, aiohttp_client):
    async with FakeReleases() as gh:
        async with panel_client(tmp_path, gh.release_url, aiohttp_client, enabled=False) as (
            client,
            _panel,
            _settings,
        ):
            assert (await client.get("/management.html")).status == 404
    assert gh.release_calls == 0


async def test_a_stale_copy_answers_at_once_and_is_refreshed_behind_it(tmp_path, aiohttp_client):
    clock = Clock()
    async with FakeReleases() as gh:
        async with panel_client(
            tmp_path, gh.release_url, aiohttp_client, clock=clock, refresh_seconds=3600
        ) as (client, panel, _settings):
            assert await (await client.get("/management.html")).read() == gh.html
            gh.html = V2
            clock.now += 1800  # still fresh: no request to GitHub
            assert await (await client.get("/management.html")).read() != V2
            assert gh.release_calls == 1
            clock.now += 3600
            assert await (await client.get("/management.html")).read() != V2  # served at once
            await panel.idle()
            assert await (await client.get("/management.html")).read() == V2
    assert gh.release_calls == 2


async def test_an_unchanged_release_is_not_downloaded_again(tmp_path, aiohttp_client):
    clock = Clock()
    async with FakeReleases() as gh:
        async with panel_client(
            tmp_path, gh.release_url, aiohttp_client, clock=clock, refresh_seconds=60
        ) as (client, panel, _settings):
            await client.get("/management.html")
            clock.now += 120
            await client.get("/management.html")
            await panel.idle()
            assert (gh.release_calls, gh.downloads) == (2, 1)  # same digest: kept, marked fresh
            assert not panel._stale()


async def test_the_background_loop_keeps_a_panel_in_use_fresh(tmp_path, aiohttp_client):
    async with FakeReleases() as gh:
        async with panel_client(tmp_path, gh.release_url, aiohttp_client, refresh_seconds=0.05) as (
            client,
            panel,
            _settings,
        ):
            await client.get("/management.html")
            gh.html = V2
            gh.release_called.clear()
            panel.start()
            await gh.release_called.wait()
            await panel.idle()
            assert await (await client.get("/management.html")).read() == V2


async def test_offline_gives_a_page_that_says_where_to_put_the_file(tmp_path, aiohttp_client):
    dead = f"http://127.0.0.1:{free_port()}/repos/o/r/releases/latest"
    async with panel_client(tmp_path, dead, aiohttp_client) as (client, panel, _settings):
        resp = await client.get("/management.html")
        assert resp.status == 503
        page = await resp.text()
    assert str(panel.path) in page
    assert "remote-management.panel-github-repository" in page
    assert "disable-auto-update-panel" in page
    assert dead in page
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert not panel.path.exists()


async def test_github_refusing_gives_the_offline_page_and_is_not_hammered(tmp_path, aiohttp_client):
    async with FakeReleases(status=403) as gh:
        async with panel_client(tmp_path, gh.release_url, aiohttp_client, min_attempt_gap=30.0) as (
            client,
            _panel,
            _settings,
        ):
            for _ in range(3):
                assert (await client.get("/management.html")).status == 503
    assert gh.release_calls == 1


async def test_a_slow_download_never_holds_a_request_past_the_short_wait(tmp_path, aiohttp_client):
    async with FakeReleases() as gh:
        gh.download_gate.clear()
        async with panel_client(tmp_path, gh.release_url, aiohttp_client, first_wait=0.2) as (
            client,
            panel,
            _settings,
        ):
            started = time.monotonic()
            resp = await client.get("/management.html")
            assert resp.status == 503
            assert time.monotonic() - started < 5  # the download is still held
            gh.download_gate.set()
            await panel.idle()
            resp = await client.get("/management.html")
            assert resp.status == 200 and await resp.read() == gh.html
    assert gh.downloads == 1  # the download kept going after the first request gave up


@pytest.mark.parametrize("digest", ["sha256:" + "0" * 64, "SHA256:" + "ab" * 32])
async def test_a_download_that_does_not_match_the_digest_is_refused(
    tmp_path, aiohttp_client, digest
):
    async with FakeReleases(digest=digest) as gh:
        async with panel_client(tmp_path, gh.release_url, aiohttp_client) as (
            client,
            panel,
            _settings,
        ):
            assert (await client.get("/management.html")).status == 503
            assert not panel.path.exists()
            panel.path.parent.mkdir(parents=True, exist_ok=True)
            panel.path.write_bytes(b"<p>the copy we had</p>")
            assert await panel.fetch() is False
            assert panel.path.read_bytes() == b"<p>the copy we had</p>"


async def test_an_oversized_asset_is_refused(tmp_path, aiohttp_client, monkeypatch):
    monkeypatch.setattr(control_panel, "MAX_ASSET_BYTES", 16)
    async with FakeReleases(digest="") as gh:
        async with panel_client(tmp_path, gh.release_url, aiohttp_client) as (
            client,
            panel,
            _settings,
        ):
            assert (await client.get("/management.html")).status == 503
            assert not panel.path.exists()


async def test_no_auto_update_serves_the_file_put_there_by_hand(tmp_path, aiohttp_client):
    async with FakeReleases() as gh:
        async with panel_client(tmp_path, gh.release_url, aiohttp_client) as (
            client,
            panel,
            settings,
        ):
            settings["disable-auto-update-panel"] = True
            assert (await client.get("/management.html")).status == 503
            panel.path.parent.mkdir(parents=True, exist_ok=True)
            panel.path.write_bytes(b"<p>pinned by the operator</p>")
            resp = await client.get("/management.html")
            assert await resp.read() == b"<p>pinned by the operator</p>"
    assert gh.release_calls == 0


@pytest.mark.parametrize(
    ("setting", "url"),
    [
        ("", DEFAULT_RELEASE_URL),
        ("not a url", DEFAULT_RELEASE_URL),
        ("ftp://example.com/x", DEFAULT_RELEASE_URL),
        (
            "https://github.com/someone/panel-fork.git",
            "https://api.github.com/repos/someone/panel-fork/releases/latest",
        ),
        (
            "https://github.com/someone/panel-fork/releases",
            "https://api.github.com/repos/someone/panel-fork/releases/latest",
        ),
        (
            "https://api.github.com/repos/someone/panel-fork",
            "https://api.github.com/repos/someone/panel-fork/releases/latest",
        ),
        (
            "https://api.github.com/repos/someone/panel-fork/releases/",
            "https://api.github.com/repos/someone/panel-fork/releases/latest",
        ),
        (
            "https://api.github.com/repos/someone/panel-fork/releases/tags/v2",
            "https://api.github.com/repos/someone/panel-fork/releases/tags/v2",
        ),
        ("http://mirror.lan:8080/panel/latest.json", "http://mirror.lan:8080/panel/latest.json"),
    ],
)
def test_release_url_accepts_cliproxyapis_forms(setting, url):
    assert release_url(setting) == url
