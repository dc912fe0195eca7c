"""Pooled HTTP clients towards upstreams: one shared session, plus one per SOCKS proxy URL,
and the lean clients of inference requests (one direct, one per outbound proxy URL it speaks).

HTTP(S) proxies are passed per request on the shared session; SOCKS proxies need their own
connector, created on first use and kept for the life of the process. The same goes for the
lean client of a proxy URL (`lean_for`).

Every session made here sends through `upstream-host-overrides` (config/host_overrides.py): its
request class rewrites the URL's origin just before the request goes out, so no call site can
forget it, and anything decided on the URL before that (the host pinning of `api-call`) sees the
real origin.

No upstream redirect is ever followed (docs/security.md, "Upstream redirects"): callers pass
`allow_redirects=False` and treat a 3xx as a failed attempt, and every session made here
refuses to follow one anyway, so a call site that forgets cannot be turned into a request to
an address nobody configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, Protocol

import aiohttp
from aiohttp_socks import ProxyConnector
from yarl import URL

from ..config.host_overrides import HostOverrides
from .http1 import BodyTooLarge as BodyTooLarge  # re-exported: its home before http1.py
from .lean_client import LeanClient
from .outbound_proxy import parse_proxy_url

_DIRECT = {"", "direct", "none"}
_NO_OVERRIDES = HostOverrides()


class RedirectRefused(aiohttp.ClientError):
    """An upstream answered a redirect on a request that did not opt out of following it."""


async def _refuse_redirect(
    _session: aiohttp.ClientSession,
    _context: SimpleNamespace,
    params: aiohttp.TraceRequestRedirectParams,
) -> None:
    # Raised before aiohttp builds the next request: the redirect target is never contacted.
    raise RedirectRefused(f"upstream redirect refused (status {params.response.status})")


def _no_redirects() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_request_redirect.append(_refuse_redirect)
    return trace


def _rewriting_request(overrides: HostOverrides) -> type[aiohttp.ClientRequest]:
    """A request class sending to the origin `overrides` names instead of the real one."""

    class OverriddenRequest(aiohttp.ClientRequest):
        def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
            super().__init__(method, overrides.rewrite(url), **kwargs)

    return OverriddenRequest


def upstream_session(
    connector: aiohttp.BaseConnector | None = None, overrides: HostOverrides | None = None
) -> aiohttp.ClientSession:
    """A client session for talking to upstreams: no redirects, no cookies, no env proxies,
    and the host overrides applied to every request."""
    return aiohttp.ClientSession(
        connector=connector or _connector(),
        timeout=aiohttp.ClientTimeout(total=None),
        trust_env=False,
        # Upstream cookies must never leak between credentials, and skipping the jar saves
        # work on every request.
        cookie_jar=aiohttp.DummyCookieJar(),
        trace_configs=[_no_redirects()],
        request_class=_rewriting_request(overrides or _NO_OVERRIDES),
    )


def redirect_host(resp: aiohttp.ClientResponse) -> str:
    """Where a 3xx answer pointed (host only: the URL may carry a token)."""
    try:
        return resp.url.join(URL(resp.headers.get("Location", ""))).host or "?"
    except ValueError:
        return "?"


async def read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    """Read a whole upstream body, refusing to hold more than `cap` (decoded) bytes."""
    length = resp.content_length
    if length is not None and length > cap:
        raise BodyTooLarge(f"upstream body of {length} bytes")
    if length is not None and "Content-Encoding" not in resp.headers:
        return await resp.read()  # the length is the body's: one bounded read
    # A coded body's length is the compressed one; aiohttp inflates in bounded pieces here.
    buf = bytearray()
    async for chunk in resp.content.iter_any():
        buf += chunk
        if len(buf) > cap:
            raise BodyTooLarge("upstream body too large")
    return bytes(buf)


class Answer(Protocol):
    """An upstream answer as the executor reads it, whichever client fetched it."""

    status: int

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content_type(self) -> str: ...

    async def readany(self) -> bytes:
        """The body bytes buffered so far (waits for some); b"" at the end."""
        ...

    async def read_capped(self, cap: int, idle: float | None = None) -> bytes: ...

    @property
    def ended(self) -> bool:
        """The body was read to its end without error: `readany` would return b"" at once."""
        ...

    def redirect_host(self) -> str: ...

    def close(self) -> None: ...


class AiohttpAnswer:
    """An aiohttp response seen as an `Answer` (lean client off, or an `https://` proxy)."""

    __slots__ = ("_resp", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._resp.headers

    @property
    def content_type(self) -> str:
        return self._resp.content_type

    async def readany(self) -> bytes:
        return await self._resp.content.readany()

    @property
    def ended(self) -> bool:
        content = self._resp.content
        return content.at_eof() and content.exception() is None

    async def read_capped(self, cap: int, idle: float | None = None) -> bytes:
        # The session's own sock_read timeout bounds the waits here.
        return await read_capped(self._resp, cap)

    def redirect_host(self) -> str:
        return redirect_host(self._resp)

    def close(self) -> None:
        self._resp.close()


def is_direct(proxy_url: str) -> bool:
    """True when a `proxy-url` setting means no proxy at all."""
    return proxy_url.strip().lower() in _DIRECT


def _connector() -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)


def socks_connector(proxy_url: str, **kwargs: Any) -> ProxyConnector:
    """aiohttp-socks' connector for a SOCKS proxy URL. It knows no `socks5h`: its `socks5`
    already lets the proxy resolve names, which is what `socks5h` asks for."""
    if proxy_url[:10].lower() == "socks5h://":
        proxy_url = "socks5://" + proxy_url[10:]
    return ProxyConnector.from_url(proxy_url, **kwargs)


class UpstreamClients:
    """Owns every client session; `for_proxy` picks the session and `proxy=` argument to use."""

    def __init__(self, overrides: HostOverrides | None = None) -> None:
        self.overrides = overrides or HostOverrides()
        self._default: aiohttp.ClientSession | None = None
        self._socks: dict[str, aiohttp.ClientSession] = {}
        self._lean: LeanClient | None = None
        # Per proxy URL: its lean client, or None when aiohttp must send (an https proxy...).
        self._proxied: dict[str, LeanClient | None] = {}

    async def start(self) -> None:
        self._default = upstream_session(overrides=self.overrides)
        self._lean = LeanClient(self.overrides)

    @property
    def lean(self) -> LeanClient:
        """The lean client of direct inference requests (lean_client.py)."""
        assert self._lean is not None, "UpstreamClients.start() was not awaited"
        return self._lean

    def lean_for(self, proxy_url: str) -> LeanClient | None:
        """The lean client of inference requests through `proxy_url` (the direct one when it
        means no proxy); None when the lean client does not speak that proxy: use aiohttp."""
        if is_direct(proxy_url):
            return self.lean
        try:
            return self._proxied[proxy_url]
        except KeyError:
            pass
        proxy = parse_proxy_url(proxy_url)
        client = None
        if proxy is not None:
            client = LeanClient(self.overrides, self.lean.ssl_context, proxy=proxy)
        self._proxied[proxy_url] = client
        return client

    @property
    def default(self) -> aiohttp.ClientSession:
        assert self._default is not None, "UpstreamClients.start() was not awaited"
        return self._default

    def for_proxy(self, proxy_url: str) -> tuple[aiohttp.ClientSession, str | None]:
        if is_direct(proxy_url):
            return self.default, None
        if proxy_url.startswith(("socks5://", "socks5h://", "socks4://")):
            session = self._socks.get(proxy_url)
            if session is None:
                connector: Any = socks_connector(proxy_url, limit=0)
                session = upstream_session(connector, self.overrides)
                self._socks[proxy_url] = session
            return session, None
        return self.default, proxy_url

    async def close(self) -> None:
        sessions = [s for s in (self._default, *self._socks.values()) if s is not None]
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
        for lean in (self._lean, *self._proxied.values()):
            if lean is not None:
                await lean.close()
