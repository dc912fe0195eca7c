"""Routing through a real proxy: strategies, cooldowns, failover bounds, retry rounds."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import aiohttp
import pytest

from tests.conftest import free_port
from tests.fakes.openai_upstream import Reply

from ..harness import CLIENT_KEY, ProxyProcess, compat_config, eventually, run_proxy, write_config

KEYS = ["k1", "k2", "k3"]
HEADERS = {"Authorization": f"Bearer {CLIENT_KEY}"}
BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


async def _post(session: aiohttp.ClientSession, base: str, body=BODY) -> tuple[int, dict, dict]:
    async with session.post(f"{base}/v1/chat/completions", json=body, headers=HEADERS) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


async def _send(base: str, n: int) -> list[int]:
    async with aiohttp.ClientSession() as session:
        return [(await _post(session, base))[0] for _ in range(n)]


def _keys_used(fake) -> Counter:
    return Counter(r.api_key for r in fake.requests)


async def test_round_robin_spreads_evenly(fake, tmp_path):
    """Thirty requests over three keys give each key ten."""
    async with run_proxy(tmp_path, compat_config(fake.base_url, KEYS)) as px:
        assert await _send(px.base_url, 30) == [200] * 30
    assert _keys_used(fake) == {"k1": 10, "k2": 10, "k3": 10}


async def test_fill_first_sticks(fake, tmp_path):
    """Fill-first sends everything to the first healthy key."""
    config = compat_config(fake.base_url, KEYS, routing={"strategy": "fill-first"})
    async with run_proxy(tmp_path, config) as px:
        await _send(px.base_url, 10)
    assert _keys_used(fake) == {"k1": 10}


async def test_a_429_moves_traffic_and_cools_the_key(fake, tmp_path):
    """A 429 fails over to the next key at once, and the cooled key gets no more traffic."""
    fake.always(Reply(status=429, headers={"Retry-After": "600"}), key="k1")
    config = compat_config(fake.base_url, KEYS, routing={"strategy": "fill-first"})
    async with run_proxy(tmp_path, config) as px:
        assert await _send(px.base_url, 6) == [200] * 6
    assert _keys_used(fake) == {"k1": 1, "k2": 6}


async def test_all_cooling_gives_model_cooldown_with_retry_after(fake, tmp_path):
    """When every key is cooling the proxy answers 429 model_cooldown without calling upstream."""
    fake.always(Reply(status=429, headers={"Retry-After": "120"}))
    async with run_proxy(tmp_path, compat_config(fake.base_url, KEYS)) as px:
        async with aiohttp.ClientSession() as session:
            status, _, _ = await _post(session, px.base_url)
            assert status == 429  # every key answered 429 in this first round
            calls = len(fake.requests)
            status, body, headers = await _post(session, px.base_url)
    assert status == 429
    assert body["error"]["code"] == "model_cooldown"
    assert 100 <= body["error"]["reset_seconds"] <= 120
    assert 100 <= int(headers["Retry-After"]) <= 120
    assert len(fake.requests) == calls == 3


async def test_a_400_is_tried_once(fake, tmp_path):
    """A bad request goes to one credential only and comes back with the upstream's body."""
    fake.always(
        Reply(
            status=400,
            body={"error": {"message": "no such param", "type": "invalid_request_error"}},
        )
    )
    async with (
        run_proxy(tmp_path, compat_config(fake.base_url, KEYS, **{"request-retry": 2})) as px,
        aiohttp.ClientSession() as session,
    ):
        status, body, _ = await _post(session, px.base_url)
    assert status == 400 and body["error"]["message"] == "no such param"
    assert len(fake.requests) == 1


async def test_failover_stops_at_max_retry_credentials(fake, tmp_path):
    """With max-retry-credentials 2, a request that keeps failing tries two keys, not three."""
    fake.always(Reply(status=500, body={"error": {"message": "boom"}}))
    config = compat_config(fake.base_url, KEYS, **{"max-retry-credentials": 2})
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        status, _, _ = await _post(session, px.base_url)
    assert status == 500
    assert len(fake.requests) == 2


async def test_retry_round_waits_for_a_short_cooldown(fake, tmp_path):
    """A 429 with a short Retry-After is retried in a new round once the cooldown ends."""
    fake.once(Reply(status=429, headers={"Retry-After": "1"}))
    config = compat_config(fake.base_url, ["only"], **{"request-retry": 1, "max-retry-interval": 5})
    async with run_proxy(tmp_path, config) as px:
        assert await _send(px.base_url, 1) == [200]
    assert len(fake.requests) == 2


async def test_lower_priority_tier_serves_only_when_the_top_tier_fails(fake, tmp_path):
    """Priority tiers: the high tier takes traffic; the low tier takes over when it fails."""
    config = compat_config(fake.base_url, ["low"])
    config["openai-compatibility"].append(
        {
            **config["openai-compatibility"][0],
            "name": "high",
            "priority": 10,
            "api-key-entries": [{"api-key": "high"}],
        }
    )
    async with run_proxy(tmp_path, config) as px:
        await _send(px.base_url, 3)
        assert _keys_used(fake) == {"high": 3}
        fake.always(Reply(status=503), key="high")
        assert await _send(px.base_url, 3) == [200] * 3
    assert _keys_used(fake) == {"high": 4, "low": 3}


async def test_cooldowns_survive_a_restart(fake, tmp_path):
    """A key cooled by a 429 stays cooled after the proxy is killed with SIGKILL and restarted."""
    config = compat_config(fake.base_url, ["k1", "k2"], routing={"strategy": "fill-first"})
    config["port"] = free_port()
    path = tmp_path / "config.yaml"
    write_config(path, config)
    fake.once(Reply(status=429, headers={"Retry-After": "900"}), key="k1")
    proc = ProxyProcess(path)
    await proc.start()
    try:
        assert await _send(proc.base_url, 1) == [200]
        state = tmp_path / "state" / "cooldowns.json"
        await eventually(lambda: state.exists() and json.loads(state.read_text())["entries"])
        proc.kill9()
        await proc.start()
        assert await _send(proc.base_url, 4) == [200] * 4
    finally:
        proc.stop()
    assert _keys_used(fake) == {"k1": 1, "k2": 5}


@pytest.mark.parametrize("strategy", ["round-robin", "weighted-round-robin"])
async def test_concurrent_requests_all_succeed(fake, tmp_path, strategy):
    """Fifty concurrent requests succeed and use every key."""
    async with (
        run_proxy(
            tmp_path, compat_config(fake.base_url, KEYS, routing={"strategy": strategy})
        ) as px,
        aiohttp.ClientSession() as session,
    ):
        results = await asyncio.gather(*(_post(session, px.base_url) for _ in range(50)))
    assert [r[0] for r in results] == [200] * 50
    assert set(_keys_used(fake)) == set(KEYS)
