"""The fake OpenAI upstream speaks the real wire format (checked with the SDK) and obeys scripts."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import openai
import pytest

from tests.fakes.openai_upstream import FakeOpenAI, Reply, ToolCall

MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.fixture
async def fake():
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def sdk(fake):
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-test-key", max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def _sse_frames(response: aiohttp.ClientResponse) -> list[bytes]:
    frames = []
    async for line in response.content:
        if line.startswith(b"data: "):
            frames.append(line[6:].strip())
    return frames


class TestChat:
    async def test_non_stream_answer_and_usage(self, fake, sdk):
        """A plain answer carries OpenAI's fields and every usage detail."""
        fake.default = Reply(
            text="Four.", prompt_tokens=30, completion_tokens=5, cached_tokens=8, reasoning_tokens=2
        )
        answer = await sdk.chat.completions.create(model="gpt-fake", messages=MESSAGES)
        assert answer.id.startswith("chatcmpl-")
        assert answer.object == "chat.completion"
        assert answer.model == "gpt-fake"
        assert answer.choices[0].message.content == "Four."
        assert answer.choices[0].finish_reason == "stop"
        assert answer.usage is not None
        assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (30, 5)
        assert answer.usage.total_tokens == 35
        assert answer.usage.prompt_tokens_details.cached_tokens == 8
        assert answer.usage.completion_tokens_details.reasoning_tokens == 2

    async def test_request_is_recorded(self, fake, sdk):
        """Method, path, headers, parsed body and Bearer key of each request are kept."""
        await sdk.chat.completions.create(model="gpt-fake", messages=MESSAGES, temperature=0.5)
        (seen,) = fake.requests
        assert (seen.method, seen.path, seen.api_key) == (
            "POST",
            "/v1/chat/completions",
            "sk-test-key",
        )
        assert seen.body["temperature"] == 0.5
        assert seen.headers["authorization"] == "Bearer sk-test-key"

    async def test_stream_without_usage_by_default(self, fake, sdk):
        """A stream without include_usage has no usage chunk; the deltas rebuild the text."""
        fake.default = Reply(text="one two three")
        stream = await sdk.chat.completions.create(model="gpt-fake", messages=MESSAGES, stream=True)
        chunks = [chunk async for chunk in stream]
        assert (
            "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            == "one two three"
        )
        assert all(c.usage is None for c in chunks)
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert all(c.object == "chat.completion.chunk" for c in chunks)
        assert len({c.id for c in chunks}) == 1

    async def test_stream_usage_chunk_when_asked(self, fake, sdk):
        """include_usage adds a final chunk with empty choices and the token counts."""
        fake.default = Reply(prompt_tokens=3, completion_tokens=4, cached_tokens=1)
        stream = await sdk.chat.completions.create(
            model="gpt-fake",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        assert chunks[-1].choices == []
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.total_tokens == 7
        assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 1
        assert all(c.usage is None for c in chunks[:-1])

    @pytest.mark.parametrize(
        ("policy", "asked", "expected"), [("always", False, True), ("never", True, False)]
    )
    async def test_usage_chunk_can_be_forced(self, fake, http, policy, asked, expected):
        """Reply.usage overrides what the request asked for."""
        fake.default = Reply(usage=policy)
        body = {"model": "m", "messages": MESSAGES, "stream": True}
        if asked:
            body["stream_options"] = {"include_usage": True}
        async with http.post(f"{fake.base_url}/chat/completions", json=body) as response:
            frames = await _sse_frames(response)
        assert frames[-1] == b"[DONE]"
        assert (b'"usage":{' in frames[-2]) is expected

    async def test_tool_calls(self, fake, sdk):
        """Tool calls come whole in a plain answer and as argument deltas in a stream."""
        call = ToolCall("get_weather", '{"city": "Paris", "unit": "celsius"}')
        fake.default = Reply(tool_calls=[call])
        answer = await sdk.chat.completions.create(model="gpt-fake", messages=MESSAGES)
        (whole,) = answer.choices[0].message.tool_calls
        assert (whole.id, whole.function.name, whole.function.arguments) == (
            call.id,
            call.name,
            call.arguments,
        )
        assert answer.choices[0].finish_reason == "tool_calls"

        stream = await sdk.chat.completions.create(model="gpt-fake", messages=MESSAGES, stream=True)
        deltas = [c.choices[0].delta.tool_calls async for c in stream if c.choices]
        pieces = [d[0].function.arguments for d in deltas if d]
        assert len(pieces) > 2
        assert "".join(pieces) == call.arguments
        assert deltas[1][0].id == call.id


class TestOtherRoutes:
    async def test_legacy_completions(self, fake, sdk):
        """/v1/completions answers in the text_completion shape, streamed or not."""
        fake.default = Reply(text="a b c")
        answer = await sdk.completions.create(model="gpt-fake", prompt="say abc")
        assert answer.object == "text_completion"
        assert answer.choices[0].text == "a b c"
        assert answer.usage is not None
        assert answer.usage.total_tokens == 21

        stream = await sdk.completions.create(
            model="gpt-fake", prompt="say abc", stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
        assert "".join(c.choices[0].text for c in chunks if c.choices) == "a b c"
        assert chunks[-1].usage is not None

    async def test_models(self, sdk):
        """GET /v1/models lists the configured models."""
        page = await sdk.models.list()
        assert [m.id for m in page.data] == ["gpt-fake", "gpt-fake-mini"]

    @pytest.mark.parametrize(
        ("data", "message"), [(b"{nope", "parse"), (b'{"messages": []}', "model")]
    )
    async def test_bad_requests_get_400(self, fake, http, data, message):
        """Broken JSON or a missing model get OpenAI's 400 error."""
        async with http.post(f"{fake.base_url}/chat/completions", data=data) as response:
            assert response.status == 400
            assert message in (await response.json())["error"]["message"]

    async def test_unknown_path_404(self, fake, http):
        async with http.get(f"{fake.base_url}/embeddings") as response:
            assert response.status == 404
            assert "error" in await response.json()


class TestScripts:
    async def test_rule_order(self, fake, sdk):
        """One-shot rules first (FIFO), then the newest `always` rule, then the default."""
        fake.default = Reply(text="default")
        fake.always(Reply(text="old rule"), model="gpt-fake")
        fake.always(Reply(text="new rule"), model="gpt-fake")
        fake.once(Reply(text="first"))
        fake.once(Reply(text="second"))
        fake.once(Reply(text="other key"), key="sk-other")
        texts = []
        for model in ("gpt-fake", "gpt-fake", "gpt-fake", "gpt-fake-mini"):
            answer = await sdk.chat.completions.create(model=model, messages=MESSAGES)
            texts.append(answer.choices[0].message.content)
        assert texts == ["first", "second", "new rule", "default"]

    async def test_error_status_with_retry_after(self, fake, sdk, http):
        """A scripted 429 arrives with its headers and as the SDK's RateLimitError."""
        fake.always(Reply(status=429, headers={"Retry-After": "7"}), key="sk-test-key")
        with pytest.raises(openai.RateLimitError) as caught:
            await sdk.chat.completions.create(model="gpt-fake", messages=MESSAGES)
        assert caught.value.response.headers["retry-after"] == "7"
        assert caught.value.code == "rate_limit_exceeded"
        async with http.post(
            f"{fake.base_url}/chat/completions", json={"model": "x", "messages": MESSAGES}
        ) as response:
            assert response.status == 200  # another key is unaffected

    async def test_custom_body_and_raw(self, fake, http):
        """A JSON body or raw bytes replace the generated answer."""
        fake.once(Reply(status=418, body={"teapot": True}))
        fake.once(Reply(raw=b"not json at all"))
        url = f"{fake.base_url}/chat/completions"
        async with http.post(url, json={"model": "x", "messages": MESSAGES}) as response:
            assert (response.status, await response.json()) == (418, {"teapot": True})
        async with http.post(url, json={"model": "x", "messages": MESSAGES}) as response:
            assert await response.read() == b"not json at all"

    async def test_headers_delay(self, fake, sdk):
        """headers_delay holds the answer back at least that long."""
        fake.default = Reply(headers_delay=0.2)
        started = time.monotonic()
        await sdk.chat.completions.create(model="gpt-fake", messages=MESSAGES)
        assert time.monotonic() - started >= 0.2

    async def test_cut_mid_stream(self, fake, http):
        """cut_after=N delivers N frames and then drops the connection."""
        fake.default = Reply(text="a b c d e f", cut_after=3)
        body = {"model": "m", "messages": MESSAGES, "stream": True}
        frames = []
        with pytest.raises(aiohttp.ClientPayloadError):
            async with http.post(f"{fake.base_url}/chat/completions", json=body) as response:
                async for line in response.content:
                    if line.startswith(b"data: "):
                        frames.append(line)
        assert len(frames) == 3

    async def test_hang_until_released(self, fake, http):
        """hang_after=N stops after N frames until release(); then the stream completes."""
        fake.default = Reply(text="x y", hang_after=1)
        body = {"model": "m", "messages": MESSAGES, "stream": True}
        async with http.post(f"{fake.base_url}/chat/completions", json=body) as response:
            first = await response.content.readline()
            assert first.startswith(b"data: ")
            await asyncio.wait_for(fake.hanging.wait(), timeout=5)
            fake.release()
            rest = await _sse_frames(response)
        assert rest[-1] == b"[DONE]"
        assert not fake.disconnected.is_set()

    async def test_client_disconnect_is_seen(self, fake, http):
        """A client leaving mid-stream sets `disconnected` and marks the recorded request."""
        fake.default = Reply(hang_after=1)
        body = {"model": "m", "messages": MESSAGES, "stream": True}
        async with http.post(f"{fake.base_url}/chat/completions", json=body) as response:
            await response.content.readline()
            await asyncio.wait_for(fake.hanging.wait(), timeout=5)
            response.close()  # drops the connection
        await asyncio.wait_for(fake.disconnected.wait(), timeout=5)
        assert fake.requests[-1].disconnected

    async def test_chunk_delay(self, fake, http):
        """chunk_delay spaces the frames out."""
        fake.default = Reply(text="a b c", chunk_delay=0.05)
        body = {"model": "m", "messages": MESSAGES, "stream": True}
        started = time.monotonic()
        async with http.post(f"{fake.base_url}/chat/completions", json=body) as response:
            frames = await _sse_frames(response)
        assert time.monotonic() - started >= 0.05 * (len(frames) - 1)

    async def test_disconnect_before_headers_is_seen(self, fake, http):
        """A client giving up while the fake delays its headers also sets `disconnected`."""
        fake.default = Reply(headers_delay=30)
        with pytest.raises(asyncio.TimeoutError):
            await http.post(
                f"{fake.base_url}/chat/completions",
                json={"model": "m", "messages": MESSAGES},
                timeout=aiohttp.ClientTimeout(total=0.2),
            )
        await asyncio.wait_for(fake.disconnected.wait(), timeout=5)
