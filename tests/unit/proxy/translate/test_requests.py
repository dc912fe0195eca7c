"""Request readers and writers: real client bodies into every upstream format."""

from __future__ import annotations

import json

import pytest

from services.proxy.translate import translate_request
from services.proxy.translate.anthropic import read_request as read_anthropic
from services.proxy.translate.gemini import SKIP_SIGNATURE
from services.proxy.translate.gemini import read_request as read_gemini
from services.proxy.translate.ir import Media, Reasoning, Text, ToolCall, ToolResult
from services.proxy.translate.openai import read_request as read_openai
from services.proxy.translate.responses import read_request as read_responses
from services.proxy.translate.schema import for_gemini
from tests.unit.proxy.translate import bodies

FORMATS = ["openai", "responses", "anthropic", "gemini"]
CLIENTS = {
    "anthropic": bodies.claude_code,
    "responses": bodies.codex,
    "gemini": bodies.gemini_cli,
    "openai": bodies.openai_chat,
}


def _go(source, target, body, model="up-model", stream=False):
    out = translate_request(body, source=source, target=target, model=model, stream=stream)
    json.dumps(out)  # the result is plain JSON
    return out


@pytest.mark.parametrize("target", FORMATS)
@pytest.mark.parametrize("source", FORMATS)
def test_real_bodies_translate_everywhere(source, target):
    """Claude Code's, Codex's, Gemini CLI's and an SDK's bodies translate into every format."""
    out = _go(source, target, CLIENTS[source](), stream=True)
    if target == "gemini":
        assert "model" not in out and out["contents"]
    else:
        assert out["model"] == "up-model"


# ------------------------------------------------------------------ readers
def test_read_claude_code():
    req = read_anthropic(bodies.claude_code())
    assert req.system == ["You are Claude Code.", "Be terse."]
    roles = [m.role for m in req.messages]
    assert roles == ["user", "assistant", "tool", "user", "system"]
    assert (
        isinstance(req.messages[0].parts[1], Media) and req.messages[0].parts[1].data == bodies.PNG
    )
    thinking, _text, call = req.messages[1].parts
    assert isinstance(thinking, Reasoning) and thinking.signature == "sig-a"
    assert thinking.origin == "anthropic"
    assert isinstance(call, ToolCall) and json.loads(call.arguments) == {"city": "Paris"}
    result = req.messages[2].parts[0]
    assert isinstance(result, ToolResult) and result.call_id == "toolu_01"
    assert [t.name for t in req.tools] == ["get_weather"]  # the server tool is dropped
    assert req.thinking is not None and req.thinking.level == "high"
    assert req.user == "user_abc"


def test_read_codex():
    req = read_responses(bodies.codex())
    assert req.system == ["You are Codex."]
    assert [m.role for m in req.messages] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "system",
    ]
    assert [t.name for t in req.tools] == ["shell", "apply_patch", "mcp__repl__js"]
    assert req.tools[1].parameters["required"] == ["input"]
    patch = req.messages[3].parts[0]
    assert isinstance(patch, ToolCall) and json.loads(patch.arguments) == {
        "input": "*** Begin Patch"
    }
    assert req.parallel_tool_calls is False
    assert req.thinking is not None and req.thinking.level == "medium"


def test_read_gemini_cli():
    req = read_gemini(bodies.gemini_cli())
    assert req.system == ["You are Gemini CLI."]
    call = req.messages[1].parts[1]
    assert isinstance(call, ToolCall) and call.id == "fc-1"
    result = req.messages[2].parts[0]
    assert isinstance(result, ToolResult) and result.call_id == "fc-1"
    assert result.content == [Text("hello")]
    assert req.tools[1].parameters == {"type": "object", "properties": {"dir": {"type": "string"}}}
    assert [t.name for t in req.tools] == ["read_file", "ls"]  # googleSearch dropped
    assert req.thinking is not None and req.thinking.budget == 2048


