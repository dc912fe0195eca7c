"""The providers' rules the fakes enforce: real client bodies pass, each documented violation
is caught, and every fake answers it with a 400 in its provider's own error shape."""

from __future__ import annotations

import aiohttp
import pytest

from tests.fakes import provider_rules
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.responses_upstream import FakeResponses
from tests.unit.proxy.translate import bodies

REAL = {
    "anthropic": bodies.claude_code,
    "responses": bodies.codex,
    "gemini": bodies.gemini_cli,
    "openai": bodies.openai_chat,
}


@pytest.mark.parametrize("fmt", sorted(REAL))
def test_real_client_bodies_pass_their_own_provider(fmt):
    assert provider_rules.problems(fmt, REAL[fmt](), "gemini-2.5-flash") == []


USER = [{"role": "user", "content": "hi"}]
CLAUDE = {"model": "c", "max_tokens": 10, "messages": USER}
CHAT = {"model": "g", "messages": USER}
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
VIOLATIONS = [
    ("anthropic", {**CLAUDE, "temperature": 1.5}, "temperature"),
    ("anthropic", {**CLAUDE, "temperature": 0.5, "top_p": 0.5}, "cannot both"),
    ("anthropic", {**CLAUDE, "stop_sequences": [" "]}, "non-whitespace"),
    (
        "anthropic",
        {**CLAUDE, "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
        "non-whitespace",
    ),
    (
        "anthropic",
        {**CLAUDE, "messages": [{"role": "assistant", "content": "x"}, *USER]},
        "first message",
    ),
    (
        "anthropic",
        {
            **CLAUDE,
            "max_tokens": 5000,
            "thinking": {"type": "enabled", "budget_tokens": 2000},
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"},
        },
        "forces tool use",
    ),
    (
        "anthropic",
        {**CLAUDE, "thinking": {"type": "enabled", "budget_tokens": 2000}},
        "greater than",
    ),
    (
        "anthropic",
        {**CLAUDE, "tools": [{"name": "a.b", "input_schema": {"type": "object"}}]},
        "pattern",
    ),
    (
        "anthropic",
        {
            **CLAUDE,
            "messages": [
                *USER,
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "x"},
                        {"type": "tool_result", "tool_use_id": "t"},
                    ],
                },
            ],
        },
        "come first",
    ),
    ("openai", {**CHAT, "stop": ["a", "b", "c", "d", "e"]}, "at most 4"),
    ("openai", {**CHAT, "messages": [*USER, {"role": "assistant", "content": None}]}, "got null"),
    ("openai", {**CHAT, "temperature": 2.5}, "temperature"),
    (
        "openai",
        {
            **CHAT,
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "gs://b/x.pdf"}}],
                }
            ],
        },
        "image_url",
    ),
    ("openai", {**CHAT, "model": "gpt-5", "max_tokens": 5}, "max_completion_tokens"),
    (
        "openai",
        {**CHAT, "tools": [{"type": "function", "function": {"name": "a" * 65}}]},
        "pattern",
    ),
    (
        "openai",
        {**CHAT, "messages": [*USER, {"role": "tool", "tool_call_id": "x", "content": "r"}]},
        "preceding",
    ),
    ("responses", {"model": "g", "input": "hi", "max_output_tokens": 1}, "max_output_tokens"),
    ("responses", {"model": "g", "input": "hi", "stop": ["x"]}, "stop"),
    (
        "responses",
        {"model": "g", "input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]},
        "No tool call found",
    ),
    ("gemini", {**GEMINI, "generationConfig": {"stopSequences": list("abcdef")}}, "at most 5"),
    ("gemini", {**GEMINI, "generationConfig": {"seed": 2**40}}, "seed"),
    ("gemini", {"contents": [{"role": "user", "parts": [{"text": ""}]}]}, "empty text"),
    (
        "gemini",
        {
            "contents": [
                {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                GEMINI["contents"][0],
            ]
        },
        "function call turn",
    ),
    (
        "gemini",
        {
            **GEMINI,
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "f",
                            "parameters": {
                                "type": "object",
                                "properties": {"a": {"type": "array"}},
                            },
                        }
                    ]
                }
            ],
        },
        "items",
    ),
    (
        "gemini",
        {
            **GEMINI,
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "f",
                            "parameters": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {"a": {"type": "string"}},
                            },
                        }
                    ]
                }
            ],
        },
        "additionalProperties",
    ),
    (
        "gemini",
        {**GEMINI, "tools": [{"functionDeclarations": [{"name": "9f"}]}]},
        "Invalid function name",
    ),
]


@pytest.mark.parametrize(("fmt", "body", "expected"), VIOLATIONS)
def test_each_documented_violation_is_caught(fmt, body, expected):
    found = provider_rules.problems(fmt, body, "gemini-2.5-flash")
    assert any(expected in p for p in found), found


async def _post(url: str, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        return resp.status, await resp.json()


async def test_every_fake_answers_a_violation_with_its_own_400():
    async with FakeAnthropic() as fake:
        status, body = await _post(fake.base_url + "/v1/messages", {**CLAUDE, "temperature": 3})
        assert status == 400 and body["error"]["type"] == "invalid_request_error"
        assert body["type"] == "error" and "temperature" in body["error"]["message"]
    async with FakeGemini() as fake:
        url = fake.base_url + "/v1beta/models/gemini-2.5-flash:generateContent"
        status, body = await _post(url, {"contents": []})
        assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    async with FakeResponses() as fake:
        url = fake.base_url + "/v1/responses"
        status, body = await _post(url, {"model": "g", "input": "hi", "max_output_tokens": 3})
        assert status == 400 and body["error"]["type"] == "invalid_request_error"
    async with FakeOpenAI() as openai_fake:
        url = openai_fake.base_url + "/chat/completions"
        status, body = await _post(url, {**CHAT, "stop": list("abcde")})
        assert status == 400 and "at most 4" in body["error"]["message"]
        openai_fake.strict = False  # a test that needs the raw relay can turn the rules off
        status, _ = await _post(url, {**CHAT, "stop": list("abcde")})
        assert status == 200
