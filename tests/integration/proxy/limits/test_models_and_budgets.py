"""Allowed models (aliases, prefixes and thinking suffixes resolved) and spend budgets."""

from __future__ import annotations

import asyncio
import hashlib
import time

import aiohttp
import orjson
import pytest

from services.proxy.limits import periods
from tests.fakes.openai_upstream import Reply

from ..harness import CLIENT_KEY, run_proxy
from .helpers import (
    HEADERS,
    chat,
    limited_config,
    post_chat,
    price,
    publish_spend,
    usage_events,
)

KEY_ID = hashlib.sha256(CLIENT_KEY.encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    "model", ["gpt-big", "cheap", "fake/gpt-big", "gpt-big(high)", "cheap(8192)"]
)
async def test_a_key_limited_to_one_model_cannot_reach_another(fake, tmp_path, model):
    config = limited_config(fake.base_url, {"allowed-models": ["gpt-test"]})
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        allowed = await post_chat(session, px.base_url, chat("gpt-test"))
        status, _, body = await post_chat(session, px.base_url, chat(model))
        events = await usage_events(session, px.base_url)
    assert allowed[0] == 200
    assert status == 403, body
    assert orjson.loads(body)["error"]["code"] == "model_not_allowed"
    assert [e["refused"] for e in events if e.get("refused")] == ["model_not_allowed"]
    assert [r.body["model"] for r in fake.requests] == ["gpt-test"]


async def test_a_pattern_allows_the_models_it_matches(fake, tmp_path):
    config = limited_config(fake.base_url, {"allowed-models": ["gpt-b*"]})
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        statuses = [
            (await post_chat(session, px.base_url, chat(m)))[0]
            for m in ("cheap", "fake/gpt-big", "gpt-test")
        ]
    assert statuses == [200, 200, 403]


async def test_an_allowed_alias_stands_for_its_upstream_model(fake, tmp_path):
    config = limited_config(fake.base_url, {"allowed-models": ["cheap"]})
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        statuses = [
            (await post_chat(session, px.base_url, chat(m)))[0] for m in ("cheap", "gpt-test")
        ]
    assert statuses == [200, 403]


async def test_model_lists_show_only_the_models_a_key_may_use(fake, tmp_path):
    config = limited_config(fake.base_url, {"allowed-models": ["gpt-b*"]})
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:

        async def ids(path: str, **headers: str) -> set[str]:
            url = px.base_url + path
            async with session.get(url, headers={**HEADERS, **headers}) as resp:
                assert resp.status == 200
                body = await resp.json()
            items = body.get("data") or body.get("models") or []
            return {m.get("id") or m["name"].removeprefix("models/") for m in items}

        openai = await ids("/v1/models")
        anthropic = await ids("/v1/models", **{"anthropic-version": "2023-06-01"})
        gemini = await ids("/v1beta/models")
        hidden = await session.get(px.base_url + "/v1beta/models/gpt-test", headers=HEADERS)
    assert "gpt-test" not in openai and {"gpt-big", "cheap"} <= openai
    assert anthropic == openai == gemini
    assert hidden.status == 404


async def test_keys_without_a_model_rule_see_every_model(fake, tmp_path):
    config = limited_config(fake.base_url, {"requests-per-minute": 100})
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        async with session.get(px.base_url + "/v1/models", headers=HEADERS) as resp:
            listed = {m["id"] for m in (await resp.json())["data"]}
    assert {"gpt-test", "gpt-big", "cheap"} <= listed


async def test_count_tokens_obeys_the_model_rule(fake, tmp_path):
    config = limited_config(fake.base_url, {"allowed-models": ["gpt-test"]})
    body = {"model": "cheap", "messages": [{"role": "user", "content": "hi"}]}
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        async with session.post(
            f"{px.base_url}/v1/messages/count_tokens", json=body, headers=HEADERS
        ) as resp:
            assert resp.status == 403
            assert (await resp.json())["type"] == "error"


def _periods() -> tuple[str, str]:
    now = time.time()
    return periods.day_id(now), periods.month_id(now)


async def test_published_spend_over_the_budget_refuses_with_budget_exceeded(fake, tmp_path):
    config = limited_config(fake.base_url, {"daily-budget-usd": 5})
    day, month = _periods()
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        assert (await post_chat(session, px.base_url, chat()))[0] == 200
        await publish_spend(
            session, px.base_url, day=day, month=month, keys={KEY_ID: {"day": 5.01, "month": 9}}
        )
        status, headers, body = await post_chat(session, px.base_url, chat())
        events = await usage_events(session, px.base_url)
    assert status == 429
    error = orjson.loads(body)["error"]
    assert error["code"] == "budget_exceeded"
    assert "daily budget of $5.00" in error["message"]
    assert int(headers["Retry-After"]) <= 86_400
    assert len(fake.requests) == 1
    assert [e["refused"] for e in events if e.get("refused")] == ["daily_budget"]


async def test_spend_of_yesterday_does_not_count_today(fake, tmp_path):
    config = limited_config(fake.base_url, {"daily-budget-usd": 5})
    _, month = _periods()
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        await publish_spend(
            session, px.base_url, day="2000-01-01", month=month, keys={KEY_ID: {"day": 50}}
        )
        assert (await post_chat(session, px.base_url, chat()))[0] == 200


async def test_fifty_simultaneous_requests_overspend_by_at_most_one(fake, tmp_path):
    """Budget = one request's cost: the reservations let one through, the rest are refused."""
    fake.default = Reply(prompt_tokens=1000, completion_tokens=1000, headers_delay=0.05)
    # $1 per million tokens in and out: one request costs $0.002.
    config = limited_config(fake.base_url, {"monthly-budget-usd": 0.002})
    day, month = _periods()
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        await publish_spend(
            session, px.base_url, day=day, month=month, prices=[price("gpt-test", 1, 1)]
        )
        body = chat(max_tokens=1000)
        answers = await asyncio.gather(*(post_chat(session, px.base_url, body) for _ in range(50)))
        after = await post_chat(session, px.base_url, body)
    statuses = [a[0] for a in answers]
    assert statuses.count(200) <= 2
    assert statuses.count(200) + statuses.count(429) == 50
    codes = {orjson.loads(a[2])["error"]["code"] for a in answers if a[0] == 429}
    assert codes == {"budget_exceeded"}
    assert after[0] == 429
    assert len(fake.requests) == statuses.count(200)


async def test_unpriced_models_cost_nothing_but_published_spend_still_counts(fake, tmp_path):
    config = limited_config(fake.base_url, {"daily-budget-usd": 1})
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        statuses = [(await post_chat(session, px.base_url, chat()))[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
