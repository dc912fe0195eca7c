"""Property tests: chunking never changes a translation, and a streamed answer translates to
the same text, tool calls, stop reason and usage as the same answer non-streamed."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.proxy.translate import StreamTranslator, formats, translate_response
from services.proxy.translate.ir import EventLog, Reasoning, ResponseBuilder, Start, Text, ToolCall
from tests.fakes.wire_base import Reply
from tests.unit.proxy.translate.upstream_bytes import BODIES, STREAMS

FORMATS = ["openai", "responses", "anthropic", "gemini"]
PAIRS = [(s, t) for s in FORMATS for t in FORMATS]
LENGTH_STOP = {
    "openai": "length",
    "anthropic": "max_tokens",
    "gemini": "MAX_TOKENS",
    "responses": "max_output_tokens",
}
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
ARGS = st.dictionaries(
    st.text(alphabet="abcxyz_", min_size=1, max_size=5),
    st.one_of(st.integers(-1000, 1000), TEXT, st.booleans(), st.none()),
    max_size=3,
)


@st.composite
def replies(draw):
    tool = draw(
        st.one_of(st.none(), st.tuples(st.sampled_from(["get_weather", "run", "ls"]), ARGS))
    )
    return Reply(
        text=draw(TEXT),
        thinking=draw(st.one_of(st.none(), TEXT.filter(bool))),
        tool=tool,
        input_tokens=draw(st.integers(0, 10_000)),
        output_tokens=draw(st.integers(0, 10_000)),
        cached_tokens=0,
        chunk=draw(st.integers(1, 7)),
        stop=None,
    )


PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _events(fmt, data):
    log = EventLog()
    reader = formats.codec(fmt).reader(log)
    reader.feed(data)
    reader.close()
    assert reader.skipped == 0, "the translator wrote a frame its own reader cannot read"
    return [e for e in log.events if not isinstance(e, Start)]  # Start carries fresh ids


def _translate(source, target, data, cuts):
    translator = StreamTranslator(source, target, "client-model")
    out = []
    last = 0
    for cut in sorted(cuts):
        out.append(translator.feed(data[last:cut]))
        last = cut
    out.append(translator.feed(data[last:]))
    out.append(translator.finish())
    return b"".join(out), translator


@pytest.mark.parametrize(("source", "target"), PAIRS)
@PROPERTY
@given(reply=replies(), data=st.data())
def test_chunk_boundaries_do_not_matter(source, target, reply, data):
    upstream = STREAMS[source](reply)
    cuts = data.draw(st.lists(st.integers(0, len(upstream)), max_size=12))
    whole, t1 = _translate(source, target, upstream, [])
    split, t2 = _translate(source, target, upstream, cuts)
    assert _events(target, whole) == _events(target, split)
    assert t1.usage == t2.usage and t1.finish_reason == t2.finish_reason


def _summary(resp):
    text = "".join(p.text for p in resp.parts if isinstance(p, Text))
    thought = "".join(p.text for p in resp.parts if isinstance(p, Reasoning))
    calls = [(p.name, json.loads(p.arguments)) for p in resp.parts if isinstance(p, ToolCall)]
    return text, thought, calls, resp.stop_reason, resp.usage


@pytest.mark.parametrize(("source", "target"), PAIRS)
@PROPERTY
@given(reply=replies(), truncated=st.booleans())
def test_stream_and_non_stream_agree(source, target, reply, truncated):
    if truncated:
        reply.stop = LENGTH_STOP[source]
    streamed, translator = _translate(source, target, STREAMS[source](reply), [])
    builder = ResponseBuilder()
    reader = formats.codec(target).reader(builder)
    reader.feed(streamed)
    reader.close()
    body, usage = translate_response(
        BODIES[source](reply), source=source, target=target, model="client-model"
    )
    whole = formats.codec(target).read_response(json.loads(body))
    assert _summary(builder.response) == _summary(whole)
    assert usage == translator.usage
    expected_text = reply.text
    assert _summary(whole)[0] == expected_text
    if reply.tool:
        assert _summary(whole)[2] == [(reply.tool[0], reply.tool[1])]
