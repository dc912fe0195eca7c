"""Outbound calls of the OAuth machinery (token endpoints, profiles, quota): bounded and quiet.

Each call goes through the proxy's upstream sessions, so `upstream-host-overrides`, the
account's `proxy_url`, "no redirects" and "no cookies" hold as for inference. Answers are capped
in size and time. Errors name the exception type only: a URL or a body may carry a code or a
token, and error text ends up in logs and status messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from ..upstream.sessions import UpstreamClients, read_capped

MAX_ANSWER = 1024 * 1024
TIMEOUT = 30.0


class TransportError(Exception):
    """The call did not get an answer (network error, timeout, oversized answer)."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The parsed body, or None when it is not JSON."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    def object(self) -> dict[str, Any]:
        """The body as a JSON object ({} when it is anything else)."""
        parsed = self.json()
        return parsed if isinstance(parsed, dict) else {}

    def error_code(self) -> str:
        """An OAuth error code (RFC 6749 §5.2 `error`, or a nested `error.type`/`code`)."""
        err = self.object().get("error")
        if isinstance(err, str):
            return err
        if isinstance(err, dict):
            for key in ("type", "code"):
                if isinstance(err.get(key), str):
                    return str(err[key])
        return ""


class OAuthHttp:
    """One account's (or one login's) way out: a session and the HTTP proxy to use."""

    def __init__(
        self, session: aiohttp.ClientSession, proxy: str | None, timeout: float = TIMEOUT
    ) -> None:
        self._session = session
        self._proxy = proxy
        self._timeout = timeout

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        data: bytes | aiohttp.FormData | None = None
        sent = dict(headers or {})
        if json is not None:
            data = orjson.dumps(json)
            sent.setdefault("Content-Type", "application/json")
        elif form is not None:
            data = aiohttp.FormData(dict(form))
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._session.request(
                    method,
                    url,
                    data=data,
                    headers=sent,
                    proxy=self._proxy,
                    allow_redirects=False,
                ) as resp,
            ):
                body = await read_capped(resp, MAX_ANSWER)
                return Reply(resp.status, CIMultiDict(resp.headers), body)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise TransportError(f"request failed: {type(exc).__name__}") from None

    async def get(self, url: str | URL, headers: Mapping[str, str] | None = None) -> Reply:
        return await self.request("GET", url, headers=headers)

    async def post_json(
        self, url: str | URL, body: Any, headers: Mapping[str, str] | None = None
    ) -> Reply:
        return await self.request("POST", url, json=body, headers=headers)

    async def post_form(
        self, url: str | URL, form: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> Reply:
        return await self.request("POST", url, form=form, headers=headers)


HttpFactory = Callable[[str], OAuthHttp]  # proxy_url ("" = the global one) -> OAuthHttp


def http_factory(clients: UpstreamClients, global_proxy: Callable[[], str]) -> HttpFactory:
    """OAuthHttp for a proxy URL (an account's `proxy_url`, else the config's `proxy-url`)."""

    def make(proxy_url: str) -> OAuthHttp:
        session, proxy = clients.for_proxy(proxy_url or global_proxy())
        return OAuthHttp(session, proxy)

    return make
