"""Shared machinery of the per-format stream readers and writers."""

from __future__ import annotations

import os
from typing import Any

import orjson
import structlog

from services.proxy.translate.ir import Sink, StopReason
from services.proxy.translate.sse import SSEParser
from services.proxy.translate.usage import Usage

Json = dict[str, Any]
log = structlog.get_logger(__name__)
_LOGGED_SKIPS = 3


# The RFC 4122 variant puts 10 in the top bits of the 17th hex digit: 8, 9, a or b.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


class _HexIds:
    """The first 24 hex digits of a version-4 UUID, as `uuid.uuid4().hex[:24]` gives them, from
    one 4 KiB read of the OS CSPRNG per 341 ids: `uuid4()` was a getrandom syscall and a UUID
    object per translated answer (and per tool call)."""

    def __init__(self) -> None:
        self._pool = ""
        self._pos = 0

    def next(self) -> str:
        pos = self._pos
        if pos + 24 > len(self._pool):
            self._pool, pos = os.urandom(4096).hex(), 0
        self._pos = pos + 24
        h = self._pool[pos : pos + 24]
        return h[:12] + "4" + h[13:16] + _VARIANT[h[16]] + h[17:]


_IDS = _HexIds()


def new_id(prefix: str) -> str:
    return prefix + _IDS.next()


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


class StreamReader:
    """Bytes -> SSE frames -> JSON -> `on_frame`, which calls the sink.

    A frame that is not JSON, or that `on_frame` cannot make sense of, is counted in `skipped`
    and dropped: an upstream glitch must never end the client's stream with an exception.
    """

    fmt = ""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.parser = SSEParser()
        self.skipped = 0
        self.ended = False
        self.terminated = False  # the upstream sent its own end marker ([DONE], message_stop...)

    def feed(self, chunk: bytes) -> None:
        for event, data in self.parser.feed(chunk):
            self._frame(event, data)

    def close(self) -> None:
        """The upstream body ended: parse a trailing frame, then end the stream if it did not."""
        for event, data in self.parser.flush():
            self._frame(event, data)
        if not self.ended:
            self.ended = True
            self.on_close()
            self.sink.end()

    def _frame(self, event: str, data: bytes) -> None:
        if self.ended:
            return
        if data == b"[DONE]":
            self.finish_end()
            return
        try:
            obj = orjson.loads(data)
            if not isinstance(obj, dict):
                raise ValueError("frame is not an object")
            self.on_frame(event, obj)
        except Exception as exc:  # any malformed frame is skipped, never raised into the stream
            self.skipped += 1
            if self.skipped <= _LOGGED_SKIPS:  # a broken upstream must not flood the log
                log.warning(
                    "stream_frame_skipped", format=self.fmt, sse_event=event, error=str(exc)[:200]
                )

    def on_frame(self, event: str, obj: Json) -> None:
        raise NotImplementedError

    def on_close(self) -> None:
        """Called once before `sink.end()`: close what the upstream left open."""

    def finish_end(self) -> None:
        """The upstream sent its own terminal event."""
        self.terminated = True
        if not self.ended:
            self.ended = True
            self.on_close()
            self.sink.end()


class StreamWriter:
    """Collects output frames in `out`; `take()` hands them over and resets the buffer."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.out: list[bytes] = []
        self.started = False  # first content emitted
        self.ended = False
        self.reason: StopReason | None = None
        self.last_usage = Usage()
        self.keep_signatures = False

    def take(self) -> bytes:
        if not self.out:
            return b""
        data = b"".join(self.out)
        self.out.clear()
        return data

    def usage(self, usage: Usage) -> None:
        self.last_usage = usage

    # The rest of the Sink protocol, written by each format.
    def start(self, id: str | None, model: str | None) -> None:
        raise NotImplementedError

    def text(self, delta: str) -> None:
        raise NotImplementedError

    def thinking(self, delta: str, signature: str | None) -> None:
        raise NotImplementedError

    def tool_start(self, index: int, call_id: str, name: str) -> None:
        raise NotImplementedError

    def tool_args(self, index: int, delta: str) -> None:
        raise NotImplementedError

    def tool_end(self, index: int) -> None:
        raise NotImplementedError

    def error(self, message: str, status: int) -> None:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError

    def finish(self, reason: StopReason) -> None:
        self.reason = reason
