"""OpenAI chat SSE relayed frame by frame: usage is read on the way, and the usage chunk the
proxy asked for on the client's behalf is removed from what the client sees.

Frames are relayed as soon as they are complete; bytes of a frame split across reads wait for
its end. A single frame is capped so a hostile upstream cannot grow the buffer without bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ..translate.openai import error_type as openai_error_type
from ..translate.usage import Usage, from_openai

MAX_FRAME = 8 * 1024 * 1024
_USAGE = b'"usage"'
_DONE = b"data: [DONE]"

FrameRewriter = Callable[[dict[str, Any]], dict[str, Any] | None]


class FrameTooLarge(Exception):
    """An upstream SSE frame exceeded MAX_FRAME."""


class OpenAIStream:
    """Feeds upstream bytes, returns the bytes to relay; tracks usage and [DONE]."""

    def __init__(self, *, strip_usage: bool, rewrite: FrameRewriter | None = None) -> None:
        self.strip_usage = strip_usage
        self.rewrite = rewrite
        self.tokens: Usage | None = None
        self.done = False
        self.started = False
        self._tail = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._tail + chunk if self._tail else chunk
        end = data.rfind(b"\n\n")
        if end < 0:
            self._tail = data
            if len(data) > MAX_FRAME:
                raise FrameTooLarge
            return b""
        complete, self._tail = data[: end + 2], data[end + 2 :]
        self.started = True
        if self.rewrite is None and _USAGE not in complete:
            if not self.done and _DONE in complete:
                self.done = True
            return complete  # the common case: relay untouched
        return b"".join(self._frame(f) for f in complete.split(b"\n\n") if f)

    def _frame(self, frame: bytes) -> bytes:
        payload = frame[6:] if frame.startswith(b"data: ") else None
        if payload is None or payload == b"[DONE]":
            self.done = self.done or payload == b"[DONE]"
            return frame + b"\n\n"
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return frame + b"\n\n"
        if not isinstance(obj, dict):
            return frame + b"\n\n"
        changed = False
        usage = obj.get("usage")
        if usage:
            if isinstance(usage, dict):
                self.tokens = from_openai(usage)
            if self.strip_usage:
                if not obj.get("choices"):
                    return b""
                obj["usage"] = None
                changed = True
        if self.rewrite is not None:
            rewritten = self.rewrite(obj)
            if rewritten is None:
                return b""
            obj, changed = rewritten, True
        if not changed:
            return frame + b"\n\n"
        return b"data: " + orjson.dumps(obj) + b"\n\n"

    def error(self, message: str, status: int) -> bytes:
        return openai_stream_error(message, status, "upstream_error")

    def finish(self) -> bytes:
        """Bytes still owed at upstream EOF (a last frame without its blank line)."""
        tail, self._tail = self._tail, b""
        if not tail.strip():
            return b""
        return self.feed(tail + b"\n\n")


def openai_stream_error(message: str, status: int, code: str | None = None) -> bytes:
    """An in-stream error frame the OpenAI SDKs raise as APIError, then the terminator."""
    error = {"error": {"message": message, "type": openai_error_type(status), "code": code}}
    return b"data: " + orjson.dumps(error) + b"\n\n" + _DONE + b"\n\n"
