"""A relayed Gemini stream's usage: held frames read newest first give what parsing every frame
in order gives, for any frames, any cuts and any moment the usage is asked for."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.proxy.translate import UsageTracker
from services.proxy.translate import usage as usage_map
from services.proxy.translate.sse import SSEParser
from services.proxy.translate.tracker import GEMINI_UNREAD_BYTES, GEMINI_UNREAD_LIMIT
from services.proxy.translate.usage import Usage

_counts = st.one_of(st.integers(-5, 10**6), st.booleans(), st.none(), st.text(max_size=3))
_metadata = st.dictionaries(
    st.sampled_from(
        [
            "promptTokenCount",
            "candidatesTokenCount",
            "thoughtsTokenCount",
            "cachedContentTokenCount",
            "toolUsePromptTokenCount",
            "totalTokenCount",
        ]
    ),
    _counts,
)


def _json_frame(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


_frames = st.one_of(
    _metadata.map(lambda m: _json_frame({"candidates": [], "usageMetadata": m})),
    _metadata.map(lambda m: _json_frame({"usageMetadata": m, "modelVersion": "g"})),
    st.sampled_from(
        [
            _json_frame({"candidates": [{"content": {"parts": [{"text": "usage: none"}]}}]}),
            _json_frame({"candidates": [], "usageMetadata": None}),
            _json_frame({"usageMetadata": [1, 2]}),
            _json_frame(["usageMetadata", {"promptTokenCount": 3}]),
            b'data: {"usageMetadata": {"promptTokenCount": 4}\n\n',  # broken JSON
            b": a comment about usageMetadata\n\n",
            b'data: {"usageMetadata":\ndata: {"promptTokenCount": 5}}\n\n',  # two data lines
            b'data: {"usageMetadata": {"promptTokenCount": 6}}\r\n\r\n',
            b'data: {"usageMetadata": {"promptTokenCount": 7}, "usageMetadata": null}\n\n',
            b"\n",
        ]
    ),
)


def _eager(parser: SSEParser, piece: bytes, usage: Usage, flush: bool = False) -> Usage:
    """The former rule: every frame mentioning usage parsed in order, the last valid wins."""
    frames = parser.feed(piece) + (parser.flush() if flush else [])
    for _event, data in frames:
        if b"sage" not in data:
            continue
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("usageMetadata"), dict):
            usage = usage_map.from_gemini(obj["usageMetadata"])
    return usage


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_frames, max_size=3 * GEMINI_UNREAD_LIMIT),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
    st.sets(st.integers(min_value=0, max_value=25)),
)
def test_held_frames_give_the_usage_of_parsing_every_frame(frames, cuts, asked_after):
    stream = b"".join(frames)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    tracker = UsageTracker("gemini")
    reference, expected = SSEParser(), Usage()
    for index, piece in enumerate(pieces):
        tracker.feed(piece)
        expected = _eager(reference, piece, expected)
        if index in asked_after:
            assert tracker.usage == expected
    tracker.finish()
    assert tracker.usage == _eager(reference, b"", expected, flush=True)


def test_large_frames_are_not_held_past_the_byte_bound():
    tracker = UsageTracker("gemini")
    media = "x" * (GEMINI_UNREAD_BYTES // 3)
    for n in range(1, 10):
        tracker.feed(_json_frame({"inlineData": media, "usageMetadata": {"promptTokenCount": n}}))
        assert sum(map(len, tracker._unread)) <= GEMINI_UNREAD_BYTES
    assert tracker.usage.input_tokens == 9


def test_a_long_stream_holds_a_bounded_number_of_frames():
    tracker = UsageTracker("gemini")
    for n in range(1, 10 * GEMINI_UNREAD_LIMIT):
        tracker.feed(_json_frame({"usageMetadata": {"promptTokenCount": n}}))
        assert len(tracker._unread) < GEMINI_UNREAD_LIMIT
    assert tracker.usage.input_tokens == 10 * GEMINI_UNREAD_LIMIT - 1
