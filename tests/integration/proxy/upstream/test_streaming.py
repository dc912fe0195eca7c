"""Streaming through the proxy: keep-alives, in-stream errors, bootstrap retry, disconnects."""

from __future__ import annotations

import asyncio

import aiohttp
import openai
import orjson
import pytest

from services.proxy.http.app_objects import OUTBOX
from tests.fakes.openai_upstream import Reply

from ..harness import CLIENT_KEY, compat_config, eventually, run_proxy

HEADERS = {"Authorization": f"Bearer {CLIENT_KEY}"}


def _sdk(px) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=px.base_url + "/v1", api_key=CLIENT_KEY, max_retries=0)


STREAM_BODY = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": True}


async def _streamed(tmp_path, config: dict) -> bytes:
    """The raw body of one streamed chat request through a proxy running `config`."""
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        async with session.post(
            f"{px.base_url}/v1/chat/completions", json=STREAM_BODY, headers=HEADERS
        ) as resp:
            return await resp.read()


async def test_keepalive_comments_fill_upstream_silence(fake, tmp_path):
    """While the upstream is silent the client receives `: keep-alive` comments."""
    fake.default = Reply(chunks=["a", "b"], chunk_delay=0.6)
    config = compat_config(fake.base_url, ["k"], streaming={"keepalive-seconds": 0.2})
    body = await _streamed(tmp_path, config)
    assert b": keep-alive\n\n" in body
    assert body.rstrip().endswith(b"data: [DONE]")


async def test_failure_after_first_byte_becomes_an_in_stream_error(fake, tmp_path):
    """An upstream cut mid-stream reaches the SDK as an APIError, after the text so far."""
    fake.default = Reply(chunks=["one ", "two ", "three"], cut_after=2)
    async with run_proxy(tmp_path, compat_config(fake.base_url, ["k"])) as px:
        async with _sdk(px) as client:
            stream = await client.chat.completions.create(**STREAM_BODY)
            seen = []
            with pytest.raises(openai.APIError):
                async for chunk in stream:
                    seen.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(seen).startswith("one")


async def test_bootstrap_retry_moves_a_dead_stream_to_another_key(fake, tmp_path):
    """A stream that dies before its first byte is retried on the next key, invisibly."""
    fake.once(Reply(cut_after=0), key="k1")
    config = compat_config(fake.base_url, ["k1", "k2"], routing={"strategy": "fill-first"})
    async with run_proxy(tmp_path, config) as px, _sdk(px) as client:
        stream = await client.chat.completions.create(**STREAM_BODY)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == Reply().text
    assert [r.api_key for r in fake.requests] == ["k1", "k2"]


async def test_client_disconnect_cancels_the_upstream_request(fake, tmp_path):
    """When the client hangs up mid-stream, the proxy drops its upstream connection at once."""
    fake.default = Reply(chunks=["x", "y", "z"], hang_after=1)
    async with run_proxy(tmp_path, compat_config(fake.base_url, ["k"])) as px:
        session = aiohttp.ClientSession()
        resp = await session.post(
            f"{px.base_url}/v1/chat/completions", json=STREAM_BODY, headers=HEADERS
        )
        assert (await resp.content.readany()).startswith(b"data: ")
        resp.close()
        await session.close()
        await asyncio.wait_for(fake.disconnected.wait(), 5)

        async def recorded():
            lines, _ = await px.app[OUTBOX].read(0, 10)
            return lines

        lines = await eventually(recorded)
    fake.release()
    events = [orjson.loads(line) for line in lines]
    assert events and events[-1]["failed"] is True and events[-1]["status_code"] == 499


async def test_first_byte_timeout_fails_over_to_the_next_key(fake, tmp_path):
    """An upstream slower than timeouts.first-byte is abandoned for the next key."""
    fake.always(Reply(headers_delay=2.0), key="slow")
    config = compat_config(
        fake.base_url,
        ["slow", "fast"],
        routing={"strategy": "fill-first"},
        timeouts={"first-byte": 0.3},
    )
    async with run_proxy(tmp_path, config) as px:
        async with _sdk(px) as client:
            reply = await client.chat.completions.create(**{**STREAM_BODY, "stream": False})
    assert reply.choices[0].message.content == Reply().text
    assert [r.api_key for r in fake.requests] == ["slow", "fast"]


async def test_idle_timeout_ends_a_stalled_stream_with_an_error(fake, tmp_path):
    """A stream that stalls longer than timeouts.idle ends with an in-stream error."""
    fake.default = Reply(chunks=["a", "b", "c"], hang_after=1)
    config = compat_config(fake.base_url, ["k"], timeouts={"idle": 0.3})
    body = await _streamed(tmp_path, config)
    fake.release()
    assert b"upstream idle timeout" in body and body.rstrip().endswith(b"data: [DONE]")
