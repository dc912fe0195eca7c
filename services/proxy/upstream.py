"""Pooled HTTP clients towards upstreams: one shared session, plus one per SOCKS proxy URL.

HTTP(S) proxies are passed per request on the shared session; SOCKS proxies need their own
connector, created on first use and kept for the life of the process.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp_socks import ProxyConnector

_DIRECT = {"", "direct", "none"}


def _connector() -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)


class UpstreamClients:
    """Owns every client session; `for_proxy` picks the session and `proxy=` argument to use."""

    def __init__(self) -> None:
        self._default: aiohttp.ClientSession | None = None
        self._socks: dict[str, aiohttp.ClientSession] = {}

    async def start(self) -> None:
        self._default = aiohttp.ClientSession(
            connector=_connector(),
            timeout=aiohttp.ClientTimeout(total=None),
            trust_env=False,
            # Upstream cookies must never leak between credentials, and skipping the jar saves
            # work on every request.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    @property
    def default(self) -> aiohttp.ClientSession:
        assert self._default is not None, "UpstreamClients.start() was not awaited"
        return self._default

    def for_proxy(self, proxy_url: str) -> tuple[aiohttp.ClientSession, str | None]:
        if proxy_url.strip().lower() in _DIRECT:
            return self.default, None
        if proxy_url.startswith(("socks5://", "socks5h://", "socks4://")):
            session = self._socks.get(proxy_url)
            if session is None:
                connector: Any = ProxyConnector.from_url(proxy_url, limit=0)
                session = aiohttp.ClientSession(
                    connector=connector,
                    timeout=aiohttp.ClientTimeout(total=None),
                    cookie_jar=aiohttp.DummyCookieJar(),
                )
                self._socks[proxy_url] = session
            return session, None
        return self.default, proxy_url

    async def close(self) -> None:
        sessions = [s for s in (self._default, *self._socks.values()) if s is not None]
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
