"""Requests, tokens and concurrency per client key, enforced by one replica (no shared store)."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson

from tests.fakes.openai_upstream import Reply

from ..harness import run_proxy
from .helpers import HEADERS, chat, limited_config, post_chat, usage_events


async def test_requests_per_minute_refuses_in_openai_format_and_sends_nothing(fake, tmp_path):
    config = limited_config(fake.base_url, {"requests-per-minute": 3})
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        answers = [await post_chat(session, px.base_url, chat()) for _ in range(4)]
        events = await usage_events(session, px.base_url)
    assert [status for status, _, _ in answers] == [200, 200, 200, 429]
    _, ok_headers, _ = answers[0]
    assert ok_headers["x-ratelimit-limit-requests"] == "3"
    assert ok_headers["x-ratelimit-remaining-requests"] == "2"
    assert ok_headers["x-ratelimit-reset-requests"].endswith("s")
    _, headers, body = answers[3]
    assert 55 <= int(headers["Retry-After"]) <= 60
    assert headers["x-ratelimit-remaining-requests"] == "0"
    error = orjson.loads(body)["error"]
    assert "3 requests per minute" in error["message"]
    assert error["type"] == "rate_limit_error" or error["code"] == "rate_limit_exceeded"
    assert len(fake.requests) == 3
    refused = [e for e in events if e.get("refused")]
    assert [(e["refused"], e["status_code"]) for e in refused] == [("requests_per_minute", 429)]
    assert refused[0]["provider"] == "" and refused[0]["failed"] is True


async def test_anthropic_client_gets_its_own_error_format(fake, tmp_path):
    config = limited_config(fake.base_url, {"requests-per-minute": 1})
    body = {"model": "gpt-test", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        statuses, last = [], {}
        for _ in range(2):
            async with session.post(
                f"{px.base_url}/v1/messages", json=body, headers=HEADERS
            ) as resp:
                statuses.append(resp.status)
                last = await resp.json()
    assert statuses == [200, 429]
    assert last["type"] == "error"
    assert last["error"]["type"] == "rate_limit_error"
    assert "1 requests per minute" in last["error"]["message"]


async def test_tokens_per_minute_counts_the_upstream_usage_of_streams(fake, tmp_path):
    """The first stream's real usage (500 tokens) fills the window: the next is refused."""
    fake.default = Reply(prompt_tokens=200, completion_tokens=300)
    config = limited_config(fake.base_url, {"tokens-per-minute": 400})
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        first = await post_chat(session, px.base_url, chat(stream=True, max_tokens=50))
        second = await post_chat(session, px.base_url, chat(stream=True, max_tokens=50))
    assert first[0] == 200 and b"[DONE]" in first[2]
    assert second[0] == 429
    assert "400 tokens per minute" in orjson.loads(second[2])["error"]["message"]
    assert second[1]["x-ratelimit-remaining-tokens"] == "0"
    assert len(fake.requests) == 1


async def test_concurrency_slot_is_released_when_the_client_leaves(fake, tmp_path):
    fake.default = Reply(hang_after=1)
    config = limited_config(fake.base_url, {"concurrent-requests": 1})
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        url = f"{px.base_url}/v1/chat/completions"
        first = await session.post(url, json=chat(stream=True), headers=HEADERS)
        assert first.status == 200
        await asyncio.wait_for(fake.hanging.wait(), 5)
        status, headers, body = await post_chat(session, px.base_url, chat(stream=True))
        assert status == 429
        assert "1 concurrent requests" in orjson.loads(body)["error"]["message"]
        assert int(headers["Retry-After"]) >= 1
        first.close()  # the client leaves mid-stream
        await asyncio.wait_for(fake.disconnected.wait(), 5)
        fake.default = Reply()
        again = await _eventually_admitted(session, px.base_url)
    assert again == 200


async def _eventually_admitted(session: aiohttp.ClientSession, base: str) -> int:
    """The proxy notices the hang-up when the upstream read is cancelled: poll briefly."""
    for _ in range(100):
        status, _, _ = await post_chat(session, base, chat())
        if status != 429:
            return status
        await asyncio.sleep(0.02)
    return 429


async def test_a_key_without_limits_is_not_limited(fake, tmp_path):
    config = limited_config(fake.base_url, {"requests-per-minute": 1})
    config["api-keys"].append("sk-other-key-0123456789")
    other = {"Authorization": "Bearer sk-other-key-0123456789"}
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.post(
                f"{px.base_url}/v1/chat/completions", json=chat(), headers=other
            ) as resp:
                assert resp.status == 200
                assert "x-ratelimit-limit-requests" not in resp.headers


async def test_default_entry_limits_every_key_without_its_own(fake, tmp_path):
    config = limited_config(fake.base_url, {})
    config["api-key-limits"] = {"*": {"requests-per-minute": 1}}
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        statuses = [(await post_chat(session, px.base_url, chat()))[0] for _ in range(2)]
    assert statuses == [200, 429]
