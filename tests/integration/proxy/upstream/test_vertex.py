"""`vertex-api-key`: Vertex AI's Gemini API with an API key (express mode) as an upstream kind.

The proxy calls `<base-url>/v1/publishers/google/models/<model>:<method>` with the key in
`x-goog-api-key` (never in the URL), translated exactly like Gemini; official SDKs as clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import openai
import pytest
from google import genai
from google.genai import types

from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.wire_base import Reply

from ..harness import CLIENT_KEY, MANAGEMENT_KEY, run_proxy

UPSTREAM_KEY = "vertex-express-key-0123"
ROOT = "/v1/publishers/google/models/gemini-2.5-flash"
ADMIN = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}


def vertex_config(base_url: str) -> dict:
    entry = {
        "api-key": UPSTREAM_KEY,
        "base-url": base_url,
        "models": [{"name": "gemini-2.5-flash", "alias": "vertex-flash"}],
        "headers": {"X-Team": "blue"},
    }
    return {"api-keys": [CLIENT_KEY], "vertex-api-key": [entry], "request-retry": 0}


@asynccontextmanager
async def vertex_proxy(tmp_path: Path) -> AsyncIterator[tuple[FakeGemini, str]]:
    async with FakeGemini(api_key=UPSTREAM_KEY) as fake:
        async with run_proxy(tmp_path, vertex_config(fake.base_url)) as px:
            yield fake, px.base_url


def assert_vertex_call(fake: FakeGemini, method: str) -> None:
    last = fake.last
    assert last.path == f"{ROOT}:{method}"
    assert last.headers["x-goog-api-key"] == UPSTREAM_KEY
    assert "key" not in last.query
    assert last.headers["X-Team"] == "blue"


# google-genai subclasses aiohttp.ClientSession, which aiohttp warns about: not our code.
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
async def test_google_genai_sdk_through_a_vertex_key(tmp_path):
    async with vertex_proxy(tmp_path) as (fake, url):
        client = genai.Client(api_key=CLIENT_KEY, http_options=types.HttpOptions(base_url=url))
        try:
            done = await client.aio.models.generate_content(model="vertex-flash", contents="hi")
            assert done.text == "Hello from the fake upstream."
            assert done.usage_metadata is not None
            assert done.usage_metadata.candidates_token_count == 7
            assert_vertex_call(fake, "generateContent")
            assert fake.last.body["contents"][0]["parts"][0]["text"] == "hi"
            text = ""
            async for chunk in await client.aio.models.generate_content_stream(
                model="vertex-flash", contents="stream please"
            ):
                text += chunk.text or ""
            assert text == "Hello from the fake upstream."
            assert_vertex_call(fake, "streamGenerateContent")
            assert fake.last.query == {"alt": "sse"}
            counted = await client.aio.models.count_tokens(model="vertex-flash", contents="hi")
            assert counted.total_tokens is not None and counted.total_tokens > 0
            assert_vertex_call(fake, "countTokens")
        finally:
            await client.aio.aclose()


async def test_openai_sdk_through_a_vertex_key(tmp_path):
    async with vertex_proxy(tmp_path) as (fake, url):
        async with openai.AsyncOpenAI(base_url=url + "/v1", api_key=CLIENT_KEY) as client:
            done = await client.chat.completions.create(
                model="vertex-flash", messages=[{"role": "user", "content": "hi"}]
            )
            assert done.choices[0].message.content == "Hello from the fake upstream."
            assert done.usage is not None and done.usage.completion_tokens == 7
            assert_vertex_call(fake, "generateContent")
            fake.push(Reply(text="streamed through vertex", chunk=5))
            stream = await client.chat.completions.create(
                model="vertex-flash",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
            )
            parts = [c.choices[0].delta.content async for c in stream if c.choices]
            assert "".join(p for p in parts if p) == "streamed through vertex"
            assert_vertex_call(fake, "streamGenerateContent")
            ids = {m.id for m in (await client.models.list()).data}
            assert "vertex-flash" in ids


async def test_a_rejected_vertex_key_is_an_error_in_the_clients_format(tmp_path):
    async with FakeGemini(api_key="another-key") as fake:
        async with run_proxy(tmp_path, vertex_config(fake.base_url)) as px:
            async with openai.AsyncOpenAI(
                base_url=px.base_url + "/v1", api_key=CLIENT_KEY, max_retries=0
            ) as client:
                with pytest.raises(openai.AuthenticationError):
                    await client.chat.completions.create(
                        model="vertex-flash", messages=[{"role": "user", "content": "hi"}]
                    )


async def test_usage_of_a_vertex_key_carries_its_listed_auth_index(tmp_path):
    """The auth-index GET /vertex-api-key shows is the one usage events and api-call use."""
    async with vertex_proxy(tmp_path) as (fake, url), aiohttp.ClientSession() as session:
        async with session.get(f"{url}/v0/management/vertex-api-key", headers=ADMIN) as resp:
            items = (await resp.json())["vertex-api-key"]
        index = items[0]["auth-index"]
        body = {"model": "vertex-flash", "messages": [{"role": "user", "content": "hi"}]}
        async with session.post(
            f"{url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {CLIENT_KEY}"},
        ) as resp:
            assert resp.status == 200
        async with session.get(f"{url}/v0/management/usage-queue?count=5", headers=ADMIN) as resp:
            events = await resp.json()
        assert [e["auth_index"] for e in events] == [index]
        assert events[0]["executor_type"] == "vertex"
        call = {
            "auth_index": index,
            "method": "POST",
            "url": f"{fake.base_url}{ROOT}:countTokens",
            "header": {"x-goog-api-key": "$TOKEN$", "Content-Type": "application/json"},
            "data": '{"contents": []}',
        }
        async with session.post(f"{url}/v0/management/api-call", json=call, headers=ADMIN) as resp:
            answer = await resp.json()
        assert answer["status_code"] == 200, answer
        assert fake.last.headers["x-goog-api-key"] == UPSTREAM_KEY
