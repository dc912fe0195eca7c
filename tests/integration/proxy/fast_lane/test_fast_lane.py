"""The server's fast lane over real sockets: routing and handover, pipelining, parser strictness,
limits, disconnects, backpressure, idle connections and the `fast-lane` switch."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from services.proxy.config.store import ConfigStore
from services.proxy.http import fast_lane
from services.proxy.http.app import create_app
from services.proxy.http.fast_lane import FastConnection
from services.proxy.http.serving import start_serving
from tests.conftest import free_port
from tests.fakes.openai_upstream import Reply

from ..harness import CLIENT_KEY, compat_config, run_proxy, settings_for, write_config
from .wire import CHAT, closed, connect, get, post, read_answer


def _lanes(px) -> list[str]:
    """Which lane holds each open connection of the proxy."""
    return [type(c).__name__ for c in px.runner.server.connections]


@pytest.fixture
async def px(fake, tmp_path):
    async with run_proxy(tmp_path, compat_config(fake.base_url, ["k"])) as proxy:
        yield proxy


async def test_inference_request_is_served_on_the_fast_lane(px):
    reader, writer = await connect(px.base_url)
    writer.write(post())
    answer = await read_answer(reader)
    assert answer.status == 200
    assert orjson.loads(answer.body)["choices"][0]["message"]["content"]
    assert len(answer.headers["x-request-id"]) == 16
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["server"].startswith("Python/") and answer.headers["date"]
    assert _lanes(px) == ["FastConnection"]
    writer.close()


async def test_errors_keep_the_client_format_and_request_id(px):
    reader, writer = await connect(px.base_url)
    writer.write(post(key="wrong") + post("/v1/messages", {"model": "m"}, key="wrong"))
    openai_err = await read_answer(reader)
    anthropic_err = await read_answer(reader)
    assert openai_err.status == anthropic_err.status == 401
    assert orjson.loads(openai_err.body)["error"]["code"] == "invalid_api_key"
    assert orjson.loads(anthropic_err.body)["type"] == "error"
    assert openai_err.headers["x-request-id"] != anthropic_err.headers["x-request-id"]
    assert _lanes(px) == ["FastConnection"]
    writer.close()


async def test_metrics_name_routes_as_aiohttp_does(px):
    reader, writer = await connect(px.base_url)
    writer.write(post() + post("/v1beta/models/gpt-test:generateContent", {"contents": []}))
    await read_answer(reader)
    await read_answer(reader)
    writer.write(get("/metrics"))
    metrics = (await read_answer(reader)).body.decode()
    assert 'route="/v1/chat/completions",status="200"' in metrics
    assert 'route="/v1beta/models/{target}"' in metrics
    writer.close()


async def test_pipelined_requests_are_answered_in_order(px):
    reader, writer = await connect(px.base_url)
    writer.write(post() + post(key="wrong") + post())
    statuses = [(await read_answer(reader)).status for _ in range(3)]
    assert statuses == [200, 401, 200]
    writer.close()


async def test_other_requests_hand_the_connection_to_aiohttp(px):
    """Inference, then health, then inference again on one keep-alive connection, the second
    and third pipelined: aiohttp takes over at the health check's first byte."""
    reader, writer = await connect(px.base_url)
    writer.write(post())
    assert (await read_answer(reader)).status == 200
    assert _lanes(px) == ["FastConnection"]
    writer.write(get("/healthz") + post())
    health = await read_answer(reader)
    assert health.status == 200 and orjson.loads(health.body)["status"] == "ok"
    assert (await read_answer(reader)).status == 200
    assert _lanes(px) == ["RequestHandler"]
    writer.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /v1/chat/completions HTTP/1.1\r\nHost: p\r\n\r\n",
        b"HEAD /v1/messages HTTP/1.1\r\nHost: p\r\n\r\n",
        b"OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: p\r\nOrigin: http://x\r\n\r\n",
    ],
)
async def test_other_methods_answer_as_before(fake, tmp_path, raw):
    """The same status with the fast lane on and off."""
    seen = []
    for on in (True, False):
        config = compat_config(fake.base_url, ["k"], **{"fast-lane": on})
        async with run_proxy(tmp_path / str(on), config) as proxy:
            reader, writer = await connect(proxy.base_url)
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            seen.append(head.split(b" ")[1])
            writer.close()
    assert seen[0] == seen[1]


async def test_cors_and_limit_headers_reach_fast_lane_answers(px):
    reader, writer = await connect(px.base_url)
    writer.write(post(extra="Origin: http://app.example\r\n"))
    answer = await read_answer(reader)
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "X-Request-Id" in answer.headers["access-control-expose-headers"]
    writer.close()


