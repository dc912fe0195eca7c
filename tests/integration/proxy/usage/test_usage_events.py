"""Usage events: one per upstream attempt, real token counts, durable across kill -9."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from tests.conftest import free_port
from tests.fakes.openai_upstream import Reply

from ..harness import (
    CLIENT_KEY,
    COLLECTOR_KEY,
    ProxyProcess,
    compat_config,
    run_proxy,
    write_config,
)

HEADERS = {"Authorization": f"Bearer {CLIENT_KEY}"}
COLLECTOR = {"Authorization": f"Bearer {COLLECTOR_KEY}"}


def _body(stream: bool, usage: bool) -> dict:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    if usage:
        body["stream_options"] = {"include_usage": True}
    return body


async def _events(session, base: str, after: int = 0) -> dict:
    async with session.get(
        f"{base}/v0/usage/events", params={"after": after, "limit": 1000}, headers=COLLECTOR
    ) as resp:
        assert resp.status == 200
        return await resp.json()


@pytest.mark.parametrize(("stream", "usage"), [(False, False), (True, False), (True, True)])
async def test_each_request_gives_one_event_with_upstream_tokens(fake, tmp_path, stream, usage):
    """N requests give N events carrying the upstream's token counts, streamed or not."""
    fake.default = Reply(prompt_tokens=21, completion_tokens=8, cached_tokens=5, reasoning_tokens=2)
    async with run_proxy(tmp_path, compat_config(fake.base_url, ["up-secret-key-1"])) as px:
        async with aiohttp.ClientSession() as session:
            for _ in range(4):
                async with session.post(
                    f"{px.base_url}/v1/chat/completions", json=_body(stream, usage), headers=HEADERS
                ) as resp:
                    assert resp.status == 200
                    await resp.read()
            page = await _events(session, px.base_url)
    events = page["events"]
    assert len(events) == 4
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    for event in events:
        assert event["tokens"]["input_tokens"] == 21
        assert event["tokens"]["output_tokens"] == 8
        assert event["tokens"]["cached_tokens"] == 5
        assert event["tokens"]["reasoning_tokens"] == 2
        assert event["stream"] is stream and event["failed"] is False
        assert event["model"] == "gpt-test" and event["endpoint"] == "POST /v1/chat/completions"
        assert len(event["api_key_id"]) == 16 and len(event["auth_index"]) == 16


async def test_failed_attempts_are_events_too(fake, tmp_path):
    """A failover produces one failed event for the first key and one success for the second."""
    fake.once(Reply(status=500), key="k1")
    config = compat_config(fake.base_url, ["k1", "k2"], routing={"strategy": "fill-first"})
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        async with session.post(
            f"{px.base_url}/v1/chat/completions", json=_body(False, False), headers=HEADERS
        ) as resp:
            assert resp.status == 200
        events = (await _events(session, px.base_url))["events"]
    assert [(e["failed"], e["status_code"]) for e in events] == [(True, 500), (False, 200)]
    assert events[0]["request_id"] == events[1]["request_id"]


async def test_ack_removes_events(fake, tmp_path):
    """After an ack the events up to that seq are no longer served."""
    async with (
        run_proxy(tmp_path, compat_config(fake.base_url, ["k"])) as px,
        aiohttp.ClientSession() as session,
    ):
        for _ in range(3):
            async with session.post(
                f"{px.base_url}/v1/chat/completions", json=_body(False, False), headers=HEADERS
            ) as resp:
                await resp.read()
        page = await _events(session, px.base_url)
        async with session.post(
            f"{px.base_url}/v0/usage/ack",
            json={"instance_id": page["instance_id"], "upto": 2},
            headers=COLLECTOR,
        ) as resp:
            assert (await resp.json())["acked"] == 2
        assert [e["seq"] for e in (await _events(session, px.base_url))["events"]] == [3]


async def test_events_survive_kill_9_and_no_secret_leaks(fake, tmp_path):
    """Every event of a completed response is served after SIGKILL; no key appears anywhere."""
    provider_key = "sk-provider-secret-abcdefghijklmnop"
    config = compat_config(fake.base_url, [provider_key])
    config["port"] = free_port()
    path = tmp_path / "config.yaml"
    write_config(path, config)
    proc = ProxyProcess(path)
    await proc.start()
    try:
        async with aiohttp.ClientSession() as session:
            for i in range(10):
                body = _body(stream=i % 2 == 0, usage=False)
                async with session.post(
                    f"{proc.base_url}/v1/chat/completions", json=body, headers=HEADERS
                ) as resp:
                    assert resp.status == 200
                    await resp.read()
            async with session.post(
                f"{proc.base_url}/v1/chat/completions",
                json=_body(False, False),
                headers={"Authorization": "Bearer sk-wrong-key-zzzzzzzz"},
            ) as resp:
                assert resp.status == 401
            proc.kill9()
            await proc.start()
            page = await _events(session, proc.base_url)
    finally:
        proc.stop()
    assert [e["seq"] for e in page["events"]] == list(range(1, 11))
    everything = orjson.dumps(page).decode() + proc.logs()
    for secret in (CLIENT_KEY, provider_key, "sk-wrong-key-zzzzzzzz"):
        assert secret not in everything
    for event in page["events"]:
        assert set(event) >= {
            "event_id",
            "instance_id",
            "seq",
            "timestamp",
            "request_id",
            "api_key_id",
            "provider",
            "auth_index",
            "source",
            "model",
            "alias",
            "latency_ms",
            "failed",
            "status_code",
            "tokens",
            "stream",
        }
