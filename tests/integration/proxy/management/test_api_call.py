"""POST /api-call against a fake upstream: substitution, host restriction, caps, no leaks."""

from __future__ import annotations

import asyncio
import logging

import pytest
import structlog
from aiohttp import web

from services.core.logging import configure_logging
from services.proxy.management import CredentialInfo, ManagementLimits
from services.proxy.management.api_call import allowed_origins, checked_target
from tests.fakes.forward_proxy import Socks5Proxy

SECRET = "sk-upstream-secret-0123456789abcdef"
INDEX = "0123456789abcdef"


@pytest.fixture
def limits():
    return ManagementLimits(api_call_timeout=0.5, api_call_max_bytes=64 * 1024)


@pytest.fixture
async def upstream(aiohttp_server):
    seen: list[dict] = []
    never = asyncio.Event()

    async def echo(request: web.Request) -> web.Response:
        seen.append(
            {
                "method": request.method,
                "path": request.path_qs,
                "auth": request.headers.get("Authorization"),
                "body": await request.text(),
            }
        )
        return web.json_response({"ok": True, "path": request.path}, headers={"X-Up": "1"})

    async def redirect(_request: web.Request) -> web.Response:
        raise web.HTTPFound("http://evil.example/steal")

    async def huge(_request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (200 * 1024))

    async def slow(_request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    app = web.Application()
    app.router.add_route("*", "/v1/{tail:.*}", echo)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/huge", huge)
    app.router.add_get("/slow", slow)
    server = await aiohttp_server(app)
    server.seen = seen
    return server


@pytest.fixture
def with_credential(mgmt, upstream):
    base = str(upstream.make_url("/v1"))
    mgmt.fakes.credentials[INDEX] = CredentialInfo("openai-compatibility", base, SECRET)
    return base


async def test_token_is_substituted_in_header_url_and_data(mgmt, upstream, with_credential):
    resp = await mgmt.call(
        "POST",
        "/api-call",
        json={
            "authIndex": INDEX,
            "method": "POST",
            "url": f"{with_credential}/models?key=$TOKEN$",
            "header": {"Authorization": "Bearer $TOKEN$"},
            "data": '{"k": "$TOKEN$"}',
        },
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["status_code"] == 200
    assert body["header"]["X-Up"] == ["1"]
    assert '"ok":true' in body["body"].replace(" ", "")
    assert upstream.seen == [
        {
            "method": "POST",
            "path": f"/v1/models?key={SECRET}",
            "auth": f"Bearer {SECRET}",
            "body": f'{{"k": "{SECRET}"}}',
        }
    ]


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
async def test_calls_go_through_the_credentials_socks_proxy(mgmt, upstream, scheme):
    """`socks5h://` is a proxy-url the inference path accepts, so api-call accepts it too."""
    base = str(upstream.make_url("/v1"))
    async with Socks5Proxy() as proxy:
        proxy.scheme = scheme
        mgmt.fakes.credentials[INDEX] = CredentialInfo(
            "openai-compatibility", base, SECRET, proxy_url=proxy.url
        )
        resp = await mgmt.call(
            "POST", "/api-call", json={"authIndex": INDEX, "method": "GET", "url": f"{base}/models"}
        )
        assert resp.status == 200
        assert (await resp.json())["status_code"] == 200
        assert len(proxy.targets) == 1
    assert upstream.seen[-1]["path"] == "/v1/models"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/v1/models",
        "http://127.0.0.1:1/v1/models",  # same host, other port
        "https://api.openai.com/v1/models",  # another provider's host
        "file:///etc/passwd",
        "http://user:pass@127.0.0.1/",
    ],
)
async def test_foreign_targets_are_refused(mgmt, upstream, with_credential, url):
    resp = await mgmt.call(
        "POST",
        "/api-call",
        json={
            "auth_index": INDEX,
            "url": url,
            "header": {"Authorization": "Bearer $TOKEN$"},
        },
    )
    assert resp.status in {400, 403}
    assert "error" in await resp.json()
    assert upstream.seen == []


async def test_a_secret_cannot_move_the_call_to_another_host(mgmt, upstream):
    base = str(upstream.make_url("/v1"))
    mgmt.fakes.credentials[INDEX] = CredentialInfo("openai-compatibility", base, "x@evil.example")
    resp = await mgmt.call(
        "POST",
        "/api-call",
        json={
            "auth_index": INDEX,
            "url": "http://$TOKEN$/",
            "header": {},
        },
    )
    assert resp.status in {400, 403}
    assert upstream.seen == []


