"""Error bodies in the client's wire format, built by each format's codec in `translate`."""

from __future__ import annotations

import orjson

from . import formats
from .ir import Format

# The wire format a client speaks (the same four as upstreams).
ClientFormat = Format


def error_payload(
    fmt: ClientFormat, status: int, message: str, code: str | None = None, **extra: object
) -> dict[str, object]:
    """The error object of `fmt`; `extra` fields (e.g. a cooldown's reset time) join OpenAI's
    `error` object, as CLIProxyAPI's `model_cooldown` answer does."""
    payload: dict[str, object] = formats.codec(fmt).error_body(status, message, code)
    error = payload.get("error")
    if extra and fmt in ("openai", "responses") and isinstance(error, dict):
        error.update(extra)
    return payload


def error_body(
    fmt: ClientFormat, status: int, message: str, code: str | None = None, **extra: object
) -> bytes:
    return orjson.dumps(error_payload(fmt, status, message, code, **extra))


def upstream_message(body: bytes) -> str | None:
    """`error.message` of an upstream's JSON error body, in any of the four formats (Gemini may
    wrap it in a one-item list), so a translated error still says what went wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return message[:2000] if isinstance(message, str) and message else None
