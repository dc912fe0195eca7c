"""The lean client through outbound proxies (the fakes of tests/fakes/forward_proxy.py) in front
of scripted upstreams: HTTP CONNECT with TLS on top, absolute-form plain HTTP, SOCKS5 with and
without username/password, SOCKS4; tunnels reused like direct connections; proxy refusals,
a proxy that is down or silent, and a cancel mid-stream; credentials in no error."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import AsyncIterator

import pytest
from yarl import URL

from services.proxy.upstream.lean_client import LeanClient
from services.proxy.upstream.outbound_proxy import (
    ProxyAuthFailed,
    ProxyRefused,
    ProxyUnreachable,
    parse_proxy_url,
)
from tests.conftest import free_port
from tests.fakes.forward_proxy import HttpForwardProxy, Socks4Proxy, Socks5Proxy

from .scripted import answer_ok, endless_stream, post, tls_pair

pytestmark = pytest.mark.integration

SECRET = "pr0xy-s3cret"


def _through(url: str, ssl_context=None) -> LeanClient:
    proxy = parse_proxy_url(url)
    assert proxy is not None
    return LeanClient(ssl_context=ssl_context, proxy=proxy)


@pytest.fixture
async def clients() -> AsyncIterator[list[LeanClient]]:
    made: list[LeanClient] = []
    yield made
    for lean in made:
        await lean.close()


def _no_secret(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc)) + repr(exc)
    assert SECRET not in text


@pytest.mark.parametrize("auth", [None, ("user", SECRET)])
async def test_https_through_connect_reuses_one_tunnel(serve, clients, tmp_path, auth):
    server_ctx, client_ctx = tls_pair(tmp_path)
    server = await serve(answer_ok, server_ctx)
    async with HttpForwardProxy(auth) as proxy:
        lean = _through(proxy.url, client_ctx)
        clients.append(lean)
        for _ in range(3):
            assert await post(lean, server.url(scheme="https")) == (200, b'{"ok":true}')
    assert proxy.targets == [f"127.0.0.1:{server.port}"]  # one CONNECT for three requests
    assert server.connections == 1
    assert all(b"Proxy-" not in ex.head for ex in server.requests)


@pytest.mark.parametrize("auth", [None, ("user", SECRET)])
async def test_http_through_an_http_proxy_in_absolute_form(serve, clients, auth):
    server = await serve(answer_ok)
    async with HttpForwardProxy(auth) as proxy:
        lean = _through(proxy.url)
        clients.append(lean)
        for _ in range(3):
            assert (await post(lean, server.url()))[0] == 200
    assert proxy.targets == [f"http://127.0.0.1:{server.port}/v1/chat"] * 3
    assert server.connections == 1  # one keep-alive connection to the proxy
    assert all(b"Proxy-" not in ex.head for ex in server.requests)


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("auth", [None, ("user", SECRET)])
async def test_socks5_tunnels_are_reused(serve, clients, tmp_path, scheme, auth):
    server_ctx, client_ctx = tls_pair(tmp_path)
    server = await serve(answer_ok, server_ctx if scheme == "https" else None)
    async with Socks5Proxy(auth) as proxy:
        lean = _through(proxy.url, client_ctx)
        clients.append(lean)
        for _ in range(2):
            assert (await post(lean, server.url(scheme=scheme)))[0] == 200
    assert proxy.targets == [f"127.0.0.1:{server.port}"]
    assert server.connections == 1


async def test_socks5h_sends_the_name_to_the_proxy(clients, serve):
    server = await serve(answer_ok)
    async with Socks5Proxy() as proxy:
        proxy.scheme = "socks5h"
        lean = _through(proxy.url)
        clients.append(lean)
        assert (await post(lean, server.url().with_host("localhost")))[0] == 200
    assert proxy.targets == [f"localhost:{server.port}"]


async def test_socks4_resolves_here_and_sends_the_user_id(clients, serve):
    server = await serve(answer_ok)
    async with Socks4Proxy() as proxy:
        lean = _through(proxy.url)
        clients.append(lean)
        assert (await post(lean, server.url().with_host("localhost")))[0] == 200
    assert proxy.targets == [f"127.0.0.1:{server.port}"]
    assert proxy.user_ids == ["someone"]


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_wrong_proxy_password_is_a_clear_error_without_it(serve, clients, tmp_path, scheme):
    server_ctx, client_ctx = tls_pair(tmp_path)
    server = await serve(answer_ok, server_ctx if scheme == "https" else None)
    async with HttpForwardProxy(("user", "right")) as proxy:
        lean = _through(proxy.url.replace("right", SECRET), client_ctx)
        clients.append(lean)
        with pytest.raises(ProxyAuthFailed, match="407") as caught:
            await post(lean, server.url(scheme=scheme))
    _no_secret(caught.value)
    assert f"127.0.0.1:{proxy.port}" in str(caught.value)
    assert server.connections == 0
    assert lean.idle_count() == 0


async def test_socks5_wrong_password_and_refusals(serve, clients):
    server = await serve(answer_ok)
    async with Socks5Proxy(("user", "right")) as proxy:
        lean = _through(proxy.url.replace("right", SECRET))
        clients.append(lean)
        with pytest.raises(ProxyAuthFailed) as caught:
            await post(lean, server.url())
    _no_secret(caught.value)
    async with Socks5Proxy(reply=5) as refusing:
        lean = _through(refusing.url)
        clients.append(lean)
        with pytest.raises(ProxyRefused, match="SOCKS5 reply 5"):
            await post(lean, server.url())
    assert server.connections == 0


async def test_a_proxy_that_is_down_is_unreachable(clients, serve):
    server = await serve(answer_ok)
    lean = _through(f"http://user:{SECRET}@127.0.0.1:{free_port()}")
    clients.append(lean)
    with pytest.raises(ProxyUnreachable) as caught:
        await post(lean, server.url(scheme="https"))
    _no_secret(caught.value)


async def test_the_connect_timeout_covers_the_handshake(clients):
    """A proxy that accepts and never answers: the connect timeout ends the handshake and
    the socket is closed."""
    accepted: list[asyncio.StreamReader] = []
    gone = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(reader)
        await reader.read()  # until the client hangs up
        gone.set()
        writer.close()

    silent_proxy = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = silent_proxy.sockets[0].getsockname()[1]
    lean = _through(f"socks5://127.0.0.1:{port}")
    clients.append(lean)
    try:
        with pytest.raises(TimeoutError):
            await lean.post(URL(f"http://127.0.0.1:{port}/v1"), {}, b"{}", connect_timeout=0.2)
        async with asyncio.timeout(5):
            await gone.wait()
    finally:
        silent_proxy.close()
    assert len(accepted) == 1


async def test_cancel_mid_stream_closes_the_tunnel(serve, clients, tmp_path):
    server_ctx, client_ctx = tls_pair(tmp_path)

    server = await serve(endless_stream, server_ctx)
    async with HttpForwardProxy() as proxy:
        lean = _through(proxy.url, client_ctx)
        clients.append(lean)
        got = asyncio.Event()

        async def consume() -> None:
            resp = await lean.post(server.url(scheme="https"), {}, b"{}", connect_timeout=5)
            try:
                while await resp.readany():
                    got.set()
            finally:
                resp.close()

        task = asyncio.create_task(consume())
        async with asyncio.timeout(5):
            await got.wait()
        assert proxy.open_tunnels == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(5):
            await server.closed.wait()
            while proxy.open_tunnels:
                proxy.tunnel_closed.clear()
                await proxy.tunnel_closed.wait()
    assert lean.idle_count() == 0
