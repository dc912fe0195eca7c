"""The stream processors the codecs use (OpenAI relay, same-format passthrough, translation),
fed real upstream streams with the noise real upstreams add: keep-alive comments between frames
and inside a frame's block, CRLF line ends, and reads split at any byte.

Properties: the client gets the same answer however the bytes are split and whatever comments
ride along, the stream counts as complete, and it says what the non-stream answer says.
Regressions: the end marker behind a comment, `n > 1` choices, Responses error sequence numbers.
"""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.proxy.translate import StreamTranslator, formats, translate_response
from services.proxy.translate.ir import EventLog, Reasoning, ResponseBuilder, Start, Text, ToolCall
from services.proxy.upstream.openai_stream import OpenAIStream
from services.proxy.upstream.translating_codec import PassthroughStream, TranslatedStream
from tests.fakes.wire_base import Reply
from tests.unit.proxy.translate.upstream_bytes import BODIES, STREAMS

FORMATS = ["openai", "responses", "anthropic", "gemini"]
PAIRS = [(c, u) for c in FORMATS for u in FORMATS]
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)
PROPERTY = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def replies(draw):
    tool = draw(st.one_of(st.none(), st.just(("get_weather", {"city": "Paris", "n": 2}))))
    return Reply(
        text=draw(TEXT),
        thinking=draw(st.one_of(st.none(), TEXT.filter(bool))),
        tool=tool,
        input_tokens=draw(st.integers(0, 5000)),
        output_tokens=draw(st.integers(0, 5000)),
        chunk=draw(st.integers(1, 6)),
    )


def _processor(client: str, upstream: str):
    if client == upstream == "openai":
        return OpenAIStream(strip_usage=True)
    if client == upstream:
        return PassthroughStream(upstream, "client-model")  # type: ignore[arg-type]
    return TranslatedStream(StreamTranslator(upstream, client, "client-model"))  # type: ignore[arg-type]


def _noisy(stream: bytes, comments: list[int], crlf: bool) -> bytes:
    """Keep-alive comments between frames (0), before a frame's data in its block (1), after
    it (2), or none (3); CRLF line ends when `crlf`."""
    frames = [f for f in stream.split(b"\n\n") if f]
    out = []
    for index, frame in enumerate(frames):
        kind = comments[index % len(comments)] if comments else 3
        if kind == 0:
            out.append(b": keep-alive\n\n" + frame)
        elif kind == 1:
            out.append(b": ping\n" + frame)
        elif kind == 2:
            out.append(frame + b"\n:pong")
        else:
            out.append(frame)
    data = b"\n\n".join(out) + b"\n\n"
    return data.replace(b"\n", b"\r\n") if crlf else data


def _run(proc, data: bytes, cuts: list[int]) -> bytes:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    return b"".join(proc.feed(p) for p in pieces) + proc.finish()


def _events(fmt: str, data: bytes) -> list:
    log = EventLog()
    reader = formats.codec(fmt).reader(log)
    reader.feed(data)
    reader.close()
    assert reader.skipped == 0, data
    return [e for e in log.events if not isinstance(e, Start)]  # Start carries fresh ids


@pytest.mark.parametrize(("client", "upstream"), PAIRS)
@PROPERTY
@given(
    reply=replies(),
    comments=st.lists(st.integers(0, 3), max_size=6),
    crlf=st.booleans(),
    cuts=st.lists(st.integers(0, 4000), max_size=10),
)
def test_noise_and_splits_never_change_the_answer(client, upstream, reply, comments, crlf, cuts):
    clean = STREAMS[upstream](reply)
    plain = _processor(client, upstream)
    expected = _events(client, _run(plain, clean, []))
    noisy = _noisy(clean, comments, crlf)
    proc = _processor(client, upstream)
    out = _run(proc, noisy, cuts)
    assert _events(client, out) == expected
    assert proc.done and plain.done
    if client == upstream != "openai":
        assert out == noisy  # a same-format relay never alters a byte


def _summary(resp):
    text = "".join(p.text for p in resp.parts if isinstance(p, Text))
    thought = "".join(p.text for p in resp.parts if isinstance(p, Reasoning))
    calls = [(p.name, json.loads(p.arguments)) for p in resp.parts if isinstance(p, ToolCall)]
    return text, thought, calls, resp.stop_reason


@pytest.mark.parametrize(("client", "upstream"), PAIRS)
@PROPERTY
@given(reply=replies(), comments=st.lists(st.integers(0, 3), max_size=4), crlf=st.booleans())
def test_stream_says_what_the_non_stream_answer_says(client, upstream, reply, comments, crlf):
    out = _run(_processor(client, upstream), _noisy(STREAMS[upstream](reply), comments, crlf), [])
    builder = ResponseBuilder()
    reader = formats.codec(client).reader(builder)
    reader.feed(out)
    reader.close()
    body, _ = translate_response(
        BODIES[upstream](reply), source=upstream, target=client, model="client-model"
    )
    whole = formats.codec(client).read_response(json.loads(body))
    assert _summary(builder.response) == _summary(whole)


