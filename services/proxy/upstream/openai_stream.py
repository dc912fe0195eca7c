"""OpenAI chat SSE relayed frame by frame: usage is read on the way, and the usage chunk the
proxy asked for on the client's behalf is removed from what the client sees.

Frames are relayed as soon as they are complete; bytes of a frame split across reads wait for
its end. A single frame is capped so a hostile upstream cannot grow the buffer without bound.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from ..translate.openai import error_type as openai_error_type
from ..translate.usage import Usage, from_openai

MAX_FRAME = 8 * 1024 * 1024
_USAGE = b'"usage"'
# OpenAI sends `"usage":null` in every chunk but the last when usage is asked for (servers
# that write JSON with spaces, `"usage": null`): a frame whose every `"usage"` is one of these
# has no usage to read or strip, and is relayed without parsing it.
_NO_USAGE = b'"usage":null'
_NO_USAGE_SPACED = b'"usage": null'
# A `"usage"` that is not null: its frame is parsed (`_untouched` counts the same thing).
_REAL_USAGE = re.compile(rb'"usage"(?!:null|: null)')
_DONE = b"data: [DONE]"
_DONE_DATA = b"[DONE]"  # `data:[DONE]` without the space, or after a comment line, counts too

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
        self._cr = False  # the last read ended in CR: its LF may start the next one

    def feed(self, chunk: bytes) -> bytes:
        if self._cr:
            chunk, self._cr = b"\r" + chunk, False
        if b"\r" in chunk:  # CRLF or CR line ends: relayed as LF so frames split the same way
            if chunk.endswith(b"\r"):
                chunk, self._cr = chunk[:-1], True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        data = self._tail + chunk if self._tail else chunk
        end = data.rfind(b"\n\n")
        if end < 0:
            self._tail = data
            if len(data) > MAX_FRAME:
                raise FrameTooLarge
            return b""
        complete, self._tail = data[: end + 2], data[end + 2 :]
        self.started = True
        if self._untouched(complete) and _unchanged_by_split(complete, end):
            return complete  # the common case: relay untouched
        # Several frames, some to look at (a stream read whole: usage, [DONE]): the frames
        # before the first of those are relayed as they came, the loop takes the rest.
        start = self._clean_prefix(complete)
        frames = (self._frame(f) for f in complete[start:].split(b"\n\n") if f)
        return complete[:start] + b"".join(frames) if start else b"".join(frames)

    def _clean_prefix(self, data: bytes) -> int:
        """Where the first frame of `data` that needs a look starts, when every frame before
        it is one the frame loop would give back byte for byte (no rewrite, no [DONE], every
        `"usage"` null, no empty frame among them); 0 otherwise."""
        if self.rewrite is not None:
            return 0
        first = data.find(_DONE_DATA)
        usage = _REAL_USAGE.search(data, 0, first if first >= 0 else len(data))
        if usage is not None:
            first = usage.start()
        if first < 0:
            return 0
        start = data.rfind(b"\n\n", 0, first) + 2
        if start < 2 or data[:1] == b"\n" or data.find(b"\n\n\n", 0, start) >= 0:
            return 0
        return start

    def _untouched(self, data: bytes) -> bool:
        """True when frames `data` need no look inside: no rewrite, no [DONE], no usage."""
        if self.rewrite is not None or _DONE_DATA in data:
            return False
        usages = data.count(_USAGE)
        if not usages:
            return True
        nulls = data.count(_NO_USAGE)
        return usages == nulls or usages == nulls + data.count(_NO_USAGE_SPACED)

    def _frame(self, frame: bytes) -> bytes:
        if self._untouched(frame):
            return frame + b"\n\n"
        head, payload = _split_frame(frame)
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
                    return head + b"\n\n" if head else b""  # comments still reach the client
                obj["usage"] = None
                changed = True
        if self.rewrite is not None:
            rewritten = self.rewrite(obj)
            if rewritten is None:
                return head + b"\n\n" if head else b""
            obj, changed = rewritten, True
        if not changed:
            return frame + b"\n\n"
        return (head + b"\n" if head else b"") + b"data: " + orjson.dumps(obj) + b"\n\n"

    def error(self, message: str, status: int) -> bytes:
        return openai_stream_error(message, status, "upstream_error")

    def finish(self) -> bytes:
        """Bytes still owed at upstream EOF (a last frame without its blank line)."""
        tail, self._tail = self._tail, b""
        if self._cr:
            self._cr, tail = False, tail + b"\n"
        if not tail.strip():
            return b""
        return self.feed(tail + b"\n\n")


def _unchanged_by_split(complete: bytes, last: int) -> bool:
    """True when the frame loop would give back `complete` byte for byte: it drops empty
    frames, i.e. blank lines at the start or next to a frame's end. `last` is where the
    final frame's blank line starts."""
    if complete.find(b"\n\n") == last:  # one frame: the usual read of a live stream
        return last > 0
    return b"\n\n\n" not in complete and complete[:1] != b"\n"


def _split_frame(frame: bytes) -> tuple[bytes, bytes | None]:
    """(the frame's other lines, e.g. keep-alive comments; its data) of one SSE frame. Data
    lines are joined with newlines as SSE says; None when the frame has no data."""
    if frame.startswith(b"data: ") and b"\n" not in frame:
        return b"", frame[6:]  # the common case: one data line
    head: list[bytes] = []
    data: list[bytes] = []
    for line in frame.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value[:1] == b" " else value)
        else:
            head.append(line)
    return b"\n".join(head), b"\n".join(data) if data else None


def openai_stream_error(message: str, status: int, code: str | None = None) -> bytes:
    """An in-stream error frame the OpenAI SDKs raise as APIError, then the terminator."""
    error = {"error": {"message": message, "type": openai_error_type(status), "code": code}}
    return b"data: " + orjson.dumps(error) + b"\n\n" + _DONE + b"\n\n"
