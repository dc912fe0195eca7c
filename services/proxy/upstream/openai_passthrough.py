"""Codecs for OpenAI clients in front of OpenAI-compatible upstreams.

Chat is relayed as-is (bytes untouched unless the model name or usage request must change);
legacy completions are mapped onto chat and back, so any chat upstream can serve them.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ..routing.codec_contract import Call, StreamProcessor, UpstreamRequest
from ..routing.registry import Target
from ..translate.errors import ClientFormat
from ..translate.thinking import apply_native
from ..translate.usage import Usage, from_openai
from .endpoints import upstream_url
from .openai_stream import OpenAIStream


def upstream_headers(call: Call, target: Target, *, accept: str) -> dict[str, str]:
    """Content, auth and the credential's own headers; `$Name` entries copy a client header.
    An OAuth account's Authorization carries its current token (read per request)."""
    cred = target.credential
    headers = {"Content-Type": "application/json", "Accept": accept, **cred.static_headers}
    for name, source in cred.copied_headers.items():
        value = call.request.headers.get(source)
        if value is not None:
            headers[name] = value
    if cred.token is not None:
        headers["Authorization"] = "Bearer " + cred.token.access_token
    return headers


def _stream_usage(body: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """The stream_options to send upstream, and whether the client did not ask for usage."""
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return None, False
    merged = dict(options) if isinstance(options, dict) else {}
    merged["include_usage"] = True
    return merged, True


class ChatCodec:
    """OpenAI chat client -> OpenAI-compatible upstream: a near-passthrough."""

    client_fmt: ClientFormat = "openai"

    def build(self, call: Call, target: Target) -> UpstreamRequest:
        body = call.body
        changes: dict[str, Any] = {}
        if body.get("model") != target.upstream_model:
            changes["model"] = target.upstream_model
        if call.stream:
            options, strip = _stream_usage(body)
            call.extra["strip_usage"] = strip
            if options is not None:
                changes["stream_options"] = options
        thinking = call.extra.get("thinking")
        if thinking is not None:
            body = dict(body)
            apply_native(body, "openai", thinking, target.upstream_model)
        accept = "text/event-stream" if call.stream else "application/json"
        headers = upstream_headers(call, target, accept=accept)
        adapter = target.credential.adapter
        if adapter is not None:
            merged = {**body, **changes}
            return adapter.build(
                target.upstream_model, merged, call.stream, headers, call.request.headers
            )
        raw = call.extra.get("raw")
        if not changes and thinking is None and isinstance(raw, bytes):
            data = raw  # nothing to change: the client's bytes go upstream untouched
        else:
            data = orjson.dumps({**body, **changes})
        return UpstreamRequest(
            upstream_url("openai", target.credential.base_url, "", False), headers, data
        )

    def response(self, call: Call, target: Target, body: bytes) -> tuple[bytes, Usage | None]:
        adapter = target.credential.adapter
        if adapter is not None:
            body = adapter.response(body)
        parsed = orjson.loads(body)
        usage = parsed.get("usage") if isinstance(parsed, dict) else None
        return body, from_openai(usage) if isinstance(usage, dict) else None

    def stream(self, call: Call, target: Target) -> StreamProcessor:
        proc: StreamProcessor = OpenAIStream(strip_usage=bool(call.extra.get("strip_usage")))
        adapter = target.credential.adapter
        return adapter.stream(proc) if adapter is not None else proc

    def passthrough_errors(self, target: Target) -> bool:
        return target.credential.fmt == "openai"


_CHAT_KEYS = (
    "max_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "user",
    "seed",
    "stream",
    "stream_options",
)


def completion_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """A legacy completions request as a chat request with one user message."""
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        prompt = "".join(p for p in prompt if isinstance(p, str))
    chat: dict[str, Any] = {k: body[k] for k in _CHAT_KEYS if k in body}
    chat["model"] = body.get("model")
    chat["messages"] = [{"role": "user", "content": str(prompt)}]
    return chat


def _text_choice(choice: Any, *, delta: bool) -> dict[str, Any]:
    choice = choice if isinstance(choice, dict) else {}
    part = choice.get("delta" if delta else "message") or {}
    text = part.get("content") if isinstance(part, dict) else None
    return {
        "text": text or "",
        "index": choice.get("index", 0),
        "logprobs": None,
        "finish_reason": choice.get("finish_reason"),
    }


def chat_to_completion(obj: dict[str, Any], *, delta: bool) -> dict[str, Any]:
    """A chat (chunk) object as a legacy text_completion object."""
    out: dict[str, Any] = {
        "id": obj.get("id", ""),
        "object": "text_completion",
        "created": obj.get("created", int(time.time())),
        "model": obj.get("model", ""),
        "choices": [_text_choice(c, delta=delta) for c in obj.get("choices") or []],
    }
    if obj.get("usage") is not None:
        out["usage"] = obj["usage"]
    return out
