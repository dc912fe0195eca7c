"""A client request turned into a `Call`: its request id, the client key checked, the body read
(capped, decoded) and admitted through the door (parsed, depth bounded, checked against the
endpoint's schema), the model (with any thinking suffix) and the stream flag."""

from __future__ import annotations

import os
from typing import Any

from aiohttp import web

from services.core.errors import BadRequest

from ..door import Endpoint, admit
from ..inbound.request_body import read_body
from ..routing.codec_contract import Call
from ..routing.runtime import Runtime
from ..translate import parse_model_suffix
from ..translate.errors import ClientFormat
from .access import authenticate
from .app_objects import RUNTIME

REQUEST_ID = web.RequestKey("request_id", str)


class _RequestIds:
    """16-hex-digit random ids, 256 from each 4 KiB read of the OS CSPRNG: `os.urandom` per
    request was a syscall on the request path."""

    def __init__(self) -> None:
        self._pool = ""
        self._pos = 0

    def next(self) -> str:
        pos = self._pos
        if pos >= len(self._pool):
            self._pool, pos = os.urandom(2048).hex(), 0
        self._pos = pos + 16
        return self._pool[pos : pos + 16]


_IDS = _RequestIds()


def request_id(request: web.Request) -> str:
    """The id stamped on every response and log line of this request."""
    rid = request.get(REQUEST_ID)
    if rid is None:
        rid = request[REQUEST_ID] = _IDS.next()
    return rid


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
