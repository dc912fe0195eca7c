"""Client-facing Gemini routes: models, generateContent, streamGenerateContent, countTokens."""

from __future__ import annotations

import orjson
from aiohttp import web

from services.core.errors import NotFound

from ..routing.runtime import Runtime
from ..translate import estimate_input_tokens
from ..upstream.endpoints import gemini_count_url
from ..upstream.token_count import first_target, upstream_count
from ..upstream.translating_codec import GeminiJsonCodec, TranslatingCodec
from .access import authenticate
from .app_objects import EXECUTOR, RUNTIME
from .client_requests import begin_call
from .key_limits import check_model, model_visibility, run_call

_GEMINI = TranslatingCodec("gemini")


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
    visible = model_visibility(request, runtime, authenticate(request, runtime))
    ids = [m.id for m in runtime.index.models if visible is None or visible(m.id)]
    body = {"models": [_gemini_model(model_id) for model_id in ids]}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def gemini_model(request: web.Request) -> web.Response:
    runtime: Runtime = request.app[RUNTIME].current
    visible = model_visibility(request, runtime, authenticate(request, runtime))
    model_id = request.match_info["target"]
    if runtime.index.lookup(model_id) is None or (visible is not None and not visible(model_id)):
        raise NotFound(f"models/{model_id} is not found", code="model_not_found")
    return web.Response(body=orjson.dumps(_gemini_model(model_id)), content_type="application/json")


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
    return await run_call(request, call, codec)


async def _gemini_count(request: web.Request, model: str) -> web.Response:
    call = await begin_call(request, "gemini", "gemini_count", model=model, stream=False)
    check_model(request, call)
    target = first_target(call.runtime, call.model, "gemini")
    result = None
    if target is not None:
        url = gemini_count_url(target.credential.base_url, target.upstream_model)
        body = {k: v for k, v in call.body.items() if k in ("contents", "generateContentRequest")}
        result = await upstream_count(request.app[EXECUTOR].upstream, call, target, url, body)
    if result is None:
        result = {"totalTokens": estimate_input_tokens(call.body, "gemini")}
    return web.Response(body=orjson.dumps(result), content_type="application/json")


routes = [
    web.get("/v1beta/models", gemini_models),
    # `.+`: a prefixed model id ("team/gemini-2.5-pro") arrives with its slash unescaped.
    web.get("/v1beta/models/{target:.+}", gemini_model),
    web.post("/v1beta/models/{target:.+}", gemini_action),
    # google-genai addresses the stable API version when given a custom base URL.
    web.post("/v1/models/{target:.+}", gemini_action),
]
