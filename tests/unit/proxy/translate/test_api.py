"""The public API: error bodies, usage tracking for passthrough, non-stream translation and the
token estimate."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.errors import UpstreamError
from services.proxy.translate import (
    Usage,
    UsageTracker,
    error_body,
    estimate_input_tokens,
    translate_response,
    usage_from_body,
)
from tests.fakes.wire_base import Reply
from tests.unit.proxy.translate import bodies
from tests.unit.proxy.translate.upstream_bytes import BODIES, STREAMS

FORMATS = ["openai", "responses", "anthropic", "gemini"]
REPLY = Reply(text="Hi", tool=("f", {"a": 1}), input_tokens=40, output_tokens=6, cached_tokens=4)


@pytest.mark.parametrize(
    ("fmt", "status", "expected"),
    [
        (
            "openai",
            401,
            {"error": {"message": "m", "type": "authentication_error", "code": "invalid_api_key"}},
        ),
        (
            "openai",
            503,
            {"error": {"message": "m", "type": "server_error", "code": "invalid_api_key"}},
        ),
        (
            "responses",
            429,
            {"error": {"message": "m", "type": "rate_limit_error", "code": "invalid_api_key"}},
        ),
        ("anthropic", 404, {"type": "error", "error": {"type": "not_found_error", "message": "m"}}),
        ("anthropic", 500, {"type": "error", "error": {"type": "api_error", "message": "m"}}),
        ("gemini", 429, {"error": {"code": 429, "message": "m", "status": "RESOURCE_EXHAUSTED"}}),
        ("gemini", 401, {"error": {"code": 401, "message": "m", "status": "UNAUTHENTICATED"}}),
    ],
)
def test_error_body(fmt, status, expected):
    assert json.loads(error_body(fmt, status, "m", "invalid_api_key")) == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_usage_tracker_across_any_chunking(fmt):
    data = STREAMS[fmt](REPLY)
    expected = usage_from_body(fmt, data)
    assert expected.output_tokens == 6 and expected.cached_tokens == 4
    for size in (1, 3, 17, 1000):
        tracker = UsageTracker(fmt)
        for i in range(0, len(data), size):
            tracker.feed(data[i : i + size])
        assert tracker.usage == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_usage_from_non_stream_body(fmt):
    usage = usage_from_body(fmt, BODIES[fmt](REPLY))
    assert usage.output_tokens == 6 and usage.cached_tokens == 4
    assert usage.input_tokens == (44 if fmt == "anthropic" else 40)
    assert usage_from_body(fmt, b"not json") == Usage()


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_format_body_is_relayed_untouched(fmt):
    body = BODIES[fmt](REPLY)
    out, usage = translate_response(body, source=fmt, target=fmt, model="m")
    assert out is body and usage.output_tokens == 6


@pytest.mark.parametrize("target", FORMATS)
@pytest.mark.parametrize("source", FORMATS)
def test_stream_only_upstream_aggregates_into_a_body(source, target):
    """A whole SSE body (Codex upstreams only stream) becomes one non-stream response."""
    out, usage = translate_response(STREAMS[source](REPLY), source=source, target=target, model="m")
    doc = json.loads(out)
    assert "Hi" in json.dumps(doc) and usage.output_tokens == 6


@pytest.mark.parametrize("target", FORMATS)
def test_upstream_error_body_is_rewritten(target):
    body = json.dumps(
        {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    ).encode()
    gem = json.dumps(
        {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}
    ).encode()
    out, _ = translate_response(gem, source="gemini", target=target, model="m")
    assert b"quota" in out and json.loads(out) == json.loads(error_body(target, 429, "quota"))
    out, _ = translate_response(body, source="anthropic", target=target, model="m")
    assert b"busy" in out


def test_unreadable_upstream_body_raises_upstream_error():
    with pytest.raises(UpstreamError):
        translate_response(b"<html>", source="openai", target="anthropic", model="m")


def test_responses_client_gets_namespace_back_non_stream():
    out, _ = translate_response(
        BODIES["anthropic"](Reply(text="", tool=("mcp__repl__js", {"code": "1"}))),
        source="anthropic",
        target="responses",
        model="m",
        request=bodies.codex(),
    )
    call = json.loads(out)["output"][0]
    assert (call["type"], call["namespace"], call["name"]) == ("function_call", "mcp__repl", "js")


@pytest.mark.parametrize("fmt", FORMATS)
def test_estimate_input_tokens(fmt):
    body = {
        "anthropic": bodies.claude_code,
        "responses": bodies.codex,
        "gemini": bodies.gemini_cli,
        "openai": bodies.openai_chat,
    }[fmt]()
    estimate = estimate_input_tokens(body, fmt)
    assert 20 < estimate < 5000
    bigger = json.loads(json.dumps(body))
    if fmt == "anthropic":
        bigger["messages"].append({"role": "user", "content": "word " * 400})
    elif fmt == "responses":
        bigger["input"].append({"role": "user", "content": "word " * 400})
    elif fmt == "gemini":
        bigger["contents"].append({"role": "user", "parts": [{"text": "word " * 400}]})
    else:
        bigger["messages"].append({"role": "user", "content": "word " * 400})
    assert 480 < estimate_input_tokens(bigger, fmt) - estimate < 560


@settings(max_examples=30, deadline=None)
@given(text=st.text(max_size=2000))
def test_estimate_grows_with_text(text):
    small = estimate_input_tokens({"messages": [{"role": "user", "content": ""}]}, "openai")
    big = estimate_input_tokens({"messages": [{"role": "user", "content": text}]}, "openai")
    assert big - small == (len(text) + 3) // 4
