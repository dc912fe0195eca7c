"""Minimal outbound proxies for tests: an HTTP proxy, a SOCKS5 proxy and a SOCKS4 one.

Each records the targets it was asked to reach (one entry per tunnel, or per absolute-form
request), then pipes bytes both ways. `HttpForwardProxy` takes `CONNECT host:port` tunnels
and absolute-form plain-HTTP requests (several per connection, as keep-alive clients send);
`auth=(user, password)` makes it answer 407 to requests without that Basic
`Proxy-Authorization`, which it never forwards. `Socks5Proxy` with `auth` asks for RFC 1929
username/password; `reply` makes it refuse every CONNECT with that SOCKS5 reply code.
`open_tunnels` counts relays in progress; `tunnel_closed` is set whenever one ends.

As a process (for benchmarks): `python -m tests.fakes.forward_proxy --port P [--socks5]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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
    def __init__(self, auth: tuple[str, str] | None = None) -> None:
        self.auth = auth
        self.targets: list[str] = []
        self.open_tunnels = 0
        self.tunnel_closed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0

    def _userinfo(self) -> str:
        return f"{self.auth[0]}:{self.auth[1]}@" if self.auth else ""

    async def __aenter__(self) -> _Proxy:
        self._server = await asyncio.start_server(self._guarded, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _guarded(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _relay(self, reader, writer, host: str, port: int) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, port)
        self.open_tunnels += 1
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self.open_tunnels -= 1
            self.tunnel_closed.set()


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    pairs = [line.split(":", 1) for line in lines if ":" in line]
    return {name.strip().lower(): value.strip() for name, value in pairs}


class HttpForwardProxy(_Proxy):
    """`http://[user:pass@]127.0.0.1:PORT`: CONNECT tunnels and absolute-form requests."""

    @property
    def url(self) -> str:
        return f"http://{self._userinfo()}127.0.0.1:{self.port}"

    def _authorized(self, head: bytes) -> bool:
        if self.auth is None:
            return True
        token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        return _headers(head).get("proxy-authorization") == f"Basic {token}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if not self._authorized(head):
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="fake"\r\nContent-Length: 0\r\n\r\n'
            )
            return
        method, target, _version = head.split(b"\r\n", 1)[0].split(b" ", 2)
        if method == b"CONNECT":
            self.targets.append(target.decode())
            host, _, port = target.decode().rpartition(":")
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await self._relay(reader, writer, host.strip("[]"), int(port))
            return
        await self._forward(reader, writer, head)

    async def _forward(self, reader, writer, head: bytes) -> None:
        """Absolute-form requests, each rewritten to origin form, to the first one's origin."""
        hostport = head.split(b" ", 2)[1].decode().removeprefix("http://").partition("/")[0]
        host, _, port = hostport.partition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port or 80))
        back = asyncio.create_task(_pipe(up_reader, writer))
        try:
            while True:
                if not self._authorized(head):
                    return
                line, rest = head.split(b"\r\n", 1)
                method, target, version = line.split(b" ", 2)
                self.targets.append(target.decode())
                path = b"/" + target.removeprefix(b"http://").partition(b"/")[2]
                kept = [h for h in rest.split(b"\r\n") if not h.lower().startswith(b"proxy-")]
                length = int(_headers(head).get("content-length", "0"))
                body = await reader.readexactly(length)
                up_writer.write(b" ".join([method, path, version]) + b"\r\n")
                up_writer.write(b"\r\n".join(kept) + body)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
        finally:
            up_writer.close()
            back.cancel()


class Socks5Proxy(_Proxy):
    """`socks5://[user:pass@]127.0.0.1:PORT`: CONNECT, with or without username/password."""

    def __init__(self, auth: tuple[str, str] | None = None, reply: int = 0) -> None:
        super().__init__(auth)
        self.reply = reply
        self.scheme = "socks5"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self._userinfo()}127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _version, nmethods = await reader.readexactly(2)
        methods = await reader.readexactly(nmethods)
        if self.auth is None:
            writer.write(b"\x05\x00")
        elif 2 not in methods:
            writer.write(b"\x05\xff")
            return
        else:
            writer.write(b"\x05\x02")
            _v, size = await reader.readexactly(2)
            user = (await reader.readexactly(size)).decode()
            password = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            if (user, password) != self.auth:
                writer.write(b"\x01\x01")
                return
            writer.write(b"\x01\x00")
        _v, _cmd, _rsv, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif atyp == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        self.targets.append(f"{host}:{port}")
        if self.reply:
            writer.write(bytes([5, self.reply, 0, 1]) + bytes(6))
            return
        writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0))
        await self._relay(reader, writer, host, port)


class Socks4Proxy(_Proxy):
    """`socks4://[user@]127.0.0.1:PORT`: CONNECT to an IPv4 address; records the user id."""

    def __init__(self) -> None:
        super().__init__()
        self.user_ids: list[str] = []

    @property
    def url(self) -> str:
        return f"socks4://someone@127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _v, _cmd, port_hi, port_lo = await reader.readexactly(4)
        host = socket.inet_ntoa(await reader.readexactly(4))
        self.user_ids.append((await reader.readuntil(b"\0"))[:-1].decode())
        port = port_hi << 8 | port_lo
        self.targets.append(f"{host}:{port}")
        writer.write(b"\x00\x5a" + bytes(6))
        await self._relay(reader, writer, host, port)


async def _serve_forever(kind: type[_Proxy], port: int) -> None:
    proxy = kind()
    proxy._server = await asyncio.start_server(proxy._guarded, "127.0.0.1", port)
    print(f"listening 127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--socks5", action="store_true")
    args = parser.parse_args()
    import uvloop

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_serve_forever(Socks5Proxy if args.socks5 else HttpForwardProxy, args.port))


if __name__ == "__main__":
    main()
