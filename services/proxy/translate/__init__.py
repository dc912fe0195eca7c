"""Translation between the four wire formats: OpenAI chat, OpenAI Responses, Anthropic, Gemini.

Each format has one reader and one writer (requests, responses, streams) around a small
internal representation (`ir`). docs/translation.md has the mapping tables.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from services.core.errors import UpstreamError
from services.proxy.translate import formats, responses, rules, thinking
from services.proxy.translate.ir import Format, Response, ResponseBuilder, Thinking, ToolCall
from services.proxy.translate.stream import StreamTranslator
from services.proxy.translate.thinking import parse_model_suffix
from services.proxy.translate.tokens import estimate_input_tokens
from services.proxy.translate.tracker import UsageTracker, is_sse, usage_from_body
from services.proxy.translate.usage import Usage

__all__ = [
    "Format",
    "StreamTranslator",
    "Thinking",
    "Usage",
    "UsageTracker",
    "error_body",
    "estimate_input_tokens",
    "parse_model_suffix",
    "translate_request",
    "translate_response",
    "usage_from_body",
]

Json = dict[str, Any]


def translate_request(
    body: dict[str, Any],
    *,
    source: Format,
    target: Format,
    model: str,
    stream: bool,
    thinking_override: Thinking | None = None,
    tool_names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The upstream body for a client body. `model` is the upstream model id (Gemini carries it
    in the URL, so a Gemini body has none). A `name(level|budget)` suffix on `model` or on the
    body's own model, or `thinking_override`, wins over the body's native thinking field.

    Across formats the body is made acceptable to the target (`rules.py`); what cannot be
    raises `rules.Unsupported` (a 400). Tools renamed for the target are added to `tool_names`
    as {upstream name: client name}, for `StreamTranslator` and `translate_response`."""
    model, wanted = parse_model_suffix(model)
    if wanted is None and isinstance(body.get("model"), str):
        wanted = parse_model_suffix(body["model"])[1]
    wanted = thinking_override or wanted
    if source == target:
        return _same_format(body, target, model, stream, wanted)
    req = formats.codec(source).read_request(body)
    if wanted is not None:
        req.thinking = wanted
    renamed = rules.conform(req, target, model)
    if tool_names is not None:
        tool_names.update(renamed)
    return formats.codec(target).write_request(req, model, stream)


def _same_format(
    body: Json, fmt: Format, model: str, stream: bool, wanted: Thinking | None
) -> Json:
    """Same format both sides: keep every field the client sent, set only model/stream/thinking."""
    out = copy.copy(body)
    if fmt == "gemini":
        out.pop("model", None)
    else:
        out["model"] = model
        if stream:
            out["stream"] = True
        else:
            out.pop("stream", None)
            out.pop("stream_options", None)
    if wanted is not None:
        thinking.apply_native(out, fmt, wanted, model)
    return out


def translate_response(
    body: bytes,
    *,
    source: Format,
    target: Format,
    model: str,
    request: dict[str, Any] | None = None,
    tool_names: dict[str, str] | None = None,
) -> tuple[bytes, Usage]:
    """A non-stream upstream body (JSON, or a whole SSE stream from a stream-only upstream) in
    the client's format, and its usage. `model` is the name the client asked for; `request`
    (the client's body) lets Responses clients get namespaced/custom tool calls back;
    `tool_names` gives renamed tools their client names back."""
    if source == target and not is_sse(body):
        return body, usage_from_body(source, body)
    resp = _read(body, source, target)
    if isinstance(resp, bytes):
        return resp, Usage()
    if tool_names:
        for part in resp.parts:
            if isinstance(part, ToolCall):
                part.name = tool_names.get(part.name, part.name)
    if target == "responses":
        hints = responses.tool_hints(request) if request else {}
        out = responses.write_response(resp, model, hints)
    else:
        out = formats.codec(target).write_response(resp, model)
    return orjson.dumps(out), resp.usage


def _read(body: bytes, source: Format, target: Format) -> Response | bytes:
    if is_sse(body):
        builder = ResponseBuilder(source)
        reader = formats.codec(source).reader(builder)
        reader.feed(body)
        reader.close()
        if builder.error_message is not None and not builder.response.parts:
            return error_body(target, builder.error_status or 502, builder.error_message)
        return builder.response
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError("upstream returned a body that is not JSON") from exc
    if not isinstance(obj, dict):
        raise UpstreamError("upstream returned a body that is not a JSON object")
    error = _error_of(obj)
    if error is not None:
        return error_body(target, *error)
    return formats.codec(source).read_response(obj)


def _error_of(obj: Json) -> tuple[int, str] | None:
    err = obj.get("error")
    if (
        not isinstance(err, dict)
        or obj.get("choices")
        or obj.get("candidates")
        or obj.get("output")
    ):
        return None
    code = err.get("code")
    status = code if isinstance(code, int) and 400 <= code < 600 else 502
    return status, str(err.get("message") or "upstream error")


def error_body(fmt: Format, status: int, message: str, code: str | None = None) -> bytes:
    """An error response body in the client's format (PROTOCOLS.md section 1)."""
    return orjson.dumps(formats.codec(fmt).error_body(status, message, code))
