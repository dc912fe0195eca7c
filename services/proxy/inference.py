"""Client-facing OpenAI routes: chat completions, legacy completions, models."""

from __future__ import annotations

import os
from typing import Any

from aiohttp import web

from services.core.errors import BadRequest, PayloadTooLarge

from .access import authenticate
from .appkeys import EXECUTOR, RUNTIME
from .call import Call, Codec
from .client_errors import ClientFormat
from .door import Endpoint, admit
from .runtime import Runtime
from .translate import parse_model_suffix
from .translating import CompletionsCodec, TranslatingCodec

_CHAT = TranslatingCodec("openai")
_COMPLETIONS = CompletionsCodec()


REQUEST_ID = web.RequestKey("request_id", str)


def request_id(request: web.Request) -> str:
    """The id stamped on every response and log line of this request."""
    rid = request.get(REQUEST_ID)
    if rid is None:
        rid = request[REQUEST_ID] = os.urandom(8).hex()
    return rid


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over `limit` before or while reading it."""
    length = request.content_length
    if length is not None:
        if length > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
        return await request.read()  # the common case: one read of a known, bounded length
    buf = bytearray()
    async for chunk in request.content.iter_any():
        buf += chunk
        if len(buf) > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
    return bytes(buf)


async def begin_call(
    request: web.Request,
    fmt: ClientFormat,
    endpoint: Endpoint,
    *,
    model: str | None = None,
    stream: bool | None = None,
) -> Call:
    """Authenticate, read the body and admit it through the door (JSON, depth, the endpoint's
    schema). The model and stream flag come from the body unless the route gives them (Gemini
    carries both in the URL)."""
    runtime: Runtime = request.app[RUNTIME].current
    api_key_id = authenticate(request, runtime)
    raw = await read_body(request, runtime.body_limit)
    body = admit(raw, endpoint, runtime.json_depth_limit)
    if model is None:
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise BadRequest("The 'model' field is required", code="missing_model")
    extra: dict[str, Any] = {"raw": raw}
    if model.endswith(")"):  # name(8192|high|none|auto): thinking asked for in the model id
        model, extra["thinking"] = parse_model_suffix(model)
    return Call(
        request=request,
        runtime=runtime,
        client_fmt=fmt,
        endpoint=f"{request.method} {request.path}",
        model=model,
        body=body,
        stream=body.get("stream") is True if stream is None else stream,
        api_key_id=api_key_id,
        request_id=request_id(request),
        extra=extra,
    )


async def _run(request: web.Request, codec: Codec, endpoint: Endpoint) -> web.StreamResponse:
    call = await begin_call(request, "openai", endpoint)
    return await request.app[EXECUTOR].run(call, codec)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _run(request, _CHAT, "chat")


async def completions(request: web.Request) -> web.StreamResponse:
    return await _run(request, _COMPLETIONS, "completions")


def wants_anthropic_models(request: web.Request) -> bool:
    return "anthropic-version" in request.headers or request.headers.get(
        "User-Agent", ""
    ).startswith("claude-cli")


async def list_models(request: web.Request) -> web.Response:
    runtime: Runtime = request.app[RUNTIME].current
    authenticate(request, runtime)
    body = runtime.models_anthropic if wants_anthropic_models(request) else runtime.models_openai
    return web.Response(body=body, content_type="application/json")


routes = [
    web.post("/v1/chat/completions", chat_completions),
    web.post("/v1/completions", completions),
    web.get("/v1/models", list_models),
]