async def test_redirects_are_not_followed(mgmt, upstream, with_credential):
    url = str(upstream.make_url("/redirect"))
    body = await mgmt.ok_json("POST", "/api-call", json={"auth_index": INDEX, "url": url})
    assert body["status_code"] == 302
    assert body["header"]["Location"] == ["http://evil.example/steal"]


async def test_response_size_and_time_are_capped(mgmt, upstream, with_credential):
    for path, status in (("/huge", 502), ("/slow", 504)):
        body = {"auth_index": INDEX, "url": str(upstream.make_url(path))}
        resp = await mgmt.call("POST", "/api-call", json=body)
        assert resp.status == status
        if status == 502:
            assert "exceeds" in (await resp.json())["error"]


async def test_unreachable_upstream_is_a_502_without_details(mgmt, unused_port):
    base = f"http://127.0.0.1:{unused_port}"
    mgmt.fakes.credentials[INDEX] = CredentialInfo("openai-compatibility", base, SECRET)
    resp = await mgmt.call(
        "POST",
        "/api-call",
        json={
            "auth_index": INDEX,
            "url": f"{base}/x?k=$TOKEN$",
        },
    )
    assert resp.status == 502
    assert SECRET not in await resp.text()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"url": "http://x/"}, 400),
        ({"auth_index": INDEX}, 400),
        ({"auth_index": INDEX, "url": "http://x/", "method": "TRACE"}, 400),
        ({"auth_index": INDEX, "url": "http://x/", "header": {"A": 1}}, 400),
        ({"auth_index": INDEX, "url": "http://x/", "header": ["A"]}, 400),
        ({"auth_index": "ffffffffffffffff", "url": "http://x/"}, 404),
    ],
)
async def test_validation_errors(mgmt, with_credential, body, status):
    resp = await mgmt.call("POST", "/api-call", json=body)
    assert resp.status == status
    assert "error" in await resp.json()


async def test_token_and_secret_never_reach_any_log(mgmt, upstream, with_credential, tmp_path):
    """Neither structlog events nor rendered log lines carry `$TOKEN$` or the secret."""
    calls = [
        {"auth_index": INDEX, "url": f"{with_credential}/m?k=$TOKEN$", "header": {"X": "$TOKEN$"}},
        {"auth_index": INDEX, "url": "https://evil.example/?k=$TOKEN$"},
        {"auth_index": INDEX, "url": str(upstream.make_url("/huge")) + "?k=$TOKEN$"},
    ]
    with structlog.testing.capture_logs() as events:
        for call in calls:
            await mgmt.call("POST", "/api-call", json=call)
    assert any(e["event"] == "management_api_call" for e in events)
    assert any(e["event"] == "management_api_call_refused" for e in events)
    for event in events:
        assert "$TOKEN$" not in repr(event) and SECRET not in repr(event)

    log_file = tmp_path / "rendered.log"
    handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("DEBUG", "json", extra_handlers=[handler])
    structlog.configure(cache_logger_on_first_use=False)  # leave no cached loggers behind
    try:
        for call in calls:
            await mgmt.call("POST", "/api-call", json=call)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        handler.close()
        structlog.reset_defaults()
    rendered = log_file.read_text()
    assert "management_api_call" in rendered
    assert "$TOKEN$" not in rendered and SECRET not in rendered


def test_allowed_origins_table():
    claude = CredentialInfo("claude", "", "s")
    assert ("https", "api.anthropic.com", 443) in allowed_origins(claude)
    assert checked_target("https://console.anthropic.com/x", claude).host == "console.anthropic.com"
    codex = CredentialInfo("codex", "https://gateway.example:8443/v1", "s")
    assert checked_target("https://chatgpt.com/backend-api/wham/usage", codex)
    assert checked_target("https://gateway.example:8443/v1/models", codex)
    gemini = CredentialInfo("gemini", "", "s")
    assert checked_target("https://cloudcode-pa.googleapis.com/v1internal:x", gemini)
    compat = CredentialInfo("openai-compatibility", "https://llm.example/v1", "s")
    assert allowed_origins(compat) == {("https", "llm.example", 443)}
