"""Usage of a body relayed untouched (client and upstream speak the same format)."""

from __future__ import annotations

from typing import Any

import orjson

from services.proxy.translate import usage as usage_map
from services.proxy.translate.ir import Format
from services.proxy.translate.sse import SSEParser
from services.proxy.translate.usage import Usage

Json = dict[str, Any]


class UsageTracker:
    """Observes stream chunks (split anywhere) and keeps the latest usage; never alters them.

    Only frames that mention "usage" are decoded, so relaying stays close to free.
    """

    def __init__(self, fmt: Format) -> None:
        self.fmt = fmt
        self.usage = Usage()
        self._parser = SSEParser()

    def feed(self, chunk: bytes) -> None:
        if self._parser.idle and chunk.endswith(b"\n\n") and b"sage" not in chunk:
            return  # whole frames, none about usage: nothing to parse
        for _event, data in self._parser.feed(chunk):
            self._frame(data)

    def finish(self) -> None:
        for _event, data in self._parser.flush():
            self._frame(data)

    def _frame(self, data: bytes) -> None:
        if b"sage" not in data:  # "usage" and "usageMetadata"
            return
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if isinstance(obj, dict):
            self.usage = _usage_of(self.fmt, obj, self.usage)


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
