"""Malformed upstream frames and unknown event types are skipped, never raised."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.proxy.translate import StreamTranslator, UsageTracker, formats
from services.proxy.translate.ir import ResponseBuilder, Text
from services.proxy.translate.sse import SSEParser
from tests.fakes.wire_base import Reply
from tests.unit.proxy.translate.upstream_bytes import STREAMS

FORMATS = ["openai", "responses", "anthropic", "gemini"]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "choices",
                    "delta",
                    "index",
                    "content_block",
                    "candidates",
                    "parts",
                    "usage",
                    "message",
                    "item",
                    "output_index",
                    "text",
                    "functionCall",
                    "tool_calls",
                    "error",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
GARBAGE = [
    b"data: {not json}\n\n",
    b"data: [1, 2, 3]\n\n",
    b'data: {"choices": "nope"}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":"x","delta":7}\n\n',
    b'data: {"candidates": [{"content": {"parts": [{"functionCall": null}]}}]}\n\n',
    b"event: response.output_item.added\n"
    b'data: {"type":"response.output_item.added","item":null}\n\n',
    b'event: mystery\ndata: {"type":"brand_new_event","x":1}\n\n',
    b"data: \xff\xfe\n\n",
]


@pytest.mark.parametrize("target", FORMATS)
@pytest.mark.parametrize("source", FORMATS)
def test_garbage_between_good_frames(source, target):
    """Bad frames are dropped and counted; the answer around them still arrives whole."""
    good = STREAMS[source](Reply(text="Hello world"))
    frames = SSEParser().feed(good)
    cut = len(good) // 2
    cut = good.index(b"\n\n", cut) + 2
    translator = StreamTranslator(source, target, "m")
    out = translator.feed(good[:cut] + b"".join(GARBAGE) + good[cut:]) + translator.finish()
    assert translator.skipped >= 4
    assert frames and out
    builder = ResponseBuilder()
    reader = formats.codec(target).reader(builder)
    reader.feed(out)
    reader.close()
    assert reader.skipped == 0
    assert "".join(p.text for p in builder.response.parts if isinstance(p, Text)) == "Hello world"


@pytest.mark.parametrize("target", FORMATS)
@pytest.mark.parametrize("source", FORMATS)
@settings(max_examples=30, deadline=None)
@given(
    payloads=st.lists(JSON, max_size=6),
    event=st.sampled_from(
        ["", "message_start", "content_block_start", "response.output_item.added"]
    ),
)
def test_random_json_frames_never_raise(source, target, payloads, event):
    translator = StreamTranslator(source, target, "m")
    for payload in payloads:
        head = f"event: {event}\n".encode() if event else b""
        translator.feed(head + b"data: " + json.dumps(payload).encode() + b"\n\n")
    translator.finish()


@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.binary(max_size=64), max_size=8), fmt=st.sampled_from(FORMATS))
def test_random_bytes_never_raise(chunks, fmt):
    translator = StreamTranslator(fmt, "anthropic", "m")
    tracker = UsageTracker(fmt)
    for chunk in chunks:
        translator.feed(chunk)
        tracker.feed(chunk)
    translator.finish()
    tracker.finish()
