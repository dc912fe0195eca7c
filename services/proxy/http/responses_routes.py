"""Client-facing OpenAI Responses route."""

from __future__ import annotations

from aiohttp import web

from ..upstream.translating_codec import TranslatingCodec
from .app_objects import EXECUTOR
from .client_requests import begin_call

_RESPONSES = TranslatingCodec("responses")


async def responses(request: web.Request) -> web.StreamResponse:
    call = await begin_call(request, "responses", "responses")
    return await request.app[EXECUTOR].run(call, _RESPONSES)


routes = [web.post("/v1/responses", responses)]
