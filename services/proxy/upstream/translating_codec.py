"""Codecs for every (client format, upstream format) pair, built on `translate`.

Same format on both sides relays the client's bytes untouched (only usage is observed);
otherwise the request, the answer and every stream frame go through the translator. OpenAI chat
clients in front of OpenAI upstreams keep the near-passthrough `ChatCodec`.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..routing.codec_contract import Call, StreamProcessor, UpstreamRequest
from ..routing.registry import Target
from ..translate import StreamTranslator, UsageTracker, translate_request, translate_response
from ..translate.errors import ClientFormat
from ..translate.ir import Format
from ..translate.sse import Frame, SSEParser
from ..translate.usage import Usage
from .endpoints import upstream_url
from .openai_passthrough import ChatCodec, chat_to_completion, completion_to_chat, upstream_headers
from .openai_stream import OpenAIStream

_CHAT = ChatCodec()
# Bytes that mark a normal end of stream, per format (Gemini has no terminator event).
_END_MARKERS: dict[str, tuple[bytes, ...]] = {
    "openai": (b"[DONE]",),
    "anthropic": (b"message_stop",),
    "responses": (b"response.completed", b"response.incomplete", b"response.failed"),
    "gemini": (b'"finishReason"',),
}
_FORWARDED_ANTHROPIC_HEADERS = ("anthropic-beta", "anthropic-version")


class PassthroughStream:
    """Same format both sides: relay bytes as they come, watch usage and the end marker."""

    def __init__(self, fmt: Format, model: str) -> None:
        self.fmt = fmt
        self.model = model
        self.done = False
        self._tracker = UsageTracker(fmt)
        self._markers = _END_MARKERS[fmt]
        self._tail = b""

    @property
    def tokens(self) -> Usage | None:
        return self._tracker.usage

    def feed(self, chunk: bytes) -> bytes:
        self._tracker.feed(chunk)
        if not self.done:
            window = self._tail + chunk  # a marker may straddle reads, even tiny ones
            self.done = any(marker in window for marker in self._markers)
            self._tail = window[-32:]
        return chunk

    def finish(self) -> bytes:
        self._tracker.finish()
        return b""

    def error(self, message: str, status: int) -> bytes:
        return self._tracker.error(self.model, message, status)


class TranslatedStream:
    """Upstream frames of one format rewritten, frame by frame, into the client's format."""

    def __init__(self, translator: StreamTranslator) -> None:
        self._translator = translator
        self.done = False

    @property
    def tokens(self) -> Usage | None:
        return self._translator.usage

    def feed(self, chunk: bytes) -> bytes:
        return self._translator.feed(chunk)

    def finish(self) -> bytes:
        # Without the upstream's own finish or end marker, the stream was cut: the caller
        # writes an error instead of terminal frames that would pretend the answer is complete.
        if not self._translator.complete:
            return b""
        self.done = True
        return self._translator.finish()

    def error(self, message: str, status: int) -> bytes:
        return self._translator.error(message, status)


def _wants_usage(call: Call) -> bool:
    if call.client_fmt != "openai":
        return True
    options = call.body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


class TranslatingCodec:
    """A client of `client_fmt` in front of any upstream format."""

    def __init__(self, client_fmt: ClientFormat) -> None:
        self.client_fmt: ClientFormat = client_fmt
        self._fmt: Format = client_fmt

    def _same(self, target: Target) -> bool:
        return target.credential.fmt == self._fmt

    def build(self, call: Call, target: Target) -> UpstreamRequest:
        if self._fmt == "openai" and self._same(target):
            return _CHAT.build(call, target)
        cred = target.credential
        thinking = call.extra.get("thinking")
        raw = call.extra.get("raw")
        untouched = (
            self._same(target)
            and thinking is None
            and (self._fmt == "gemini" or call.body.get("model") == target.upstream_model)
        )
        renamed: dict[str, str] = {}
        accept = "text/event-stream" if call.stream else "application/json"
        headers = upstream_headers(call, target, accept=accept)
        if cred.adapter is not None:
            # The provider decides URL, extra headers and any wrapper around the body.
            body = translate_request(
                call.body,
                source=self._fmt,
                target=cred.fmt,
                model=target.upstream_model,
                stream=call.stream,
                thinking_override=thinking,
                tool_names=renamed,
            )
            call.extra["tool_names"] = renamed
            return cred.adapter.build(
                target.upstream_model, body, call.stream, headers, call.request.headers
            )
        if untouched and isinstance(raw, bytes):
            data = raw
        else:
            body = translate_request(
                call.body,
                source=self._fmt,
                target=cred.fmt,
                model=target.upstream_model,
                stream=call.stream,
                thinking_override=thinking,
                tool_names=renamed,
            )
            data = orjson.dumps(body)
        call.extra["tool_names"] = renamed  # this attempt's renames, for its answer
        if cred.fmt == "anthropic" and self._fmt == "anthropic":
            for name in _FORWARDED_ANTHROPIC_HEADERS:
                value = call.request.headers.get(name)
                if value:
                    headers[name] = value
        url = upstream_url(cred.fmt, cred.base_url, target.upstream_model, call.stream)
        return UpstreamRequest(url, headers, data)

    def response(self, call: Call, target: Target, body: bytes) -> tuple[bytes, Usage | None]:
        if self._fmt == "openai" and self._same(target):
            return _CHAT.response(call, target, body)
        adapter = target.credential.adapter
        if adapter is not None:
            body = adapter.response(body)
        return translate_response(
            body,
            source=target.credential.fmt,
            target=self._fmt,
            model=call.model,
            request=call.body,
            tool_names=call.extra.get("tool_names"),
        )

    def stream(self, call: Call, target: Target) -> StreamProcessor:
        if self._fmt == "openai" and self._same(target):
            return _CHAT.stream(call, target)
        proc: StreamProcessor
        if self._same(target):
            proc = PassthroughStream(self._fmt, call.model)
        else:
            translator = StreamTranslator(
                target.credential.fmt,
                self._fmt,
                call.model,
                _wants_usage(call),
                request=call.body,
                tool_names=call.extra.get("tool_names"),
            )
            proc = TranslatedStream(translator)
        adapter = target.credential.adapter
        return adapter.stream(proc) if adapter is not None else proc

    def passthrough_errors(self, target: Target) -> bool:
        return self._same(target)


