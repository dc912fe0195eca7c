"""StreamTranslator: upstream SSE bytes in one format -> client SSE bytes in another."""

from __future__ import annotations

from typing import Any

from services.proxy.translate import formats, responses
from services.proxy.translate.ir import ClientNames, Format, Sink, StopReason
from services.proxy.translate.usage import Usage

Json = dict[str, Any]


class StreamTranslator:
    """Stateful: feed upstream chunks as they arrive (split anywhere), send what comes back.

    `request` is the client's original body; it is only read when the client speaks Responses,
    to give namespaced and custom tool calls back their Codex shape. `tool_names` maps tools
    renamed for the upstream back to the client's names (from `translate_request`).
    """

    def __init__(
        self,
        source: Format,
        target: Format,
        model: str,
        include_usage: bool = True,
        *,
        request: Json | None = None,
        tool_names: dict[str, str] | None = None,
    ) -> None:
        hints = responses.tool_hints(request) if request and target == "responses" else {}
        self._writer = formats.stream_writer(target, model, include_usage, hints)
        self._writer.keep_signatures = source == target
        sink: Sink = ClientNames(self._writer, tool_names) if tool_names else self._writer
        self._reader = formats.codec(source).reader(sink)
        self.source = source
        self.target = target

    @property
    def usage(self) -> Usage:
        return self._writer.last_usage

    @property
    def started(self) -> bool:
        """True once content (text, thinking or a tool call) has been written for the client."""
        return self._writer.started

    @property
    def finish_reason(self) -> StopReason | None:
        return self._writer.reason

    @property
    def complete(self) -> bool:
        """The upstream said its answer is whole: a finish reason, or its own end marker."""
        return self._writer.reason is not None or self._reader.terminated

    @property
    def skipped(self) -> int:
        """Upstream frames that were malformed or of an unknown type, and were dropped."""
        return self._reader.skipped + self._reader.parser.oversized

    def feed(self, chunk: bytes) -> bytes:
        self._reader.feed(chunk)
        return self._writer.take()

    def finish(self) -> bytes:
        """The upstream ended (normally or early): close open blocks, write terminal frames."""
        self._reader.close()
        return self._writer.take()

    def error(self, message: str, status: int) -> bytes:
        """An in-stream error in the client's format (after which the stream is over)."""
        self._reader.ended = True
        self._writer.error(message, status)
        return self._writer.take()
