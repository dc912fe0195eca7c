"""Scripted local servers for the lean client's tests: each case answers with exactly the bytes
it needs; and a test CA for TLS cases."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from yarl import URL

from services.proxy.upstream.lean_client import LeanClient
from tests.fakes.tls import write_test_ca

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


@dataclass
class Exchange:
    """One request as the server read it, and the server's side of the connection."""

    head: bytes
    body: bytes
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    conn_no: int


Script = Callable[[Exchange], Awaitable[bool]]  # returns False to stop serving the connection


@dataclass
class Server:
    script: Script
    connections: int = 0
    requests: list[Exchange] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def url(self, path: str = "/v1/chat", scheme: str = "http") -> URL:
        return URL(f"{scheme}://127.0.0.1:{self.port}{path}")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn_no = self.connections
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                exchange = Exchange(head, body, reader, writer, conn_no)
                self.requests.append(exchange)
                if not await self.script(exchange):
                    return
        finally:
            writer.close()
            self.closed.set()


async def answer_ok(ex: Exchange) -> bool:
    ex.writer.write(OK)
    await ex.writer.drain()
    return True


async def endless_stream(ex: Exchange) -> bool:
    """A chunked answer that never ends: a frame every 10 ms until the client goes away."""
    ex.writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    while True:
        ex.writer.write(b"6\r\ndata:x\r\n")
        try:
            await ex.writer.drain()
        except ConnectionError:
            return False
        if ex.reader.at_eof():
            return False
        await asyncio.sleep(0.01)


async def post(lean: LeanClient, url: URL, body: bytes = b'{"q":1}') -> tuple[int, bytes]:
    resp = await lean.post(url, {"Content-Type": "application/json"}, body, connect_timeout=5)
    try:
        return resp.status, await resp.read_capped(1 << 20, 5)
    finally:
        resp.close()


def tls_pair(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A test CA, a server certificate it signed for 127.0.0.1, and both sides' contexts."""
    files = write_test_ca(tmp)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(files.cert, files.key)
    client_ctx = ssl.create_default_context(cafile=str(files.ca))
    return server_ctx, client_ctx