# ------------------------------------------------------------------ the end marker
CHUNK = (
    b'data: {"id":"c","object":"chat.completion.chunk","choices":'
    b'[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
)
FINISH = (
    b'data: {"id":"c","object":"chat.completion.chunk","choices":'
    b'[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
)
USAGE = (
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[],'
    b'"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}\n\n'
)


@pytest.mark.parametrize(
    "end", [b": ping\ndata: [DONE]\n\n", b"data: [DONE]\n: ping\n\n", b":x\r\ndata:[DONE]\r\n\r\n"]
)
@pytest.mark.parametrize("strip_usage", [True, False])
def test_done_behind_a_comment_ends_the_openai_relay(end, strip_usage):
    """A comment line in the same block as `data: [DONE]` once hid the end marker: the client
    got an "upstream stream ended early" error and a second [DONE]."""
    relay = OpenAIStream(strip_usage=strip_usage)
    out = relay.feed(CHUNK + FINISH + USAGE + end) + relay.finish()
    assert relay.done
    assert out.count(b"[DONE]") == 1
    assert (b'"usage"' in out) is not strip_usage


def test_done_without_a_finish_reason_completes_a_translated_stream():
    """[DONE] is OpenAI's own end of stream: the translation ends normally, not with an error."""
    proc = TranslatedStream(StreamTranslator("openai", "anthropic", "m"))
    out = proc.feed(CHUNK + b": ping\ndata: [DONE]\n\n") + proc.finish()
    assert proc.done and out.count(b"event: message_stop") == 1


def test_a_cut_stream_is_still_reported_as_cut():
    proc = TranslatedStream(StreamTranslator("openai", "anthropic", "m"))
    proc.feed(CHUNK)
    assert proc.finish() == b"" and not proc.done


# ------------------------------------------------------------------ n > 1
def _choice_chunk(index: int, delta: dict, finish: str | None = None) -> bytes:
    choice = {"index": index, "delta": delta, "finish_reason": finish}
    return b"data: " + orjson.dumps({"id": "c", "choices": [choice]}) + b"\n\n"


N2_STREAM = b"".join(
    [
        _choice_chunk(0, {"role": "assistant", "content": "zero "}),
        _choice_chunk(1, {"role": "assistant", "content": "ONE "}),
        _choice_chunk(1, {"tool_calls": [{"index": 0, "id": "x", "function": {"name": "t"}}]}),
        _choice_chunk(0, {"content": "done"}),
        _choice_chunk(1, {}, "tool_calls"),
        _choice_chunk(0, {}, "stop"),
        b"data: [DONE]\n\n",
    ]
)


@pytest.mark.parametrize("client", ["anthropic", "gemini", "responses"])
def test_only_the_first_choice_of_an_openai_stream_is_translated(client):
    """Choices other than the first were appended to the answer; n > 1 is not translated."""
    proc = TranslatedStream(StreamTranslator("openai", client, "m"))
    out = _run(proc, N2_STREAM, [])
    builder = ResponseBuilder()
    reader = formats.codec(client).reader(builder)
    reader.feed(out)
    reader.close()
    assert _summary(builder.response) == ("zero done", "", [], "stop")


def test_only_the_first_choice_of_an_openai_answer_is_translated():
    body = {
        "choices": [
            {
                "index": 1,
                "message": {"role": "assistant", "content": "ONE"},
                "finish_reason": "stop",
            },
            {
                "index": 0,
                "message": {"role": "assistant", "content": "zero"},
                "finish_reason": "length",
            },
        ]
    }
    out, _ = translate_response(orjson.dumps(body), source="openai", target="anthropic", model="m")
    message = orjson.loads(out)
    assert message["content"] == [{"type": "text", "text": "zero"}]
    assert message["stop_reason"] == "max_tokens"


# ------------------------------------------------------------------ Responses error frames
def _sse_events(data: bytes) -> list[dict]:
    return [orjson.loads(line[6:]) for line in data.split(b"\n") if line.startswith(b"data: {")]


@pytest.mark.parametrize("cut", [1, 7, 40, 200])
def test_an_error_after_a_relayed_responses_stream_keeps_its_sequence(cut):
    """The error frames the proxy adds once restarted sequence_number at 0 and sent a second
    response.created; they continue the relayed stream now."""
    stream = STREAMS["responses"](Reply(text="Hello there, how are you?", chunk=3))
    events = _sse_events(stream)
    relayed = b"".join(f + b"\n\n" for f in stream.split(b"\n\n")[:4])  # 4 frames, then a cut
    proc = PassthroughStream("responses", "m")
    out = _run(proc, relayed, [cut])
    extra = _sse_events(proc.error("upstream stream ended early", 502))
    sequence = [e["sequence_number"] for e in _sse_events(out) + extra]
    assert sequence == list(range(len(sequence)))
    assert [e["type"] for e in extra] == ["error", "response.failed"]
    assert extra[1]["response"]["id"] == events[0]["response"]["id"]


def test_an_end_marker_split_over_three_reads_is_seen():
    """Found by the split property: the relay kept only the last read as context, so a marker
    cut into a short middle read went unseen and a complete stream counted as cut."""
    stream = STREAMS["gemini"](Reply(text="hi"))
    at = stream.index(b'"finishReason"') + 5
    proc = PassthroughStream("gemini", "m")
    _run(proc, stream, [at, at + 1])
    assert proc.done