class WrappedStream:
    """A stream processor around another: usage and completion are the inner one's."""

    def __init__(self, inner: StreamProcessor) -> None:
        self._inner = inner

    @property
    def tokens(self) -> Usage | None:
        return self._inner.tokens

    @property
    def done(self) -> bool:
        return self._inner.done


class CompletionStream(WrappedStream):
    """Chat stream frames (already in OpenAI's format) rewritten as legacy completion chunks."""

    def __init__(self, inner: StreamProcessor) -> None:
        super().__init__(inner)
        self._outer = OpenAIStream(
            strip_usage=False, rewrite=lambda obj: chat_to_completion(obj, delta=True)
        )

    def feed(self, chunk: bytes) -> bytes:
        return self._outer.feed(self._inner.feed(chunk))

    def finish(self) -> bytes:
        return self._outer.feed(self._inner.finish()) + self._outer.finish()

    def error(self, message: str, status: int) -> bytes:
        return self._inner.error(message, status)


class CompletionsCodec(TranslatingCodec):
    """Legacy completions: served as chat by any upstream, then rewritten back."""

    def __init__(self) -> None:
        super().__init__("openai")

    def build(self, call: Call, target: Target) -> UpstreamRequest:
        original, raw = call.body, call.extra.pop("raw", None)
        call.body = completion_to_chat(original)
        try:
            return super().build(call, target)
        finally:
            call.body = original
            if raw is not None:
                call.extra["raw"] = raw

    def response(self, call: Call, target: Target, body: bytes) -> tuple[bytes, Usage | None]:
        chat, usage = super().response(call, target, body)
        parsed: Any = orjson.loads(chat)
        if not isinstance(parsed, dict):
            raise ValueError("upstream answer is not a JSON object")
        return orjson.dumps(chat_to_completion(parsed, delta=False)), usage

    def stream(self, call: Call, target: Target) -> StreamProcessor:
        return CompletionStream(super().stream(call, target))


class JsonArrayStream(WrappedStream):
    """`streamGenerateContent` without `alt=sse`: the same frames as one streamed JSON array."""

    def __init__(self, inner: StreamProcessor) -> None:
        super().__init__(inner)
        self._parser = SSEParser()
        self._count = 0

    def _elements(self, frames: list[Frame]) -> bytes:
        out = []
        for _event, data in frames:
            if data and data != b"[DONE]":
                out.append((b"[" if self._count == 0 else b",\n") + data)
                self._count += 1
        return b"".join(out)

    def _close(self) -> bytes:
        return self._elements(self._parser.flush()) + (b"]" if self._count else b"[]")

    def feed(self, chunk: bytes) -> bytes:
        return self._elements(self._parser.feed(self._inner.feed(chunk)))

    def finish(self) -> bytes:
        return self._elements(self._parser.feed(self._inner.finish())) + self._close()

    def error(self, message: str, status: int) -> bytes:
        return self._elements(self._parser.feed(self._inner.error(message, status))) + self._close()


class GeminiJsonCodec(TranslatingCodec):
    """Gemini clients streaming without `alt=sse`: the answer as one streamed JSON array."""

    def __init__(self) -> None:
        super().__init__("gemini")

    def stream(self, call: Call, target: Target) -> StreamProcessor:
        return JsonArrayStream(super().stream(call, target))