def test_gemini_calls_without_ids_are_matched_by_name():
    body = {
        "contents": [
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "a", "args": {}}},
                    {"functionCall": {"name": "b", "args": {}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "b", "response": {"x": 1}}},
                    {"functionResponse": {"name": "a", "response": {"result": "r"}}},
                ],
            },
        ]
    }
    req = read_gemini(body)
    calls = {p.name: p.id for p in req.messages[0].parts if isinstance(p, ToolCall)}
    results = {p.name: p for p in req.messages[1].parts if isinstance(p, ToolResult)}
    assert results["a"].call_id == calls["a"] and results["b"].call_id == calls["b"]
    assert results["b"].content == [Text('{"x":1}')]
    assert results["a"].content == [Text("r")]


def test_read_openai():
    req = read_openai(bodies.openai_chat())
    assert req.system == ["Be brief."]
    user = req.messages[0].parts
    assert isinstance(user[1], Media) and user[1].media_type == "image/png" and user[1].data
    assert isinstance(user[2], Media) and user[2].url == "https://example.com/cat.jpg"
    assert req.tool_choice is not None and req.tool_choice.name == "get_weather"
    assert req.stop == ["END"] and req.max_tokens == 300
    assert req.response_format == {
        "type": "json_schema",
        "name": "w",
        "schema": {"type": "object"},
        "strict": None,
    }


# ------------------------------------------------------------------ writers
def test_claude_code_to_openai():
    out = _go("anthropic", "openai", bodies.claude_code(), stream=True)
    msgs = out["messages"]
    assert msgs[0] == {"role": "system", "content": "You are Claude Code."}
    assert msgs[2]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assistant = msgs[3]
    assert assistant["content"] == "Checking."
    assert assistant["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
    }
    assert msgs[4] == {"role": "tool", "tool_call_id": "toolu_01", "content": "18C and sunny"}
    assert msgs[5] == {"role": "user", "content": "Thanks, and tomorrow?"}
    assert msgs[6] == {"role": "system", "content": "The user prefers Celsius."}
    assert out["stream_options"] == {"include_usage": True}
    assert [t["function"]["name"] for t in out["tools"]] == ["get_weather"]
    assert out["max_tokens"] == 32000
    assert out["user"] == "user_abc"


def test_claude_code_to_gemini():
    out = _go("anthropic", "gemini", bodies.claude_code(), model="gemini-3-pro-preview")
    assert out["systemInstruction"] == {
        "parts": [{"text": "You are Claude Code."}, {"text": "Be terse."}]
    }
    roles = [c["role"] for c in out["contents"]]
    assert roles == ["user", "model", "user"]  # tool result, text and inline system merge
    model_parts = out["contents"][1]["parts"]
    assert model_parts[0] == {"text": "Checking."}  # Anthropic thinking is not replayed to Gemini
    call = model_parts[1]
    assert call["functionCall"] == {
        "id": "toolu_01",
        "name": "get_weather",
        "args": {"city": "Paris"},
    }
    assert call["thoughtSignature"] == SKIP_SIGNATURE
    response = out["contents"][2]["parts"][0]["functionResponse"]
    assert response == {
        "id": "toolu_01",
        "name": "get_weather",
        "response": {"output": "18C and sunny"},
    }
    params = out["tools"][0]["functionDeclarations"][0]["parameters"]
    assert "$schema" not in params and "additionalProperties" not in params
    assert out["generationConfig"]["thinkingConfig"] == {
        "thinkingLevel": "high",
        "includeThoughts": True,
    }


def test_codex_to_anthropic():
    out = _go("responses", "anthropic", bodies.codex(), model="claude-sonnet-4-5")
    assert out["system"] == [{"type": "text", "text": "You are Codex."}]
    names = [t["name"] for t in out["tools"]]
    assert names == ["shell", "apply_patch", "mcp__repl__js"]
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert out["messages"][2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "call_1",
        "content": [{"type": "text", "text": "a.txt\nb.txt"}],
    }
    assert out["messages"][-1]["content"][-1] == {"type": "text", "text": "Env changed."}
    # The last assistant turn used a tool without a signed thinking block: thinking stays off.
    assert "thinking" not in out


