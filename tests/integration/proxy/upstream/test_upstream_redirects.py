"""The proxy never follows an upstream redirect: nothing reaches the address it points to.

A configured upstream answers 301/302/303/307/308 pointing at a loopback "trap" listener (the
stand-in for a metadata or admin endpoint). Every client route family gets a clear error (or
the documented fallback), and the trap sees no request at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.proxy.http.app_objects import RUNTIME
from services.proxy.upstream.sessions import RedirectRefused, UpstreamClients, upstream_session
from tests.conftest import free_port

from ..harness import CLIENT_KEY, MANAGEMENT_KEY, run_proxy

CLIENT = {"Authorization": f"Bearer {CLIENT_KEY}"}
REDIRECTS = (301, 302, 303, 307, 308)
CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class Servers:
    trap: TestServer
    redirector: TestServer
    trapped: list[str] = field(default_factory=list)
    redirected: list[str] = field(default_factory=list)
    status: int = 307

    def url(self, server: TestServer, path: str = "") -> str:
        return str(server.make_url(path)).rstrip("/")


async def _server(handler) -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    return server


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    """A trap that records whatever reaches it, and an upstream that redirects everything there."""
    box: list[Servers] = []

    async def trap(request: web.Request) -> web.Response:
        box[0].trapped.append(f"{request.method} {request.path_qs}")
        return web.json_response({"stolen": True})

    async def redirect(request: web.Request) -> web.Response:
        here = box[0]
        here.redirected.append(f"{request.method} {request.path}")
        location = here.url(here.trap, request.path_qs)
        return web.Response(status=here.status, headers={"Location": location})

    trap_server = await _server(trap)
    redirector = await _server(redirect)
    box.append(Servers(trap_server, redirector))
    try:
        yield box[0]
    finally:
        await redirector.close()
        await trap_server.close()


def _config(servers: Servers) -> dict:
    base = servers.url(servers.redirector)
    return {
        "api-keys": [CLIENT_KEY],
        "openai-compatibility": [
            {
                "name": "redirecting",
                "base-url": f"{base}/v1",
                "api-key-entries": [{"api-key": "sk-upstream-openai"}],
                "models": [{"name": "gpt-test"}],
            }
        ],
        "claude-api-key": [
            {"api-key": "sk-ant-upstream", "base-url": base, "models": [{"name": "claude-test"}]}
        ],
        "gemini-api-key": [
            {"api-key": "AIza-upstream", "base-url": base, "models": [{"name": "gemini-test"}]}
        ],
        "streaming": {"keepalive-seconds": 0, "bootstrap-retries": 0},
        "request-retry": 0,
    }


@pytest.fixture
async def proxy(servers, tmp_path):
    async with run_proxy(tmp_path, _config(servers)) as px:
        yield px


async def _post(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers={**CLIENT, **(headers or {})}) as resp:
            return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize("status", REDIRECTS)
@pytest.mark.parametrize("stream", [False, True])
async def test_chat_completion_redirect_is_a_502_and_never_followed(proxy, servers, status, stream):
    servers.status = status
    code, body = await _post(f"{proxy.base_url}/v1/chat/completions", {**CHAT, "stream": stream})
    assert code == 502
    assert "redirect" in body["error"]["message"]
    assert len(servers.redirected) == 1
    assert servers.trapped == []


@pytest.mark.parametrize(
    ("path", "body", "message_of"),
    [
        (
            "/v1/messages",
            {
                "model": "claude-test",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": "hi"}],
            },
            lambda b: b["error"]["message"],
        ),
        (
            "/v1beta/models/gemini-test:generateContent",
            {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
            lambda b: b["error"]["message"],
        ),
        ("/v1/responses", {"model": "gpt-test", "input": "hi"}, lambda b: b["error"]["message"]),
    ],
)
async def test_every_client_family_gets_its_own_error(proxy, servers, path, body, message_of):
    code, reply = await _post(proxy.base_url + path, body)
    assert code == 502
    assert "redirect" in message_of(reply)
    assert servers.redirected and servers.trapped == []


@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        (
            "/v1/messages/count_tokens",
            {"model": "claude-test", "messages": [{"role": "user", "content": "hello"}]},
            "input_tokens",
        ),
        (
            "/v1beta/models/gemini-test:countTokens",
            {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]},
            "totalTokens",
        ),
    ],
)
async def test_token_counting_falls_back_to_the_estimate(proxy, servers, path, body, key):
    """Counting is best effort: a redirecting upstream gives the local estimate, not the trap."""
    code, reply = await _post(proxy.base_url + path, body)
    assert code == 200
    assert reply[key] > 0
    assert servers.redirected and servers.trapped == []


async def test_api_call_returns_the_redirect_without_following_it(proxy, servers):
    """The management api-call hands the 3xx back to its caller, Location and all."""
    credential = next(c for c in proxy.app[RUNTIME].current.credentials if c.fmt == "openai")
    call = {"auth_index": credential.id, "url": servers.url(servers.redirector, "/v1/models")}
    admin = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
    code, result = await _post(f"{proxy.base_url}/v0/management/api-call", call, admin)
    assert code == 200
    assert result["status_code"] == 307
    assert servers.trapped == []


@pytest.mark.parametrize("status", REDIRECTS)
async def test_every_upstream_session_refuses_to_follow(servers, status):
    """A call site that forgets `allow_redirects=False` still never reaches the target: the
    shared session and the per-SOCKS-proxy ones (made by the same `upstream_session`)."""
    servers.status = status
    clients = UpstreamClients()
    await clients.start()
    try:
        for session in (clients.default, upstream_session()):
            async with session:
                with pytest.raises(RedirectRefused):
                    url = servers.url(servers.redirector, "/v1/x")
                    async with session.post(url, data=b"{}"):
                        pass
    finally:
        await clients.close()
    assert len(servers.redirected) == 2
    assert servers.trapped == []
