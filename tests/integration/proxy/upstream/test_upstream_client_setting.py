"""`lean-upstream-client`: both clients serve inference, switched by the setting at runtime."""

from __future__ import annotations

import openai
import pytest

from services.proxy.http.app_objects import EXECUTOR
from tests.fakes.openai_upstream import Reply

from ..harness import CLIENT_KEY, compat_config, run_proxy

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("lean", [True, False])
async def test_both_clients_serve_plain_and_streamed_requests(fake, tmp_path, lean):
    fake.default = Reply(text="one two")
    config = compat_config(fake.base_url, ["k"], **{"lean-upstream-client": lean})
    async with run_proxy(tmp_path, config) as px:
        client = openai.AsyncOpenAI(base_url=px.base_url + "/v1", api_key=CLIENT_KEY)
        async with client:
            reply = await client.chat.completions.create(**CHAT)
            stream = await client.chat.completions.create(**CHAT, stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            again = await client.chat.completions.create(**CHAT)
        pooled = px.app[EXECUTOR].upstream.lean.idle_count()
    assert reply.choices[0].message.content == again.choices[0].message.content == "one two"
    assert text == "one two"
    assert [r.api_key for r in fake.requests] == ["k", "k", "k"]
    # The lean client keeps its connection for the next request; aiohttp keeps its own.
    assert pooled == (1 if lean else 0)
