"""Every client format (official SDKs) through a Claude OAuth account: text, stream, tools,
thinking and token counting, each request checked at the Claude fake."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests.fakes.oauth.harness import OAuthFakes
from tests.fakes.wire_base import Reply
from tests.integration.proxy.harness import CLIENT_KEY, run_proxy
from tests.integration.proxy.oauth.conftest import oauth_config, seed_claude

MODEL = "claude-sonnet-4-6"
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOL = Reply(text="Let me check.", tool=("get_weather", {"city": "Paris"}), output_tokens=12)
HELLO = "Hello from claude account f@example.com."


@asynccontextmanager
async def proxy_for(tmp_path, fakes: OAuthFakes) -> AsyncIterator[str]:
    account = fakes.claude.add_account("f@example.com")
    seed_claude(tmp_path / "auths", account, fakes.claude.issue(account))
    async with run_proxy(tmp_path, oauth_config(tmp_path, fakes)) as proxy:
        yield proxy.base_url


def sent(fakes: OAuthFakes) -> dict:
    rec = fakes.log.select(provider="claude", kind="inference", status=200)[-1]
    assert "oauth-2025-04-20" in rec.headers["anthropic-beta"] and rec.query["beta"] == "true"
    assert rec.body["system"][1]["text"].startswith("You are Claude Code")
    return rec.body


async def test_openai_chat(tmp_path, oauth_fakes: OAuthFakes):
    async with (
        proxy_for(tmp_path, oauth_fakes) as url,
        openai.AsyncOpenAI(base_url=url + "/v1", api_key=CLIENT_KEY, max_retries=0) as client,
    ):
        done = await client.chat.completions.create(
            model=MODEL,
            reasoning_effort="high",
            messages=[
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "hi"},
            ],
        )
        assert done.choices[0].message.content == HELLO
        body = sent(oauth_fakes)
        assert body["thinking"]["type"] in {"enabled", "adaptive"}
        assert "Be terse." in json.dumps(body["messages"][0])
        oauth_fakes.claude.push(TOOL)
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
        stream = await client.chat.completions.create(
            model=MODEL, stream=True, tools=tools, messages=[{"role": "user", "content": "?"}]
        )
        args, finish = "", None
        async for chunk in stream:
            for choice in chunk.choices:
                for call in choice.delta.tool_calls or []:
                    args += call.function.arguments or ""
                finish = choice.finish_reason or finish
        assert json.loads(args) == {"city": "Paris"} and finish == "tool_calls"
        assert sent(oauth_fakes)["tools"][0]["name"] == "get_weather"


async def test_openai_responses(tmp_path, oauth_fakes: OAuthFakes):
    async with (
        proxy_for(tmp_path, oauth_fakes) as url,
        openai.AsyncOpenAI(base_url=url + "/v1", api_key=CLIENT_KEY, max_retries=0) as client,
    ):
        done = await client.responses.create(model=MODEL, input="hi", instructions="Be terse.")
        assert done.output_text == HELLO
        oauth_fakes.claude.push(TOOL)
        tools = [
            {"type": "function", "name": "get_weather", "parameters": WEATHER, "strict": False}
        ]
        async with client.responses.stream(model=MODEL, input="?", tools=tools) as stream:
            final = await stream.get_final_response()
        calls = [i for i in final.output if i.type == "function_call"]
        assert calls and json.loads(calls[0].arguments) == {"city": "Paris"}
        assert sent(oauth_fakes)["stream"] is True


@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
async def test_google_genai(tmp_path, oauth_fakes: OAuthFakes):
    async with proxy_for(tmp_path, oauth_fakes) as url:
        client = genai.Client(api_key=CLIENT_KEY, http_options=types.HttpOptions(base_url=url))
        try:
            done = await client.aio.models.generate_content(model=MODEL, contents="hi")
            assert done.text == HELLO
            oauth_fakes.claude.push(TOOL)
            decl = types.FunctionDeclaration(name="get_weather", parameters_json_schema=WEATHER)
            config = types.GenerateContentConfig(
                tools=[types.Tool(function_declarations=[decl])],
                automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            )
            calls = []
            async for chunk in await client.aio.models.generate_content_stream(
                model=MODEL, contents="?", config=config
            ):
                for part in chunk.candidates[0].content.parts or []:
                    if part.function_call:
                        calls.append((part.function_call.name, part.function_call.args))
            assert calls == [("get_weather", {"city": "Paris"})]
            sent(oauth_fakes)
        finally:
            await client.aio.aclose()


async def test_anthropic_thinking_stream_and_count(tmp_path, oauth_fakes: OAuthFakes):
    async with (
        proxy_for(tmp_path, oauth_fakes) as url,
        anthropic.AsyncAnthropic(base_url=url, api_key=CLIENT_KEY, max_retries=0) as client,
    ):
        oauth_fakes.claude.push(Reply(text="Done.", thinking="Pondering."))
        async with client.messages.stream(
            model=MODEL,
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "think"}],
        ) as stream:
            final = await stream.get_final_message()
        kinds = [b.type for b in final.content]
        assert kinds == ["thinking", "text"] and final.content[1].text == "Done."
        assert sent(oauth_fakes)["thinking"] == {"type": "enabled", "budget_tokens": 1024}
        counted = await client.messages.count_tokens(
            model=MODEL, messages=[{"role": "user", "content": "count me"}]
        )
        assert counted.input_tokens > 0
        (count,) = oauth_fakes.log.select(provider="claude", path="/v1/messages/count_tokens")
        assert count.status == 200 and "X-Stainless-Timeout" not in count.headers
