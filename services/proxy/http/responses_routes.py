"""Client-facing OpenAI Responses route."""

from __future__ import annotations

from aiohttp import web

from ..upstream.translating_codec import TranslatingCodec
from .client_requests import begin_call
from .key_limits import run_call

_RESPONSES = TranslatingCodec("responses")


async def responses(request: web.Request) -> web.StreamResponse:
    call = await begin_call(request, "responses", "responses")
    return await run_call(request, call, _RESPONSES)


routes = [web.post("/v1/responses", responses)]
