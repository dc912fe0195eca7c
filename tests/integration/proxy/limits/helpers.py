"""Shared pieces of the limits tests: configs with limits, requests, the usage log, prices."""

from __future__ import annotations

from typing import Any

import aiohttp

from ..harness import CLIENT_KEY, COLLECTOR_KEY, compat_config

HEADERS = {"Authorization": f"Bearer {CLIENT_KEY}"}
COLLECTOR = {"Authorization": f"Bearer {COLLECTOR_KEY}"}
# Two upstream models: `cheap` is an alias of gpt-big, `fake/` prefixes the second provider.
MODELS = [{"name": "gpt-test"}, {"name": "gpt-big"}, {"name": "gpt-big", "alias": "cheap"}]


def limited_config(base_url: str, limits: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One client key with `limits`; two upstream models, one of them also behind a prefix."""
    config = compat_config(base_url, ["up-key-1"], models=MODELS, **extra)
    config["openai-compatibility"].append(
        {
            "name": "prefixed",
            "prefix": "fake",
            "base-url": base_url,
            "api-key-entries": [{"api-key": "up-key-2"}],
            "models": [{"name": "gpt-big"}],
        }
    )
    config["api-key-limits"] = {CLIENT_KEY: limits}
    return config


def chat(model: str = "gpt-test", *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    body.update(extra)
    return body


async def post_chat(
    session: aiohttp.ClientSession, base: str, body: dict[str, Any]
) -> tuple[int, dict[str, str], bytes]:
    async with session.post(f"{base}/v1/chat/completions", json=body, headers=HEADERS) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def usage_events(session: aiohttp.ClientSession, base: str) -> list[dict[str, Any]]:
    async with session.get(
        f"{base}/v0/usage/events", params={"after": 0, "limit": 1000}, headers=COLLECTOR
    ) as resp:
        assert resp.status == 200
        return list((await resp.json())["events"])


def price(model: str, input_usd: float, output_usd: float, provider: str = "fake") -> dict:
    """A price list entry (USD per million tokens); compat providers are named by their entry."""
    return {"provider": provider, "model": model, "input": input_usd, "output": output_usd}


async def publish_spend(
    session: aiohttp.ClientSession,
    base: str,
    *,
    day: str,
    month: str,
    keys: dict[str, dict[str, float]] | None = None,
    prices: list[dict[str, Any]] | None = None,
) -> None:
    body = {
        "as_of": "2026-01-01T00:00:00Z",
        "day": day,
        "month": month,
        "keys": keys or {},
        "prices": prices or [],
    }
    async with session.put(f"{base}/v0/usage/spend", json=body, headers=COLLECTOR) as resp:
        assert resp.status == 200, await resp.text()
