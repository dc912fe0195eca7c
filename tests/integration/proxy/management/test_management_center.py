"""What the Management Center needs from the running proxy: CORS on the inference routes it
calls from the browser, and `/api-key-usage` fed by real traffic."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import free_port
from tests.fakes.openai_upstream import Reply

from ..harness import CLIENT_KEY, MANAGEMENT_KEY, compat_config, run_proxy

ADMIN = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
ORIGIN = "http://panel.example:5173"
CLIENT = {"Authorization": f"Bearer {CLIENT_KEY}", "Origin": ORIGIN}
CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}


async def _status_and_cors(session, method: str, url: str, **kw) -> tuple[int, str | None]:
    async with session.request(method, url, **kw) as resp:
        await resp.read()  # streams included: the headers were sent before the body
        return resp.status, resp.headers.get("Access-Control-Allow-Origin")


async def test_every_inference_response_allows_browsers(fake, tmp_path):
    """Success, error and stream answers of /v1 and /v1beta carry Access-Control-Allow-Origin."""
    gemini = "/v1beta/models/gpt-test:streamGenerateContent?alt=sse"
    async with (
        run_proxy(tmp_path, compat_config(fake.base_url, ["k"])) as px,
        aiohttp.ClientSession() as session,
    ):
        base = px.base_url
        cases = [
            ("GET", "/v1/models", {"headers": CLIENT}, 200),
            ("GET", "/v1/models", {"headers": {"Origin": ORIGIN}}, 401),
            ("POST", "/v1/chat/completions", {"headers": CLIENT, "json": CHAT}, 200),
            (
                "POST",
                "/v1/chat/completions",
                {"headers": CLIENT, "json": {**CHAT, "stream": True}},
                200,
            ),
            (
                "POST",
                "/v1/chat/completions",
                {"headers": CLIENT, "json": {**CHAT, "model": "nope"}},
                404,
            ),
            ("POST", "/v1/chat/completions", {"headers": CLIENT, "data": b"{bad"}, 400),
            (
                "POST",
                gemini,
                {"headers": CLIENT, "json": {"contents": [{"parts": [{"text": "hi"}]}]}},
                200,
            ),
            ("GET", "/v1beta/models", {"headers": CLIENT}, 200),
            ("GET", "/v1/no-such-route", {"headers": CLIENT}, 405),  # only OPTIONS is there
        ]
        for method, path, kw, status in cases:
            assert await _status_and_cors(session, method, base + path, **kw) == (status, "*"), path
        fake.once(Reply(status=500))
        assert await _status_and_cors(
            session, "POST", base + "/v1/chat/completions", headers=CLIENT, json=CHAT
        ) == (500, "*")


async def test_preflights_of_both_prefixes_need_no_key(fake, tmp_path):
    asked = "authorization,content-type,x-stainless-os,x-goog-api-client"
    async with (
        run_proxy(tmp_path, compat_config(fake.base_url, ["k"])) as px,
        aiohttp.ClientSession() as session,
    ):
        for path in ("/v1/models", "/v1beta/models/gpt-test:generateContent"):
            async with session.options(
                px.base_url + path,
                headers={
                    "Origin": ORIGIN,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": asked,
                },
            ) as resp:
                assert resp.status == 204, path
                assert resp.headers["Access-Control-Allow-Origin"] == "*"
                allowed = resp.headers["Access-Control-Allow-Headers"]
                assert "Authorization" in allowed and "*" in allowed
                assert "POST" in resp.headers["Access-Control-Allow-Methods"]


async def test_other_routes_get_no_cors_headers(fake, tmp_path):
    async with (
        run_proxy(tmp_path, compat_config(fake.base_url, ["k"])) as px,
        aiohttp.ClientSession() as session,
    ):
        assert await _status_and_cors(
            session, "GET", px.base_url + "/healthz", headers={"Origin": ORIGIN}
        ) == (200, None)
        # SDKs and CLIs send no Origin: their answers carry no CORS block at all.
        sdk = {"Authorization": f"Bearer {CLIENT_KEY}"}
        assert await _status_and_cors(session, "GET", px.base_url + "/v1/models", headers=sdk) == (
            200,
            None,
        )
        # Management keeps its own rules: the origin echoed, the version headers exposed.
        async with session.get(
            px.base_url + "/v0/management/config", headers={**ADMIN, "Origin": ORIGIN}
        ) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
            assert "X-CPA-VERSION" in resp.headers["Access-Control-Expose-Headers"]


async def test_api_key_usage_counts_real_requests(fake, tmp_path):
    fake.once(Reply(status=400))
    config = compat_config(fake.base_url, ["k1"], **{"request-retry": 0})
    async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.post(
                px.base_url + "/v1/chat/completions", json=CHAT, headers=CLIENT
            ) as resp:
                await resp.read()
        async with session.get(px.base_url + "/v0/management/api-key-usage", headers=ADMIN) as resp:
            assert resp.status == 200
            usage = await resp.json()
    entry = usage["fake"][f"{fake.base_url}|k1"]
    assert (entry["success"], entry["failed"]) == (2, 1)
    assert len(entry["recent_requests"]) == 20
    assert entry["recent_requests"][-1]["success"] == 2
    assert entry["recent_requests"][-1]["failed"] == 1
    assert sum(b["success"] + b["failed"] for b in entry["recent_requests"][:-1]) == 0


@pytest.mark.browser
async def test_a_page_on_another_origin_reads_the_model_list(fake, tmp_path: Path):
    """The Management Center's call, `GET <proxy>/v1/models` with a Bearer key, from a page
    served on another origin in headless Chromium."""
    playwright = pytest.importorskip("playwright.async_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium is missing")

    async def blank(_request: web.Request) -> web.Response:
        return web.Response(text="<html></html>", content_type="text/html")

    page_app = web.Application()
    page_app.router.add_get("/", blank)
    runner = web.AppRunner(page_app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with (
            run_proxy(tmp_path, compat_config(fake.base_url, ["k"])) as px,
            playwright.async_playwright() as pw,
        ):
            browser = await pw.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
            )
            page = await browser.new_page()
            await page.goto(f"http://localhost:{port}/")
            script = """async ([url, key]) => {
                const headers = {Authorization: 'Bearer ' + key};
                const r = await fetch(url + '/v1/models', {headers});
                const body = await r.json();
                return [r.status, body.data.map(m => m.id)];
            }"""
            status, ids = await page.evaluate(script, [px.base_url, CLIENT_KEY])
            await browser.close()
    finally:
        await runner.cleanup()
    assert status == 200
    assert "gpt-test" in ids
