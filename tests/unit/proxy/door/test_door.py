"""The door: what real clients send is admitted as parsed; a wrong type, a missing field or a
body nested too deep is a BadRequest that names the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.core.errors import BadRequest
from services.proxy.door import admit
from tests.unit.proxy.translate import bodies

LIMIT = 64


def _admit(body: Any, endpoint: str = "chat", limit: int = LIMIT) -> dict[str, Any]:
    return admit(json.dumps(body).encode(), endpoint, limit)  # type: ignore[arg-type]


def _refusal(body: Any, endpoint: str) -> tuple[str, str, Any]:
    with pytest.raises(BadRequest) as caught:
        _admit(body, endpoint)
    return caught.value.message, caught.value.code, caught.value.details


@pytest.mark.parametrize(
    ("make", "endpoint"),
    [
        (bodies.claude_code, "messages"),
        (bodies.claude_code, "count_tokens"),
        (bodies.codex, "responses"),
        (bodies.gemini_cli, "generate"),
        (bodies.gemini_cli, "gemini_count"),
        (bodies.openai_chat, "chat"),
    ],
)
def test_real_client_bodies_are_admitted_unchanged(make, endpoint):
    body = make()
    assert _admit(body, endpoint) == body


@pytest.mark.parametrize(
    ("body", "endpoint", "message"),
    [
        # The examples, each a 500 before.
        (
            {"messages": [{"role": "user", "content": 3.7}]},
            "messages",
            "messages.0.content: Input should be a valid string or an array",
        ),
        (
            {"messages": [{"role": "user", "content": -5}]},
            "chat",
            "messages.0.content: Input should be a valid string or an array",
        ),
        ({"contents": 0.5}, "generate", "contents: Input should be an array"),
        # Inside a content block: the path goes through the block, not the union's labels.
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
            "messages",
            "messages.0.content.0.text: Input should be a valid string",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages",
            "messages.0.content.0.text: Field required",
        ),
        (
            {"messages": [{"role": "user", "content": [{"text": "no type"}]}]},
            "messages",
            "messages.0.content.0.type: Field required",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": 7}]}]},
            "messages",
            "messages.0.content.0.type: Input should be a valid string",
        ),
        (
            {"messages": [{"role": "user", "content": ["text"]}]},
            "chat",
            "messages.0.content.0: Input should be an object",
        ),
        (
            {"messages": [{"role": "robot", "content": "hi"}]},
            "chat",
            "messages.0.role: Input should be 'system', 'developer', 'user', 'assistant', "
            "'tool' or 'function'",
        ),
        (
            {"messages": [], "temperature": "hot"},
            "chat",
            "temperature: Input should be a valid number",
        ),
        (
            {"messages": [], "max_tokens": "5"},
            "chat",
            "max_tokens: Input should be a valid integer",
        ),
        (
            {"messages": [], "stop": ["a", 3]},
            "chat",
            "stop.1: Input should be a valid string",
        ),
        (
            {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]},
            "responses",
            "input.0.arguments: Input should be a valid string",
        ),
        ({"input": [5]}, "responses", "input.0: Input should be an object"),
        ({"input": [{"content": "hi"}]}, "responses", "input.0.role: Field required"),
        (
            {"tools": [{"type": "namespace", "name": "n", "tools": [{"type": "function"}]}]},
            "responses",
            "tools.0.tools.0.name: Field required",
        ),
        (
            {"messages": [], "tools": [{"name": "x"}]},
            "messages",
            "tools.0.input_schema: Field required",
        ),
        (
            {"contents": [{"parts": [{"functionCall": {"name": "f", "args": [1]}}]}]},
            "generate",
            "contents.0.parts.0.functionCall.args: Input should be an object",
        ),
        (
            {"generateContentRequest": {"contents": "hi"}},
            "gemini_count",
            "generateContentRequest.contents: Input should be an array",
        ),
        ({"prompt": 5}, "completions", "prompt: Input should be a valid string or an array"),
        # A block of an unknown type beside a broken one: the broken one is still named.
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "new"}, {"type": "text", "text": 5}]}
                ]
            },
            "messages",
            "messages.0.content.1.text: Input should be a valid string",
        ),
        # A union's label at the end of pydantic's location is not a missing field.
        (
            {"messages": [], "tool_choice": {"type": "function", "function": None}},
            "chat",
            "tool_choice.function: Input should be an object",
        ),
    ],
)
def test_wrong_types_name_the_field(body, endpoint, message):
    got, code, details = _refusal(body, endpoint)
    assert got == message
    assert details == {"param": message.split(":", 1)[0]}
    assert code in ("invalid_type", "invalid_value", "missing_required_parameter")


@pytest.mark.parametrize(
    ("body", "endpoint"),
    [
        # Types the proxy does not know are the upstream's business.
        ({"messages": [{"role": "user", "content": [{"type": "new_block", "x": 1}]}]}, "messages"),
        ({"messages": [], "tools": [{"type": "web_search_20250305", "name": "ws"}]}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio2"}]}]}, "chat"),
        ({"input": [{"type": "web_search_call", "id": "ws_1"}]}, "responses"),
        # An item reference may leave out its type.
        ({"input": [{"id": "msg_1"}, {"type": "item_reference", "id": "fc_1"}]}, "responses"),
        (
            {"input": [{"type": "computer_call_output", "call_id": "c", "output": {"x": 1}}]},
            "responses",
        ),
        ({"tools": [{"type": "web_search"}, {"type": "mcp", "server_url": "x"}]}, "responses"),
        # null where a field may be absent (OpenAI and Gemini document it; harmless elsewhere).
        ({"messages": [], "temperature": None, "tools": None, "stop": None}, "chat"),
        ({"messages": [], "system": None, "max_tokens": None}, "messages"),
        ({"contents": [{"parts": [{"text": None}]}], "generationConfig": None}, "generate"),
        ({"instructions": None, "input": "hi"}, "responses"),
        # Integers are numbers; big and negative values are the upstream's to judge.
        ({"messages": [], "temperature": 1, "seed": -1}, "chat"),
        # Unknown fields anywhere are kept.
        ({"messages": [{"role": "user", "content": "hi", "x-extra": {"a": [1]}}]}, "messages"),
    ],
)
def test_tolerated_like_the_providers(body, endpoint):
    assert _admit(body, endpoint) == body


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("endpoint", ["chat", "messages", "generate", "responses"])
def test_depth_limit_counts_the_top_object(endpoint):
    """The body object is level 1: `{"x": [[...]]}` with 63 arrays is 64 deep and admitted."""
    base = {"contents": []} if endpoint == "generate" else {"messages": []}
    _admit({**base, "x": _nested(LIMIT - 1)}, endpoint)
    message, code, _ = _refusal({**base, "x": _nested(LIMIT)}, endpoint)
    assert code == "json_too_deep" and "64 levels" in message


def test_depth_is_checked_before_the_schema():
    """A deep body with wrong types gets the depth answer: nothing walks it further."""
    _, code, _ = _refusal({"messages": 5, "x": _nested(500)}, "chat")
    assert code == "json_too_deep"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "Request body is not valid JSON"),
        (b"[1, 2]", "Request body must be a JSON object"),
        (b'{"messages": [], "x": NaN}', "Request body is not valid JSON"),
        (b"[" * 2000 + b"]" * 2000, "Request body is not valid JSON"),
    ],
)
def test_not_a_json_object(raw, message):
    with pytest.raises(BadRequest) as caught:
        admit(raw, "chat", LIMIT)
    assert caught.value.code == "invalid_json" and caught.value.message.startswith(message)


def test_depth_walk_agrees_with_a_recursive_count():
    """The level-by-level walk over gc referents measures what a plain recursion measures."""
    import random

    from services.proxy.door.depth import deeper_than

    def depth(value: Any) -> int:
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            return 1 + max((depth(v) for v in value), default=0)
        return 0

    rng = random.Random(12)

    def build(levels: int) -> Any:
        if levels == 0 or rng.random() < 0.25:
            return rng.choice([1, "x", None, 2.5, True, [], {}])
        if rng.random() < 0.5:
            return [build(levels - 1) for _ in range(rng.randint(0, 3))]
        return {f"k{i}": build(levels - 1) for i in range(rng.randint(0, 3))}

    for _ in range(3000):
        value = {"body": build(rng.randint(0, 10))}
        for limit in (1, 2, 3, 5, 8):
            assert deeper_than(value, limit) == (depth(value) > limit)


def test_bodies_of_millions_of_values_are_refused_before_parsing():
    """32 MiB of `{},` would be about 1 GB once parsed: large bodies are counted first."""
    from services.core.errors import PayloadTooLarge
    from services.proxy.door.gate import MAX_VALUES

    many = b'{"messages": [], "x": [' + b"{}," * (MAX_VALUES + 10) + b"{}]}"
    with pytest.raises(PayloadTooLarge, match="more than 2000000 JSON values"):
        admit(many, "chat", LIMIT)
    # As large, but one string (an image, a long document with a comma every few words):
    # admitted.
    prose = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 200_000
    text = json.dumps({"messages": [{"role": "user", "content": prose}]})
    assert admit(text.encode(), "chat", LIMIT)["messages"][0]["role"] == "user"
