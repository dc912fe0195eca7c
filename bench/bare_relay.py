"""A bare aiohttp relay: the floor `bench/proxy_overhead.py` compares the proxy against.

It reads the client's body, POSTs it to one upstream with a pooled `ClientSession` and relays
the answer (streams chunk by chunk as they arrive). No auth, routing, validation, usage,
metrics or logging. It runs like the proxy does (uvloop, handler cancellation, the same GC
settings), so the difference between the two is what the proxy's features and code cost.

`python -m bench.bare_relay --port P --upstream http://127.0.0.1:U`
"""

from __future__ import annotations

import argparse
import asyncio
import gc

import aiohttp
import uvloop
from aiohttp import web


def tune_gc() -> None:
    """The proxy's settings (services/proxy/__main__.py), without importing the proxy: its
    modules would count in the relay's memory."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)


def relay_app(upstream: str) -> web.Application:
    app = web.Application()
    holder: dict[str, aiohttp.ClientSession] = {}

    async def on_startup(_app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
        holder["s"] = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar()
        )

    async def on_cleanup(_app: web.Application) -> None:
        await holder["s"].close()

    async def relay(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        url = upstream + request.path
        headers = {"Content-Type": "application/json", "Authorization": "Bearer upstream-key"}
        async with holder["s"].post(url, data=body, headers=headers) as resp:
            if resp.content_type != "text/event-stream":
                answer = await resp.read()
                return web.Response(body=answer, status=resp.status, content_type=resp.content_type)
            out = web.StreamResponse(
                status=resp.status, headers={"Content-Type": "text/event-stream"}
            )
            await out.prepare(request)
            async for chunk in resp.content.iter_any():
                await out.write(chunk)
            await out.write_eof()
            return out

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_post("/v1/chat/completions", relay)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(port: int, upstream: str) -> None:
    runner = web.AppRunner(relay_app(upstream), handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    tune_gc()
    try:
        await asyncio.Event().wait()  # until SIGTERM ends the process
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="origin, e.g. http://127.0.0.1:9000")
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.upstream.rstrip("/")))


if __name__ == "__main__":
    main()
