"""HTTP client for one proxy's usage outbox: `GET /v0/usage/events`, `POST /v0/usage/ack`."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import orjson


class SourceError(Exception):
    """The proxy could not be reached or answered something other than the contract."""


@dataclass(frozen=True, slots=True)
class Page:
    """One answer of `GET /v0/usage/events`: raw events after the cursor, and the next cursor."""

    instance_id: str
    events: list[object]
    next: int
    # Every outbox of a proxy with worker processes (its own answers name one each); [] else.
    instances: tuple[str, ...] = ()


class UsageSource:
    """One proxy base URL, authenticated with COLLECTOR_API_KEY."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, api_key: str) -> None:
        self.url = base_url.rstrip("/")
        self._session = session
        self._headers = {"Authorization": f"Bearer {api_key}"}

    async def fetch(self, after: int, limit: int, instance: str | None = None) -> Page:
        """Events with seq > `after`, at most `limit`; nothing is deleted at the proxy.

        `instance` names the outbox wanted; a proxy that does not have it answers with its own.
        """
        params = {"after": str(after), "limit": str(limit)}
        if instance:
            params["instance"] = instance
        body = await self._call("GET", "/v0/usage/events", params=params)
        if not isinstance(body, dict):
            raise SourceError(f"{self.url}: events answer is not a JSON object")
        instance_id, events, nxt = body.get("instance_id"), body.get("events"), body.get("next")
        if not isinstance(instance_id, str) or not instance_id:
            raise SourceError(f"{self.url}: events answer has no instance_id")
        if not isinstance(events, list):
            raise SourceError(f"{self.url}: events answer has no events list")
        if isinstance(nxt, bool) or not isinstance(nxt, int):
            raise SourceError(f"{self.url}: events answer has no integer next")
        instances = body.get("instances", [])
        if not isinstance(instances, list) or not all(isinstance(i, str) for i in instances):
            raise SourceError(f"{self.url}: events answer has a malformed instances list")
        return Page(instance_id, events, nxt, tuple(i for i in instances if i))

    async def ack(self, instance_id: str, upto: int) -> int:
        """Let the proxy drop events up to `upto` (they are committed); return what it acked."""
        body = await self._call(
            "POST", "/v0/usage/ack", json={"instance_id": instance_id, "upto": upto}
        )
        acked = body.get("acked") if isinstance(body, dict) else None
        if isinstance(acked, bool) or not isinstance(acked, int):
            raise SourceError(f"{self.url}: ack answer has no integer acked")
        return acked

    async def publish_spend(self, body: dict[str, object]) -> None:
        """`PUT /v0/usage/spend`: this key's spend and the prices, for the proxy's budgets."""
        await self._call("PUT", "/v0/usage/spend", json=body)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, object] | None = None,
    ) -> object:
        data = orjson.dumps(json) if json is not None else None
        headers = {**self._headers, "Content-Type": "application/json"} if json else self._headers
        try:
            async with self._session.request(
                method, self.url + path, params=params, data=data, headers=headers
            ) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise SourceError(f"{self.url}{path}: HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SourceError(f"{self.url}{path}: {type(exc).__name__}: {exc}") from exc
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise SourceError(f"{self.url}{path}: answer is not JSON") from exc
