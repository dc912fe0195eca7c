"""The official SDKs as clients of a minimal translating gateway in front of each fake upstream.

The gateway here is ten lines of glue around services.proxy.translate (the real proxy routes are
wired elsewhere): it proves the translated bytes parse in the anthropic, openai (chat and
responses) and google-genai SDKs, for text, streams and tool calls.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
import anthropic
import openai
import pytest
from aiohttp import web
from google import genai
from google.genai import types

from services.proxy.translate import StreamTranslator, translate_request, translate_response
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.responses_upstream import FakeResponses
from tests.fakes.wire_base import FakeServer, Reply

UPSTREAMS = {"anthropic": FakeAnthropic, "gemini": FakeGemini, "responses": FakeResponses}
UPSTREAM_MODEL = {
    "anthropic": "claude-sonnet-4-5",
    "gemini": "gemini-2.5-flash",
    "responses": "gpt-5-codex",
}
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def _upstream_url(fake: FakeServer, target: str, model: str, stream: bool) -> str:
    if target == "anthropic":
        return fake.base_url + "/v1/messages"
    if target == "responses":
        return fake.base_url + "/v1/responses"
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{fake.base_url}/v1beta/models/{model}:{method}"


def gateway(fake: FakeServer, target: str) -> web.Application:
    async def relay(
        request: web.Request, source: str, stream: bool, client_model: str
    ) -> web.StreamResponse:
        body = await request.json()
        model = UPSTREAM_MODEL[target]
        upstream_body = translate_request(
            body, source=source, target=target, model=model, stream=stream
        )  # type: ignore[arg-type]
        url = _upstream_url(fake, target, model, stream)
        async with aiohttp.ClientSession() as session, session.post(url, json=upstream_body) as up:
            if not stream:
                out, _usage = translate_response(
                    await up.read(), source=target, target=source, model=client_model, request=body
                )  # type: ignore[arg-type]
                return web.Response(body=out, status=up.status, content_type="application/json")
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            translator = StreamTranslator(target, source, client_model, request=body)  # type: ignore[arg-type]
            async for chunk in up.content.iter_any():
                await response.write(translator.feed(chunk))
            await response.write(translator.finish())
            return response

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        return await relay(request, "openai", bool(body.get("stream")), body["model"])

    async def responses(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        return await relay(request, "responses", bool(body.get("stream")), body["model"])

    async def messages(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        return await relay(request, "anthropic", bool(body.get("stream")), body["model"])

    async def gemini_call(request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["call"].partition(":")
        return await relay(request, "gemini", method == "streamGenerateContent", model)

    app = web.Application()
    app.add_routes(
        [
            web.post("/v1/chat/completions", chat),
            web.post("/v1/responses", responses),
            web.post("/v1/messages", messages),
            web.post("/{version:v1beta|v1}/models/{call}", gemini_call),
        ]
    )
    return app


@asynccontextmanager
async def running(target: str) -> AsyncIterator[tuple[FakeServer, str]]:
    async with UPSTREAMS[target]() as fake:
        runner = web.AppRunner(gateway(fake, target), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield fake, f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()


TARGETS = list(UPSTREAMS)
TOOL = Reply(
    text="Let me check.", tool=("get_weather", {"city": "Paris"}), input_tokens=30, output_tokens=12
)


@pytest.mark.parametrize("target", TARGETS)
async def test_anthropic_sdk(target):
    async with running(target) as (fake, url), AsyncExitStack() as stack:
        client = anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0)
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
async def test_openai_chat_sdk(target):
    async with running(target) as (fake, url), AsyncExitStack() as stack:
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
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
        assert text == "Let me check." and json.loads(args) == {"city": "Paris"}
        assert finish == "tool_calls" and usage is not None and usage.completion_tokens == 12


@pytest.mark.parametrize("target", TARGETS)
async def test_openai_responses_sdk(target):
    async with running(target) as (fake, url), AsyncExitStack() as stack:
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
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
        assert final.output_text == "Let me check."
        assert final.usage is not None and final.usage.output_tokens == 12


# google-genai subclasses aiohttp.ClientSession, which aiohttp warns about: not our code.
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
@pytest.mark.parametrize("target", TARGETS)
async def test_google_genai_sdk(target):
    async with running(target) as (fake, url), AsyncExitStack() as stack:
        client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=url))
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
        assert text == "Let me check."
        assert [(c.name, c.args) for c in calls] == [("get_weather", {"city": "Paris"})]
        assert last is not None and last.usage_metadata.total_token_count == 42
