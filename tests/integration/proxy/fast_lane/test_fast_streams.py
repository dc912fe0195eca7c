"""Streams on the fast lane: the head the lane builds itself (the same bytes as aiohttp's lane),
the last chunk and the chunked end in one write, and the guarantees that must survive it
(a client that leaves cancels the upstream stream, a slow client holds the relay)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest

from services.proxy.http.fast_lane import FastConnection
from tests.fakes.openai_upstream import Reply

from ..harness import run_proxy
from ..limits.helpers import limited_config
from .wire import CHAT, connect, post

STREAM = {**CHAT, "stream": True}
# Values that differ between two answers by design: the id, the clock, the limit's reset.
_VARYING = re.compile(rb"^(x-request-id|date|x-ratelimit-reset-requests): .*$", re.I | re.M)


def _head_shape(head: bytes) -> bytes:
    return _VARYING.sub(rb"\1: *", head)


@pytest.mark.parametrize(
    "extra",
    ["Origin: http://app.example\r\n", "Connection: close\r\n", ""],
    ids=["cors-and-limits", "connection-close", "plain"],
)
async def test_stream_head_is_byte_for_byte_the_aiohttp_lanes(fake, tmp_path, extra):
    """Content type, X-Request-Id, CORS, x-ratelimit-*, Transfer-Encoding, Date, Server and
    Connection: the same names, values and order on both lanes."""
    heads = []
    bodies = []
    for on in (True, False):
        config = limited_config(fake.base_url, {"requests-per-minute": 100}, **{"fast-lane": on})
        async with run_proxy(tmp_path / str(on), config) as px:
            reader, writer = await connect(px.base_url)
            writer.write(post(body=STREAM, extra=extra))
            head = await reader.readuntil(b"\r\n\r\n")
            heads.append(head)
            bodies.append(await _chunked_body(reader))
            if not extra:  # (a closing connection may be gone already)
                lanes = [type(c).__name__ for c in px.runner.server.connections]
                assert lanes == ["FastConnection" if on else "RequestHandler"]
            writer.close()
    assert heads[0].startswith(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream")
    assert b"\r\nTransfer-Encoding: chunked\r\n" in heads[0]
    if extra.startswith("Origin"):
        assert b"\r\nAccess-Control-Allow-Origin: *\r\n" in heads[0]
        assert b"\r\nx-ratelimit-remaining-requests: 99\r\n" in heads[0]
    if extra.startswith("Connection"):
        assert b"\r\nConnection: close\r\n" in heads[0]
    assert _head_shape(heads[0]) == _head_shape(heads[1])
    assert _frames(bodies[0]) == _frames(bodies[1])


async def _chunked_body(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return bytes(body)
        body += chunk[:-2]


def _frames(body: bytes) -> list[Any]:
    """The stream's frames without their per-answer ids and clocks."""
    frames: list[Any] = []
    for frame in body.split(b"\n\n"):
        if frame.startswith(b"data: {"):
            data = orjson.loads(frame[6:])
            data.pop("id", None)
            data.pop("created", None)
            frames.append(data)
        elif frame:
            frames.append(frame)
    return frames


# The whole upstream answer in one write: the proxy reads frames and end together.
_FRAMES = [
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}], "usage": None},
    {"choices": [{"index": 0, "delta": {"content": "Hello"}}], "usage": None},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None},
    {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}},
]
_SSE = b"".join(
    b"data: " + orjson.dumps({"id": "c1", "object": "chat.completion.chunk", **f}) + b"\n\n"
    for f in _FRAMES
) + (b"data: [DONE]\n\n")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


@asynccontextmanager
async def _raw_upstream(
    parts: list[bytes], gates: list[asyncio.Event], asked: asyncio.Event
) -> AsyncIterator[str]:
    """An upstream that answers a request with `parts`, each in one write once its gate is
    set (so the proxy reads them apart); `asked` is set when the request is in."""
    served: list[tuple[asyncio.Task[Any], asyncio.StreamWriter]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append((asyncio.current_task(), writer))  # type: ignore[arg-type]
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            found = re.search(rb"(?i)content-length: (\d+)", head)
            await reader.readexactly(int(found.group(1)) if found else 0)
            asked.set()
            for part, gate in zip(parts, gates, strict=True):
                await gate.wait()
                writer.write(part)
            await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for _, writer in served:
            writer.close()
        if served:
            await asyncio.wait([task for task, _ in served])


class _Writes:
    """The proxy's transport, every write it is given recorded (the bytes still go out)."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


async def _recorded_stream(parts: list[bytes], tmp_path: Any) -> tuple[list[bytes], bytes]:
    """The proxy's writes and the client's decoded body for one stream from `parts`."""
    gates = [asyncio.Event() for _ in parts]
    asked = asyncio.Event()
    async with _raw_upstream(parts, gates, asked) as upstream:
        async with run_proxy(tmp_path, limited_config(upstream, {})) as px:
            reader, writer = await connect(px.base_url)
            writer.write(post(body={**STREAM, "stream_options": {"include_usage": True}}))
            await asyncio.wait_for(asked.wait(), 10)  # the proxy's connection is up
            (conn,) = px.runner.server.connections
            assert isinstance(conn, FastConnection)
            recorder = _Writes(conn.transport)
            conn.transport = recorder  # type: ignore[assignment]
            gates[0].set()
            await reader.readuntil(b"\r\n\r\n")
            body = bytearray()
            for gate in gates[1:]:  # the part before reached the client: send the next
                size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
                body += (await reader.readexactly(size + 2))[:-2]
                gate.set()
            while True:
                size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
            writer.close()
    return recorder.writes, bytes(body)


async def test_a_stream_read_whole_goes_out_with_its_end_in_one_write(tmp_path):
    writes, body = await _recorded_stream([_HEAD + _chunk(_SSE) + b"0\r\n\r\n"], tmp_path)
    assert body == _SSE
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(_chunk(_SSE) + b"0\r\n\r\n")


async def test_the_last_frames_and_the_end_share_one_write(tmp_path):
    """Frames read apart go out apart; the read that carries the upstream's end goes out with
    the client's end, not followed by a write of its own."""
    split = _SSE.index(b"data: ", 10)
    parts = [_HEAD + _chunk(_SSE[:split]), _chunk(_SSE[split:]) + b"0\r\n\r\n"]
    writes, body = await _recorded_stream(parts, tmp_path)
    assert body == _SSE
    assert len(writes) == 2
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"\r\n\r\n" + _chunk(_SSE[:split]))
    assert writes[1] == _chunk(_SSE[split:]) + b"0\r\n\r\n"


@pytest.mark.parametrize("on", [True, False], ids=["fast-lane", "aiohttp-lane"])
async def test_client_leaving_mid_stream_cancels_the_upstream_on_both_lanes(fake, tmp_path, on):
    fake.default = Reply(chunks=["a", "b", "c"], hang_after=2)
    config = limited_config(fake.base_url, {}, **{"fast-lane": on})
    async with run_proxy(tmp_path, config) as px:
        reader, writer = await connect(px.base_url)
        writer.write(post(body=STREAM))
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.wait_for(fake.hanging.wait(), 10)
        writer.close()
        await asyncio.wait_for(fake.disconnected.wait(), 10)
