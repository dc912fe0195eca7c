"""A scriptable fake OpenAI-compatible upstream speaking OpenAI's real wire format.

In a test::

    async with FakeOpenAI() as fake:           # listens on a free 127.0.0.1 port
        fake.base_url                          # "http://127.0.0.1:PORT/v1" (a config base-url)
        fake.default = Reply(text="Hi there", completion_tokens=3)
        fake.once(Reply(status=429, headers={"Retry-After": "7"}), key="sk-a")  # next match only
        fake.always(Reply(status=500), model="broken")                          # every match
        ...                                    # point the proxy (or any client) at base_url
        fake.requests[-1].api_key, fake.requests[-1].body["stream_options"]
        await asyncio.wait_for(fake.disconnected.wait(), 5)   # the client hung up mid-reply
        fake.release()                         # let replies waiting at `hang_after` go on

Routes: `POST /v1/chat/completions`, `POST /v1/completions` (stream and non-stream) and
`GET /v1/models`. A reply is chosen per request: the oldest matching one-shot rule, else the
newest matching `always` rule, else `fake.default`. Rules match on the Bearer key, the body's
`model` and the path (each optional). In streams the usage chunk (`choices: []`) is sent only
when the request asks for `stream_options.include_usage`, unless `Reply.usage` forces it.
`Reply` fields say what else can be scripted: status, JSON or raw body, headers, delays, a cut
after N frames, a hang, tool calls, text, token counts.

As a process: `python -m tests.fakes.openai_upstream --port P [--fast [--chunks N]
[--tls CERT KEY]]`; it prints one line `listening http(s)://HOST:PORT` when ready. `--fast`
serves one fixed answer with minimal per-request work on uvloop (for benchmarks, https with
`--tls`); without it the process serves `Reply()`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from aiohttp import web
from multidict import CIMultiDict

from tests.fakes import provider_rules, wire_base

DEFAULT_MODELS = ("gpt-fake", "gpt-fake-mini")
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class ToolCall:
    """A function call in the answer; `arguments` is the JSON text, streamed in small pieces."""

    name: str
    arguments: str = "{}"
    id: str = field(default_factory=lambda: "call_" + secrets.token_hex(12))


@dataclass(frozen=True)
class Reply:
    """What the fake answers. Defaults give a normal 200 answer in the request's format."""

    status: int = 200
    body: Any = None  # a JSON value sent instead of the generated answer (non-stream)
    raw: bytes | None = None  # bytes sent as-is instead of any body (e.g. broken JSON)
    headers: Mapping[str, str] = field(default_factory=dict)
    text: str = "Hello from the fake upstream."
    chunks: Sequence[str] | None = None  # stream deltas; default: `text` split after spaces
    tool_calls: Sequence[ToolCall] = ()
    finish_reason: str | None = None  # default "tool_calls" with tool calls, else "stop"
    model: str | None = None  # default: the request's model
    prompt_tokens: int = 12
    completion_tokens: int = 9
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    usage: Literal["auto", "always", "never"] = "auto"  # "never" also drops non-stream usage
    headers_delay: float = 0.0  # seconds before the status line
    chunk_delay: float = 0.0  # seconds between stream frames
    cut_after: int | None = None  # drop the connection after N frames (non-stream: mid-body)
    hang_after: int | None = None  # wait for fake.release() after N frames (non-stream: first)


def reply_from(neutral: wire_base.Reply) -> Reply:
    """This fake's answer for a format-neutral `wire_base.Reply`: its text, tool and tokens."""
    calls = [ToolCall(neutral.tool[0], json.dumps(neutral.tool[1]))] if neutral.tool else []
    return Reply(
        text=neutral.text,
        tool_calls=calls,
        prompt_tokens=neutral.input_tokens,
        completion_tokens=neutral.output_tokens,
    )


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    headers: CIMultiDict[str]  # case-insensitive, like HTTP
    body: Any  # parsed JSON, or None
    raw: bytes
    api_key: str | None  # from `Authorization: Bearer`
    disconnected: bool = False  # the client went away before the reply was complete


@dataclass
class _Rule:
    reply: Reply
    key: str | None
    model: str | None
    path: str | None
    once: bool

    def matches(self, recorded: Recorded) -> bool:
        model = recorded.body.get("model") if isinstance(recorded.body, dict) else None
        return (
            (self.key is None or self.key == recorded.api_key)
            and (self.model is None or self.model == model)
            and (self.path is None or self.path == recorded.path)
        )


