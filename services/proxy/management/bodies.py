"""Reading management requests safely: bounded bodies, JSON with clear 400s, typed query values."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from services.core.errors import BadRequest

from ..inbound.request_body import read_body


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("invalid body: not valid JSON") from None


async def read_json(request: web.Request, max_bytes: int, *, default: Any = ...) -> Any:
    """Parse the JSON body; an empty body is `default` when given, else a 400."""
    raw = await read_body(request, max_bytes)
    if not raw.strip():
        if default is ...:
            raise BadRequest("invalid body: empty")
        return default
    return parse_json(raw)


async def read_object(request: web.Request, max_bytes: int) -> dict[str, Any]:
    body = await read_json(request, max_bytes)
    if not isinstance(body, dict):
        raise BadRequest("invalid body: expected a JSON object")
    return body


def query_int(
    request: web.Request, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
) -> int:
    """An integer query parameter; malformed or below `minimum` is a 400, above `maximum` clamps."""
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"invalid {name}: not an integer") from None
    if value < minimum:
        raise BadRequest(f"invalid {name}: must be >= {minimum}")
    return min(value, maximum) if maximum is not None else value


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "*"}
