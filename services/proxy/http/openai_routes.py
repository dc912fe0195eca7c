"""Client-facing OpenAI routes: chat completions, legacy completions, models."""

from __future__ import annotations

from aiohttp import web

from ..door import Endpoint
from ..routing.codec_contract import Codec
from ..routing.runtime import Runtime, models_bodies
from ..upstream.translating_codec import CompletionsCodec, TranslatingCodec
from .access import authenticate
from .app_objects import RUNTIME
from .client_requests import begin_call
from .key_limits import model_visibility, run_call

_CHAT = TranslatingCodec("openai")
_COMPLETIONS = CompletionsCodec()


async def _run(request: web.Request, codec: Codec, endpoint: Endpoint) -> web.StreamResponse:
    call = await begin_call(request, "openai", endpoint)
    return await run_call(request, call, codec)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _run(request, _CHAT, "chat")


async def completions(request: web.Request) -> web.StreamResponse:
    return await _run(request, _COMPLETIONS, "completions")


def wants_anthropic_models(request: web.Request) -> bool:
    return "anthropic-version" in request.headers or request.headers.get(
        "User-Agent", ""
    ).startswith("claude-cli")


async def list_models(request: web.Request) -> web.Response:
    """The models this key may use (all of them unless its limits name allowed models)."""
    runtime: Runtime = request.app[RUNTIME].current
    visible = model_visibility(request, runtime, authenticate(request, runtime))
    if visible is None:
        openai, anthropic = runtime.models_openai, runtime.models_anthropic
    else:
        models = [m for m in runtime.index.models if visible(m.id)]
        openai, anthropic = models_bodies(models, runtime.models_created)
    body = anthropic if wants_anthropic_models(request) else openai
    return web.Response(body=body, content_type="application/json")


routes = [
    web.post("/v1/chat/completions", chat_completions),
    web.post("/v1/completions", completions),
    web.get("/v1/models", list_models),
]
