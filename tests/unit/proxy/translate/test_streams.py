"""Stream readers (upstream bytes -> IR events) and writers (IR events -> exact client frames)."""

from __future__ import annotations

import json

import pytest

from services.proxy.translate import StreamTranslator, formats
from services.proxy.translate.ir import (
    End,
    EventLog,
    Finish,
    Reasoning,
    Response,
    Start,
    Text,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageUpdate,
    replay,
)
from services.proxy.translate.sse import SSEParser
from services.proxy.translate.usage import Usage
from tests.fakes.wire_base import Reply
from tests.unit.proxy.translate.upstream_bytes import STREAMS

FORMATS = ["openai", "responses", "anthropic", "gemini"]
TOOL_REPLY = Reply(
    text="Hi there",
    thinking="hmm",
    tool=("get_weather", {"city": "Paris"}),
    input_tokens=20,
    output_tokens=9,
    cached_tokens=5,
)


def _events(fmt, data):
    log = EventLog()
    reader = formats.codec(fmt).reader(log)
    reader.feed(data)
    reader.close()
    return log.events, reader


def _frames(data):
    return SSEParser().feed(data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_reader_events(fmt):
    """Each reader turns a real upstream stream into the same kinds of IR events."""
    events, reader = _events(fmt, STREAMS[fmt](TOOL_REPLY))
    assert reader.skipped == 0
    assert isinstance(events[0], Start) and isinstance(events[-1], End)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    thought = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert text == "Hi there" and thought == "hmm"
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [s.name for s in starts] == ["get_weather"]
    args = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert json.loads(args) == {"city": "Paris"}
    assert any(isinstance(e, ToolCallEnd) for e in events)
    assert [e.reason for e in events if isinstance(e, Finish)][-1] == "tool_calls"
    usage = [e.usage for e in events if isinstance(e, UsageUpdate)][-1]
    assert (usage.input_tokens, usage.output_tokens) == (20 if fmt != "anthropic" else 25, 9)
    assert usage.cached_tokens == 5


def test_anthropic_reader_keeps_signature():
    events, _ = _events("anthropic", STREAMS["anthropic"](TOOL_REPLY))
    assert ThinkingDelta("", "sig-fake") in events


def _written(fmt, response, **kwargs):
    writer = formats.stream_writer(fmt, "client-model", kwargs.get("include_usage", True), {})
    replay(response, writer)
    return writer.take()


def _response():
    return Response(
        "x",
        "up",
        [Reasoning("think"), Text("Hello"), ToolCall("call_1", "f", '{"a":1}')],
        "tool_calls",
        Usage(30, 12, 0, 10, 10, 0, 42),
    )


def test_anthropic_writer_event_order():
    """message_start (with usage), blocks start/delta/stop, message_delta (usage, stop), stop."""
    frames = _frames(_written("anthropic", _response()))
    names = [f[0] for f in frames]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    data = [json.loads(f[1]) for f in frames]
    assert data[0]["message"]["usage"] == {
        "input_tokens": 20,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 10,
        "output_tokens": 0,
    }
    assert [d["content_block"]["type"] for d in data if d["type"] == "content_block_start"] == [
        "thinking",
        "text",
        "tool_use",
    ]
    assert [d["index"] for d in data if d["type"] == "content_block_start"] == [0, 1, 2]
    assert data[-2]["delta"]["stop_reason"] == "tool_use"
    assert data[-2]["usage"]["output_tokens"] == 12


def test_responses_writer_event_order():
    """Codex needs output_item.done for the message item and a completed response with usage."""
    frames = _frames(_written("responses", _response()))
    names = [f[0] for f in frames]
    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    data = [json.loads(f[1]) for f in frames]
    assert [d["sequence_number"] for d in data] == list(range(len(data)))
    assert all(d["type"] == f[0] for d, f in zip(data, frames, strict=True))
    done_message = data[13]["item"]
    assert done_message["type"] == "message" and done_message["content"][0]["text"] == "Hello"
    completed = data[-1]["response"]
    assert [i["type"] for i in completed["output"]] == ["reasoning", "message", "function_call"]
    assert completed["usage"]["input_tokens"] == 30 and completed["status"] == "completed"


def test_openai_writer_ends_with_usage_and_done():
    data = _written("openai", _response())
    frames = _frames(data)
    assert frames[-1] == ("", b"[DONE]")
    chunks = [json.loads(f[1]) for f in frames[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 30
    assert all(
        c["object"] == "chat.completion.chunk" and c["model"] == "client-model" for c in chunks
    )
    without = _frames(_written("openai", _response(), include_usage=False))
    assert all("usage" not in json.loads(f[1]) for f in without[:-1])


def test_gemini_writer_sends_whole_function_calls():
    chunks = [json.loads(f[1]) for f in _frames(_written("gemini", _response()))]
    parts = [c["candidates"][0]["content"]["parts"][0] for c in chunks]
    assert parts[0] == {"text": "think", "thought": True}
    assert parts[2] == {"functionCall": {"id": "call_1", "name": "f", "args": {"a": 1}}}
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"] == {
        "promptTokenCount": 30,
        "candidatesTokenCount": 12,
        "totalTokenCount": 42,
        "cachedContentTokenCount": 10,
    }


@pytest.mark.parametrize("target", FORMATS)
def test_finish_closes_a_stream_cut_short(target):
    """An upstream that stops mid-answer still yields a well-formed client stream."""
    data = STREAMS["anthropic"](TOOL_REPLY)
    cut = data[: data.index(b"input_json_delta") + 40]
    translator = StreamTranslator("anthropic", target, "m")
    out = translator.feed(cut) + translator.finish()
    assert translator.started
    events, reader = _events(target, out)
    assert reader.skipped == 0 and isinstance(events[-1], End)
    assert any(isinstance(e, ToolCallStart) for e in events)
    assert translator.finish() == b""  # finishing twice writes nothing more


@pytest.mark.parametrize("target", FORMATS)
def test_in_stream_error_in_client_format(target):
    translator = StreamTranslator("gemini", target, "m")
    first = translator.feed(STREAMS["gemini"](Reply(text="abcdefgh"))[:200])
    out = translator.error("upstream went away", 502)
    assert first and b"upstream went away" in out
    events, _ = _events(target, first + out)
    assert any(type(e).__name__ == "StreamError" for e in events)
    assert translator.feed(b"data: {}\n\n") == b""  # nothing after the error


def test_anthropic_error_frame_shape():
    out = StreamTranslator("openai", "anthropic", "m").error("overloaded", 529)
    assert out.startswith(b"event: error\ndata: ")
    assert json.loads(out.split(b"data: ")[1]) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "overloaded"},
    }


