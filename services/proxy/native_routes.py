"""Client-facing routes of the Anthropic, Gemini and OpenAI Responses formats."""

from __future__ import annotations

import orjson
import structlog
from aiohttp import web
from yarl import URL

from services.core.errors import NotFound

from .access import authenticate
from .appkeys import EXECUTOR, RUNTIME
from .call import Call, StreamProcessor
from .codecs import upstream_headers
from .executor import MAX_ERROR_BODY, read_capped
from .inference import begin_call
from .registry import Target
from .runtime import Runtime
from .translate import estimate_input_tokens
from .translate.sse import Frame, SSEParser
from .translate.usage import Usage
from .translating import TranslatingCodec
from .wire import count_tokens_url, gemini_count_url

log = structlog.get_logger(__name__)
_ANTHROPIC = TranslatingCodec("anthropic")
_GEMINI = TranslatingCodec("gemini")
_RESPONSES = TranslatingCodec("responses")


async def messages(request: web.Request) -> web.StreamResponse:
    """Anthropic Messages (Claude Code sends `?beta=true`; the query is ignored)."""
    call = await begin_call(request, "anthropic", "messages")
    return await request.app[EXECUTOR].run(call, _ANTHROPIC)


async def responses(request: web.Request) -> web.StreamResponse:
    call = await begin_call(request, "responses", "responses")
    return await request.app[EXECUTOR].run(call, _RESPONSES)


def _first_target(runtime: Runtime, model: str, fmt: str) -> Target | None:
    tiers = runtime.index.lookup(model)
    if tiers is None:
        raise NotFound(f"The model '{model}' does not exist", code="model_not_found")
    return next((t for tier in tiers for t in tier if t.credential.fmt == fmt), None)


async def _upstream_count(
    request: web.Request, call: Call, target: Target, url: str | URL, body: bytes
) -> dict[str, object] | None:
    """Ask the upstream to count; None when it cannot (the caller estimates instead)."""
    session, proxy = request.app[EXECUTOR].upstream.for_proxy(target.credential.proxy_url)
    headers = upstream_headers(call, target, accept="application/json")
    try:
        async with session.post(
            url, data=body, headers=headers, proxy=proxy, timeout=call.runtime.timeout_complete
        ) as resp:
            data = await read_capped(resp, MAX_ERROR_BODY)
            if resp.status != 200:
                log.info("count_tokens_upstream_failed", status=resp.status)
                return None
    except Exception as exc:  # counting is best effort: any failure falls back to the estimate
        log.info("count_tokens_upstream_failed", reason=type(exc).__name__)
        return None
    parsed = orjson.loads(data)
    return parsed if isinstance(parsed, dict) else None


async def count_tokens(request: web.Request) -> web.Response:
    """Anthropic count_tokens: the upstream counts when it is Anthropic; else an estimate."""
    call = await begin_call(request, "anthropic", "count_tokens")
    target = _first_target(call.runtime, call.model, "anthropic")
    result = None
    if target is not None:
        body = dict(call.body, model=target.upstream_model)
        url = count_tokens_url(target.credential.base_url)
        result = await _upstream_count(request, call, target, url, orjson.dumps(body))
    if result is None:
        result = {"input_tokens": estimate_input_tokens(call.body, "anthropic")}
    return web.Response(body=orjson.dumps(result), content_type="application/json")


def _gemini_model(model_id: str) -> dict[str, object]:
    return {
        "name": f"models/{model_id}",
        "version": "001",
        "displayName": model_id,
        "description": "",
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    }


async def gemini_models(request: web.Request) -> web.Response:
    runtime: Runtime = request.app[RUNTIME].current
    authenticate(request, runtime)
    body = {"models": [_gemini_model(m.id) for m in runtime.index.models]}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def gemini_model(request: web.Request) -> web.Response:
    runtime: Runtime = request.app[RUNTIME].current
    authenticate(request, runtime)
    model_id = request.match_info["target"]
    if runtime.index.lookup(model_id) is None:
        raise NotFound(f"models/{model_id} is not found", code="model_not_found")
    return web.Response(body=orjson.dumps(_gemini_model(model_id)), content_type="application/json")


class JsonArrayStream:
    """`streamGenerateContent` without `alt=sse`: the same frames as one streamed JSON array."""

    def __init__(self, inner: StreamProcessor) -> None:
        self._inner = inner
        self._parser = SSEParser()
        self._count = 0

    @property
    def tokens(self) -> Usage | None:
        return self._inner.tokens

    @property
    def done(self) -> bool:
        return self._inner.done

    def _elements(self, frames: list[Frame]) -> bytes:
        out = []
        for _event, data in frames:
            if data and data != b"[DONE]":
                out.append((b"[" if self._count == 0 else b",\n") + data)
                self._count += 1
        return b"".join(out)

    def _close(self) -> bytes:
        return self._elements(self._parser.flush()) + (b"]" if self._count else b"[]")

    def feed(self, chunk: bytes) -> bytes:
        return self._elements(self._parser.feed(self._inner.feed(chunk)))

    def finish(self) -> bytes:
        return self._elements(self._parser.feed(self._inner.finish())) + self._close()

    def error(self, message: str, status: int) -> bytes:
        return self._elements(self._parser.feed(self._inner.error(message, status))) + self._close()


class GeminiJsonCodec(TranslatingCodec):
    def __init__(self) -> None:
        super().__init__("gemini")

    def stream(self, call: Call, target: Target) -> StreamProcessor:
        return JsonArrayStream(super().stream(call, target))


_GEMINI_JSON = GeminiJsonCodec()


async def gemini_action(request: web.Request) -> web.StreamResponse:
    """`POST /v1beta/models/{model}:generateContent|streamGenerateContent|countTokens`."""
    model, _, action = request.match_info["target"].rpartition(":")
    if not model:
        raise NotFound("Unknown Gemini method", code="not_found")
    if action == "countTokens":
        return await _gemini_count(request, model)
    if action not in ("generateContent", "streamGenerateContent"):
        raise NotFound(f"Unknown Gemini method '{action}'", code="not_found")
    stream = action == "streamGenerateContent"
    call = await begin_call(request, "gemini", "generate", model=model, stream=stream)
    codec = _GEMINI if not stream or request.query.get("alt", "sse") == "sse" else _GEMINI_JSON
    return await request.app[EXECUTOR].run(call, codec)


async def _gemini_count(request: web.Request, model: str) -> web.Response:
    call = await begin_call(request, "gemini", "gemini_count", model=model, stream=False)
    target = _first_target(call.runtime, call.model, "gemini")
    result = None
    if target is not None:
        url = gemini_count_url(target.credential.base_url, target.upstream_model)
        body = {k: v for k, v in call.body.items() if k in ("contents", "generateContentRequest")}
        result = await _upstream_count(request, call, target, url, orjson.dumps(body))
    if result is None:
        result = {"totalTokens": estimate_input_tokens(call.body, "gemini")}
    return web.Response(body=orjson.dumps(result), content_type="application/json")


routes = [
    web.post("/v1/messages", messages),
    web.post("/v1/messages/count_tokens", count_tokens),
    web.post("/v1/responses", responses),
    web.get("/v1beta/models", gemini_models),
    # `.+`: a prefixed model id ("team/gemini-2.5-pro") arrives with its slash unescaped.
    web.get("/v1beta/models/{target:.+}", gemini_model),
    web.post("/v1beta/models/{target:.+}", gemini_action),
    # google-genai addresses the stable API version when given a custom base URL.
    web.post("/v1/models/{target:.+}", gemini_action),
]
