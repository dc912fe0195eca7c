"""Two proxy replicas sharing a real redis-server: limits hold across replicas and restarts."""

from __future__ import annotations

import asyncio
import hashlib
import time
from contextlib import AsyncExitStack

import aiohttp
import orjson

from services.proxy.http.app_objects import LIMITER
from services.proxy.limits import periods
from tests.fakes.openai_upstream import Reply

from ..harness import CLIENT_KEY, run_proxy
from .helpers import HEADERS, chat, limited_config, post_chat, price, publish_spend

KEY_ID = hashlib.sha256(CLIENT_KEY.encode()).hexdigest()[:16]


async def _replicas(stack: AsyncExitStack, tmp_path, config, n: int = 2, tag: str = "a"):
    return [
        await stack.enter_async_context(run_proxy(tmp_path / f"{tag}{i}", config)) for i in range(n)
    ]


async def _burst(session, replicas, body, count: int) -> list[int]:
    calls = [post_chat(session, replicas[i % len(replicas)].base_url, body) for i in range(count)]
    return [status for status, _, _ in await asyncio.gather(*calls)]


async def test_ten_rpm_allow_ten_in_total_across_replicas_and_restarts(
    fake, tmp_path, redis_server
):
    config = limited_config(
        fake.base_url, {"requests-per-minute": 10}, **{"limits-store": redis_server.url}
    )
    async with aiohttp.ClientSession() as session:
        async with AsyncExitStack() as stack:
            replicas = await _replicas(stack, tmp_path, config)
            first = await _burst(session, replicas, chat(), 30)
        async with AsyncExitStack() as stack:  # both replicas restarted, same minute
            replicas = await _replicas(stack, tmp_path, config, tag="b")
            second = await _burst(session, replicas, chat(), 10)
    assert first.count(200) == 10
    assert first.count(429) == 20
    assert second == [429] * 10
    assert len(fake.requests) == 10


async def test_concurrency_is_shared_by_the_replicas(fake, tmp_path, redis_server):
    fake.default = Reply(hang_after=1)
    config = limited_config(
        fake.base_url, {"concurrent-requests": 1}, **{"limits-store": redis_server.url}
    )
    async with AsyncExitStack() as stack, aiohttp.ClientSession() as session:
        one, two = await _replicas(stack, tmp_path, config)
        held = await session.post(
            f"{one.base_url}/v1/chat/completions", json=chat(stream=True), headers=HEADERS
        )
        await asyncio.wait_for(fake.hanging.wait(), 5)
        refused = await post_chat(session, two.base_url, chat())
        fake.default = Reply()
        fake.release()
        await held.read()
        held.close()
        await one.app[LIMITER].drain()
        admitted = await post_chat(session, two.base_url, chat())
    assert refused[0] == 429
    assert admitted[0] == 200


async def test_fifty_simultaneous_requests_on_two_replicas_overspend_by_at_most_one(
    fake, tmp_path, redis_server
):
    fake.default = Reply(prompt_tokens=1000, completion_tokens=1000, headers_delay=0.05)
    config = limited_config(
        fake.base_url, {"daily-budget-usd": 0.002}, **{"limits-store": redis_server.url}
    )
    now = time.time()
    day, month = periods.day_id(now), periods.month_id(now)
    async with AsyncExitStack() as stack, aiohttp.ClientSession() as session:
        replicas = await _replicas(stack, tmp_path, config)
        for replica in replicas:
            await publish_spend(
                session, replica.base_url, day=day, month=month, prices=[price("gpt-test", 1, 1)]
            )
        statuses = await _burst(session, replicas, chat(max_tokens=1000), 50)
    assert statuses.count(200) <= 2
    assert statuses.count(200) + statuses.count(429) == 50
    assert len(fake.requests) == statuses.count(200)


async def test_tokens_counted_on_one_replica_limit_the_other(fake, tmp_path, redis_server):
    fake.default = Reply(prompt_tokens=300, completion_tokens=300)
    config = limited_config(
        fake.base_url, {"tokens-per-minute": 500}, **{"limits-store": redis_server.url}
    )
    async with AsyncExitStack() as stack, aiohttp.ClientSession() as session:
        one, two = await _replicas(stack, tmp_path, config)
        assert (await post_chat(session, one.base_url, chat(stream=True, max_tokens=20)))[0] == 200
        await one.app[LIMITER].drain()
        status, _headers, body = await post_chat(session, two.base_url, chat(max_tokens=20))
    assert status == 429
    assert "500 tokens per minute" in orjson.loads(body)["error"]["message"]


async def test_an_unreachable_store_leaves_each_replica_enforcing_alone(
    fake, tmp_path, redis_server
):
    config = limited_config(
        fake.base_url, {"requests-per-minute": 2}, **{"limits-store": redis_server.url}
    )
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        redis_server.stop()
        statuses = [(await post_chat(session, px.base_url, chat()))[0] for _ in range(3)]
        async with session.get(f"{px.base_url}/healthz") as resp:
            health = await resp.json()
    assert statuses == [200, 200, 429]
    assert health["limits_store"] == "unavailable"
