"""Every request the OAuth fakes receive, in order, with what the handler learned about it.

A middleware records the request before any handler runs (so a rejected request is in the log
too); the handler then labels it with the provider, the kind of call and the account.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDict

from tests.fakes.oauth.state import Account

KINDS = (
    "authorize",  # browser: the authorize page
    "verify",  # browser: a device login's verification page
    "exchange",  # token endpoint: authorization_code
    "refresh",  # token endpoint: refresh_token
    "device_start",  # device authorization endpoint
    "device_poll",  # token endpoint polled with a device code
    "discovery",  # OIDC discovery document
    "profile",  # post-login identity calls (profile, roles, userinfo)
    "setup",  # post-login project calls (loadCodeAssist, onboardUser, projects, serviceusage)
    "inference",
    "quota",
    "unknown",  # no such route on the real service
)


@dataclass
class Recorded:
    """One request as a fake saw it, and how it was answered."""

    seq: int
    at: float  # wall-clock arrival time
    method: str
    origin: str  # the REAL origin this fake stands for, e.g. "https://claude.ai"
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]
    encoding: str | None  # "json", "form", "text" or None (no body)
    body: Any  # parsed JSON, the form as a dict, or text
    raw: bytes
    provider: str | None = None
    kind: str = "unknown"
    account: str | None = None  # email of the account the request acted for
    status: int | None = None  # the answer's status
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def bearer(self) -> str | None:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        return value.strip() or None if scheme.lower() == "bearer" else None

    def label(self, provider: str, kind: str, account: Account | None = None) -> None:
        self.provider, self.kind = provider, kind
        if account is not None:
            self.account = account.email

    def to_json(self) -> dict[str, Any]:
        plain = {k: v for k, v in vars(self).items() if k not in {"headers", "raw"}}
        return {**plain, "headers": dict(self.headers)}


REC = web.RequestKey("rec", Recorded)  # where the middleware leaves the request's record


class RequestLog:
    """The shared log of all fakes, with selectors for assertions and an awaitable wait."""

    def __init__(self) -> None:
        self.entries: list[Recorded] = []
        self._changed = asyncio.Event()

    def add(self, entry: Recorded) -> None:
        self.entries.append(entry)
        self.touch()

    def touch(self) -> None:
        """Wake `wait_for` callers (also called when an entry is labelled or answered)."""
        self._changed.set()
        self._changed = asyncio.Event()

    def clear(self) -> None:
        self.entries.clear()

    def select(
        self,
        *,
        provider: str | None = None,
        kind: str | None = None,
        account: Account | str | None = None,
        origin: str | None = None,
        path: str | None = None,
        status: int | None = None,
    ) -> list[Recorded]:
        email = account.email if isinstance(account, Account) else account
        wanted = {
            "provider": provider,
            "kind": kind,
            "account": email,
            "origin": origin,
            "path": path,
            "status": status,
        }
        filters = {k: v for k, v in wanted.items() if v is not None}
        return [e for e in self.entries if all(getattr(e, k) == v for k, v in filters.items())]

    def count(self, **filters: Any) -> int:
        return len(self.select(**filters))

    async def wait_for(
        self, count: int = 1, within: float = 10.0, **filters: Any
    ) -> list[Recorded]:
        """Wait until at least `count` answered requests match `filters`; return them."""

        async def until() -> list[Recorded]:
            while True:
                changed = self._changed
                found = [e for e in self.select(**filters) if e.status is not None]
                if len(found) >= count:
                    return found
                await changed.wait()

        return await asyncio.wait_for(until(), within)

    def refreshes(self, account: Account | str) -> list[Recorded]:
        """Successful refreshes of `account`; notes["expired"] says if the old token had expired."""
        return self.select(kind="refresh", account=account, status=200)

    def refreshed_before_expiry(self, account: Account | str) -> bool:
        """At least one refresh of `account` happened while its access token was still valid."""
        return any(not r.notes["expired"] for r in self.refreshes(account))


def parse_body(content_type: str, raw: bytes) -> tuple[str | None, Any]:
    if not raw:
        return None, None
    text = raw.decode("utf-8", "replace")
    if content_type == "application/x-www-form-urlencoded":
        return "form", dict(parse_qsl(text, keep_blank_values=True))
    try:
        return ("json" if content_type.endswith("json") else "text"), json.loads(text)
    except ValueError:
        return "text", text


def recorder(log: RequestLog, origin: str) -> Middleware:
    """An aiohttp middleware recording each request of the app standing for `origin`."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        encoding, body = parse_body(request.content_type, raw)
        entry = Recorded(
            seq=len(log.entries),
            at=time.time(),
            method=request.method,
            origin=origin,
            path=request.path,
            query=dict(request.query),
            headers=CIMultiDict(request.headers),
            encoding=encoding,
            body=body,
            raw=raw,
        )
        request[REC] = entry
        log.add(entry)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        entry.status = response.status
        log.touch()
        return response

    return record
