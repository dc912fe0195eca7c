"""An OpenAI-shaped upstream that sends a stream's first chunk and then holds it open.

For the memory figures of `bench/proxy_workers.py`: 1,000 idle streams through a proxy cost
what the proxy keeps per open stream, not CPU. The stream ends only when the client leaves.

`python -m bench.holding_upstream --port P`
"""

from __future__ import annotations

import argparse
import asyncio

import uvloop
from aiohttp import web

FIRST = (
    b'data: {"id":"chatcmpl-hold","object":"chat.completion.chunk","created":0,'
    b'"model":"bench-hold","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},'
    b'"finish_reason":null}]}\n\n'
)


async def hold(request: web.Request) -> web.StreamResponse:
    await request.read()
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await out.prepare(request)
    await out.write(FIRST)
    await asyncio.Event().wait()  # until the client goes away and the handler is cancelled
    return out


async def models(_request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "bench-hold"}]})


async def serve(port: int) -> None:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", hold)
    app.router.add_get("/v1/models", models)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=2048).start()
    await asyncio.Event().wait()  # until SIGTERM ends the process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
