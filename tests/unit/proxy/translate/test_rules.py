"""Regression tests for the per-upstream rules (docs/translation.md, "What each upstream
accepts"): each valid client body below once went upstream in a shape the provider refuses.
Every translated body is also checked by the provider's own rules (tests/fakes/provider_rules).
"""

from __future__ import annotations

import base64

import orjson
import pytest

from services.proxy.translate import StreamTranslator, translate_request, translate_response
from services.proxy.translate.rules import Unsupported
from tests.fakes.provider_rules import problems

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
    "AAAABJRU5ErkJggg=="
)
HI = [{"role": "user", "content": "hi"}]


def _go(source, target, body, model="up-model"):
    out = translate_request(body, source=source, target=target, model=model, stream=False)
    assert problems(target, out, model) == []
    return out


def _chat(**fields):
    return {"model": "m", "messages": HI, **fields}


# ------------------------------------------------------------------ sampling and limits
def test_temperature_above_one_is_clamped_for_claude():
    assert _go("openai", "anthropic", _chat(temperature=1.7))["temperature"] == 1.0


def test_temperature_and_top_p_together_send_only_temperature_to_claude():
    out = _go("openai", "anthropic", _chat(temperature=0.3, top_p=0.5))
    assert out["temperature"] == 0.3 and "top_p" not in out
    assert _go("openai", "anthropic", _chat(top_p=0.5))["top_p"] == 0.5


def test_top_k_below_one_is_dropped():
    body = {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"topK": 0}}
    assert "top_k" not in _go("gemini", "anthropic", body)


def test_max_tokens_one_becomes_responses_minimum_16():
    assert _go("openai", "responses", _chat(max_tokens=1))["max_output_tokens"] == 16


def test_max_tokens_above_the_model_limit_is_clamped_for_claude_and_gemini():
    body = {"model": "m", "input": "hi", "max_output_tokens": 500_000}
    assert _go("responses", "anthropic", body, "claude-sonnet-4-6")["max_tokens"] == 64000
    out = _go("responses", "gemini", body, "gemini-2.5-pro")
    assert out["generationConfig"]["maxOutputTokens"] == 65536


def test_whitespace_stop_sequences_are_dropped_for_claude():
    out = _go("openai", "anthropic", _chat(stop=[" ", "\n", "END"]))
    assert out["stop_sequences"] == ["END"]


def test_five_stop_sequences_keep_the_first_four_for_openai():
    body = {
        "contents": [{"parts": [{"text": "hi"}]}],
        "generationConfig": {"stopSequences": ["a", "b", "c", "d", "e"]},
    }
    assert _go("gemini", "openai", body)["stop"] == ["a", "b", "c", "d"]


def test_six_stop_sequences_keep_five_for_gemini_and_none_for_responses():
    stops = ["a", "b", "c", "d", "e", "f"]
    body = {"model": "m", "messages": HI, "max_tokens": 10, "stop_sequences": stops}
    assert _go("anthropic", "gemini", body)["generationConfig"]["stopSequences"] == stops[:5]
    assert "stop" not in _go("anthropic", "responses", body)


def test_seed_outside_int32_is_dropped_for_gemini():
    out = _go("openai", "gemini", _chat(seed=2**40))
    assert "seed" not in out.get("generationConfig", {})
    assert _go("openai", "gemini", _chat(seed=7))["generationConfig"]["seed"] == 7


def test_openai_reasoning_models_get_max_completion_tokens_and_no_sampling():
    body = {"model": "m", "messages": HI, "max_tokens": 100, "temperature": 0.2, "top_p": 0.9}
    body["stop_sequences"] = ["END"]
    out = _go("anthropic", "openai", body, "gpt-5")
    assert out["max_completion_tokens"] == 100
    assert not {"max_tokens", "temperature", "top_p", "stop"} & set(out)
    out = _go("anthropic", "responses", body, "o3")
    assert not {"temperature", "top_p"} & set(out)
    assert _go("anthropic", "openai", body, "gpt-4o")["max_tokens"] == 100


# ------------------------------------------------------------------ thinking
def test_thinking_with_a_forced_tool_choice_is_left_off_for_claude():
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    body = _chat(tools=[tool], tool_choice="required", reasoning_effort="high")
    out = _go("openai", "anthropic", body, "claude-sonnet-4-5")
    assert "thinking" not in out and out["tool_choice"] == {"type": "any"}
    out = _go("openai", "anthropic", {**body, "tool_choice": "auto"}, "claude-sonnet-4-5")
    assert out["thinking"]["type"] == "enabled"


def test_a_thinking_suffix_on_a_same_format_body_leaves_a_forced_tool_choice_alone():
    tool = {"name": "f", "input_schema": {"type": "object"}}
    body = {**_chat(max_tokens=100), "tools": [tool], "tool_choice": {"type": "any"}}
    out = _go("anthropic", "anthropic", body, "claude-sonnet-4-5(high)")
    assert "thinking" not in out and out["tool_choice"] == {"type": "any"}
    body["tool_choice"] = {"type": "auto"}
    assert _go("anthropic", "anthropic", body, "claude-sonnet-4-5(high)")["thinking"]


