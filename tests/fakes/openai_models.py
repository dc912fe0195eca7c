"""A fake OpenAI-compatible upstream for model discovery: `/v1/models`, plus a redirecting path."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from tests.conftest import free_port


class FakeModelsUpstream:
    """Serves `GET /v1/models` (Bearer checked) and `GET /redirect/models` -> `redirect_to`."""

    def __init__(
        self, api_key: str, models: list[str], redirect_to: str = "http://127.0.0.1:9/"
    ) -> None:
        self.api_key = api_key
        self.models = models
        self.redirect_to = redirect_to
        self.hits = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> FakeModelsUpstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/redirect/models", self._redirect)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _models(self, request: web.Request) -> web.Response:
        self.hits += 1
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        return web.json_response(
            {"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]}
        )

    async def _redirect(self, request: web.Request) -> web.Response:
        self.hits += 1
        raise web.HTTPFound(self.redirect_to)
