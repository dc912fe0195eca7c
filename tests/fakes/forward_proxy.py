"""Minimal outbound proxies for tests: an HTTP forward proxy and a SOCKS5 proxy.

Both record the targets they were asked to reach, then pipe bytes both ways. Only what the
proxy's `proxy-url` support needs: plain-HTTP absolute-form requests and SOCKS5 CONNECT
without authentication.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from types import TracebackType


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class _Proxy:
    def __init__(self) -> None:
        self.targets: list[str] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> _Proxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _relay(self, reader, writer, host: str, port: int, first: bytes = b"") -> None:
        up_reader, up_writer = await asyncio.open_connection(host, port)
        if first:
            up_writer.write(first)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


class HttpForwardProxy(_Proxy):
    """`http://127.0.0.1:PORT`: forwards absolute-form plain-HTTP requests."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, version = head.split(b"\r\n", 1)[0].split(b" ", 2)
        url = target.decode()
        self.targets.append(url)
        hostport, _, path = url.removeprefix("http://").partition("/")
        host, _, port = hostport.partition(":")
        rest = head.split(b"\r\n", 1)[1]
        first = b" ".join([method, b"/" + path.encode(), version]) + b"\r\n" + rest
        await self._relay(reader, writer, host, int(port or 80), first)


class Socks5Proxy(_Proxy):
    """`socks5://127.0.0.1:PORT`: CONNECT without authentication."""

    @property
    def url(self) -> str:
        return f"socks5://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _version, nmethods = await reader.readexactly(2)
        await reader.readexactly(nmethods)
        writer.write(b"\x05\x00")
        _v, _cmd, _rsv, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif atyp == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        self.targets.append(f"{host}:{port}")
        writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0))
        await self._relay(reader, writer, host, port)
