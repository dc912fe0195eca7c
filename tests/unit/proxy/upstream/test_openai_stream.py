"""The OpenAI SSE relay: untouched bytes, usage read, injected usage chunk stripped."""

from __future__ import annotations

import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.proxy.upstream.openai_stream import OpenAIStream


def _frame(obj) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


CHUNKS = [
    _frame({"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hel"}}]}),
    _frame(
        {"id": "c1", "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}
    ),
    _frame(
        {
            "id": "c1",
            "choices": [],
            "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
        }
    ),
    b"data: [DONE]\n\n",
]
STREAM = b"".join(CHUNKS)


def _run(stream: OpenAIStream, pieces: list[bytes]) -> bytes:
    return b"".join(stream.feed(p) for p in pieces) + stream.finish()


def test_usage_is_read_and_kept_when_the_client_asked():
    """With the client's own include_usage the bytes are relayed untouched."""
    relay = OpenAIStream(strip_usage=False)
    assert _run(relay, [STREAM]) == STREAM
    assert relay.tokens is not None and relay.tokens.input_tokens == 7
    assert relay.done


def test_injected_usage_chunk_is_stripped():
    """When the proxy asked for usage itself, the client never sees the usage chunk."""
    relay = OpenAIStream(strip_usage=True)
    out = _run(relay, [STREAM])
    assert out == CHUNKS[0] + CHUNKS[1] + CHUNKS[3]
    assert relay.tokens is not None and relay.tokens.total_tokens == 9


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_chunking_gives_the_same_output(cuts):
    """However the upstream bytes are split, the relayed bytes and usage are the same."""
    points = sorted(set(cuts))
    pieces = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    relay = OpenAIStream(strip_usage=True)
    assert _run(relay, pieces) == CHUNKS[0] + CHUNKS[1] + CHUNKS[3]
    assert relay.tokens is not None and relay.tokens.output_tokens == 2


def test_malformed_frames_pass_without_crashing():
    """A frame that is not JSON is relayed as-is rather than breaking the stream."""
    relay = OpenAIStream(strip_usage=True)
    junk = b'data: {"usage": oops\n\n'
    assert _run(relay, [junk]) == junk


class _FrameByFrame(OpenAIStream):
    """The relay without its shortcut: every frame through the frame loop."""

    def _untouched(self, data: bytes) -> bool:
        return False

    def _clean_prefix(self, data: bytes) -> int:
        return 0


_NULL_USAGE = {"id": "c1", "usage": None, "choices": [{"index": 0, "delta": {"content": "x"}}]}
_PIECES = [
    _frame(_NULL_USAGE),
    b'data: {"usage":null,"choices":[{"delta":{"content":"\\"usage\\":{}"}}]}\n\n',
    b'data: {"usage":null,"choices":[{"usage":{"prompt_tokens":3}}]}\n\n',
    b'data: {"usage":null,"usage":{"prompt_tokens":5,"completion_tokens":1}}\n\n',
    b'data: {"usage": null, "choices": []}\n\n',
    b'data: {"id": "c2", "usage": null, "choices": [{"delta": {"usage":null}}]}\n\n',
    b'data: {"usage": null, "usage": {"prompt_tokens": 2}}\n\n',
    b": keep-alive\n\n",
    b": comment\ndata: " + orjson.dumps(_NULL_USAGE) + b"\n\n",
    b"\n\n",
    b"\n",
    b"\r\n",
    b"data: not json\n\n",
    b"data:[DONE]\n\n",
    b": done soon\ndata: [DONE]\n\n",
    b"\n\n\n",
    *CHUNKS,
    *CHUNKS,
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_PIECES), max_size=24),
    st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
    st.booleans(),
)
def test_the_shortcut_relays_what_the_frame_loop_would(pieces, cuts, strip):
    """Frames relayed without parsing (`"usage":null` chunks) give the same bytes, usage and
    end as the frame loop, however the stream is cut into reads."""
    stream = b"".join(pieces)
    points = sorted({c for c in cuts if c < len(stream)})
    reads = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    fast, slow = OpenAIStream(strip_usage=strip), _FrameByFrame(strip_usage=strip)
    assert _run(fast, reads) == _run(slow, reads)
    assert (fast.tokens, fast.done, fast.started) == (slow.tokens, slow.done, slow.started)


def test_null_usage_chunks_are_relayed_as_they_came():
    """OpenAI's `"usage":null` in every chunk of a stream that asked for usage: untouched."""
    relay = OpenAIStream(strip_usage=True)
    for chunk in (_frame(_NULL_USAGE), b"data: " + json.dumps(_NULL_USAGE).encode() + b"\n\n"):
        assert relay.feed(chunk) == chunk
    assert relay.tokens is None
