"""Opening a connection to an upstream through an outbound proxy, without blocking the loop.

A raw TCP connection to the proxy carries a small handshake (HTTP `CONNECT`, SOCKS5 or SOCKS4)
read by `_Handshake`; once the proxy says the tunnel is up, the upstream's own protocol takes
the same transport over: TLS by `loop.start_tls` for https upstreams, the HTTP/1.1 protocol
directly for http ones. The caller bounds the whole of it (proxy connect, handshake, TLS) by
its connect timeout; on any failure or cancel the proxy connection is aborted here.

Errors are `outbound_proxy.ProxyError`s naming the proxy by host:port and the reply code, never
credentials (docs/security.md, "Outbound proxies").
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Callable
from typing import TypeVar

from .outbound_proxy import (
    OutboundProxy,
    ProxyAuthFailed,
    ProxyError,
    ProxyRefused,
    ProxyUnreachable,
)

P = TypeVar("P", bound=asyncio.Protocol)

MAX_CONNECT_HEAD = 16 * 1024  # an HTTP proxy's answer to CONNECT
_SOCKS5_REPLIES = {
    1: "general failure",
    2: "not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


class _Handshake(asyncio.Protocol):
    """Buffers what the proxy sends during the handshake for the coroutine reading it."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.ended = False
        self._waiter: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool | None:
        self.ended = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _more(self, proxy: OutboundProxy) -> None:
        if self.ended:
            raise ProxyRefused(f"outbound proxy {proxy.address} closed during the handshake")
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def read_exact(self, proxy: OutboundProxy, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._more(proxy)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def read_head(self, proxy: OutboundProxy) -> bytes:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > MAX_CONNECT_HEAD:
                raise ProxyRefused(f"outbound proxy {proxy.address} answered too large a head")
            await self._more(proxy)
        head = bytes(self.buffer[: end + 4])
        del self.buffer[: end + 4]
        return head


async def connect_to(
    proxy: OutboundProxy, protocol_factory: Callable[[], P]
) -> tuple[asyncio.Transport, P]:
    """A plain TCP connection to the proxy itself."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.create_connection(protocol_factory, proxy.host, proxy.port)
    except OSError as exc:
        raise ProxyUnreachable(
            f"outbound proxy {proxy.address} unreachable: {type(exc).__name__}"
        ) from None


async def open_through(
    proxy: OutboundProxy,
    protocol_factory: Callable[[], P],
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
) -> P:
    """A connection to `host:port` through `proxy`, TLS on top when `ssl_context` is given,
    handed to a fresh protocol from `protocol_factory`."""
    loop = asyncio.get_running_loop()
    transport, shake = await connect_to(proxy, _Handshake)
    try:
        if proxy.kind == "http":
            await _http_connect(proxy, transport, shake, host, port)
        elif proxy.kind == "socks5":
            await _socks5(proxy, transport, shake, host, port)
        else:
            await _socks4(proxy, transport, shake, host, port)
        if shake.buffer:
            raise ProxyRefused(f"outbound proxy {proxy.address} sent bytes before the tunnel")
        protocol = protocol_factory()
        if ssl_context is None:
            transport.set_protocol(protocol)
            protocol.connection_made(transport)
            return protocol
        tls = await loop.start_tls(transport, protocol, ssl_context, server_hostname=host)
        if tls is None:  # the loop closed the transport under us
            raise ProxyError(f"outbound proxy {proxy.address}: tunnel closed before TLS")
        protocol.connection_made(tls)
        return protocol
    except BaseException:
        transport.abort()  # half a handshake is never reused
        raise


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _http_connect(
    proxy: OutboundProxy,
    transport: asyncio.Transport,
    shake: _Handshake,
    host: str,
    port: int,
) -> None:
    target = _authority(host, port)
    head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{proxy.authorization()}\r\n"
    transport.write(head.encode("latin-1"))
    answer = await shake.read_head(proxy)
    parts = answer.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProxyRefused(f"outbound proxy {proxy.address} did not answer CONNECT in HTTP")
    status = int(parts[1])
    if status == 407:
        raise ProxyAuthFailed(
            f"outbound proxy {proxy.address} requires authentication (407)"
            if not proxy.authorization()
            else f"outbound proxy {proxy.address} refused the credentials in proxy-url (407)"
        )
    if not 200 <= status < 300:
        raise ProxyRefused(f"outbound proxy {proxy.address} refused CONNECT {target} ({status})")


async def _socks5(
    proxy: OutboundProxy,
    transport: asyncio.Transport,
    shake: _Handshake,
    host: str,
    port: int,
) -> None:
    with_password = bool(proxy.username and proxy.password)
    transport.write(b"\x05\x02\x00\x02" if with_password else b"\x05\x01\x00")
    version, method = await shake.read_exact(proxy, 2)
    if version != 5:
        raise ProxyRefused(f"outbound proxy {proxy.address} is not a SOCKS5 proxy")
    if method == 2 and with_password:
        user, password = proxy.username.encode(), proxy.password.encode()
        transport.write(b"\x01%c%b%c%b" % (len(user), user, len(password), password))
        _, status = await shake.read_exact(proxy, 2)
        if status != 0:
            raise ProxyAuthFailed(
                f"outbound proxy {proxy.address} refused the SOCKS5 username/password"
            )
    elif method == 0xFF:
        raise ProxyAuthFailed(
            f"outbound proxy {proxy.address} accepts none of the offered SOCKS5 auth methods"
        )
    elif method != 0:
        raise ProxyRefused(f"outbound proxy {proxy.address} chose SOCKS5 auth method {method}")
    # The name goes to the proxy, which resolves it (aiohttp-socks' default for SOCKS5).
    transport.write(b"\x05\x01\x00" + _socks5_address(host) + port.to_bytes(2, "big"))
    _, reply = await shake.read_exact(proxy, 2)
    if reply != 0:
        reason = _SOCKS5_REPLIES.get(reply, "unknown reply")
        raise ProxyRefused(
            f"outbound proxy {proxy.address}: SOCKS5 reply {reply} ({reason}) "
            f"for {_authority(host, port)}"
        )
    _, kind = await shake.read_exact(proxy, 2)
    if kind == 1:
        await shake.read_exact(proxy, 4 + 2)
    elif kind == 4:
        await shake.read_exact(proxy, 16 + 2)
    elif kind == 3:
        (size,) = await shake.read_exact(proxy, 1)
        await shake.read_exact(proxy, size + 2)
    else:
        raise ProxyRefused(f"outbound proxy {proxy.address}: bad SOCKS5 bound address")


def _socks5_address(host: str) -> bytes:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("ascii")  # yarl's raw_host: IDNA-encoded already
        if len(name) > 255:
            raise ProxyRefused("upstream host name too long for SOCKS5") from None
        return b"\x03%c%b" % (len(name), name)
    return (b"\x01" if ip.version == 4 else b"\x04") + ip.packed


async def _socks4(
    proxy: OutboundProxy,
    transport: asyncio.Transport,
    shake: _Handshake,
    host: str,
    port: int,
) -> None:
    # SOCKS4 carries an IPv4 address: the name is resolved here (as aiohttp-socks did).
    try:
        address = ipaddress.IPv4Address(host).packed
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, family=socket.AF_INET, type=socket.SOCK_STREAM
        )
        if not infos:
            raise ProxyRefused(f"no IPv4 address for {host} (SOCKS4)") from None
        address = socket.inet_aton(str(infos[0][4][0]))
    user = proxy.username.encode()
    transport.write(b"\x04\x01" + port.to_bytes(2, "big") + address + user + b"\x00")
    reply = (await shake.read_exact(proxy, 8))[1]
    if reply != 0x5A:
        raise ProxyRefused(f"outbound proxy {proxy.address}: SOCKS4 reply {reply}")
