"""Client-facing Anthropic routes: Messages and token counting."""

from __future__ import annotations

import orjson
from aiohttp import web

from ..translate import estimate_input_tokens
from ..upstream.endpoints import count_tokens_url
from ..upstream.token_count import first_target, upstream_count
from ..upstream.translating_codec import TranslatingCodec
from .app_objects import EXECUTOR
from .client_requests import begin_call
from .key_limits import check_model, run_call

_ANTHROPIC = TranslatingCodec("anthropic")


async def messages(request: web.Request) -> web.StreamResponse:
    """Anthropic Messages (Claude Code sends `?beta=true`; the query is ignored)."""
    call = await begin_call(request, "anthropic", "messages")
    return await run_call(request, call, _ANTHROPIC)


async def count_tokens(request: web.Request) -> web.Response:
    """Anthropic count_tokens: the upstream counts when it is Anthropic; else an estimate."""
    call = await begin_call(request, "anthropic", "count_tokens")
    check_model(request, call)
    target = first_target(call.runtime, call.model, "anthropic")
    result = None
    if target is not None:
        body = dict(call.body, model=target.upstream_model)
        url = count_tokens_url(target.credential.base_url)
        result = await upstream_count(request.app[EXECUTOR].upstream, call, target, url, body)
    if result is None:
        result = {"input_tokens": estimate_input_tokens(call.body, "anthropic")}
    return web.Response(body=orjson.dumps(result), content_type="application/json")


routes = [
    web.post("/v1/messages", messages),
    web.post("/v1/messages/count_tokens", count_tokens),
]
