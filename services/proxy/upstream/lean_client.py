"""The lean upstream client: HTTP/1.1 POSTs over pooled keep-alive connections.

Used by the executor for inference requests, straight to their upstream or through an
outbound proxy it speaks (outbound_proxy.py: HTTP, SOCKS5, SOCKS4; one client per proxy URL,
sessions.py); everything else keeps aiohttp. It applies `upstream-host-overrides` like every
session does, verifies https upstreams against the system CA bundle, and never follows a
redirect: it has no code that could (a 3xx comes back as an answer).

Through a proxy, connections are tunnels (tunnel.py) pooled like direct ones, so a client's
pool is keyed by (proxy URL, scheme, host, port); http upstreams behind an HTTP proxy are
sent as absolute-form requests on a keep-alive connection to the proxy instead (aiohttp's way,
see outbound_proxy.py), and a 407 there is the proxy's, so it is raised as a proxy error.

Pool: idle connections per (scheme, host, port), reused last-in first-out; one the upstream
closed while idle is dropped when it is next picked, so a request is never sent on a socket
known to be dead. Once a request was written, a failure is the caller's: a POST is not resent,
even on a reused connection, because the upstream may have acted on it (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import aiohttp
from aiohttp.http import SERVER_SOFTWARE
from yarl import URL

from ..config.host_overrides import HostOverrides
from .http1 import Connection, Response
from .outbound_proxy import OutboundProxy, ProxyAuthFailed
from .tunnel import connect_to, open_through

Key = tuple[str, str, int]

KEEPALIVE_SECONDS = 60.0  # an idle connection older than this is closed, not reused
MAX_IDLE_PER_ORIGIN = 64
# Sent unless the caller set them; the same as aiohttp sent before (bodies are decoded here).
_DEFAULTS = {
    "accept": "Accept: */*\r\n",
    "accept-encoding": "Accept-Encoding: gzip, deflate\r\n",
    "user-agent": f"User-Agent: {SERVER_SOFTWARE}\r\n",
}
_OWN = {"host", "content-length", "transfer-encoding", "connection"}
_FORBIDDEN = ("\r", "\n", "\0")
_SMALL_BODY = 64 * 1024  # bodies up to this go out in the same write as the head
MAX_CACHED = 4096  # routes and header blocks kept


class BadRequestHead(aiohttp.ClientError):
    """A header name or value would break the request's framing (CR, LF or NUL)."""