def test_thinking_budget_stays_below_max_tokens():
    body = _chat(max_tokens=1, reasoning_effort="high")
    out = _go("openai", "anthropic", body, "claude-sonnet-4-5")
    assert 1024 <= out["thinking"]["budget_tokens"] < out["max_tokens"]


# ------------------------------------------------------------------ messages
def test_thinking_only_assistant_turn_is_left_out_for_openai():
    body = {
        "model": "m",
        "max_tokens": 100,
        "messages": [
            *HI,
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "x", "signature": "s"}],
            },
            {"role": "user", "content": "again"},
        ],
    }
    out = _go("anthropic", "openai", body)
    assert out["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "user", "content": "again"},
    ]


def test_empty_and_blank_text_blocks_never_reach_claude():
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "  "},
            {
                "role": "user",
                "content": [{"type": "text", "text": " "}, {"type": "text", "text": "x"}],
            },
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "y"},
        ],
    }
    out = _go("openai", "anthropic", body)
    assert "system" not in out
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]}
    ]


def test_conversation_starting_with_the_assistant_gets_a_user_turn_first():
    body = {
        "contents": [{"role": "model", "parts": [{"text": "Hello!"}]}, {"parts": [{"text": "hi"}]}]
    }
    out = _go("gemini", "anthropic", body)
    assert out["messages"][0] == {
        "role": "user",
        "content": [{"type": "text", "text": "(continued)"}],
    }
    body = {"model": "m", "messages": [{"role": "assistant", "content": "Hello!"}, *HI]}
    assert _go("openai", "gemini", body)["contents"][0]["role"] == "user"
    same = translate_request(body, source="openai", target="openai", model="m", stream=False)
    assert same["messages"][0]["role"] == "assistant"  # same format: relayed as the client sent


def _call_body(result_text="18C"):
    call = {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
    return {
        "model": "m",
        "tools": [
            {"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}
        ],
        "messages": [
            *HI,
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "system", "content": "be brief"},
            {"role": "tool", "tool_call_id": "call_1", "content": result_text},
        ],
    }


def test_a_system_message_between_a_call_and_its_result_moves_after_the_result():
    out = _go("openai", "responses", _call_body())
    kinds = [i.get("type", i.get("role")) for i in out["input"]]
    assert kinds == ["message", "function_call", "function_call_output", "message"]
    blocks = _go("openai", "anthropic", _call_body())["messages"][2]["content"]
    assert [b["type"] for b in blocks] == ["tool_result", "text"]  # results first


def test_unanswered_tool_calls_are_refused_with_a_clear_400():
    body = _call_body()
    body["messages"] = [*body["messages"][:2], {"role": "user", "content": "and?"}]
    with pytest.raises(Unsupported, match=r"tool calls without a result.*w \(call_1\)"):
        translate_request(body, source="openai", target="anthropic", model="m", stream=False)


def test_orphan_tool_results_are_refused():
    body = {
        "model": "m",
        "max_tokens": 10,
        "messages": [
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t9", "content": "x"}],
            }
        ],
    }
    with pytest.raises(Unsupported, match="does not answer a tool call"):
        translate_request(body, source="anthropic", target="openai", model="m", stream=False)


def test_long_tool_call_ids_are_shortened_for_openai_chat():
    long_id = "toolu_" + "x" * 60
    body = {
        "model": "m",
        "max_tokens": 10,
        "messages": [
            *HI,
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": long_id, "name": "w", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": long_id, "content": "ok"}],
            },
        ],
    }
    out = _go("anthropic", "openai", body)
    call_id = out["messages"][1]["tool_calls"][0]["id"]
    assert len(call_id) <= 40 and out["messages"][2]["tool_call_id"] == call_id


# ------------------------------------------------------------------ media
def _gemini_with(part):
    return {"contents": [{"parts": [{"text": "look"}, part]}]}


@pytest.mark.parametrize("target", ["openai", "responses", "anthropic"])
def test_gemini_file_uris_are_refused_outside_gemini(target):
    body = _gemini_with({"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/x.pdf"}})
    with pytest.raises(Unsupported, match="only be read by a Gemini upstream"):
        translate_request(body, source="gemini", target=target, model="m", stream=False)
    out = _go("gemini", "gemini", body)
    assert out["contents"][0]["parts"][1]["fileData"]["fileUri"] == "gs://b/x.pdf"


def test_pdf_by_url_is_refused_for_openai_chat_only():
    body = _gemini_with({"fileData": {"mimeType": "application/pdf", "fileUri": "https://x/a.pdf"}})
    with pytest.raises(Unsupported, match="application/pdf attachments by URL"):
        translate_request(body, source="gemini", target="openai", model="m", stream=False)
    assert _go("gemini", "responses", body)["input"][0]["content"][1]["type"] == "input_file"
    assert _go("gemini", "anthropic", body)["messages"][0]["content"][1]["type"] == "document"