def test_codex_to_gemini_and_openai():
    gem = _go("responses", "gemini", bodies.codex(), model="gemini-2.5-flash")
    decls = gem["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in decls] == ["shell", "apply_patch", "mcp__repl__js"]
    assert "thoughtSignature" not in json.dumps(gem["contents"])  # not a Gemini 3 model
    chat = _go("responses", "openai", bodies.codex(), model="gpt-4.1")
    assert chat["messages"][0] == {"role": "system", "content": "You are Codex."}
    assert chat["parallel_tool_calls"] is False
    assert "reasoning_effort" not in chat  # gpt-4.1 does not reason


def test_gemini_cli_to_anthropic():
    out = _go("gemini", "anthropic", bodies.gemini_cli(), model="claude-sonnet-4-5")
    assistant = out["messages"][1]["content"]
    assert assistant == [
        {"type": "tool_use", "id": "fc-1", "name": "read_file", "input": {"path": "a.txt"}}
    ]
    result = out["messages"][2]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "fc-1"
    image = out["messages"][2]["content"][1]
    assert image == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": bodies.PNG},
    }
    assert out["max_tokens"] == 1000


def test_gemini_cli_to_responses():
    out = _go("gemini", "responses", bodies.gemini_cli(), model="gpt-5-codex", stream=True)
    assert out["instructions"] == "You are Gemini CLI."
    kinds = [i["type"] for i in out["input"]]
    assert kinds == ["message", "function_call", "function_call_output", "message"]
    assert out["input"][3]["content"][0]["image_url"].startswith("data:image/png;base64,")
    assert out["store"] is False and out["stream"] is True
    assert out["reasoning"] == {"effort": "medium", "summary": "auto"}


def test_openai_to_anthropic_and_gemini():
    out = _go("openai", "anthropic", bodies.openai_chat())
    image_url = out["messages"][0]["content"][2]
    assert image_url == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/cat.jpg"},
    }
    assert out["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert out["stop_sequences"] == ["END"] and out["temperature"] == 0.5
    assert out["output_config"]["format"]["type"] == "json_schema"
    gem = _go("openai", "gemini", bodies.openai_chat())
    file_part = gem["contents"][0]["parts"][2]
    assert file_part == {
        "fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}
    }
    assert gem["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    assert gem["generationConfig"]["responseMimeType"] == "application/json"
    assert gem["generationConfig"]["stopSequences"] == ["END"]


def test_anthropic_tool_ids_are_sanitised():
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call.1:x",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call.1:x", "content": "ok"},
        ],
    }
    out = _go("openai", "anthropic", body)
    assert out["messages"][1]["content"][0]["id"] == "call_1_x"
    assert out["messages"][2]["content"][0]["tool_use_id"] == "call_1_x"


def test_gemini_schema_cleanup():
    cleaned = for_gemini(bodies.WEATHER_SCHEMA)
    assert cleaned == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "nullable": True, "enum": ["c", "f"]},
            "days": {"type": "integer", "minimum": 1},
            "where": {"type": "object", "properties": {"lat": {"type": "number"}}},
        },
        "required": ["city"],
    }
    assert for_gemini({"type": "object", "properties": {}}) == {"type": "object"}
    assert for_gemini({"anyOf": [{"type": "string"}, {"type": "integer"}], "const": 3}) == {
        "anyOf": [{"type": "string"}, {"type": "integer"}],
        "enum": ["3"],
        "type": "string",
    }
    recursive = {
        "$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}},
        "$ref": "#/$defs/n",
    }
    assert json.dumps(for_gemini(recursive))  # self-reference ends at the depth limit