def test_upstream_error_frame_becomes_client_error():
    error = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    error_frame = b"event: error\ndata: " + json.dumps(error).encode() + b"\n\n"
    translator = StreamTranslator("anthropic", "openai", "m")
    out = translator.feed(error_frame)
    assert json.loads(_frames(out)[0][1])["error"]["type"] == "rate_limit_error"


def test_responses_namespaced_and_custom_calls_get_their_shape_back():
    """Calls to Codex's namespace and custom tools come back with namespace / raw input."""
    from tests.unit.proxy.translate.bodies import codex

    reply = Reply(text="", tool=("mcp__repl__js", {"code": "1+1"}))
    translator = StreamTranslator("anthropic", "responses", "m", request=codex())
    out = translator.feed(STREAMS["anthropic"](reply)) + translator.finish()
    done = [json.loads(d) for e, d in _frames(out) if e == "response.output_item.done"]
    assert done[0]["item"]["namespace"] == "mcp__repl" and done[0]["item"]["name"] == "js"
    custom = Reply(text="", tool=("apply_patch", {"input": "*** Begin Patch\n"}))
    translator = StreamTranslator("gemini", "responses", "m", request=codex())
    out = translator.feed(STREAMS["gemini"](custom)) + translator.finish()
    done = [json.loads(d) for e, d in _frames(out) if e == "response.output_item.done"]
    assert done[0]["item"]["type"] == "custom_tool_call"
    assert done[0]["item"]["input"] == "*** Begin Patch\n"


def test_custom_tool_stream_from_responses_upstream_is_valid_json():
    """A custom_tool_call input streamed raw becomes the JSON {"input": ...} for other formats."""
    frames = [
        {"type": "response.created", "response": {"id": "resp_1", "model": "gpt"}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {
                "type": "custom_tool_call",
                "call_id": "c1",
                "name": "apply_patch",
                "input": "",
            },
        },
        {"type": "response.custom_tool_call_input.delta", "output_index": 0, "delta": 'line "1"\n'},
        {"type": "response.custom_tool_call_input.delta", "output_index": 0, "delta": "line 2"},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "type": "custom_tool_call",
                "call_id": "c1",
                "name": "apply_patch",
                "input": 'line "1"\nline 2',
            },
        },
        {
            "type": "response.completed",
            "response": {"status": "completed", "usage": {"input_tokens": 1, "output_tokens": 2}},
        },
    ]
    data = b"".join(
        b"event: " + f["type"].encode() + b"\ndata: " + json.dumps(f).encode() + b"\n\n"
        for f in frames
    )
    events, _ = _events("responses", data)
    args = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert json.loads(args) == {"input": 'line "1"\nline 2'}
