"""Serving the proxy app on a port: aiohttp's runner, and a listening socket whose connections
start on the fast lane (http/fast_lane.py). Used by `python -m services.proxy` and the tests."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .app import guarded
from .app_objects import STORE
from .fast_lane import KEEPALIVE_TIMEOUT, FastLane


class FastLaneSite(web.TCPSite):
    """A TCP site whose connections go to the fast lane first (aiohttp's TCPSite otherwise)."""

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        runner = self._runner
        assert runner.server is not None and isinstance(runner, web.AppRunner)
        app = runner.app
        lane = FastLane(app, runner.server, guarded, lambda: app[STORE].current.config.fast_lane)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lane,
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


async def start_serving(
    app: web.Application,
    host: str | None,
    port: int,
    *,
    reuse_port: bool = False,
    shutdown_timeout: float = 60.0,
) -> web.AppRunner:
    """Set the app up and listen. `runner.cleanup()` stops: the listener closes, idle
    connections close, requests in flight get `shutdown_timeout` to finish (both lanes)."""
    # Cancelling the handler when the client leaves is what cancels the upstream request.
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=shutdown_timeout,
        keepalive_timeout=KEEPALIVE_TIMEOUT,
    )
    await runner.setup()
    site = FastLaneSite(runner, host, port, backlog=1024, reuse_port=reuse_port)
    await site.start()
    return runner