class FakeOpenAI:
    """The in-process fake: an aiohttp server with scripted replies and a request log."""

    def __init__(
        self, *, models: Sequence[str] = DEFAULT_MODELS, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.models = list(models)  # what GET /v1/models lists
        self.host = host
        self.port = port  # 0 picks a free port at start
        self.default = Reply()
        self.strict = True  # refuse bodies OpenAI refuses (tests.fakes.provider_rules)
        self.requests: list[Recorded] = []
        self.disconnected = asyncio.Event()  # set when a client leaves mid-reply
        self.hanging = asyncio.Event()  # set when a reply starts waiting at `hang_after`
        self._rules: list[_Rule] = []
        self._gate = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._closing = False

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def once(
        self,
        reply: Reply,
        *,
        key: str | None = None,
        model: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next matching request with `reply` (one-shot rules are used in FIFO order)."""
        self._rules.append(_Rule(reply, key, model, path, once=True))

    def always(
        self,
        reply: Reply,
        *,
        key: str | None = None,
        model: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer every matching request with `reply` (the newest matching rule wins)."""
        self._rules.append(_Rule(reply, key, model, path, once=False))

    def release(self) -> None:
        """Let every reply now waiting at `hang_after` continue."""
        self._gate.set()
        self._gate = asyncio.Event()

    def reset(self) -> None:
        """Forget rules, recorded requests and events; the default reply becomes `Reply()`."""
        self._rules.clear()
        self.requests.clear()
        self.default = Reply()
        self.disconnected.clear()
        self.hanging.clear()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/v1/completions", self._handle)
        app.router.add_get("/v1/models", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # handler_cancellation: a client hanging up cancels the handler, which we record.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        self._closing = True
        self._gate.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- request handling -------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = await _record(request)
        self.requests.append(recorded)
        reply = self._choose(recorded)
        try:
            return await self._answer(request, recorded, reply)
        except (asyncio.CancelledError, ConnectionResetError):
            if not self._closing:
                recorded.disconnected = True
                self.disconnected.set()
            raise

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return _json(404, _error_body(404, f"Unknown request URL: {request.method} {request.path}"))

    def _choose(self, recorded: Recorded) -> Reply:
        for rule in self._rules:
            if rule.once and rule.matches(recorded):
                self._rules.remove(rule)
                return rule.reply
        for rule in reversed(self._rules):
            if rule.matches(recorded):
                return rule.reply
        return self.default

    async def _answer(
        self, request: web.Request, recorded: Recorded, reply: Reply
    ) -> web.StreamResponse:
        if reply.headers_delay:
            await asyncio.sleep(reply.headers_delay)
        body = recorded.body if isinstance(recorded.body, dict) else {}
        generated = reply.status == 200 and reply.body is None and reply.raw is None
        if request.method == "POST" and generated:
            problem = _request_problem(recorded, self.strict)
            if problem:
                return _json(400, _error_body(400, problem))
        stream = request.method == "POST" and body.get("stream") is True
        if reply.status != 200 or reply.body is not None or reply.raw is not None or not stream:
            return await self._whole(request, recorded, reply)
        frames = _stream_frames(recorded.path, body, reply)
        return await self._stream(request, reply, frames)

    async def _whole(
        self, request: web.Request, recorded: Recorded, reply: Reply
    ) -> web.StreamResponse:
        if reply.hang_after is not None:
            await self._hang()
        payload = reply.raw
        if payload is None:
            payload = orjson.dumps(_whole_body(recorded, reply, self.models))
        headers = {"Content-Type": "application/json", "x-request-id": _id("req_"), **reply.headers}
        if reply.cut_after is None:
            return web.Response(status=reply.status, body=payload, headers=headers)
        response = web.StreamResponse(status=reply.status, headers=headers)
        response.content_length = len(payload)
        await response.prepare(request)
        await response.write(payload[: len(payload) // 2])
        return _cut(request, response)

    async def _stream(
        self, request: web.Request, reply: Reply, frames: list[bytes]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={**_SSE_HEADERS, "x-request-id": _id("req_")})
        response.headers.update(reply.headers)
        await response.prepare(request)
        for index, frame in enumerate(frames):
            if index == reply.cut_after:
                return _cut(request, response)
            if index == reply.hang_after:
                await self._hang()
            elif index and reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            await response.write(frame)
        await response.write_eof()
        return response

    async def _hang(self) -> None:
        gate = self._gate
        self.hanging.set()
        await gate.wait()


# -- wire format ------------------------------------------------------------------------------


async def _record(request: web.Request) -> Recorded:
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return Recorded(
        method=request.method,
        path=request.path,
        headers=CIMultiDict(request.headers),
        body=body,
        raw=raw,
        api_key=token.strip() if scheme.lower() == "bearer" and token.strip() else None,
    )


def _request_problem(recorded: Recorded, strict: bool) -> str | None:
    if not isinstance(recorded.body, dict):
        return "We could not parse the JSON body of your request."
    if not isinstance(recorded.body.get("model"), str):
        return "you must provide a model parameter"
    if strict and recorded.path == "/v1/chat/completions":
        found = provider_rules.openai_chat(recorded.body)
        return "; ".join(found[:3]) if found else None
    return None


def _id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(21).replace("-", "x").replace("_", "y")


def _wants_usage(body: Mapping[str, Any], reply: Reply) -> bool:
    if reply.usage != "auto":
        return reply.usage == "always"
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _usage(reply: Reply, *, legacy: bool = False) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }
    if not legacy:
        usage["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens, "audio_tokens": 0}
        usage["completion_tokens_details"] = {
            "reasoning_tokens": reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
    return usage


def _finish(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _whole_body(recorded: Recorded, reply: Reply, models: Sequence[str]) -> Any:
    if reply.body is not None:
        return reply.body
    if reply.status != 200:
        return _error_body(reply.status, None)
    if recorded.path == "/v1/models":
        return _models_body(models)
    body = recorded.body if isinstance(recorded.body, dict) else {}
    model = reply.model or str(body.get("model", "gpt-fake"))
    if recorded.path == "/v1/completions":
        answer = _completion_body(model, reply)
    else:
        answer = _chat_body(model, reply)
    if reply.usage != "never":
        answer["usage"] = _usage(reply, legacy=recorded.path == "/v1/completions")
    return answer


def _chat_body(model: str, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if reply.tool_calls else reply.text,
        "refusal": None,
        "annotations": [],
    }
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(reply)}
    return {
        "id": _id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "service_tier": "default",
        "system_fingerprint": "fp_fake0001",
    }


def _completion_body(model: str, reply: Reply) -> dict[str, Any]:
    choice = {"text": reply.text, "index": 0, "logprobs": None, "finish_reason": _finish(reply)}
    return {
        "id": _id("cmpl-"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }


def _models_body(models: Sequence[str]) -> dict[str, Any]:
    created = 1_700_000_000
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": created, "owned_by": "fake-upstream"}
            for m in models
        ],
    }


_ERRORS = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def _error_body(status: int, message: str | None) -> dict[str, Any]:
    kind, code, default = _ERRORS.get(status, ("server_error", None, f"Upstream error {status}."))
    return {"error": {"message": message or default, "type": kind, "param": None, "code": code}}


def _json(status: int, body: Any) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), headers={"Content-Type": "application/json"}
    )


def _cut(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Close the connection without finishing the body: the client sees a truncated reply."""
    if request.transport is not None:
        request.transport.close()
    return response


def _split_text(text: str) -> list[str]:
    words = text.split(" ")
    return [word + " " for word in words[:-1]] + [words[-1]] if text else []


def _split_arguments(arguments: str, size: int = 8) -> list[str]:
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


def _frame(payload: Mapping[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _stream_frames(path: str, body: Mapping[str, Any], reply: Reply) -> list[bytes]:
    """Every SSE frame of a streamed answer, ending with `data: [DONE]`."""
    model = reply.model or str(body.get("model", "gpt-fake"))
    with_usage = _wants_usage(body, reply)
    if path == "/v1/completions":
        chunks = _completion_chunks(model, reply)
    else:
        chunks = _chat_chunks(model, reply, with_usage)
    if with_usage:
        usage = _usage(reply, legacy=path == "/v1/completions")
        chunks.append({**chunks[-1], "choices": [], "usage": usage})
    return [*(_frame(chunk) for chunk in chunks), _DONE]


def _chat_chunks(model: str, reply: Reply, with_usage: bool) -> list[dict[str, Any]]:
    base: dict[str, Any] = {
        "id": _id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_fake0001",
    }
    if with_usage:
        base["usage"] = None  # OpenAI sends usage: null on every chunk when usage was asked for

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice]}

    if reply.tool_calls:
        chunks = [chunk({"role": "assistant", "content": None, "refusal": None})]
        chunks += [chunk({"tool_calls": [d]}) for d in _tool_call_deltas(reply.tool_calls)]
    else:
        chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
        pieces = reply.chunks if reply.chunks is not None else _split_text(reply.text)
        chunks += [chunk({"content": piece}) for piece in pieces]
    chunks.append(chunk({}, _finish(reply)))
    return chunks


def _tool_call_deltas(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    deltas: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        opening = {"name": call.name, "arguments": ""}
        deltas.append({"index": index, "id": call.id, "type": "function", "function": opening})
        for piece in _split_arguments(call.arguments):
            deltas.append({"index": index, "function": {"arguments": piece}})
    return deltas


def _completion_chunks(model: str, reply: Reply) -> list[dict[str, Any]]:
    base = {"id": _id("cmpl-"), "object": "text_completion", "created": int(time.time())}

    def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice], "model": model}

    pieces = reply.chunks if reply.chunks is not None else _split_text(reply.text)
    return [*(chunk(piece) for piece in pieces), chunk("", _finish(reply))]


# -- fast mode, for benchmarks ----------------------------------------------------------------


def fast_app(chunks: int = 16) -> web.Application:
    """A fake with one precomputed answer and no scripting or recording: minimal work per request.

    The request body is only searched for `"stream":true` and `include_usage`, not parsed.
    """
    path, reply = "/v1/chat/completions", Reply(text=" ".join(["word"] * chunks))
    request = {"model": "gpt-fake", "messages": []}
    sample = Recorded("POST", path, CIMultiDict(), request, b"", None)
    whole = orjson.dumps(_whole_body(sample, reply, DEFAULT_MODELS))
    plain = _stream_frames(path, request, reply)
    with_usage = _stream_frames(path, {**request, "stream_options": {"include_usage": True}}, reply)
    models = orjson.dumps(_models_body(DEFAULT_MODELS))

    async def chat(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if b'"stream":true' not in raw and b'"stream": true' not in raw:
            return web.Response(body=whole, content_type="application/json")
        response = web.StreamResponse(headers=_SSE_HEADERS)
        await response.prepare(request)
        for frame in with_usage if b"include_usage" in raw else plain:
            await response.write(frame)
        await response.write_eof()
        return response

    async def list_models(_request: web.Request) -> web.Response:
        return web.Response(body=models, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", list_models)
    return app


async def _serve(
    app: web.Application, host: str, port: int, context: ssl.SSLContext | None = None
) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=context).start()
    scheme = "https" if context is not None else "http"
    print(f"listening {scheme}://{host}:{runner.addresses[0][1]}", flush=True)
    try:
        await asyncio.Event().wait()  # until SIGTERM/SIGINT ends the process
    finally:
        await runner.cleanup()


async def _serve_scripted(host: str, port: int, chunk_delay: float = 0.0) -> None:
    async with FakeOpenAI(host=host, port=port) as fake:
        fake.default = Reply(chunk_delay=chunk_delay)
        print(f"listening {fake.origin}", flush=True)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fast", action="store_true", help="fixed answer on uvloop")
    parser.add_argument("--chunks", type=int, default=16, help="content frames per stream (fast)")
    parser.add_argument(
        "--chunk-delay", type=float, default=0.0, help="seconds between stream frames (scripted)"
    )
    parser.add_argument(
        "--tls", nargs=2, metavar=("CERT", "KEY"), help="serve https with this chain (fast)"
    )
    args = parser.parse_args(argv)
    context = None
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.tls)
    with contextlib.suppress(KeyboardInterrupt):
        if args.fast:
            import uvloop

            uvloop.run(_serve(fast_app(args.chunks), args.host, args.port, context))
        else:
            asyncio.run(_serve_scripted(args.host, args.port, args.chunk_delay))


if __name__ == "__main__":
    main()
