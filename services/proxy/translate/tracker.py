"""Usage of a body relayed untouched (client and upstream speak the same format)."""

from __future__ import annotations

import re
from typing import Any

import orjson

from services.proxy.translate import formats, responses
from services.proxy.translate import usage as usage_map
from services.proxy.translate.ir import Format
from services.proxy.translate.sse import SSEParser
from services.proxy.translate.usage import Usage

Json = dict[str, Any]
_SEQUENCE = b'"sequence_number":'
# Gemini frames held unparsed before the newest of them is looked at (see UsageTracker), by
# count and by bytes (a frame may carry inline media).
GEMINI_UNREAD_LIMIT = 16
GEMINI_UNREAD_BYTES = 64 * 1024
_DIGITS = re.compile(rb"\s*(\d+)")


class UsageTracker:
    """Observes stream chunks (split anywhere) and keeps the latest usage; never alters them.

    Only frames that mention "usage" are decoded, so relaying stays close to free. For a
    Responses stream it also keeps the response id and the last `sequence_number`, so an error
    the proxy adds (`error`) continues the stream instead of starting a new one.

    Gemini puts `usageMetadata` in every frame and the last valid one wins, so its frames are
    held unparsed and read newest first when `usage` is asked for (or every
    `GEMINI_UNREAD_LIMIT` frames or `GEMINI_UNREAD_BYTES`): one parse per stream instead of
    one per frame, the same result.
    """

    def __init__(self, fmt: Format) -> None:
        self.fmt = fmt
        self._usage = Usage()
        self._unread: list[bytes] = []
        self._unread_bytes = 0
        self._parser = SSEParser()
        self.response_id: str | None = None
        self.sequence = -1  # the highest sequence_number seen (Responses)
        self._seq_tail = b""

    def feed(self, chunk: bytes) -> None:
        if self.fmt == "responses":
            self._scan_sequence(chunk)
            if self.response_id is None:  # until response.created: every frame is read
                for _event, data in self._parser.feed(chunk):
                    self._frame(data)
                return
        if self._parser.idle and chunk.endswith(b"\n\n") and b"sage" not in chunk:
            return  # whole frames, none about usage: nothing to parse
        for _event, data in self._parser.feed(chunk):
            self._frame(data)

    @property
    def usage(self) -> Usage:
        if self._unread:
            self._read_gemini()
        return self._usage

    def finish(self) -> None:
        for _event, data in self._parser.flush():
            self._frame(data)

    def _frame(self, data: bytes) -> None:
        if b"sage" not in data and (self.response_id is not None or self.fmt != "responses"):
            return  # "usage" and "usageMetadata"; a Responses stream's first frame, for its id
        if self.fmt == "gemini":
            self._unread.append(data)
            self._unread_bytes += len(data)
            if len(self._unread) >= GEMINI_UNREAD_LIMIT or self._unread_bytes > GEMINI_UNREAD_BYTES:
                self._read_gemini()
            return
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(obj, dict):
            return
        self._usage = _usage_of(self.fmt, obj, self._usage)
        if self.response_id is None and self.fmt == "responses":
            # response.created comes first: one frame tells, later ones are not searched.
            response = obj.get("response")
            found = response.get("id") if isinstance(response, dict) else None
            self.response_id = found if isinstance(found, str) else ""

    def _read_gemini(self) -> None:
        """The usage of the newest held frame that has a `usageMetadata` object (as parsing
        every frame in order and keeping the last would give); none: the usage stays."""
        frames, self._unread, self._unread_bytes = self._unread, [], 0
        for data in reversed(frames):
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("usageMetadata"), dict):
                self._usage = usage_map.from_gemini(obj["usageMetadata"])
                return

    def _scan_sequence(self, chunk: bytes) -> None:
        """The last `"sequence_number": N` of the stream so far; a number cut between two reads
        is read whole once the next read arrives (numbers only grow, so the maximum wins)."""
        window = self._seq_tail + chunk
        at = window.rfind(_SEQUENCE)
        if at >= 0:
            found = _DIGITS.match(window, at + len(_SEQUENCE))
            if found:
                self.sequence = max(self.sequence, int(found.group(1)))
        self._seq_tail = window[-40:]

    def error(self, model: str, message: str, status: int) -> bytes:
        """An in-stream error after the relayed frames, in the stream's own format."""
        writer = formats.stream_writer(self.fmt, model, True, {})
        if isinstance(writer, responses.Writer) and self.sequence >= 0:
            writer.resume(self.response_id or "", self.sequence + 1)
        writer.error(message, status)
        return writer.take()


def _usage_of(fmt: str, obj: Json, previous: Usage) -> Usage:
    if fmt == "openai" and isinstance(obj.get("usage"), dict):
        return usage_map.from_openai(obj["usage"])
    if fmt == "gemini" and isinstance(obj.get("usageMetadata"), dict):
        return usage_map.from_gemini(obj["usageMetadata"])
    if fmt == "anthropic":
        block = obj.get("usage")
        if obj.get("type") == "message_start":
            block = (obj.get("message") or {}).get("usage")
        if isinstance(block, dict):
            return usage_map.from_anthropic(block, previous)
    if fmt == "responses":
        block = (obj.get("response") or {}).get("usage") if "response" in obj else obj.get("usage")
        if isinstance(block, dict):
            return usage_map.from_responses(block)
    return previous


def usage_from_body(fmt: Format, body: bytes) -> Usage:
    """Usage of a whole upstream body: a JSON response, or a complete SSE stream."""
    if is_sse(body):
        tracker = UsageTracker(fmt)
        tracker.feed(body)
        tracker.finish()
        return tracker.usage
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Usage()
    return _usage_of(fmt, obj, Usage()) if isinstance(obj, dict) else Usage()


def is_sse(body: bytes) -> bool:
    head = body[:64].lstrip()
    return head.startswith((b"data:", b"event:", b":"))