async def test_streams_are_chunked_and_complete(px):
    reader, writer = await connect(px.base_url)
    writer.write(post(body={**CHAT, "stream": True}) + post())
    stream = await read_answer(reader)
    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.body.rstrip().endswith(b"data: [DONE]")
    assert (await read_answer(reader)).status == 200  # keep-alive after a stream
    writer.close()


async def test_chunked_request_body(px):
    body = orjson.dumps(CHAT)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: p\r\n"
        f"Authorization: Bearer {CLIENT_KEY}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunks = b"".join(
        b"%x\r\n%b\r\n" % (len(body[i : i + 7]), body[i : i + 7]) for i in range(0, len(body), 7)
    )
    reader, writer = await connect(px.base_url)
    writer.write(head.encode() + chunks)
    await writer.drain()
    writer.write(b"0\r\n\r\n")
    assert (await read_answer(reader)).status == 200
    writer.write(post())
    assert (await read_answer(reader)).status == 200
    writer.close()


async def test_a_request_pipelined_after_a_chunked_body_starts_at_its_own_first_byte(px):
    """The chunked body's end and the next request arrive in one read: the next request is
    found (and here handed to aiohttp) without losing a byte."""
    body = orjson.dumps(CHAT)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: p\r\n"
        f"Authorization: Bearer {CLIENT_KEY}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunked = b"%x\r\n%b\r\n0\r\nX-Trailer: 1\r\n\r\n" % (len(body), body)
    reader, writer = await connect(px.base_url)
    writer.write(head.encode() + chunked + post() + get("/healthz") + post())
    statuses = [(await read_answer(reader)).status for _ in range(4)]
    assert statuses == [200, 200, 200, 200]
    writer.close()


@pytest.mark.parametrize(
    "raw",
    [
        # CL + TE: the request-smuggling classic
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: p\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        # two Content-Lengths
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: p\r\nContent-Length: 2\r\n"
        b"Content-Length: 3\r\n\r\n{}",
        # a transfer coding other than chunked last
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked, gzip\r\n"
        b"\r\n",
        # a space before the colon
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: p\r\nContent-Length : 2\r\n\r\n{}",
    ],
)
async def test_smuggling_heads_are_refused_and_closed(px, raw):
    reader, writer = await connect(px.base_url)
    writer.write(raw + post())
    answer = await read_answer(reader)
    assert answer.status == 400
    assert await closed(reader)
    writer.close()


async def test_bad_chunk_size_is_a_400_in_the_client_format_then_closed(px):
    reader, writer = await connect(px.base_url)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: p\r\n"
        f"Authorization: Bearer {CLIENT_KEY}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    writer.write(head.encode() + b"zz\r\nhello\r\n0\r\n\r\n" + post())
    answer = await read_answer(reader)
    assert answer.status == 400
    assert orjson.loads(answer.body)["error"]["code"] == "bad_request"
    assert answer.headers["connection"] == "close"
    assert await closed(reader)
    writer.close()


async def test_oversized_head_is_refused(px):
    reader, writer = await connect(px.base_url)
    writer.write(post(extra=f"X-Big: {'a' * 20_000}\r\n"))
    answer = await read_answer(reader)
    assert answer.status in (400, 431)
    assert await closed(reader)
    writer.close()


async def test_client_disconnect_cancels_the_upstream_request(fake, px):
    fake.default = Reply(hang_after=0)
    _reader, writer = await connect(px.base_url)
    writer.write(post())
    await asyncio.wait_for(fake.hanging.wait(), 10)
    writer.close()
    await asyncio.wait_for(fake.disconnected.wait(), 10)


async def test_client_disconnect_mid_stream_cancels_the_upstream_stream(fake, px):
    fake.default = Reply(chunks=["a", "b", "c"], hang_after=2)
    reader, writer = await connect(px.base_url)
    writer.write(post(body={**CHAT, "stream": True}))
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.wait_for(fake.hanging.wait(), 10)
    writer.close()
    await asyncio.wait_for(fake.disconnected.wait(), 10)


async def test_slow_reader_holds_the_stream_with_bounded_buffers(fake, px):
    """A client that stops reading pauses the relay: the proxy's socket buffer stays near its
    high-water mark instead of taking the whole answer, and nothing is lost."""
    frame = "x" * 8192
    fake.default = Reply(chunks=[frame] * 800)  # about 6.5 MB of stream
    reader, writer = await connect(px.base_url)
    writer.write(post(body={**CHAT, "stream": True}))
    conns = px.runner.server.connections
    while not any(isinstance(c, FastConnection) and c.write_paused for c in conns):
        await asyncio.sleep(0.01)  # until the proxy's socket is full (bounded wait below)
        conns = px.runner.server.connections
    conn = next(c for c in conns if isinstance(c, FastConnection))
    assert conn.transport is not None
    assert conn.transport.get_write_buffer_size() < 1024 * 1024
    answer = await asyncio.wait_for(read_answer(reader), 30)
    assert answer.body.count(frame.encode()) == 800
    writer.close()


