"""The official openai SDK as the client of a real proxy in front of the fake upstream."""

from __future__ import annotations

import json

import openai
import pytest

from tests.fakes.openai_upstream import Reply, ToolCall

from ..harness import CLIENT_KEY, compat_config, run_proxy


@pytest.fixture
async def proxy(fake, tmp_path):
    async with run_proxy(tmp_path, compat_config(fake.base_url, ["up-key-1"])) as px:
        yield px


@pytest.fixture
async def client(proxy):
    async with openai.AsyncOpenAI(
        base_url=proxy.base_url + "/v1", api_key=CLIENT_KEY, max_retries=0
    ) as sdk:
        yield sdk


async def test_non_stream_answer_and_usage(fake, client):
    """A non-stream chat answer arrives with the upstream's text and token counts."""
    fake.default = Reply(text="Hello there", prompt_tokens=11, completion_tokens=4)
    reply = await client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "Hello there"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (11, 4)
    assert fake.requests[-1].api_key == "up-key-1"


async def test_alias_is_sent_upstream_as_the_real_model(fake, client):
    """A model alias reaches the upstream under the model's real name."""
    await client.chat.completions.create(
        model="alias-model", messages=[{"role": "user", "content": "x"}]
    )
    assert fake.requests[-1].body["model"] == "gpt-test"


async def test_stream_relays_chunks_without_the_injected_usage_chunk(fake, client):
    """A stream without include_usage shows no usage chunk, though the upstream sent one."""
    fake.default = Reply(chunks=["Hel", "lo ", "world"])
    stream = await client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello world"
    assert all(c.usage is None for c in chunks)
    assert fake.requests[-1].body["stream_options"] == {"include_usage": True}


async def test_stream_with_usage_requested_by_the_client(fake, client):
    """When the client asks for usage it gets the upstream's usage chunk."""
    fake.default = Reply(prompt_tokens=5, completion_tokens=3)
    stream = await client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = [c.usage async for c in stream if c.usage is not None]
    assert len(usage) == 1 and usage[0].completion_tokens == 3


async def test_tool_calls_pass_through(fake, client):
    """Tool calls come back intact, non-stream and as streamed argument deltas."""
    call = ToolCall(name="get_weather", arguments='{"city": "Paris", "unit": "c"}')
    fake.default = Reply(tool_calls=[call])
    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]
    reply = await client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "weather?"}], tools=tools
    )
    got = reply.choices[0].message.tool_calls[0]
    assert (got.function.name, json.loads(got.function.arguments)) == (
        "get_weather",
        {"city": "Paris", "unit": "c"},
    )
    assert fake.requests[-1].body["tools"] == tools

    stream = await client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "weather?"}],
        tools=tools,
        stream=True,
    )
    args, finish = "", None
    async for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                args += delta.function.arguments or ""
            finish = choice.finish_reason or finish
    assert json.loads(args) == {"city": "Paris", "unit": "c"}
    assert finish == "tool_calls"


async def test_legacy_completions_are_served_through_chat(fake, client):
    """/v1/completions is mapped onto the upstream's chat endpoint and back."""
    fake.default = Reply(text="four")
    reply = await client.completions.create(model="gpt-test", prompt="2+2=")
    assert reply.choices[0].text == "four"
    assert fake.requests[-1].path.endswith("/chat/completions")
    assert fake.requests[-1].body["messages"] == [{"role": "user", "content": "2+2="}]
    stream = await client.completions.create(model="gpt-test", prompt="2+2=", stream=True)
    assert "".join([c.choices[0].text async for c in stream if c.choices]) == "four"


async def test_models_lists_configured_ids(client):
    """/v1/models lists every id that has a credential."""
    models = await client.models.list()
    assert {m.id for m in models.data} == {"gpt-test", "alias-model"}


async def test_error_statuses_become_sdk_exceptions(fake, client, proxy):
    """Upstream and proxy errors arrive as the SDK's typed exceptions."""
    fake.once(
        Reply(status=400, body={"error": {"message": "bad field", "type": "invalid_request_error"}})
    )
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model="gpt-test", messages=[])
    assert "bad field" in str(bad.value)
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="missing-model", messages=[])
    async with openai.AsyncOpenAI(
        base_url=proxy.base_url + "/v1", api_key="sk-wrong", max_retries=0
    ) as wrong:
        with pytest.raises(openai.AuthenticationError):
            await wrong.chat.completions.create(model="gpt-test", messages=[])
    fake.always(Reply(status=503, body={"error": {"message": "overloaded"}}))
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="gpt-test", messages=[])
