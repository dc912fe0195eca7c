"""Client of the proxies' management API (`/v0/management`), one aiohttp session for all replicas.

Writes go to every proxy replica known now (PROXY_URL, with its `dns+` names resolved:
services/core/discovery.py); `update_everywhere` reads, transforms and writes a value
on each replica and puts the old values back if any replica refuses, so replicas never diverge
because of a half-applied change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import structlog

from services.core.discovery import Replicas, fixed
from services.core.errors import UpstreamError

log = structlog.get_logger(__name__)

Transform = Callable[[Any], Any]


class ProxyUnavailable(UpstreamError):
    """A proxy did not answer, or answered a management call with an error."""

    code = "proxy_error"


class ManagementClient:
    """Calls `/v0/management/*` on every configured proxy with the management key."""

    def __init__(
        self, session: aiohttp.ClientSession, replicas: Replicas | list[str], key: str
    ) -> None:
        self._session = session
        self.replicas = replicas if isinstance(replicas, Replicas) else fixed(replicas)
        # Replicas found by DNS that have not been given the state yet (discovery.py fills
        # them): neither read (they would show empty lists) nor written (they get it all then).
        self.waiting: set[str] = set()
        self._headers = {"Authorization": f"Bearer {key}"}

    @property
    def urls(self) -> list[str]:
        """The replicas in service now (a `dns+` entry of PROXY_URL changes them)."""
        return [url for url in self.replicas.urls if url not in self.waiting]

    @property
    def labels(self) -> list[str]:
        """How pages name each of `urls` (see Replicas.labels)."""
        return [self.replicas.label(url) for url in self.urls]

    @property
    def first(self) -> str:
        """The replica that answers reads; ProxyUnavailable while none is known."""
        urls = self.urls
        if not urls:
            raise ProxyUnavailable("no proxy replica is known (PROXY_URL resolves to nothing)")
        return urls[0]

    def only(self, url: str) -> ManagementClient:
        """A client for one of the proxies, sharing this one's session and key."""
        single = ManagementClient(self._session, [url], "")
        single._headers = self._headers
        return single

    async def get_value(self, url: str, name: str) -> Any:
        """GET a list, map or scalar; CLIProxyAPI wraps it as `{"<name>": value}`."""
        body = await self._call("GET", url, f"/v0/management/{name}")
        key = name.rsplit("/", 1)[-1]
        if isinstance(body, dict) and key in body:
            return body[key]
        if isinstance(body, dict) and name in body:
            return body[name]
        return body

    async def put_value(self, url: str, name: str, value: Any) -> None:
        """PUT a whole list or map as the body, or a scalar as `{"value": x}`."""
        payload = value if isinstance(value, list | dict) else {"value": value}
        await self._call("PUT", url, f"/v0/management/{name}", json=payload)

    async def get_config(self, url: str) -> dict[str, Any]:
        body = await self._call("GET", url, "/v0/management/config")
        if not isinstance(body, dict):
            raise ProxyUnavailable(f"{url}: /config did not answer an object")
        return body

    async def get_config_yaml(self, url: str) -> str:
        return await self._call_text("GET", url, "/v0/management/config.yaml")

    async def put_config_yaml(self, url: str, text: str) -> None:
        headers = {"Content-Type": "application/yaml"}
        await self._call("PUT", url, "/v0/management/config.yaml", data=text, headers=headers)

    async def get_json(self, url: str, path: str, params: dict[str, str] | None = None) -> Any:
        """GET a management path (`/v0/management/...`) with query parameters, parsed JSON."""
        return await self._call("GET", url, path, params=params or {})

    async def get_bytes(self, url: str, path: str, limit: int) -> tuple[bytes, bool]:
        """GET a management file: its first `limit` bytes and whether there was more."""
        try:
            async with self._session.get(url + path, headers=self._headers) as resp:
                if resp.status >= 400:
                    text = await resp.text()
                    raise ProxyUnavailable(
                        f"{url}{path} answered HTTP {resp.status}: {_error_message(text)}",
                        details={"proxy": url, "status": resp.status},
                    )
                body = await resp.content.read(limit + 1)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProxyUnavailable(f"{url} is unreachable ({type(exc).__name__})") from exc
        return body[:limit], len(body) > limit

    async def delete(self, url: str, path: str) -> Any:
        return await self._call("DELETE", url, path)

    async def send_json(self, method: str, url: str, path: str, **kw: Any) -> Any:
        """Any management call (`json=`, `params=`, `data=`, `headers=`), parsed JSON answer."""
        return await self._call(method, url, path, **kw)

    async def healthz(self, url: str) -> None:
        """Raise ProxyUnavailable unless the proxy's `/healthz` answers 200."""
        await self._call("GET", url, "/healthz", auth=False)

    async def list_models(self, url: str, client_key: str) -> list[str]:
        """Model ids from the proxy's inference `/v1/models`, called with a client key."""
        headers = {"Authorization": f"Bearer {client_key}"}
        body = await self._call("GET", url, "/v1/models", headers=headers, auth=False)
        data = body.get("data", []) if isinstance(body, dict) else []
        return sorted({str(item["id"]) for item in data if isinstance(item, dict) and "id" in item})

    async def update_everywhere(self, name: str, transform: Transform) -> None:
        """Read `name` on every proxy, write `transform(value)`; on any failure restore the rest."""

        async def read(url: str) -> Any:
            return await self.get_value(url, name)

        async def write(url: str, value: Any) -> None:
            await self.put_value(url, name, value)

        await self._update_all(name, read, write, transform)

    async def update_config_yaml(self, transform: Callable[[str], str]) -> None:
        """The same all-or-nothing update for the whole `config.yaml` text."""
        await self._update_all("config.yaml", self.get_config_yaml, self.put_config_yaml, transform)

    async def _update_all(
        self,
        name: str,
        read: Callable[[str], Awaitable[Any]],
        write: Callable[[str, Any], Awaitable[None]],
        transform: Transform,
    ) -> None:
        urls = list(self.urls)  # the set may change while this runs: use one snapshot
        if not urls:
            raise ProxyUnavailable(f"writing {name} failed: no proxy replica is known")
        currents = await asyncio.gather(*(read(url) for url in urls))
        planned = [(url, old, transform(old)) for url, old in zip(urls, currents, strict=True)]
        changed = [(url, old, new) for url, old, new in planned if not same_value(old, new)]
        results = await asyncio.gather(
            *(write(url, new) for url, _, new in changed), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if not failures:
            return
        for (url, old, _), result in zip(changed, results, strict=True):
            if result is None:  # written: put the old value back
                try:
                    await write(url, old)
                except ProxyUnavailable:
                    log.error("proxy_restore_failed", proxy=url, name=name)
        first = failures[0]
        if isinstance(first, ProxyUnavailable):
            raise first
        raise ProxyUnavailable(f"writing {name} failed: {first}") from first

    async def _call(self, method: str, url: str, path: str, *, auth: bool = True, **kw: Any) -> Any:
        text = await self._call_text(method, url, path, auth=auth, **kw)
        try:
            return orjson.loads(text) if text.strip() else None
        except orjson.JSONDecodeError as exc:
            raise ProxyUnavailable(f"{url}{path} did not answer JSON") from exc

    async def _call_text(
        self, method: str, url: str, path: str, *, auth: bool = True, **kw: Any
    ) -> str:
        headers = {**(self._headers if auth else {}), **kw.pop("headers", {})}
        try:
            async with self._session.request(method, url + path, headers=headers, **kw) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    raise ProxyUnavailable(
                        f"{url}{path} answered HTTP {resp.status}: {_error_message(text)}",
                        details={"proxy": url, "status": resp.status},
                    )
                return text
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProxyUnavailable(f"{url} is unreachable ({type(exc).__name__})") from exc


def _error_message(text: str) -> str:
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text[:200]
    if isinstance(body, dict):
        err = body.get("error", body.get("message", ""))
        if isinstance(err, dict):
            err = err.get("message", "")
        return str(err)[:200]
    return text[:200]


# Values the proxy treats as "not set": its GET fills them in, its writes leave them out.
_DEFAULTS: tuple[Any, ...] = (None, "", False, 0, [], {})


def _without_defaults(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_defaults(v)
            for k, v in value.items()
            if not any(v is d or (type(v) is type(d) and v == d) for d in _DEFAULTS)
            and not (k == "weight" and v == 1)
        }
    if isinstance(value, list):
        return [_without_defaults(v) for v in value]
    return value


def same_value(old: Any, new: Any) -> bool:
    """True when writing `new` would not change what the proxy has (defaults aside), so the
    write (a file rewrite and a reload at the proxy) is skipped."""
    return bool(old == new or _without_defaults(old) == _without_defaults(new))
