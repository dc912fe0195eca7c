"""Hypothesis strategies for valid IR requests: well-formed conversations (each tool call
answered in the next message) whose values span what any of the four client formats may send,
with the awkward cases real clients produce (names with dots, long names, blank text, media
of every kind, schemas Gemini does not take, sampling values at the edges)."""

from __future__ import annotations

import base64

from hypothesis import strategies as st

from services.proxy.translate import thinking
from services.proxy.translate.ir import (
    Media,
    Message,
    Reasoning,
    Request,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
    "AAAABJRU5ErkJggg=="
)
MODELS = (
    "up-model",
    "claude-sonnet-4-5",
    "claude-sonnet-4-6",
    "claude-opus-4-7",
    "claude-3-5-haiku",
    "gpt-5",
    "gpt-4o",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-3-pro-preview",
)

TEXT = st.one_of(
    st.sampled_from(["", " ", "\n", "hello", "[DONE]", "a\u00e9\u4e2d\U0001f600"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20),
)
NAMES = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    st.sampled_from(
        [
            "fs.read",
            "srv:tool",
            "1st",
            "-dash",
            "mcp__server__tool",
            "x" * 70,
            "mcp__a_long_server__" + "y" * 120,
            "with space",
        ]
    ),
)
MEDIA = st.sampled_from(
    [
        Media("image/png", data=PNG),
        Media("image/jpeg", url="https://example.com/cat.jpg"),
        Media("image/gif", data=PNG),
        Media("image/webp", url="https://example.com/a.webp"),
        Media("application/pdf", data="JVBERi0xLjQK"),
        Media("application/pdf", url="https://example.com/doc.pdf"),
        Media("application/pdf", url="gs://bucket/doc.pdf"),
        Media("text/plain", data=base64.b64encode(b"plain notes").decode()),
        Media("audio/wav", data="UklGRg=="),
        Media("image/png", data=""),
    ]
)
SCHEMA_LEAVES = st.sampled_from(
    [
        {"type": "string"},
        {"type": "string", "format": "uri"},
        {"type": "integer", "minimum": 1, "exclusiveMaximum": 9},
        {"type": ["string", "null"]},
        {"type": "null"},
        {"enum": [1, "a", None]},
        {"const": "fixed"},
        {"type": "array"},
        {"type": "object", "properties": {}},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"$ref": "#/$defs/place"},
        {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        {"oneOf": [{"type": "string"}]},
        {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}}]},
        {},
    ]
)
SCHEMAS = st.recursive(
    SCHEMA_LEAVES,
    lambda inner: st.one_of(
        st.builds(
            lambda props, req: {"type": "object", "properties": props, "required": req},
            st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), inner, max_size=3),
            st.lists(st.sampled_from(["a", "b", "ghost"]), max_size=2),
        ),
        st.builds(lambda items: {"type": "array", "items": items}, inner),
    ),
    max_leaves=6,
)
PARAMS = st.builds(
    lambda props, defs: {
        "type": "object",
        "properties": props,
        "$defs": {"place": {"type": "object", "properties": {"lat": {"type": "number"}}}},
        "additionalProperties": defs,
    },
    st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), SCHEMAS, max_size=3),
    st.booleans(),
)
THINKING = st.one_of(
    st.none(),
    st.sampled_from(
        [Thinking("none"), Thinking("auto", -1)]
        + [thinking.from_level(level) for level in ("minimal", "low", "high", "xhigh", "max")]
    ),
    st.integers(1, 200_000).map(thinking.from_budget),
)


@st.composite
def tool_calls(draw, names):
    """1-3 calls; ids all missing (Gemini 2.x) or all given, some longer or odder than others."""
    blank = draw(st.booleans())
    shapes = ["call_{}", "toolu_{}x", "fc.{}:a", "c" * 50 + "{}"]
    calls = []
    for n in range(draw(st.integers(1, 3))):
        call_id = "" if blank else draw(st.sampled_from(shapes)).format(n)
        args = draw(st.sampled_from(['{"city": "Paris"}', "{}", '{"n": 1, "ok": true}']))
        calls.append(ToolCall(call_id, draw(st.sampled_from(names)), args))
    return calls


@st.composite
def conversations(draw, names):
    messages: list[Message] = []
    for _turn in range(draw(st.integers(1, 4))):
        if messages and draw(st.booleans()):
            messages.append(Message("system", [Text(draw(TEXT))]))
        user = [Text(draw(TEXT)), *draw(st.lists(MEDIA, max_size=2))]
        messages.append(Message("user", user))
        assistant: list = []
        if draw(st.booleans()):
            origin = draw(st.sampled_from(["anthropic", "gemini", "openai", "responses", None]))
            signature = draw(st.sampled_from([None, "sig-1"]))
            assistant.append(Reasoning(draw(TEXT), signature, origin))
        if draw(st.booleans()):
            assistant.append(Text(draw(TEXT)))
        calls = draw(tool_calls(names)) if names and draw(st.booleans()) else []
        assistant.extend(calls)
        if assistant:
            messages.append(Message("assistant", assistant))
        if calls:
            results = [
                ToolResult(
                    c.id,
                    [Text(draw(TEXT)), *draw(st.lists(MEDIA, max_size=1))],
                    draw(st.booleans()),
                )
                for c in calls
            ]
            messages.append(Message("tool", results))
    if draw(st.booleans()) and messages[0].role == "user":
        messages.insert(0, Message("assistant", [Text("Hello! How can I help?")]))
    return messages


@st.composite
def requests(draw) -> Request:
    names = draw(st.lists(NAMES, max_size=4, unique=True))
    tools = [Tool(n, draw(st.sampled_from(["", "does things"])), draw(PARAMS)) for n in names]
    choice = draw(
        st.one_of(
            st.none(),
            st.sampled_from([ToolChoice("auto"), ToolChoice("none"), ToolChoice("required")]),
            st.sampled_from([*names, "undeclared"]).map(lambda n: ToolChoice("tool", n)),
        )
    )
    return Request(
        messages=draw(conversations(names)),
        system=draw(st.lists(TEXT, max_size=2)),
        tools=tools,
        tool_choice=choice if tools else None,
        parallel_tool_calls=draw(st.sampled_from([None, True, False])) if tools else None,
        max_tokens=draw(st.one_of(st.none(), st.integers(1, 300_000))),
        temperature=draw(st.one_of(st.none(), st.floats(0, 2))),
        top_p=draw(st.one_of(st.none(), st.floats(0, 1))),
        top_k=draw(st.one_of(st.none(), st.integers(0, 500))),
        stop=draw(st.lists(st.sampled_from(["", " ", "\n", "END", "###", "stop"]), max_size=6)),
        seed=draw(st.one_of(st.none(), st.integers(-(2**40), 2**40))),
        thinking=draw(THINKING),
        response_format=draw(
            st.sampled_from(
                [
                    None,
                    {"type": "json_object"},
                    {
                        "type": "json_schema",
                        "name": "answer",
                        "schema": {"type": "object", "properties": {"a": {"type": "array"}}},
                        "strict": None,
                    },
                ]
            )
        ),
        user=draw(st.sampled_from([None, "user-1"])),
    )
