"""Error bodies in the client's wire format (OpenAI, Anthropic, Gemini)."""

from __future__ import annotations

from typing import Literal

import orjson

ClientFormat = Literal["openai", "anthropic", "gemini", "responses"]

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def openai_error_type(status: int) -> str:
    return _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_payload(
    fmt: ClientFormat, status: int, message: str, code: str | None = None, **extra: object
) -> dict[str, object]:
    if fmt == "anthropic":
        kind = _ANTHROPIC_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    if fmt == "gemini":
        state = _GEMINI_STATUS.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
        return {"error": {"code": status, "message": message, "status": state}}
    error: dict[str, object] = {"message": message, "type": openai_error_type(status)}
    error["code"] = code
    error.update(extra)
    return {"error": error}


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
