"""The official SDKs (anthropic, openai chat and responses, google-genai) as clients of the real
proxy, each against each upstream kind: text, stream and a tool-call round trip.

Every client format meets every upstream format here: same-format pairs go through the
passthrough path, the others through the translator.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp
import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests.fakes import openai_upstream
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.responses_upstream import FakeResponses
from tests.fakes.wire_base import Reply

from ..harness import CLIENT_KEY, run_proxy

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CLIENT_MODELS = ("claude-client", "gpt-client", "gemini-client")


class OpenAIUpstream:
    """FakeOpenAI behind the same small interface as the other fakes (push, last)."""

    def __init__(self) -> None:
        self._fake = openai_upstream.FakeOpenAI()
        self.base_url = ""

    async def __aenter__(self) -> OpenAIUpstream:
        await self._fake.__aenter__()
        self.base_url = self._fake.base_url
        self._fake.default = openai_upstream.Reply(prompt_tokens=11, completion_tokens=7)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._fake.__aexit__(*exc)

    def push(self, reply: Reply) -> None:
        self._fake.once(openai_upstream.reply_from(reply))

    @property
    def last(self):
        return self._fake.requests[-1]


UPSTREAMS = {
    "anthropic": (FakeAnthropic, "claude-api-key", "claude-sonnet-4-5", ""),
    "gemini": (FakeGemini, "gemini-api-key", "gemini-2.5-flash", ""),
    "responses": (FakeResponses, "codex-api-key", "gpt-5-codex", "/v1"),
    "openai": (OpenAIUpstream, "openai-compatibility", "gpt-test", ""),
}


def _config(kind: str, base_url: str) -> dict:
    _, section, model, suffix = UPSTREAMS[kind]
    models = [{"name": model, "alias": alias} for alias in CLIENT_MODELS]
    if section == "openai-compatibility":
        entry = {
            "name": "compat",
            "base-url": base_url,
            "api-key-entries": [{"api-key": "up"}],
            "models": models,
        }
    else:
        entry = {"api-key": "up-key", "base-url": base_url + suffix, "models": models}
    return {"api-keys": [CLIENT_KEY], section: [entry], "request-retry": 0}


def tool_text(target: str) -> str:
    """Text sent beside a tool call; the OpenAI fake sends none, as OpenAI models usually do."""
    return "" if target == "openai" else "Let me check."


@asynccontextmanager
async def running(target: str, tmp_path: Path) -> AsyncIterator[tuple[object, str]]:
    async with UPSTREAMS[target][0]() as fake:
        async with run_proxy(tmp_path, _config(target, fake.base_url)) as px:
            yield fake, px.base_url


TARGETS = list(UPSTREAMS)
TOOL = Reply(
    text="Let me check.", tool=("get_weather", {"city": "Paris"}), input_tokens=30, output_tokens=12
)


@pytest.mark.parametrize("target", TARGETS)
async def test_anthropic_sdk(target, tmp_path):
    async with running(target, tmp_path) as (fake, url), AsyncExitStack() as stack:
        client = anthropic.AsyncAnthropic(base_url=url, api_key=CLIENT_KEY, max_retries=0)
        stack.push_async_callback(client.close)
        msg = await client.messages.create(
            model="claude-client", max_tokens=200, messages=[{"role": "user", "content": "hi"}]
        )
        assert (
            msg.content[0].text == "Hello from the fake upstream." and msg.stop_reason == "end_turn"
        )
        assert msg.usage.output_tokens == 7
        fake.push(TOOL)
        tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER}]
        async with client.messages.stream(
            model="claude-client",
            max_tokens=200,
            tools=tools,
            messages=[{"role": "user", "content": "weather?"}],
        ) as stream:
            final = await stream.get_final_message()
        assert final.stop_reason == "tool_use" and final.usage.output_tokens == 12
        call = next(b for b in final.content if b.type == "tool_use")
        assert (call.name, call.input) == ("get_weather", {"city": "Paris"})
        # The tool result goes back upstream in the upstream's own format.
        await client.messages.create(
            model="claude-client",
            max_tokens=200,
            tools=tools,
            messages=[
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": call.id,
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        }
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C"}],
                },
            ],
        )
        assert "18C" in json.dumps(fake.last.body)


@pytest.mark.parametrize("target", TARGETS)
async def test_openai_chat_sdk(target, tmp_path):
    async with running(target, tmp_path) as (fake, url), AsyncExitStack() as stack:
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key=CLIENT_KEY, max_retries=0)
        stack.push_async_callback(client.close)
        done = await client.chat.completions.create(
            model="gpt-client", messages=[{"role": "user", "content": "hi"}]
        )
        assert done.choices[0].message.content == "Hello from the fake upstream."
        assert done.usage is not None and done.usage.completion_tokens == 7
        fake.push(TOOL)
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
        stream = await client.chat.completions.create(
            model="gpt-client",
            stream=True,
            stream_options={"include_usage": True},
            tools=tools,
            messages=[{"role": "user", "content": "weather?"}],
        )
        text, args, finish, usage = "", "", None, None
        async for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for choice in chunk.choices:
                text += choice.delta.content or ""
                for call in choice.delta.tool_calls or []:
                    args += call.function.arguments or ""
                finish = choice.finish_reason or finish
        assert text == tool_text(target) and json.loads(args) == {"city": "Paris"}
        assert finish == "tool_calls" and usage is not None and usage.completion_tokens == 12


@pytest.mark.parametrize("target", TARGETS)
async def test_openai_responses_sdk(target, tmp_path):
    async with running(target, tmp_path) as (fake, url), AsyncExitStack() as stack:
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key=CLIENT_KEY, max_retries=0)
        stack.push_async_callback(client.close)
        done = await client.responses.create(model="gpt-client", input="hi")
        assert done.output_text == "Hello from the fake upstream."
        fake.push(TOOL)
        tools = [
            {"type": "function", "name": "get_weather", "parameters": WEATHER, "strict": False}
        ]
        async with client.responses.stream(
            model="gpt-client", input="weather?", tools=tools
        ) as stream:
            final = await stream.get_final_response()
        calls = [i for i in final.output if i.type == "function_call"]
        assert calls and json.loads(calls[0].arguments) == {"city": "Paris"}
        assert final.output_text == tool_text(target)
        assert final.usage is not None and final.usage.output_tokens == 12


# google-genai subclasses aiohttp.ClientSession, which aiohttp warns about: not our code.
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
@pytest.mark.parametrize("target", TARGETS)
async def test_google_genai_sdk(target, tmp_path):
    async with running(target, tmp_path) as (fake, url), AsyncExitStack() as stack:
        client = genai.Client(api_key=CLIENT_KEY, http_options=types.HttpOptions(base_url=url))
        stack.push_async_callback(client.aio.aclose)
        done = await client.aio.models.generate_content(model="gemini-client", contents="hi")
        assert done.text == "Hello from the fake upstream."
        assert done.usage_metadata is not None and done.usage_metadata.candidates_token_count == 7
        fake.push(TOOL)
        decl = types.FunctionDeclaration(
            name="get_weather", description="Weather", parameters_json_schema=WEATHER
        )
        config = types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=[decl])],
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        text, calls, last = "", [], None
        async for chunk in await client.aio.models.generate_content_stream(
            model="gemini-client", contents="weather?", config=config
        ):
            last = chunk
            for part in chunk.candidates[0].content.parts or []:
                text += part.text or ""
                if part.function_call:
                    calls.append(part.function_call)
        assert text == tool_text(target)
        assert [(c.name, c.args) for c in calls] == [("get_weather", {"city": "Paris"})]
        assert last is not None and last.usage_metadata.total_token_count == 42


@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
async def test_models_list_every_upstream_kind_in_each_shape(tmp_path):
    """/v1/models lists ids of every upstream kind: OpenAI's shape, or Anthropic's when asked."""
    config = {"api-keys": [CLIENT_KEY]}
    for kind in ("anthropic", "gemini", "responses", "openai"):
        _, section, model, _ = UPSTREAMS[kind]
        entry = _config(kind, "http://127.0.0.1:9")[section][0]
        entry["models"] = [{"name": model, "alias": f"{kind}-model"}]
        config.setdefault(section, []).append(entry)
    async with run_proxy(tmp_path, config) as px:
        async with openai.AsyncOpenAI(base_url=px.base_url + "/v1", api_key=CLIENT_KEY) as oa:
            ids = {m.id for m in (await oa.models.list()).data}
        async with anthropic.AsyncAnthropic(base_url=px.base_url, api_key=CLIENT_KEY) as an:
            page = await an.models.list()
        genai_client = genai.Client(
            api_key=CLIENT_KEY,
            http_options=types.HttpOptions(base_url=px.base_url, api_version="v1beta"),
        )
        gemini_names = [m.name async for m in await genai_client.aio.models.list()]
        await genai_client.aio.aclose()
    expected = {f"{kind}-model" for kind in UPSTREAMS}
    assert ids == expected
    assert {m.id for m in page.data} == expected and all(m.type == "model" for m in page.data)
    assert {n.removeprefix("models/") for n in gemini_names} == expected


@pytest.mark.parametrize("target", ["gemini", "anthropic"])
async def test_gemini_stream_with_alt_json_is_one_json_array(target, tmp_path):
    """streamGenerateContent?alt=json answers one JSON array (no alt, or alt=sse: SSE)."""
    async with running(target, tmp_path) as (_fake, url), aiohttp.ClientSession() as session:
        async with session.post(
            f"{url}/v1beta/models/gemini-client:streamGenerateContent?alt=json",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
            headers={"x-goog-api-key": CLIENT_KEY},
        ) as resp:
            assert resp.status == 200
            items = json.loads(await resp.read())
    assert isinstance(items, list) and len(items) > 1
    text = "".join(
        part.get("text", "")
        for item in items
        for part in item["candidates"][0]["content"].get("parts", [])
    )
    assert text == "Hello from the fake upstream."
    assert items[-1]["usageMetadata"]["candidatesTokenCount"] == 7
