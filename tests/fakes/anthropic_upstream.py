"""A fake Anthropic Messages API: `POST /v1/messages` (stream and not) and `/count_tokens`.

Streams carry `usage` in both message_start and message_delta (the SDK's stream helper needs
both); errors are JSON bodies, or `event: error` once a stream has started.

    async with FakeAnthropic() as fake: ... fake.base_url, fake.push(Reply(...)), fake.requests
    python -m tests.fakes.anthropic_upstream --port 18001 [--fast [--chunks N]]

`--fast` serves one precomputed answer (N text deltas when streamed) with no scripting,
checking or recording, on uvloop: the benchmarks' upstream, as fast as the OpenAI fake's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.wire_base import (
    FakeServer,
    Reply,
    estimate_tokens,
    frame,
    main,
    sse_response,
)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_json(status: int, message: str) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


@dataclass
class FakeAnthropic(FakeServer):
    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/messages", self.messages),
            web.post("/v1/messages/count_tokens", self.count_tokens),
            web.get("/v1/models", self.models),
        ]

    async def models(self, request: web.Request) -> web.Response:
        data = [{"type": "model", "id": "claude-sonnet-4-6", "display_name": "Claude Sonnet 4.6"}]
        return web.json_response({"data": data, "has_more": False})

    async def count_tokens(self, request: web.Request) -> web.Response:
        body = await self.record(request)
        if not self.key_ok(request):
            return web.json_response(error_json(401, "invalid x-api-key"), status=401)
        return web.json_response({"input_tokens": estimate_tokens(body.get("messages"))})

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        reply = self.next_reply()
        if not self.key_ok(request):
            return web.json_response(error_json(401, "invalid x-api-key"), status=401)
        problem = self.problem("anthropic", body)
        if problem:
            return web.json_response(error_json(400, problem), status=400)
        if reply.status != 200:
            return web.json_response(error_json(reply.status, reply.error), status=reply.status)
        model = body.get("model", "claude-test")
        if body.get("stream"):
            return await self._stream(request, reply, model)
        return web.json_response(_message(reply, model))

    async def _stream(self, request: web.Request, reply: Reply, model: str) -> web.StreamResponse:
        return await stream_message(request, reply, model)


async def stream_message(
    request: web.Request, reply: Reply, model: str, headers: dict[str, str] | None = None
) -> web.StreamResponse:
    """Answer `request` with the Messages SSE stream of `reply` (extra response `headers`)."""
    response = await sse_response(request, headers)
    message = _message(reply, model)
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    await response.write(frame({"type": "message_start", "message": start}, "message_start"))
    await response.write(frame({"type": "ping"}, "ping"))
    for index, block in enumerate(message["content"]):
        for data in _block_frames(index, block, reply):
            await response.write(frame(data, data["type"]))
            if reply.fail_mid_stream and data["type"] == "content_block_delta":
                await response.write(frame(error_json(529, "Overloaded"), "error"))
                return response
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    usage = {"output_tokens": reply.output_tokens}
    await response.write(
        frame({"type": "message_delta", "delta": delta, "usage": usage}, "message_delta")
    )
    await response.write(frame({"type": "message_stop"}, "message_stop"))
    return response


def _message(reply: Reply, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.thinking:
        content.append({"type": "thinking", "thinking": reply.thinking, "signature": "sig-fake"})
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    if reply.tool:
        name, args = reply.tool
        content.append(
            {
                "type": "tool_use",
                "id": "toolu_" + uuid.uuid4().hex[:20],
                "name": name,
                "input": args,
            }
        )
    stop = reply.stop or ("tool_use" if reply.tool else "end_turn")
    return {
        "id": "msg_" + uuid.uuid4().hex[:24],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": reply.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": reply.cached_tokens,
            "output_tokens": reply.output_tokens,
        },
    }


def _block_frames(index: int, block: dict[str, Any], reply: Reply) -> list[dict[str, Any]]:
    kind = block["type"]
    if kind == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in reply.pieces(block["text"])]
    elif kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [
            {"type": "thinking_delta", "thinking": p} for p in reply.pieces(block["thinking"])
        ]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    else:
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        raw = json.dumps(block["input"])
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in reply.pieces(raw)]
    frames = [{"type": "content_block_start", "index": index, "content_block": start}]
    frames += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
    frames.append({"type": "content_block_stop", "index": index})
    return frames


# -- fast mode, for benchmarks ----------------------------------------------------------------


def _fast_frames(reply: Reply, model: str) -> list[bytes]:
    """The frames `stream_message` writes for `reply`, precomputed."""
    message = _message(reply, model)
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    frames = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for index, block in enumerate(message["content"]):
        frames += _block_frames(index, block, reply)
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    usage = {"output_tokens": reply.output_tokens}
    frames.append({"type": "message_delta", "delta": delta, "usage": usage})
    frames.append({"type": "message_stop"})
    return [frame(data, data["type"]) for data in frames]


def fast_app(chunks: int = 16) -> web.Application:
    """One precomputed answer, whole or as a stream of `chunks` text deltas; the request body is
    only searched for `"stream":true`, not parsed."""
    reply = Reply(text=" ".join(["word"] * chunks), chunk=5)  # "word " per delta
    whole = json.dumps(_message(reply, "claude-sonnet-4-5")).encode()
    frames = _fast_frames(reply, "claude-sonnet-4-5")

    async def messages(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if b'"stream":true' not in raw and b'"stream": true' not in raw:
            return web.Response(body=whole, content_type="application/json")
        response = await sse_response(request)
        for data in frames:
            await response.write(data)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    return app


async def _serve_fast(host: str, port: int, chunks: int) -> None:
    runner = web.AppRunner(fast_app(chunks), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"listening http://{host}:{runner.addresses[0][1]}", flush=True)
    try:
        await asyncio.Event().wait()  # until SIGTERM/SIGINT ends the process
    finally:
        await runner.cleanup()


def _main_fast(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="Fake Anthropic Messages upstream, fast mode")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fast", action="store_true")
    parser.add_argument("--chunks", type=int, default=16, help="text deltas per stream")
    args = parser.parse_args(argv)
    import uvloop

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_serve_fast(args.host, args.port, args.chunks))


if __name__ == "__main__":
    if "--fast" in sys.argv[1:]:
        _main_fast(sys.argv[1:])
    else:
        main(FakeAnthropic, "Fake Anthropic Messages upstream")
