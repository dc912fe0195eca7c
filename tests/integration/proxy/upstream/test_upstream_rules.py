"""The real proxy in front of the strict fakes (each refuses what its provider refuses): valid
client bodies the translators once forwarded ill-shaped now go through, a request an upstream
kind cannot take is a 400 in the client's format (or served by a credential that can take it),
and tools renamed for an upstream come back under the client's names."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import openai

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.wire_base import Reply

from ..harness import CLIENT_KEY, run_proxy

GS_PDF = {
    "contents": [
        {
            "role": "user",
            "parts": [
                {"text": "Summarise this"},
                {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/report.pdf"}},
            ],
        }
    ]
}


def _entry(base_url: str, model: str) -> dict:
    return {
        "api-key": "up-key",
        "base-url": base_url,
        "models": [{"name": model, "alias": "mixed"}],
    }


def _config(**sections: dict) -> dict:
    return {
        "api-keys": [CLIENT_KEY],
        "request-retry": 0,
        "streaming": {"keepalive-seconds": 0},
        **{name: [entry] for name, entry in sections.items()},
    }


async def _gemini_call(base_url: str, body: dict, action: str = "generateContent"):
    url = f"{base_url}/v1beta/models/mixed:{action}"
    headers = {"x-goog-api-key": CLIENT_KEY}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as r,
    ):
        return r.status, await r.read()


async def test_a_request_the_upstream_cannot_take_is_a_clear_400(tmp_path: Path):
    async with FakeAnthropic() as claude:
        config = _config(**{"claude-api-key": _entry(claude.base_url, "claude-sonnet-4-5")})
        async with run_proxy(tmp_path, config) as px:
            status, raw = await _gemini_call(px.base_url, GS_PDF)
    body = json.loads(raw)
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    assert "can only be read by a Gemini upstream" in body["error"]["message"]
    assert claude.requests == []  # nothing was sent


async def test_a_refusal_fails_over_to_a_credential_that_can_take_it(tmp_path: Path):
    async with FakeAnthropic() as claude, FakeGemini() as gemini:
        config = _config(
            **{
                "claude-api-key": _entry(claude.base_url, "claude-sonnet-4-5"),
                "gemini-api-key": _entry(gemini.base_url, "gemini-2.5-flash"),
            }
        )
        async with run_proxy(tmp_path, config) as px:
            for _ in range(3):  # round-robin starts at each credential in turn
                status, raw = await _gemini_call(px.base_url, GS_PDF)
                assert status == 200, raw
    assert claude.requests == [] and len(gemini.requests) == 3


async def test_values_out_of_claudes_range_are_clamped_not_refused(tmp_path: Path):
    async with FakeAnthropic() as claude:
        config = _config(**{"claude-api-key": _entry(claude.base_url, "claude-sonnet-4-5")})
        async with run_proxy(tmp_path, config) as px:
            client = openai.AsyncOpenAI(base_url=px.base_url + "/v1", api_key=CLIENT_KEY)
            try:
                done = await client.chat.completions.create(
                    model="mixed",
                    messages=[{"role": "user", "content": "hi"}],
                    temperature=1.8,
                    top_p=0.5,
                    stop=[" ", "END"],
                    max_tokens=1,
                    reasoning_effort="high",
                )
            finally:
                await client.close()
    assert done.choices[0].message.content == "Hello from the fake upstream."
    sent = claude.last.body
    assert sent["stop_sequences"] == ["END"] and sent["thinking"]["type"] == "enabled"
    assert "temperature" not in sent and sent["max_tokens"] > sent["thinking"]["budget_tokens"]


async def test_renamed_tools_come_back_under_the_client_names(tmp_path: Path):
    tool = {
        "functionDeclarations": [
            {
                "name": "fs.read",
                "description": "Read a file",
                "parameters": {"type": "OBJECT", "properties": {"path": {"type": "STRING"}}},
            }
        ]
    }
    body = {"contents": [{"role": "user", "parts": [{"text": "read a"}]}], "tools": [tool]}
    async with FakeAnthropic() as claude:
        claude.push(Reply(text="", tool=("fs_read", {"path": "a"})))
        claude.push(Reply(text="", tool=("fs_read", {"path": "b"})))
        config = _config(**{"claude-api-key": _entry(claude.base_url, "claude-sonnet-4-5")})
        async with run_proxy(tmp_path, config) as px:
            status, raw = await _gemini_call(px.base_url, body)
            assert status == 200, raw
            call = json.loads(raw)["candidates"][0]["content"]["parts"][0]["functionCall"]
            assert (call["name"], call["args"]) == ("fs.read", {"path": "a"})
            status, raw = await _gemini_call(px.base_url, body, "streamGenerateContent?alt=sse")
            assert status == 200 and b'"name":"fs.read"' in raw and b"fs_read" not in raw
    assert [t["name"] for t in claude.last.body["tools"]] == ["fs_read"]
