"""A fake of GitHub's release API and asset download, for the control panel's updater.

`GET /repos/{owner}/{repo}/releases/latest` answers GitHub's JSON (`assets[]` with `name`,
`browser_download_url`, `digest: "sha256:<hex>"`); the download URL redirects (302) to the file,
as github.com does to its object storage. Tests change `html`, `status`, `digest`, hold
downloads with `download_gate`, and await `release_called`.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field

from aiohttp import web

OWNER_REPO = "router-for-me/Cli-Proxy-API-Management-Center"


@dataclass
class FakeReleases:
    html: bytes = b"<!doctype html><title>CPAMC</title><p>Management Center v1</p>"
    tag: str = "v1.0.0"
    status: int = 200  # of the release JSON
    digest: str | None = None  # None: the real sha256 of `html`; "": no digest published
    release_calls: int = 0
    downloads: int = 0
    user_agents: list[str] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.download_gate = asyncio.Event()
        self.download_gate.set()
        self.release_called = asyncio.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def release_url(self) -> str:
        return f"{self.base_url}/repos/{OWNER_REPO}/releases/latest"

    async def __aenter__(self) -> FakeReleases:
        app = web.Application()
        app.router.add_get("/repos/{owner}/{repo}/releases/latest", self._latest)
        app.router.add_get("/download/{tag}/{name}", self._redirect)
        app.router.add_get("/objects/{tag}/{name}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _latest(self, request: web.Request) -> web.Response:
        self.release_calls += 1
        self.user_agents.append(request.headers.get("User-Agent", ""))
        self.release_called.set()
        if self.status != 200:
            return web.json_response({"message": "API rate limit exceeded"}, status=self.status)
        digest = self.digest
        if digest is None:
            digest = "sha256:" + hashlib.sha256(self.html).hexdigest()
        other = {"name": "source.zip", "browser_download_url": f"{self.base_url}/nothing"}
        asset = {
            "name": "management.html",
            "browser_download_url": f"{self.base_url}/download/{self.tag}/management.html",
            "digest": digest or None,
            "size": len(self.html),
        }
        return web.json_response({"tag_name": self.tag, "assets": [other, asset]})

    async def _redirect(self, request: web.Request) -> web.Response:
        tag, name = request.match_info["tag"], request.match_info["name"]
        raise web.HTTPFound(f"/objects/{tag}/{name}")

    async def _file(self, request: web.Request) -> web.Response:
        self.downloads += 1
        await self.download_gate.wait()
        return web.Response(body=self.html, content_type="application/octet-stream")
