"""The lean upstream client against real local servers that send exactly the bytes each case
needs: keep-alive reuse, connections the server closes, chunked and sized bodies, truncation,
timeouts, cancellation, redirects, TLS with a test CA, oversized heads and backpressure."""

from __future__ import annotations

import asyncio
import gzip
import ssl

import aiohttp
import pytest
from yarl import URL

from services.proxy.config.host_overrides import HostOverrides
from services.proxy.upstream.http1 import HIGH_WATER, BadUpstreamResponse, Connection
from services.proxy.upstream.lean_client import BadRequestHead, LeanClient
from services.proxy.upstream.sessions import BodyTooLarge

from ..harness import eventually
from .scripted import OK, Exchange, answer_ok, endless_stream, post, tls_pair

pytestmark = pytest.mark.integration


async def test_keep_alive_reuses_one_connection(serve, client):
    server = await serve(answer_ok)
    for _ in range(3):
        assert await post(client, server.url()) == (200, b'{"ok":true}')
    assert server.connections == 1
    assert len(server.requests) == 3
    assert client.idle_count() == 1
    head = server.requests[0].head.decode()
    assert head.startswith("POST /v1/chat HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n" in head
    assert "Content-Length: 7\r\n" in head
    assert server.requests[0].body == b'{"q":1}'


async def test_a_connection_the_server_closed_while_idle_is_not_used(serve, client):
    async def answer_then_close(ex: Exchange) -> bool:
        await answer_ok(ex)
        return False

    server = await serve(answer_then_close)
    assert (await post(client, server.url()))[0] == 200
    await eventually(lambda: all(c.closed for conns in client._idle.values() for c in conns))
    assert (await post(client, server.url()))[0] == 200
    assert server.connections == 2
    assert len(server.requests) == 2  # each request sent once


async def test_a_request_sent_on_a_reused_connection_is_never_resent(serve, client):
    """The server reads the second request and closes without answering: the upstream may
    have acted on it, so the caller gets the error and the request went out once."""

    async def first_only(ex: Exchange) -> bool:
        if len(ex.body) == 1:
            return False
        await answer_ok(ex)
        return True

    server = await serve(first_only)
    assert (await post(client, server.url()))[0] == 200
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(client, server.url(), b"x")
    assert [len(ex.body) for ex in server.requests] == [7, 1]
    assert server.connections == 1
    assert client.idle_count() == 0


async def test_chunked_body_arrives_whole_and_the_connection_is_reused(serve, client):
    async def chunked(ex: Exchange) -> bool:
        ex.writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b"data: one\n\n", b"data: two\n\n", b"data: [DONE]\n\n"):
            ex.writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await ex.writer.drain()
        ex.writer.write(b"0\r\n\r\n")
        return True

    server = await serve(chunked)
    for _ in range(2):
        status, body = await post(client, server.url())
        assert (status, body) == (200, b"data: one\n\ndata: two\n\ndata: [DONE]\n\n")
    assert server.connections == 1


async def test_a_body_delimited_by_the_close_ends_with_it(serve, client):
    async def until_close(ex: Exchange) -> bool:
        ex.writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        return False

    server = await serve(until_close)
    assert await post(client, server.url()) == (200, b"all of it")
    assert client.idle_count() == 0


async def test_a_truncated_body_is_an_error_and_the_connection_is_dropped(serve, client):
    async def truncated(ex: Exchange) -> bool:
        ex.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        return False

    server = await serve(truncated)
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(client, server.url())
    assert client.idle_count() == 0


async def test_a_truncated_chunked_stream_is_an_error(serve, client):
    async def cut(ex: Exchange) -> bool:
        ex.writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        return False

    server = await serve(cut)
    resp = await client.post(server.url(), {}, b"", connect_timeout=5)
    assert await resp.readany() == b"hello"
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.readany()
    resp.close()
    assert client.idle_count() == 0


async def test_slow_first_byte_times_out_and_closes_the_connection(serve, client):
    async def silent(ex: Exchange) -> bool:
        await ex.reader.read()  # until the client gives up
        return False

    server = await serve(silent)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await client.post(server.url(), {}, b"{}", connect_timeout=5)
    async with asyncio.timeout(5):
        await server.closed.wait()
    assert client.idle_count() == 0


async def test_idle_body_times_out(serve, client):
    async def stall(ex: Exchange) -> bool:
        ex.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await ex.reader.read()
        return False

    server = await serve(stall)
    resp = await client.post(server.url(), {}, b"{}", connect_timeout=5)
    with pytest.raises(TimeoutError):
        await resp.read_capped(1000, idle=0.2)
    resp.close()
    async with asyncio.timeout(5):
        await server.closed.wait()


async def test_cancel_mid_stream_closes_the_connection(serve, client):
    server = await serve(endless_stream)
    got = asyncio.Event()

    async def consume() -> None:
        resp = await client.post(server.url(), {}, b"{}", connect_timeout=5)
        try:
            while await resp.readany():
                got.set()
        finally:
            resp.close()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await got.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(5):
        await server.closed.wait()
    assert client.idle_count() == 0


async def test_a_redirect_is_returned_as_is_and_never_followed(serve, client):
    trap = await serve(answer_ok)

    async def redirect(ex: Exchange) -> bool:
        location = f"http://127.0.0.1:{trap.port}/stolen?token=secret"
        ex.writer.write(
            f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\n"
            "Content-Length: 0\r\n\r\n".encode()
        )
        return True

    server = await serve(redirect)
    resp = await client.post(server.url(), {}, b"{}", connect_timeout=5)
    assert resp.status == 307
    assert resp.redirect_host() == "127.0.0.1"
    assert await resp.read_capped(100) == b""
    resp.close()
    assert trap.connections == 0