async def test_unread_body_is_drained_and_the_connection_goes_on(px):
    """A 401 answered before the body arrived: the rest of the body is skipped, not taken for
    the next request."""
    data = orjson.dumps({**CHAT, "pad": "p" * 200_000})
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: p\r\nAuthorization: Bearer wrong\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    reader, writer = await connect(px.base_url)
    writer.write(head.encode() + data[:1000])
    assert (await read_answer(reader)).status == 401
    writer.write(data[1000:] + post())
    assert (await read_answer(reader)).status == 200
    writer.close()


async def test_connection_close_is_honoured(px):
    reader, writer = await connect(px.base_url)
    writer.write(post(extra="Connection: close\r\n"))
    answer = await read_answer(reader)
    assert answer.status == 200 and answer.headers["connection"] == "close"
    assert await closed(reader)
    writer.close()


async def test_expect_continue_is_served_by_aiohttp(px):
    data = orjson.dumps(CHAT)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: p\r\n"
        f"Authorization: Bearer {CLIENT_KEY}\r\nExpect: 100-continue\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    reader, writer = await connect(px.base_url)
    writer.write(head.encode())
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 100")
    writer.write(data)
    assert (await read_answer(reader)).status == 200
    writer.close()


async def test_upgrade_requests_are_served_by_aiohttp(px):
    reader, writer = await connect(px.base_url)
    writer.write(post(extra="Connection: Upgrade\r\nUpgrade: h2c\r\n"))
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 ")
    assert _lanes(px) == ["RequestHandler"]
    writer.close()


async def test_idle_connections_close_after_the_keepalive_timeout(px, monkeypatch):
    monkeypatch.setattr(fast_lane, "KEEPALIVE_TIMEOUT", 0.2)
    reader, writer = await connect(px.base_url)
    writer.write(post())
    assert (await read_answer(reader)).status == 200
    assert await closed(reader)
    writer.close()
    reader, writer = await connect(px.base_url)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: p\r\n")  # a head never finished
    assert await closed(reader)
    writer.close()


async def test_the_switch_serves_everything_through_aiohttp(fake, tmp_path):
    config = compat_config(fake.base_url, ["k"], **{"fast-lane": False})
    async with run_proxy(tmp_path, config) as proxy:
        reader, writer = await connect(proxy.base_url)
        writer.write(post())
        assert (await read_answer(reader)).status == 200
        assert _lanes(proxy) == ["RequestHandler"]
        writer.close()


async def test_shutdown_lets_the_request_in_flight_finish_and_closes_idle_connections(
    fake, tmp_path
):
    """runner.cleanup() (SIGTERM): an idle fast connection closes at once, the one serving a
    request answers it (with `Connection: close`), then the app's resources close."""
    fake.default = Reply(hang_after=0)
    path = tmp_path / "config.yaml"
    write_config(path, compat_config(fake.base_url, ["k"]))
    app = create_app(settings_for(path), ConfigStore(path))
    port = free_port()
    runner = await start_serving(app, "127.0.0.1", port, shutdown_timeout=30)
    base = f"http://127.0.0.1:{port}"
    idle_reader, idle_writer = await connect(base)
    idle_writer.write(post(key="wrong"))
    assert (await read_answer(idle_reader)).status == 401
    reader, writer = await connect(base)
    writer.write(post())
    await asyncio.wait_for(fake.hanging.wait(), 10)
    stopping = asyncio.create_task(runner.cleanup())
    assert await closed(idle_reader)
    assert not stopping.done()
    fake.release()
    answer = await asyncio.wait_for(read_answer(reader), 10)
    assert answer.status == 200 and answer.headers["connection"] == "close"
    await asyncio.wait_for(stopping, 10)
    for w in (idle_writer, writer):
        w.close()


async def test_a_head_with_bare_line_feeds_is_answered_at_once(px):
    """`\\r\\n\\r\\n` never comes: the head must not wait for more bytes until the idle timeout."""
    reader, writer = await connect(px.base_url)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\nHost: p\nContent-Length: 2\n\n{}")
    answer = await asyncio.wait_for(read_answer(reader), 10)
    assert answer.status == 400
    writer.close()
