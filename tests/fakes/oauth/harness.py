"""Start every provider fake: one aiohttp app per real origin, each on a free loopback port.

    async with OAuthFakes() as fakes:
        config["upstream-host-overrides"] = fakes.overrides   # real origin -> local origin
        account = fakes.claude.add_account("a@example.com", plan="max")
        ...                                                   # drive the proxy
        await fakes.log.wait_for(kind="refresh", account=account)
        assert not fakes.misplaced_secrets()

As a process (for a proxy under test that runs elsewhere), `python -m tests.fakes.oauth
--ports-file F` writes `{"overrides": {...}, "control": URL}` to F; the control URL takes the
scripting calls listed in CONTROL_METHODS (see README.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from tests.fakes.oauth.claude import Claude
from tests.fakes.oauth.codex import Codex
from tests.fakes.oauth.google import Google
from tests.fakes.oauth.kimi import Kimi
from tests.fakes.oauth.provider import Provider
from tests.fakes.oauth.recording import Recorded, RequestLog, recorder
from tests.fakes.oauth.state import Account, TokenSet
from tests.fakes.oauth.xai import XAI
from tests.fakes.wire_base import Reply

CONTROL_METHODS = frozenset(
    {
        "add_account",
        "sign_in",
        "issue",
        "expire_now",
        "revoke",
        "fail",
        "fail_refresh",
        "clear_faults",
        "rate_limit",
        "usage_limit",
        "set_usage",
        "set_model_quota",
        "set_device_policy",
    }
)


async def not_found(request: web.Request) -> web.Response:
    return web.json_response({"error": "not_found", "path": request.path}, status=404)


class OAuthFakes:
    """All providers' fakes, one shared request log, and the origin overrides to reach them."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.log = RequestLog()
        self.claude = Claude(self.log)
        self.codex = Codex(self.log)
        self.google = Google(self.log)  # serves both antigravity and gemini (Gemini CLI)
        self.kimi = Kimi(self.log)
        self.xai = XAI(self.log)
        self.overrides: dict[str, str] = {}  # real origin -> http://host:port
        self._origins: dict[str, Provider] = {}
        self._runners: list[web.AppRunner] = []

    @property
    def providers(self) -> dict[str, Provider]:
        """The fake behind each auth-file type."""
        google = self.google
        return {
            "claude": self.claude,
            "codex": self.codex,
            "antigravity": google,
            "gemini": google,
            "kimi": self.kimi,
            "xai": self.xai,
        }

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        routes: dict[str, list[web.RouteDef]] = {}
        for provider in self._unique():
            for origin, defs in provider.routes().items():
                routes.setdefault(origin, []).extend(defs)
                self._origins[origin] = provider
        for origin in sorted(routes):
            app = web.Application(middlewares=[recorder(self.log, origin)])
            app.add_routes(routes[origin])
            app.router.add_route("*", "/{tail:.*}", not_found)
            self.overrides[origin] = await self._serve(app)

    async def _serve(self, app: web.Application, port: int = 0) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.host, port).start()
        self._runners.append(runner)
        return f"http://{self.host}:{runner.addresses[0][1]}"

    async def close(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()

    async def __aenter__(self) -> OAuthFakes:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def _unique(self) -> list[Provider]:
        return list(dict.fromkeys(self.providers.values()))

    # -- helpers for tests --------------------------------------------------------------------

    def url(self, real_url: str) -> str:
        """`real_url` with its origin replaced as the proxy's overrides would (path kept)."""
        parts = urlsplit(real_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        return self.overrides[origin] + real_url[len(origin) :]

    def origins_of(self, provider: Provider) -> set[str]:
        return {origin for origin, owner in self._origins.items() if owner is provider}

    def secrets(self) -> dict[str, tuple[Provider, str]]:
        """Every code and token the fakes issued: value -> (provider, kind)."""
        return {
            value: (provider, kind)
            for provider in self._unique()
            for value, kind in provider.grants.secrets().items()
        }

    def leaked_in(self, text: str) -> list[str]:
        """Kinds of issued secrets found in `text` (a log, a metrics page, an error body)."""
        return sorted(
            f"{p.name}:{kind}" for value, (p, kind) in self.secrets().items() if value in text
        )

    def misplaced_secrets(self) -> list[tuple[Recorded, str]]:
        """Requests that carried a secret where it must not go: to another provider's origin,
        in a URL query, or a refresh token anywhere but a refresh call."""
        found: list[tuple[Recorded, str]] = []
        secrets = self.secrets()
        for rec in self.log.entries:
            text = rec.raw.decode("utf-8", "replace") + json.dumps([dict(rec.headers), rec.query])
            query = json.dumps(rec.query)
            for value, (provider, kind) in secrets.items():
                if value not in text:
                    continue
                foreign = rec.origin not in self.origins_of(provider)
                stray_refresh = kind == "refresh_token" and rec.kind != "refresh"
                if foreign or value in query or stray_refresh:
                    found.append((rec, f"{provider.name}:{kind}"))
        return found

    def reset(self) -> None:
        """Forget recorded requests and every account's scripted faults."""
        self.log.clear()
        for provider in self._unique():
            provider.replies.clear()
            for account in provider.accounts.values():
                account.faults.clear()

    # -- control API (for the process mode) -----------------------------------------------------

    def control_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/requests", self._requests)
        app.router.add_post("/call", self._call)
        app.router.add_post("/push", self._push)
        app.router.add_post("/reset", self._reset)
        return app

    async def serve_control(self) -> str:
        return await self._serve(self.control_app())

    async def _requests(self, request: web.Request) -> web.Response:
        return web.json_response([rec.to_json() for rec in self.log.entries], dumps=_dumps)

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"status": "ok"})

    async def _push(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.providers[body["provider"]].push(*(Reply(**r) for r in body["replies"]))
        return web.json_response({"status": "ok"})

    async def _call(self, request: web.Request) -> web.Response:
        """`{provider, method, account?, args?}`: call one scripting method of a provider."""
        body = await request.json()
        provider = self.providers.get(body.get("provider", ""))
        method = body.get("method", "")
        if provider is None or method not in CONTROL_METHODS or not hasattr(provider, method):
            return web.json_response(
                {"error": f"unknown provider or method {method!r}"}, status=400
            )
        args: dict[str, Any] = dict(body.get("args") or {})
        if "account" in body:
            args["account"] = provider.account(body["account"])
        if method == "issue" and "client" not in args and provider is self.google:
            args["client"] = body["provider"]
        result = getattr(provider, method)(**args)
        return web.json_response(_plain(result), dumps=_dumps)


def _plain(value: Any) -> Any:
    if isinstance(value, Account):
        return {k: v for k, v in asdict(value).items() if k != "faults"}
    if isinstance(value, TokenSet):
        plain = {k: v for k, v in vars(value).items() if k != "account"}
        return {**plain, "account": value.account.email, "expires_at": value.expires_at}
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(type(value))


def write_ports_file(path: str, overrides: dict[str, str], control: str) -> None:
    """Write the ports file atomically, so a reader never sees half of it."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as out:
        json.dump({"overrides": overrides, "control": control}, out, indent=2)
    os.replace(tmp, path)
