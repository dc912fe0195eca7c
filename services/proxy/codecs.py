"""Codecs for OpenAI clients in front of OpenAI-compatible upstreams.

Chat is relayed as-is (bytes untouched unless the model name or usage request must change);
legacy completions are mapped onto chat and back, so any chat upstream can serve them.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from .call import Call, StreamProcessor, UpstreamRequest
from .client_errors import ClientFormat
from .openai_stream import OpenAIStream, openai_stream_error
from .registry import Target
from .tokens import Tokens, tokens_from_openai


def upstream_headers(call: Call, target: Target, *, accept: str) -> dict[str, str]:
    """Auth and content headers plus the credential's own; `$Name` copies a client header."""
    headers = {
        "Authorization": f"Bearer {target.credential.secret}",
        "Content-Type": "application/json",
        "Accept": accept,
    }
    for name, value in target.credential.headers.items():
        if value.startswith("$"):
            copied = call.request.headers.get(value[1:])
            if copied is not None:
                headers[name] = copied
        else:
            headers[name] = value
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
    path = "/chat/completions"

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
        raw = call.extra.get("raw")
        data = orjson.dumps({**body, **changes}) if changes or raw is None else raw
        accept = "text/event-stream" if call.stream else "application/json"
        return UpstreamRequest(
            target.credential.base_url + self.path,
            upstream_headers(call, target, accept=accept),
            data,
        )

    def response(self, call: Call, target: Target, body: bytes) -> tuple[bytes, Tokens | None]:
        parsed = orjson.loads(body)
        usage = parsed.get("usage") if isinstance(parsed, dict) else None
        return body, tokens_from_openai(usage)

    def stream(self, call: Call, target: Target) -> StreamProcessor:
        return OpenAIStream(strip_usage=bool(call.extra.get("strip_usage")))

    def stream_error(self, message: str, status: int) -> bytes:
        return openai_stream_error(message, status, "upstream_error")

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


class CompletionsCodec(ChatCodec):
    """Legacy completions client, served through an upstream's chat endpoint."""

    def build(self, call: Call, target: Target) -> UpstreamRequest:
        call.extra.pop("raw", None)
        original = call.body
        call.body = completion_to_chat(original)
        try:
            return super().build(call, target)
        finally:
            call.body = original

    def response(self, call: Call, target: Target, body: bytes) -> tuple[bytes, Tokens | None]:
        parsed = orjson.loads(body)
        if not isinstance(parsed, dict):
            raise ValueError("upstream answer is not a JSON object")
        tokens = tokens_from_openai(parsed.get("usage"))
        return orjson.dumps(chat_to_completion(parsed, delta=False)), tokens

    def stream(self, call: Call, target: Target) -> StreamProcessor:
        return OpenAIStream(
            strip_usage=bool(call.extra.get("strip_usage")),
            rewrite=lambda obj: chat_to_completion(obj, delta=True),
        )