def test_audio_is_refused_outside_gemini_and_plain_text_becomes_text():
    audio = _gemini_with({"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}})
    with pytest.raises(Unsupported, match="audio/wav"):
        translate_request(audio, source="gemini", target="anthropic", model="m", stream=False)
    note = base64.b64encode(b"remember the milk").decode()
    text = _gemini_with({"inlineData": {"mimeType": "text/plain", "data": note}})
    out = _go("gemini", "openai", text)
    assert out["messages"][0]["content"] == "lookremember the milk"


def test_gif_image_reaches_claude_as_an_image():
    url = f"data:image/gif;base64,{PNG}"
    body = _chat(
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]
    )
    out = _go("openai", "anthropic", body)
    assert out["messages"][0]["content"][0]["source"]["media_type"] == "image/gif"


# ------------------------------------------------------------------ tools
def _gemini_tool(name, params=None):
    decl = {"name": name, "description": "d"}
    if params is not None:
        decl["parameters"] = params
    return {
        "contents": [{"parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [decl]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}},
    }


@pytest.mark.parametrize("target", ["openai", "responses", "anthropic"])
def test_tool_names_the_upstream_refuses_are_renamed_and_named_back(target):
    _go("gemini", target, _gemini_tool("fs.read:all"))
    names: dict[str, str] = {}
    translate_request(
        _gemini_tool("fs.read:all"),
        source="gemini",
        target=target,
        model="m",
        stream=False,
        tool_names=names,
    )
    assert names == {"fs_read_all": "fs.read:all"}
    upstream_answer = {
        "openai": {
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "fs_read_all", "arguments": "{}"},
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ]
        },
        "responses": {
            "output": [
                {"type": "function_call", "call_id": "c1", "name": "fs_read_all", "arguments": "{}"}
            ],
            "status": "completed",
        },
        "anthropic": {
            "content": [{"type": "tool_use", "id": "c1", "name": "fs_read_all", "input": {}}],
            "stop_reason": "tool_use",
        },
    }[target]
    body, _ = translate_response(
        orjson.dumps(upstream_answer), source=target, target="gemini", model="m", tool_names=names
    )
    part = orjson.loads(body)["candidates"][0]["content"]["parts"][0]
    assert part["functionCall"]["name"] == "fs.read:all"


def test_renamed_tool_calls_stream_back_with_the_client_name():
    frames = [
        {"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 1}}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t1", "name": "fs_read", "input": {}},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 1},
        },
        {"type": "message_stop"},
    ]
    raw = b"".join(b"data: " + orjson.dumps(f) + b"\n\n" for f in frames)
    translator = StreamTranslator("anthropic", "openai", "m", tool_names={"fs_read": "fs.read"})
    out = translator.feed(raw) + translator.finish()
    assert b'"name":"fs.read"' in out and b"fs_read" not in out


def test_long_and_badly_started_names_are_valid_everywhere():
    name = "mcp__a_very_long_server_name__" + "tool_with_a_long_name_" * 4
    for target in ("openai", "responses", "anthropic"):
        _go("gemini", target, _gemini_tool(name))
    _go("openai", "gemini", _chat(tools=[{"type": "function", "function": {"name": name}}]))
    body = _chat(
        tools=[
            {"type": "function", "function": {"name": "1st-tool", "parameters": {"type": "object"}}}
        ]
    )
    decl = _go("openai", "gemini", body)["tools"][0]["functionDeclarations"][0]
    assert decl["name"] == "_1st-tool"


def test_a_name_ending_in_a_newline_is_not_taken_for_a_valid_one():
    body = _chat(tools=[{"type": "function", "function": {"name": "read\n"}}])
    assert _go("openai", "anthropic", body)["tools"][0]["name"] == "read_"


def test_duplicate_tool_names_keep_the_first_declaration():
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    out = _go("openai", "anthropic", _chat(tools=[tool, tool]))
    assert [t["name"] for t in out["tools"]] == ["f"]


def test_a_named_tool_choice_for_an_undeclared_tool_becomes_auto():
    body = {
        "model": "m",
        "input": "hi",
        "tools": [
            {"type": "web_search"},
            {"type": "function", "name": "f", "parameters": {"type": "object"}},
        ],
        "tool_choice": {"type": "function", "name": "web_search"},
    }
    out = _go("responses", "anthropic", body)
    assert "tool_choice" not in out


def test_gemini_schema_gets_items_and_loses_empty_properties():
    params = {
        "type": "object",
        "properties": {
            "tags": {"type": "array"},
            "meta": {"type": "object", "properties": {}},
            "nothing": {"type": "null"},
            "any": {"type": "any"},
        },
        "required": ["tags", "ghost", 3],
    }
    body = _chat(tools=[{"type": "function", "function": {"name": "f", "parameters": params}}])
    props = _go("openai", "gemini", body)["tools"][0]["functionDeclarations"][0]["parameters"]
    assert props["properties"] == {
        "tags": {"type": "array", "items": {"type": "string"}},
        "meta": {"type": "object"},
        "nothing": {"type": "string", "nullable": True},
        "any": {},
    }
    assert props["required"] == ["tags"]


def test_no_message_left_is_refused():
    body = _chat(messages=[{"role": "user", "content": " "}])
    with pytest.raises(Unsupported, match="no message content"):
        translate_request(body, source="openai", target="anthropic", model="m", stream=False)