async def test_tls_upstream_verified_against_the_ca(serve, tmp_path):
    server_ctx, client_ctx = tls_pair(tmp_path)
    server = await serve(answer_ok, server_ctx)
    lean = LeanClient(ssl_context=client_ctx)
    try:
        for _ in range(2):
            assert await post(lean, server.url(scheme="https")) == (200, b'{"ok":true}')
        assert server.connections == 1
    finally:
        await lean.close()
    # The system bundle does not know the test CA: the handshake fails, nothing is sent.
    system = LeanClient()
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            await post(system, server.url(scheme="https"))
    finally:
        await system.close()
    assert len(server.requests) == 2


async def test_a_huge_response_head_is_refused(serve, client):
    async def huge(ex: Exchange) -> bool:
        ex.writer.write(b"HTTP/1.1 200 OK\r\n")
        for n in range(2000):
            ex.writer.write(b"X-Filler-%d: %s\r\n" % (n, b"a" * 60))
        ex.writer.write(b"Content-Length: 0\r\n\r\n")
        await ex.reader.read()
        return False

    server = await serve(huge)
    with pytest.raises(BadUpstreamResponse):
        await client.post(server.url(), {}, b"{}", connect_timeout=5)
    async with asyncio.timeout(5):
        await server.closed.wait()


async def test_gzip_answer_is_decoded(serve, client):
    packed = gzip.compress(b'{"answer":"' + b"z" * 5000 + b'"}')

    async def gzipped(ex: Exchange) -> bool:
        ex.writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
            % (len(packed), packed)
        )
        return True

    server = await serve(gzipped)
    _, body = await post(client, server.url())
    assert body == b'{"answer":"' + b"z" * 5000 + b'"}'
    assert b"Accept-Encoding: gzip, deflate\r\n" in server.requests[0].head


async def test_body_over_the_cap_is_refused(serve, client):
    server = await serve(answer_ok)
    resp = await client.post(server.url(), {}, b"{}", connect_timeout=5)
    with pytest.raises(BodyTooLarge):
        await resp.read_capped(5)
    resp.close()


async def test_a_reader_that_does_not_read_pauses_the_socket(serve, client):
    size = 8 * HIGH_WATER

    async def big(ex: Exchange) -> bool:
        ex.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        ex.writer.write(b"b" * size)
        await ex.writer.drain()
        return True

    server = await serve(big)
    resp = await client.post(server.url(), {}, b"{}", connect_timeout=5)
    conn: Connection = resp._conn
    await eventually(lambda: conn._paused)
    assert resp._buffered < HIGH_WATER + 300 * 1024  # one socket read past the mark at most
    assert len(await resp.read_capped(size)) == size
    resp.close()
    assert client.idle_count() == 1


async def test_host_overrides_send_to_the_replacement_origin(serve):
    server = await serve(answer_ok)
    overrides = HostOverrides({"https://api.example.com": f"http://127.0.0.1:{server.port}"})
    lean = LeanClient(overrides)
    try:
        status, _ = await post(lean, URL("https://api.example.com/v1/chat?x=1"))
    finally:
        await lean.close()
    assert status == 200
    assert server.requests[0].head.startswith(b"POST /v1/chat?x=1 HTTP/1.1\r\n")


async def test_a_header_with_a_line_break_is_refused_before_sending(serve, client):
    server = await serve(answer_ok)
    with pytest.raises(BadRequestHead):
        await client.post(server.url(), {"X-Evil": "a\r\nInjected: 1"}, b"", connect_timeout=5)
    assert server.connections == 0


async def test_a_change_of_the_host_overrides_applies_to_the_next_request(serve):
    first, second = await serve(answer_ok), await serve(answer_ok)
    overrides = HostOverrides({"https://api.example.com": f"http://127.0.0.1:{first.port}"})
    lean = LeanClient(overrides)
    url = URL("https://api.example.com/v1/chat")
    try:
        assert (await post(lean, url))[0] == 200
        overrides.update({"https://api.example.com": f"http://127.0.0.1:{second.port}"})
        assert (await post(lean, url))[0] == 200
    finally:
        await lean.close()
    assert (len(first.requests), len(second.requests)) == (1, 1)
    assert f"Host: 127.0.0.1:{second.port}\r\n".encode() in second.requests[0].head


async def test_each_header_set_is_sent_as_given(serve, client):
    """Header blocks are cached by content: a changed token goes out at once."""
    server = await serve(answer_ok)
    for token in ("one", "two", "one"):
        resp = await client.post(
            server.url(), {"Authorization": f"Bearer {token}"}, b"", connect_timeout=5
        )
        await resp.read_capped(100)
        resp.close()
    sent = [ex.head.split(b"Authorization: ")[1].split(b"\r\n")[0] for ex in server.requests]
    assert sent == [b"Bearer one", b"Bearer two", b"Bearer one"]


async def test_an_interim_answer_is_skipped_for_the_real_one(serve, client):
    async def early_hints(ex: Exchange) -> bool:
        ex.writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n")
        await ex.writer.drain()
        ex.writer.write(OK)
        return True

    server = await serve(early_hints)
    for _ in range(2):
        assert await post(client, server.url()) == (200, b'{"ok":true}')
    assert server.connections == 1
