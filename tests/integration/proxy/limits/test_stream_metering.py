"""A stream's tokens count while it is still running: a Gemini upstream reports usage in every
chunk, and a second request is refused before the first stream ends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import orjson
from aiohttp import web

from services.proxy.http.app_objects import LIMITER

from ..harness import CLIENT_KEY, eventually, run_proxy
from .helpers import HEADERS, post_chat


class ReportingGemini:
    """streamGenerateContent (SSE) sending two chunks that report 3,000 output tokens, then
    holding the stream open until `finish` is set."""

    def __init__(self) -> None:
        self.finish = asyncio.Event()
        self.holding = asyncio.Event()
        self.requests = 0

    async def stream(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for out in (1500, 3000):
            chunk = {
                "candidates": [{"content": {"role": "model", "parts": [{"text": "word "}]}}],
                "usageMetadata": {
                    "promptTokenCount": 10,
                    "candidatesTokenCount": out,
                    "totalTokenCount": 10 + out,
                },
                "modelVersion": "gemini-2.5-flash",
            }
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
        self.holding.set()
        await self.finish.wait()
        return response

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_post("/v1beta/models/{model}:streamGenerateContent", self.stream)
        runner = web.AppRunner(app, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}"
        finally:
            self.finish.set()
            await runner.cleanup()


async def test_stream_tokens_count_before_the_stream_ends(tmp_path):
    upstream = ReportingGemini()
    async with upstream.running() as base:
        config = {
            "api-keys": [CLIENT_KEY],
            "gemini-api-key": [{"api-key": "g-key", "base-url": base}],
            "api-key-limits": {CLIENT_KEY: {"tokens-per-minute": 2000}},
            "streaming": {"keepalive-seconds": 0, "bootstrap-retries": 0},
        }
        body = {
            "model": "gemini-2.5-flash",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 20,
            "stream": True,
        }
        async with run_proxy(tmp_path, config) as px, aiohttp.ClientSession() as session:
            first = await session.post(
                f"{px.base_url}/v1/chat/completions", json=body, headers=HEADERS
            )
            assert first.status == 200
            await asyncio.wait_for(upstream.holding.wait(), 5)

            limiter = px.app[LIMITER]

            def metered() -> bool:  # the meter runs every second
                return any(lease.charged_live > 0 for lease in limiter.streaming)

            await eventually(metered, limit=10)
            status, _, answer = await post_chat(session, px.base_url, body)
            assert status == 429
            error = orjson.loads(answer)["error"]
            assert "2000 tokens per minute" in error["message"]
            assert error["code"] == "rate_limit_exceeded"
            upstream.finish.set()
            first.close()
    assert upstream.requests == 1
