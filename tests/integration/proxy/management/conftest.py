"""A small app with only the management API, a real ConfigStore and fake collaborators."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from services.proxy.config.store import ConfigStore
from services.proxy.management import (
    AuthStats,
    CredentialInfo,
    ManagementContext,
    ManagementLimits,
    ModelInfo,
    management_middleware,
    management_routes,
)

KEY = "mgmt-key-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
PEER = "X-Test-Peer"  # the test app's stand-in for the caller's address

CONFIG_TEXT = """\
# Proxy configuration (comment at the top)
host: 127.0.0.1
port: 8317 # inline comment on port

# client keys
api-keys:
  - sk-client-one
  - sk-client-two

# Claude upstream keys
claude-api-key:
  - api-key: sk-ant-first # the first key
    base-url: https://api.anthropic.com
  - api-key: sk-ant-second
    prefix: team

# routing section
routing:
  strategy: round-robin # default
request-retry: 3
openai-compatibility:
  - name: local
    base-url: http://127.0.0.1:9/v1
    api-key-entries:
      - api-key: sk-local-1
    models:
      - name: m1
        alias: a1
oauth-excluded-models:
  claude:
    - claude-old
# an operator's key we do not know
my-custom-section:
  keep: me
"""


@dataclass
class Fakes:
    """State behind the context's callables, inspected and steered by tests."""

    now: float = 1_000_000.0
    key: str | None = KEY
    resets: list[str | None] = field(default_factory=list)
    queue: list[dict[str, Any]] = field(default_factory=list)
    popped_counts: list[int] = field(default_factory=list)
    credentials: dict[str, CredentialInfo] = field(default_factory=dict)
    stats: dict[str, AuthStats] = field(default_factory=dict)
    models: dict[str, list[ModelInfo]] = field(default_factory=dict)


@dataclass
class Harness:
    client: Any
    ctx: ManagementContext
    fakes: Fakes
    config_path: Path
    auth_dir: Path
    logs_dir: Path

    async def call(self, method: str, path: str, *, peer: str | None = None, **kw: Any) -> Any:
        headers = {**AUTH, **kw.pop("headers", {})}
        if peer:
            headers[PEER] = peer
        return await self.client.request(method, f"/v0/management{path}", headers=headers, **kw)

    async def ok_json(self, method: str, path: str, **kw: Any) -> Any:
        resp = await self.call(method, path, **kw)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    def config_text(self) -> str:
        return self.config_path.read_text()


@web.middleware
async def fake_peer(request: web.Request, handler: Any) -> web.StreamResponse:
    peer = request.headers.get(PEER)
    return await handler(request.clone(remote=peer) if peer else request)


async def other_route(_request: web.Request) -> web.Response:
    return web.json_response({"other": True})


def build_app(ctx: ManagementContext) -> web.Application:
    app = web.Application(middlewares=[fake_peer, management_middleware(ctx)])
    app.add_routes(management_routes(ctx))
    app.router.add_get("/other", other_route)
    return app


@pytest.fixture
def limits() -> ManagementLimits:
    return ManagementLimits(api_call_timeout=2.0, api_call_max_bytes=64 * 1024)


@pytest.fixture
async def mgmt(tmp_path: Path, aiohttp_client: Any, limits: ManagementLimits) -> Any:
    config_path = tmp_path / "config.yaml"
    config_path.write_text(CONFIG_TEXT)
    fakes = Fakes()

    async def usage_pop(count: int) -> list[dict[str, Any]]:
        fakes.popped_counts.append(count)
        taken, fakes.queue[:] = fakes.queue[:count], fakes.queue[count:]
        return taken

    def reset(index: str | None) -> int:
        fakes.resets.append(index)
        return 3 if index is None else 1

    async with aiohttp.ClientSession() as session:
        ctx = ManagementContext(
            store=ConfigStore(config_path),
            management_key=lambda: fakes.key,
            auth_dir=tmp_path / "auths",
            logs_dir=tmp_path / "logs",
            reset_cooldowns=reset,
            credential_for=fakes.credentials.get,
            usage_pop=usage_pop,
            http_session=lambda: session,
            auth_stats=lambda index: fakes.stats.get(index, AuthStats()),
            models_for=lambda index: fakes.models.get(index, []),
            version="1.2.3",
            build_date="2026-01-02",
            clock=lambda: fakes.now,
            limits=limits,
        )
        client = await aiohttp_client(build_app(ctx))
        yield Harness(client, ctx, fakes, config_path, tmp_path / "auths", tmp_path / "logs")
