"""Callback listeners on the providers' registered ports, open only while a web login waits.

A provider redirects the user's browser to `http://localhost:<port>/...` (the port it
registered: 54545 for Claude, 1455 for Codex, ...). While a login started with `is_webui` is
pending, a small listener on that port (moved by `oauth-callback-ports`, for hosts where it is
taken) takes the callback. Unlike CLIProxyAPI's forwarder, which answers with a 302 to the main
port, ours hands the code to the waiting login itself, so publishing the callback port alone is
enough. The listener closes when no login of its type waits any more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

import structlog
from aiohttp import web

log = structlog.get_logger(__name__)

CallbackHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Forwarders:
    def __init__(
        self,
        wanted: Callable[[], set[str]],
        ports: Callable[[], Mapping[str, int]],
        host: Callable[[], str],
        handler: Callable[[str], CallbackHandler],
    ) -> None:
        self.wanted = wanted  # auth-file types with a pending web login
        self.ports = ports
        self.host = host
        self.handler = handler  # the callback handler of one type
        self.open: dict[str, tuple[int, web.AppRunner]] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def sync_soon(self) -> None:
        """Open and close listeners to match the pending logins (in the background)."""
        task = asyncio.get_running_loop().create_task(self.sync())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def sync(self) -> None:
        async with self._lock:
            wanted = self.wanted()
            ports = self.ports()
            for kind in [k for k in self.open if k not in wanted]:
                await self._close(kind)
            for kind in wanted - set(self.open):
                port = ports.get(kind)
                if port:
                    await self._open(kind, port)

    async def _open(self, kind: str, port: int) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self.handler(kind))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host() or "127.0.0.1", port).start()
        except OSError as exc:
            await runner.cleanup()
            log.warning("oauth_forwarder_unavailable", type=kind, port=port, reason=str(exc))
            return
        self.open[kind] = (port, runner)
        log.info("oauth_forwarder_opened", type=kind, port=port)

    async def _close(self, kind: str) -> None:
        port, runner = self.open.pop(kind)
        await runner.cleanup()
        log.info("oauth_forwarder_closed", type=kind, port=port)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._lock:
            for kind in list(self.open):
                await self._close(kind)
