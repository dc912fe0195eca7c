"""The Management Center web UI at `/management.html`, fetched from its GitHub release.

As CLIProxyAPI: the latest release of router-for-me/Cli-Proxy-API-Management-Center has an
asset named `management.html` (one self-contained page); its `digest` (`sha256:<hex>`) is
checked before the file replaces the cached copy. The cache lives under the state folder
(`state/static/management.html`) and is refreshed in the background every 3 hours while the
panel is in use. The first request waits a short moment for the first download, never longer;
without a copy (offline, GitHub refusing) it gets a page that says where to put the file.

Settings (`remote-management`): `disable-control-panel` (404), `panel-github-repository` (a
`https://github.com/<owner>/<repo>` page or a releases API URL; any http(s) URL is taken as the
release JSON, which lets a mirror or a test serve it), `disable-auto-update-panel` (serve the
file that is there, never download).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson
import structlog
from aiohttp import web
from yarl import URL

from ..config.files import write_atomic
from ..config.model import ProxyConfig
from ..upstream.sessions import UpstreamClients, read_capped

log = structlog.get_logger(__name__)

DEFAULT_RELEASE_URL = (
    "https://api.github.com/repos/router-for-me/Cli-Proxy-API-Management-Center/releases/latest"
)
ASSET_NAME = "management.html"
REFRESH_SECONDS = 3 * 3600.0
MIN_ATTEMPT_GAP = 30.0  # a panel reloaded while offline must not hammer GitHub
FIRST_WAIT = 3.0  # the longest a request waits for a download in progress
MAX_ASSET_BYTES = 20 * 1024 * 1024
MAX_RELEASE_BYTES = 1024 * 1024
_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)
_USER_AGENT = "cliproxy-gateway-control-panel"
_MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

# The page is the operator's admin UI: never framed, never sniffed, never cached stale.
SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def release_url(setting: str) -> str:
    """The release JSON URL for `panel-github-repository` (CLIProxyAPI's forms, and any URL)."""
    value = setting.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return DEFAULT_RELEASE_URL
    path = parts.path.rstrip("/")
    segments = [s for s in path.split("/") if s]
    if parts.hostname.lower() == "github.com" and len(segments) >= 2:
        repo = segments[1].removesuffix(".git")
        return f"https://api.github.com/repos/{segments[0]}/{repo}/releases/latest"
    if len(segments) == 3 and segments[0] == "repos":
        path += "/releases/latest"
    elif len(segments) == 4 and segments[0] == "repos" and segments[3] == "releases":
        path += "/latest"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _asset(release: Any) -> tuple[str, str]:
    """(download URL, expected sha256 or "") of the `management.html` asset of a release."""
    assets = release.get("assets") if isinstance(release, dict) else None
    for asset in assets if isinstance(assets, list) else []:
        if isinstance(asset, dict) and str(asset.get("name", "")).lower() == ASSET_NAME:
            url = asset.get("browser_download_url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValueError("the management.html asset has no download URL")
            return url, _sha256_of(str(asset.get("digest") or ""))
    raise ValueError("the latest release has no management.html asset")


def _sha256_of(digest: str) -> str:
    """The hex of GitHub's `sha256:<hex>` asset digest; "" when absent or another algorithm."""
    algorithm, _, value = digest.strip().lower().rpartition(":")
    return value if algorithm in ("", "sha256") else ""


async def _read_ok(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    if resp.status != 200:
        raise ValueError(f"HTTP {resp.status}")
    return await read_capped(resp, limit)


def _store(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, data, mode=0o644)


class ControlPanel:
    """Serves the cached panel and keeps it fresh; one download at a time."""

    def __init__(
        self,
        folder: Path,
        config: Callable[[], ProxyConfig],
        clients: UpstreamClients,
        *,
        enabled: Callable[[], bool],
        first_wait: float = FIRST_WAIT,
        refresh_seconds: float = REFRESH_SECONDS,
        min_attempt_gap: float = MIN_ATTEMPT_GAP,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = folder / ASSET_NAME
        self._config = config
        self._clients = clients
        self._enabled = enabled
        self._first_wait = first_wait
        self._refresh_seconds = refresh_seconds
        self._min_gap = min_attempt_gap
        self._clock = clock
        self._last_attempt = -math.inf
        self._fetch_task: asyncio.Task[bool] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._cache: tuple[int, bytes] | None = None  # (mtime_ns, content) of the file read last
        self._checked_at: float | None = None  # when GitHub last confirmed or gave our copy

    # --- serving
    async def handle(self, _request: web.Request) -> web.Response:
        settings = self._config().remote_management
        if settings.disable_control_panel or not self._enabled():
            return web.Response(status=404, text="404 page not found")
        page = await self._cached()
        auto = not settings.disable_auto_update_panel
        if page is None and auto:
            task = self.start_fetch()
            if task is not None:
                await asyncio.wait({task}, timeout=self._first_wait)
            page = await self._cached()
        elif page is not None and auto and self._stale():
            self.start_fetch()  # the current copy answers now; the new one serves next time
        if page is None:
            return self._offline()
        return web.Response(
            body=page, content_type="text/html", charset="utf-8", headers=SAFE_HEADERS
        )

    async def _cached(self) -> bytes | None:
        return await asyncio.to_thread(self._read)

    def _read(self) -> bytes | None:
        try:
            stamp = self.path.stat().st_mtime_ns
            if self._cache is None or self._cache[0] != stamp:
                self._cache = (stamp, self.path.read_bytes())
        except OSError:
            self._cache = None
            return None
        return self._cache[1]

    def _stale(self) -> bool:
        checked = self._checked_at
        if checked is None:  # not checked since the process started: the copy's age counts
            try:
                checked = self.path.stat().st_mtime
            except OSError:
                return True
        return self._clock() - checked >= self._refresh_seconds

    def _offline(self) -> web.Response:
        url = release_url(self._config().remote_management.panel_github_repository)
        page = OFFLINE_PAGE.format(path=html.escape(str(self.path)), url=html.escape(url))
        headers = {**SAFE_HEADERS, "Cache-Control": "no-store", "Retry-After": "30"}
        return web.Response(
            status=503, text=page, content_type="text/html", charset="utf-8", headers=headers
        )

    # --- fetching
    def start_fetch(self) -> asyncio.Task[bool] | None:
        """The download in progress, or a new one unless the last attempt was moments ago."""
        if self._fetch_task is not None and not self._fetch_task.done():
            return self._fetch_task
        now = time.monotonic()
        if now - self._last_attempt < self._min_gap:
            return None
        self._last_attempt = now
        self._fetch_task = asyncio.get_running_loop().create_task(self.fetch())
        return self._fetch_task

    async def idle(self) -> None:
        """Wait for the download in progress, if any (tests, shutdown)."""
        if self._fetch_task is not None:
            await asyncio.wait({self._fetch_task})

    async def fetch(self) -> bool:
        """Download the latest release's panel into the cache; False (and a log line) on failure."""
        config = self._config()
        url = release_url(config.remote_management.panel_github_repository)
        session, proxy = self._clients.for_proxy(config.proxy_url)
        try:
            release = orjson.loads(await self._get(session, proxy, url, MAX_RELEASE_BYTES, True))
            asset_url, digest = _asset(release)
            if digest and digest == await asyncio.to_thread(self._local_digest):
                self._checked_at = self._clock()  # up to date: fresh again
                return True
            data = await self._get(session, proxy, asset_url, MAX_ASSET_BYTES, False)
            if digest and hashlib.sha256(data).hexdigest() != digest:
                raise ValueError("digest mismatch: the download is not the published file")
            await asyncio.to_thread(_store, self.path, data)
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            log.warning("control_panel_fetch_failed", host=urlsplit(url).hostname, reason=str(exc))
            return False
        self._checked_at = self._clock()
        log.info("control_panel_updated", size=len(data), sha256=hashlib.sha256(data).hexdigest())
        return True

    async def _get(
        self, session: aiohttp.ClientSession, proxy: str | None, url: str, limit: int, api: bool
    ) -> bytes:
        headers = {"User-Agent": _USER_AGENT}
        if api:
            headers["Accept"] = "application/vnd.github+json"
        # GitHub answers asset downloads with a redirect to its storage host. Upstream sessions
        # refuse to follow redirects (docs/security.md), so this one trusted, digest-checked
        # download follows a few itself, and only to https (or the configured scheme).
        target = URL(url)
        for _ in range(_MAX_REDIRECTS + 1):
            async with session.get(
                target, headers=headers, proxy=proxy, timeout=_TIMEOUT, allow_redirects=False
            ) as resp:
                location = resp.headers.get("Location")
                if resp.status not in _REDIRECTS or not location:
                    return await _read_ok(resp, limit)
            following = target.join(URL(location))
            if following.scheme not in ("https", target.scheme):
                raise ValueError(f"redirect to a {following.scheme or 'relative'} URL")
            target = following
        raise ValueError(f"more than {_MAX_REDIRECTS} redirects")

    def _local_digest(self) -> str:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return ""

    # --- background refresh
    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_seconds)
            settings = self._config().remote_management
            if settings.disable_control_panel or settings.disable_auto_update_panel:
                continue
            if self.path.exists():  # only a panel in use is kept fresh
                task = self.start_fetch()
                if task is not None:
                    await asyncio.wait({task})

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def stop(self) -> None:
        for task in (self._loop_task, self._fetch_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


OFFLINE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Management Center unavailable</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem}}
code{{background:#f2f2f2;padding:0 .25rem;word-break:break-all}}</style></head>
<body><h1>The Management Center is not available yet</h1>
<p>The proxy serves the Management Center web UI from a copy of its release file, but it has
none: the download from <code>{url}</code> failed or is still running. Reload in a moment.</p>
<h2>To install it by hand</h2>
<ol><li>Download <code>management.html</code> from the latest release of
<code>router-for-me/Cli-Proxy-API-Management-Center</code> on GitHub.</li>
<li>Put it at <code>{path}</code> on the proxy's host (it is served at once).</li>
<li>To keep that copy and never download, set
<code>remote-management.disable-auto-update-panel: true</code> in <code>config.yaml</code>.</li>
</ol>
<h2>To download from elsewhere</h2>
<p>Set <code>remote-management.panel-github-repository</code> to a GitHub repository
(<code>https://github.com/owner/repo</code>) or to a URL that answers like GitHub's
<code>releases/latest</code> API (a mirror). The proxy's <code>proxy-url</code> is used for the
download. <code>remote-management.disable-control-panel: true</code> turns this page off.</p>
</body></html>
"""