def system_context() -> ssl.SSLContext:
    """TLS as aiohttp does it: the system CA bundle, hostname checks, HTTP/1.1 by ALPN."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


@dataclass(frozen=True, slots=True)
class Route:
    """Where a URL's requests go, worked out once per URL: the origin after the host
    overrides, the pool key, and the request line with the Host header."""

    source: URL  # the URL asked for (routes are found by its identity: yarl does not cache
    url: URL  # its hash, and codecs hand out the same URL objects)
    key: Key
    prefix: bytes
    forwarded: bool = False  # sent to an HTTP proxy in absolute form


def route_of(source: URL, url: URL, proxy: OutboundProxy | None = None) -> Route:
    scheme = url.scheme
    key = (scheme, url.raw_host or "", url.port or (443 if scheme == "https" else 80))
    authority = url.host_port_subcomponent
    if proxy is not None and proxy.kind == "http" and scheme == "http":
        line = f"POST http://{authority}{url.raw_path_qs} HTTP/1.1\r\nHost: {authority}\r\n"
        return Route(source, url, key, (line + proxy.authorization()).encode("latin-1"), True)
    line = f"POST {url.raw_path_qs} HTTP/1.1\r\nHost: {authority}\r\n"
    return Route(source, url, key, line.encode())


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """The header lines of a request (without Host and Content-Length), defaults added."""
    lines = []
    missing = dict(_DEFAULTS)
    for name, value in headers.items():
        lower = name.lower()
        if lower in _OWN:
            continue
        missing.pop(lower, None)
        lines.append(f"{name}: {value}\r\n")
    text = "".join(headers) + "".join(headers.values())
    if any(c in text for c in _FORBIDDEN):
        raise BadRequestHead("upstream request header carries a line break")
    lines.extend(missing.values())
    return "".join(lines).encode()


class _Blocks:
    """Encoded header blocks by header set: a credential's headers are the same on every
    request (an OAuth token changes at refresh), so each set is encoded once."""

    def __init__(self) -> None:
        self._blocks: dict[tuple[tuple[str, str], ...], bytes] = {}

    def get(self, headers: Mapping[str, str]) -> bytes:
        key = tuple(headers.items())
        block = self._blocks.get(key)
        if block is None:
            if len(self._blocks) >= MAX_CACHED:
                self._blocks.clear()  # old tokens and rare sets go; live ones come back
            block = self._blocks[key] = encode_headers(headers)
        return block


class LeanClient:
    def __init__(
        self,
        overrides: HostOverrides | None = None,
        ssl_context: ssl.SSLContext | None = None,
        keepalive: float = KEEPALIVE_SECONDS,
        proxy: OutboundProxy | None = None,
    ) -> None:
        self.overrides = overrides or HostOverrides()
        self.ssl_context = ssl_context or system_context()
        self._proxy = proxy
        self._keepalive = keepalive
        self._idle: dict[Key, list[Connection]] = {}
        self._open: set[Connection] = set()
        self._routes: dict[int, Route] = {}
        self._routes_version = self.overrides.version
        self._blocks = _Blocks()

    async def post(
        self, url: URL, headers: Mapping[str, str], body: bytes, *, connect_timeout: float
    ) -> Response:
        """Send; returns once the answer's head is in (the body streams from the response)."""
        route = self._route(url)
        head = b"%b%bContent-Length: %d\r\n\r\n" % (
            route.prefix,
            self._blocks.get(headers),
            len(body),
        )
        conn = await self._acquire(route.key, connect_timeout)
        if len(body) <= _SMALL_BODY:
            answer = conn.send(head + body, route.url)
        else:
            answer = conn.send(head, route.url)
            assert conn.transport is not None
            conn.transport.write(body)
        try:
            resp = await answer
        except BaseException:
            conn.abort()  # cancelled or broken: the socket is never reused mid-exchange
            raise
        if route.forwarded and resp.status == 407:
            conn.abort()  # the proxy's answer, not the upstream's: nothing to keep
            assert self._proxy is not None
            raise ProxyAuthFailed(f"outbound proxy {self._proxy.address} refused the request (407)")
        return resp

    def idle_count(self) -> int:
        return sum(len(conns) for conns in self._idle.values())

    def _route(self, url: URL) -> Route:
        if self._routes_version != self.overrides.version:
            self._routes.clear()
            self._routes_version = self.overrides.version
        route = self._routes.get(id(url))
        if route is None or route.source is not url:
            if len(self._routes) >= MAX_CACHED:
                self._routes.clear()
            route = self._routes[id(url)] = route_of(url, self.overrides.rewrite(url), self._proxy)
        return route

    async def _acquire(self, key: Key, connect_timeout: float) -> Connection:
        idle = self._idle.get(key)
        if idle:
            now = time.monotonic()
            while idle:
                conn = idle.pop()
                if not conn.closed and now - conn.idle_since < self._keepalive:
                    return conn
                conn.abort()  # closed by the upstream while idle, or too old: nothing was sent
        return await self._connect(key, connect_timeout)

    async def _connect(self, key: Key, connect_timeout: float) -> Connection:
        scheme, host, port = key
        if scheme not in ("http", "https"):
            raise aiohttp.InvalidURL(f"{scheme}://{host}")
        context = self.ssl_context if scheme == "https" else None
        factory = partial(Connection, partial(self._release, key))
        proxy = self._proxy
        loop = asyncio.get_running_loop()
        # Through a proxy the timeout covers its connect, the handshake and the TLS.
        async with asyncio.timeout(connect_timeout):
            if proxy is None:
                _, conn = await loop.create_connection(
                    factory,
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
            elif scheme == "http" and proxy.kind == "http":
                _, conn = await connect_to(proxy, factory)  # absolute-form requests
            else:
                conn = await open_through(proxy, factory, host, port, context)
        if len(self._open) > 4 * MAX_IDLE_PER_ORIGIN:
            self._open = {c for c in self._open if not c.closed}
        self._open.add(conn)
        return conn

    def _release(self, key: Key, conn: Connection) -> None:
        conn.idle_since = time.monotonic()
        idle = self._idle.setdefault(key, [])
        idle.append(conn)
        if len(idle) > MAX_IDLE_PER_ORIGIN:
            idle.pop(0).abort()

    async def close(self) -> None:
        for conn in self._open:
            conn.abort()
        self._open.clear()
        self._idle.clear()
