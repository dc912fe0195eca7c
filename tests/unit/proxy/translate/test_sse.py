"""The incremental SSE parser: framing split anywhere, line endings, comments, size cap."""

from __future__ import annotations

import pytest

from services.proxy.translate.sse import SSEParser, _parse_frame, encode

STREAM = (
    b": keep-alive\n\n"
    b'event: message_start\ndata: {"a":1}\n\n'
    b"data: line1\ndata: line2\n\n"
    b"id: 7\nretry: 10\ndata: x\n\n"
    b"event: only-event\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [("message_start", b'{"a":1}'), ("", b"line1\nline2"), ("", b"x"), ("", b"[DONE]")]


def test_whole_stream_parses():
    """Comments and frames without data are skipped; multi-line data is joined with newlines."""
    assert SSEParser().feed(STREAM) == EXPECTED


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"])
def test_other_line_endings(ending):
    """CRLF and lone CR end lines too, even when split between chunks."""
    data = STREAM.replace(b"\n", ending)
    parser = SSEParser()
    frames = []
    for i in range(len(data)):
        frames += parser.feed(data[i : i + 1])
    assert frames + parser.flush() == EXPECTED


def test_every_split_point():
    """Cutting the stream in two at any byte gives the same frames."""
    for cut in range(len(STREAM) + 1):
        parser = SSEParser()
        assert parser.feed(STREAM[:cut]) + parser.feed(STREAM[cut:]) == EXPECTED


def test_oversized_frame_is_dropped_and_counted():
    """A frame above the cap is dropped whole; the frames after it still arrive."""
    parser = SSEParser(max_frame=64)
    frames = parser.feed(b"data: " + b"x" * 50)
    frames += parser.feed(b"y" * 50 + b"\n\ndata: ok\n\n")
    assert frames == [("", b"ok")]
    assert parser.oversized == 1


def test_many_small_chunks_of_a_large_frame_stay_linear():
    """A 2 MiB frame fed 1 KiB at a time is assembled once (this would take minutes if not)."""
    parser = SSEParser()
    payload = b"z" * (2 * 1024 * 1024)
    data = b"data: " + payload + b"\n\n"
    frames = []
    for i in range(0, len(data), 1024):
        frames += parser.feed(data[i : i + 1024])
    assert frames == [("", payload)]


def test_flush_returns_an_unterminated_last_frame():
    parser = SSEParser()
    assert parser.feed(b"data: a\n\ndata: b") == [("", b"a")]
    assert parser.flush() == [("", b"b")]
    assert parser.flush() == []


def test_encode():
    assert encode("ping", b"{}") == b"event: ping\ndata: {}\n\n"
    assert encode(None, b"{}") == b"data: {}\n\n"


@pytest.mark.parametrize(
    "raw",
    [
        b"event: message_start\ndata: {}",
        b"event: \ndata: ",
        b"event: a:b\ndata: x: y",
        b"event: \xff\ndata: {}",
        b"event: e\ndata: 1\ndata: 2",
        b"event: e\n: comment",
        b"event: e\ndata:no-space",
        b"event: e",
    ],
)
def test_event_frame_shortcut_parses_as_the_general_path(raw: bytes) -> None:
    """`event: X` + `data: Y` takes a shortcut; it gives what the line-by-line path gives."""
    general = _parse_frame(b"\n" + raw)  # a leading blank line skips both shortcuts
    assert _parse_frame(raw) == general
