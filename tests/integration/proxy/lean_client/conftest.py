"""Every lean-client case runs on both loops: the proxy serves on uvloop, tests default to
asyncio, and their transports differ (uvloop's are not asyncio.Transport subclasses)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import pytest
import uvloop

from services.proxy.upstream.lean_client import LeanClient

from .scripted import Script, Server


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, object]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    started: list[asyncio.Server] = []

    async def start(script: Script, context: ssl.SSLContext | None = None) -> Server:
        server = Server(script)
        server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=context)
        started.append(server.server)
        return server

    yield start
    for srv in started:
        srv.close()


@pytest.fixture
async def client() -> AsyncIterator[LeanClient]:
    lean = LeanClient()
    yield lean
    await lean.close()
