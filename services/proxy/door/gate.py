"""Parse, bound and validate one client body."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import TypeAdapter, ValidationError

from services.core.errors import BadRequest, PayloadTooLarge

from . import anthropic, gemini, openai, responses
from .depth import deeper_than
from .problems import first_problem

# The client endpoints, each with its own body schema.
Endpoint = Literal[
    "chat", "completions", "responses", "messages", "count_tokens", "generate", "gemini_count"
]
_SCHEMAS: dict[Endpoint, TypeAdapter[Any]] = {
    "chat": TypeAdapter(openai.ChatRequest),
    "completions": TypeAdapter(openai.CompletionRequest),
    "responses": TypeAdapter(responses.ResponsesRequest),
    "messages": TypeAdapter(anthropic.MessagesRequest),
    "count_tokens": TypeAdapter(anthropic.MessagesRequest),
    "generate": TypeAdapter(gemini.GenerateRequest),
    "gemini_count": TypeAdapter(gemini.CountTokensRequest),
}


# Parsing multiplies memory by the number of values, not bytes: 32 MiB of `{},` would become
# about 1 GB of Python dicts. Bodies above SCAN_ABOVE are counted before they are parsed (an
# upper bound: every value but a container's first follows a comma); below it, at most about
# 2 million values fit anyway. 2 million values are about 200 MB of objects at worst, while a
# real client's 5 MB conversation holds a few hundred thousand.
MAX_VALUES = 2_000_000
SCAN_ABOVE = 4 * 1024 * 1024


def admit(raw: bytes, endpoint: Endpoint, depth_limit: int) -> dict[str, Any]:
    """The body as a dict, or BadRequest (400) / PayloadTooLarge (413) saying what is wrong."""
    if len(raw) > SCAN_ABOVE and _values_at_most(raw) > MAX_VALUES:
        raise PayloadTooLarge(f"Request body holds more than {MAX_VALUES} JSON values")
    body = parse_object(raw)
    if deeper_than(body, depth_limit):
        raise BadRequest(
            f"Request body nests objects and arrays more than {depth_limit} levels deep",
            code="json_too_deep",
        )
    check(body, endpoint)
    return body


def _values_at_most(raw: bytes) -> int:
    return raw.count(b",") + raw.count(b"[") + raw.count(b"{") + 1


def parse_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object", code="invalid_json")
    return body


def check(body: dict[str, Any], endpoint: Endpoint) -> None:
    """Validate against the endpoint's schema; the body itself is kept as parsed."""
    try:
        _SCHEMAS[endpoint].validate_python(body)
    except ValidationError as exc:
        problem = first_problem(exc.errors(include_url=False), body)
        if problem is None:
            return
        raise BadRequest(
            problem.sentence(), code=problem.code, details={"param": problem.param}
        ) from None
