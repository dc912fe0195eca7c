"""The real proxy in front of one fake upstream of each kind, each reached through its own
model alias, with one scripting interface over the four fakes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes import openai_upstream
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.responses_upstream import FakeResponses
from tests.fakes.wire_base import FakeServer, Reply
from tests.integration.proxy.harness import COLLECTOR_KEY, run_proxy

# One client key per CLI: each must authenticate as itself, and none may leak into events.
CLIENT_KEYS = {
    "claude": "sk-cli-claude-0123456789abcdef",
    "codex": "sk-cli-codex-0123456789abcdef",
    "gemini": "sk-cli-gemini-0123456789abcdef",
}
UPSTREAM_KEY = "sk-upstream-secret-fedcba9876543210"
PREFIX = "gw"  # every upstream also serves "gw/<alias>"

# upstream kind -> (config section, upstream model id, alias the CLIs ask for)
KINDS = {
    "anthropic": ("claude-api-key", "claude-sonnet-4-5", "e2e-anthropic"),
    "openai": ("openai-compatibility", "gpt-test", "e2e-openai"),
    "gemini": ("gemini-api-key", "gemini-2.5-flash", "e2e-gemini"),
    "responses": ("codex-api-key", "gpt-5-codex", "e2e-responses"),
}


@dataclass
class Upstream:
    """One fake upstream: what it was asked (JSON bodies) and what it will answer next."""

    kind: str
    fake: FakeServer | openai_upstream.FakeOpenAI

    @property
    def base_url(self) -> str:
        return self.fake.base_url + ("/v1" if self.kind == "responses" else "")

    def push(self, reply: Reply) -> None:
        if isinstance(self.fake, FakeServer):
            self.fake.push(reply)
            return
        self.fake.once(openai_upstream.reply_from(reply))

    @property
    def bodies(self) -> list[Any]:
        return [r.body for r in self.fake.requests]

    def upstream_keys(self) -> set[str]:
        """The credentials the proxy presented upstream, whatever header carried them."""
        keys = set()
        for recorded in self.fake.requests:
            headers = {k.lower(): v for k, v in recorded.headers.items()}
            for name in ("x-api-key", "x-goog-api-key", "authorization"):
                if name in headers:
                    keys.add(headers[name].removeprefix("Bearer ").strip())
        return keys


def _entry(kind: str, base_url: str) -> dict[str, Any]:
    _, model, alias = KINDS[kind]
    entry = {"base-url": base_url, "prefix": PREFIX, "models": [{"name": model, "alias": alias}]}
    if kind == "openai":
        return {**entry, "name": "compat", "api-key-entries": [{"api-key": UPSTREAM_KEY}]}
    return {**entry, "api-key": UPSTREAM_KEY}


def config(upstreams: dict[str, Upstream]) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "api-keys": list(CLIENT_KEYS.values()),
        "request-retry": 0,
        "streaming": {"keepalive-seconds": 0, "bootstrap-retries": 0},
    }
    for kind, upstream in upstreams.items():
        cfg[KINDS[kind][0]] = [_entry(kind, upstream.base_url)]
    return cfg


class Gateway:
    def __init__(self, base_url: str, upstreams: dict[str, Upstream]) -> None:
        self.base_url = base_url
        self.upstreams = upstreams

    async def events(self) -> list[dict[str, Any]]:
        """Every usage event the proxy recorded so far (the collector's view)."""
        headers = {"Authorization": f"Bearer {COLLECTOR_KEY}"}
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"{self.base_url}/v0/usage/events",
                params={"after": 0, "limit": 1000},
                headers=headers,
            ) as resp:
                assert resp.status == 200, await resp.text()
                page = await resp.json()
        events: list[dict[str, Any]] = page["events"]
        return events


@asynccontextmanager
async def gateway(tmp: Path) -> AsyncIterator[Gateway]:
    """Four fake upstreams (each requiring UPSTREAM_KEY where it checks) and the proxy."""
    async with AsyncExitStack() as stack:
        fakes: dict[str, FakeServer | openai_upstream.FakeOpenAI] = {
            "anthropic": FakeAnthropic(api_key=UPSTREAM_KEY),
            "openai": openai_upstream.FakeOpenAI(),
            "gemini": FakeGemini(api_key=UPSTREAM_KEY),
            "responses": FakeResponses(api_key=UPSTREAM_KEY),
        }
        upstreams = {}
        for kind, fake in fakes.items():
            await stack.enter_async_context(fake)
            upstreams[kind] = Upstream(kind, fake)
        proxy = await stack.enter_async_context(run_proxy(tmp / "proxy", config(upstreams)))
        yield Gateway(proxy.base_url, upstreams)
