"""Anthropic Messages: request, response and stream reader + writer."""

from __future__ import annotations

import re
from typing import Any

import orjson

from services.proxy.translate import media, schema, thinking
from services.proxy.translate import usage as usage_map
from services.proxy.translate.codec import StreamReader, StreamWriter, dumps, new_id
from services.proxy.translate.ir import (
    Media,
    Message,
    Reasoning,
    Request,
    Response,
    Sink,
    StopReason,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from services.proxy.translate.usage import Usage

Json = dict[str, Any]

_FROM_STOP: dict[str, StopReason] = {
    "end_turn": "stop",
    "max_tokens": "length",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "refusal": "content_filter",
    "model_context_window_exceeded": "length",
}
_TO_STOP: dict[StopReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "stop_sequence": "stop_sequence",
    "content_filter": "refusal",
    "error": "end_turn",
}
_BAD_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


# ---------------------------------------------------------------- requests
def read_request(body: Json) -> Request:
    req = Request()
    req.system = _read_system(body.get("system"))
    for msg in body.get("messages") or []:
        if isinstance(msg, dict):
            _read_message(req, msg)
    for tool in body.get("tools") or []:
        # Server tools (web_search_*, bash_*, text_editor_*, ...) have a type and no schema:
        # only Anthropic can run them, so they are dropped for other upstreams.
        if isinstance(tool, dict) and tool.get("type", "custom") == "custom" and tool.get("name"):
            params = schema.object_schema(tool.get("input_schema"))
            req.tools.append(Tool(tool["name"], tool.get("description") or "", params))
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        mode = {"auto": "auto", "any": "required", "tool": "tool", "none": "none"}.get(
            choice.get("type", "")
        )
        if mode is not None:
            req.tool_choice = ToolChoice(mode, choice.get("name"))  # type: ignore[arg-type]
        if choice.get("disable_parallel_tool_use"):
            req.parallel_tool_calls = False
    req.max_tokens = body.get("max_tokens")
    req.temperature = body.get("temperature")
    req.top_p = body.get("top_p")
    req.top_k = body.get("top_k")
    req.stop = list(body.get("stop_sequences") or [])
    req.user = (body.get("metadata") or {}).get("user_id")
    req.thinking = thinking.from_anthropic(body)
    fmt = (body.get("output_config") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        req.response_format = {
            "type": "json_schema",
            "name": "response",
            "schema": fmt.get("schema") or {},
        }
    return req


def _read_system(system: Any) -> list[str]:
    if isinstance(system, str):
        return [system] if system else []
    return [
        b["text"] for b in system or [] if isinstance(b, dict) and isinstance(b.get("text"), str)
    ]


def _read_message(req: Request, msg: Json) -> None:
    role = msg.get("role")
    content = msg.get("content")
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
    if role == "system":  # Claude Code sends mid-conversation system messages
        req.messages.append(Message("system", [Text(_read_system_text(blocks))]))
        return
    results: list[Any] = []
    parts: list[Any] = []
    for block in blocks:
        if isinstance(block, dict):
            part = _read_block(block)
            if part is not None:
                (results if isinstance(part, ToolResult) else parts).append(part)
    if results:
        req.messages.append(Message("tool", results))
    if parts or not results:
        req.messages.append(Message("assistant" if role == "assistant" else "user", parts))


def _read_system_text(blocks: list[Any]) -> str:
    """The text blocks' text: other blocks may carry a `text` field of any type."""
    return "".join(
        b["text"]
        for b in blocks
        if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
    )


def _read_block(block: Json) -> Any:
    kind = block.get("type")
    if kind == "text":
        return Text(block.get("text") or "")
    if kind in ("image", "document"):
        return _read_source(block.get("source") or {})
    if kind == "tool_use":
        args = dumps(block.get("input") or {}).decode()
        return ToolCall(block.get("id") or "", block.get("name") or "", args)
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, str):
            parts: list[Any] = [Text(content)]
        else:
            parts = [
                p
                for p in (_read_block(b) for b in content or [] if isinstance(b, dict))
                if p is not None
            ]
        return ToolResult(block.get("tool_use_id") or "", parts, bool(block.get("is_error")))
    if kind == "thinking":
        return Reasoning(block.get("thinking") or "", block.get("signature"), "anthropic")
    return None  # redacted_thinking, server tool blocks, citations: Anthropic-only


def _read_source(source: Json) -> Any:
    kind = source.get("type")
    if kind == "base64":
        return Media(source.get("media_type") or "image/png", data=source.get("data") or "")
    if kind == "url" and isinstance(source.get("url"), str):
        return media.from_url(source["url"])
    if kind == "text":
        return Text(source.get("data") or "")
    return None


def write_request(req: Request, model: str, stream: bool) -> Json:
    messages = _write_messages(req.messages)
    body: Json = {"model": model, "messages": messages}
    if req.system:
        body["system"] = [{"type": "text", "text": t} for t in req.system if t]
    max_tokens = req.max_tokens or thinking.anthropic_default_max_tokens(model)
    if req.tools:
        body["tools"] = [
            {
                "name": t.name,
                "description": t.description,
                "input_schema": schema.object_schema(t.parameters),
            }
            for t in req.tools
        ]
        choice = _write_tool_choice(req)
        if choice is not None:
            body["tool_choice"] = choice
    thinking_on = False
    if req.thinking is not None and _thinking_allowed(messages, body.get("tool_choice")):
        block, effort, max_tokens = thinking.anthropic_fields(req.thinking, model, max_tokens)
        if block is not None:
            body["thinking"] = block
            thinking_on = block["type"] != "disabled"
        if effort is not None:
            body["output_config"] = {"effort": effort}
    body["max_tokens"] = max_tokens
    if not thinking_on:  # Anthropic rejects sampling overrides while thinking
        _put(body, "temperature", req.temperature)
        # Recent Claude models refuse temperature and top_p together: temperature wins.
        _put(body, "top_p", req.top_p if req.temperature is None else None)
        _put(body, "top_k", req.top_k)
    if req.stop:
        body["stop_sequences"] = req.stop
    if req.user:
        body["metadata"] = {"user_id": req.user}
    fmt = req.response_format
    if fmt is not None and fmt.get("type") == "json_schema":
        body.setdefault("output_config", {})["format"] = {
            "type": "json_schema",
            "schema": fmt["schema"],
        }
    if stream:
        body["stream"] = True
    return body


def _put(body: Json, key: str, value: Any) -> None:
    if value is not None:
        body[key] = value


def _thinking_allowed(messages: list[Json], choice: Json | None) -> bool:
    """Thinking is left off when Anthropic would refuse it: with a tool choice that forces a
    tool, or when the last assistant turn's tool use is not preceded by a signed thinking block
    (a conversation from another format has none)."""
    if choice is not None and choice["type"] in ("any", "tool"):
        return False
    for msg in reversed(messages):
        if msg["role"] == "assistant":
            kinds = [b.get("type") for b in msg["content"]]
            return "tool_use" not in kinds or kinds[0] == "thinking"
    return True


def _write_tool_choice(req: Request) -> Json | None:
    tc = req.tool_choice
    out: Json | None = None
    if tc is not None:
        kind = {"auto": "auto", "required": "any", "tool": "tool", "none": "none"}[tc.mode]
        out = {"type": kind, "name": tc.name} if tc.mode == "tool" else {"type": kind}
    if req.parallel_tool_calls is False:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


def _write_messages(messages: list[Message]) -> list[Json]:
    out: list[Json] = []
    for msg in messages:
        role = "assistant" if msg.role == "assistant" else "user"
        blocks = [b for b in (_write_part(p) for p in msg.parts) if b is not None]
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    for turn in out:
        if turn["role"] == "user":  # tool_result blocks must come first in their message
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    return out


def _write_part(part: Any) -> Json | None:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text} if part.text.strip() else None
    if isinstance(part, Media):
        return _write_media(part)
    if isinstance(part, ToolCall):
        return {
            "type": "tool_use",
            "id": tool_id(part.id),
            "name": part.name,
            "input": _args(part.arguments),
        }
    if isinstance(part, ToolResult):
        content = [b for b in (_write_part(p) for p in part.content) if b is not None]
        block: Json = {
            "type": "tool_result",
            "tool_use_id": tool_id(part.call_id),
            "content": content,
        }
        if part.is_error:
            block["is_error"] = True
        return block
    if isinstance(part, Reasoning) and part.origin == "anthropic" and part.signature:
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    return None


def _write_media(part: Media) -> Json:
    kind = "image" if media.is_image(part) else "document"
    if part.data is not None:
        return {
            "type": kind,
            "source": {"type": "base64", "media_type": part.media_type, "data": part.data},
        }
    return {"type": kind, "source": {"type": "url", "url": part.url or ""}}


def tool_id(value: str) -> str:
    """Anthropic tool ids must match ^[a-zA-Z0-9_-]+$; other formats' ids may not."""
    if not value:
        return new_id("toolu_")
    return value if _BAD_ID_CHARS.search(value) is None else _BAD_ID_CHARS.sub("_", value)


def _args(arguments: str) -> Json:
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------- responses
def read_response(body: Json) -> Response:
    resp = Response(id=body.get("id") or "", model=body.get("model") or "")
    for block in body.get("content") or []:
        if not isinstance(block, dict):
            continue
        part = _read_block(block)
        if isinstance(part, Text | Reasoning | ToolCall):
            resp.parts.append(part)
    resp.stop_reason = _FROM_STOP.get(body.get("stop_reason") or "end_turn", "stop")
    if isinstance(body.get("usage"), dict):
        resp.usage = usage_map.from_anthropic(body["usage"])
    return resp


def write_response(resp: Response, model: str) -> Json:
    content: list[Json] = []
    for part in resp.parts:
        if isinstance(part, Reasoning):
            signature = part.signature if part.origin == "anthropic" else ""
            content.append(
                {"type": "thinking", "thinking": part.text, "signature": signature or ""}
            )
        elif isinstance(part, Text):
            content.append({"type": "text", "text": part.text})
        else:
            content.append(
                {
                    "type": "tool_use",
                    "id": tool_id(part.id),
                    "name": part.name,
                    "input": _args(part.arguments),
                }
            )
    return {
        "id": resp.id if resp.id.startswith("msg_") else new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _TO_STOP[resp.stop_reason],
        "stop_sequence": None,
        "usage": usage_map.to_anthropic(resp.usage),
    }


def error_type(status: int) -> str:
    return {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        529: "overloaded_error",
    }.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str, code: str | None) -> Json:
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


# ---------------------------------------------------------------- streams
class Reader(StreamReader):
    """message_start / content_block_* / message_delta / message_stop frames."""

    fmt = "anthropic"

    def __init__(self, sink: Sink) -> None:
        super().__init__(sink)
        self._usage = Usage()
        self._tools: set[int] = set()

    def on_frame(self, event: str, obj: Json) -> None:
        kind = obj.get("type") or event
        if kind == "content_block_delta":
            self._delta(obj.get("index", 0), obj.get("delta") or {})
        elif kind == "content_block_start":
            self._block_start(obj.get("index", 0), obj.get("content_block") or {})
        elif kind == "content_block_stop":
            index = obj.get("index", 0)
            if index in self._tools:
                self._tools.discard(index)
                self.sink.tool_end(index)
        elif kind == "message_start":
            message = obj.get("message") or {}
            self.sink.start(message.get("id"), message.get("model"))
            self._take_usage(message.get("usage"))
        elif kind == "message_delta":
            self._take_usage(obj.get("usage"))
            reason = (obj.get("delta") or {}).get("stop_reason")
            if reason:
                self.sink.finish(_FROM_STOP.get(reason, "stop"))
        elif kind == "message_stop":
            self.finish_end()
        elif kind == "error":
            err = obj.get("error") or {}
            self.sink.error(str(err.get("message") or "upstream error"), _status(err.get("type")))
        elif kind != "ping":
            self.skipped += 1

    def _take_usage(self, block: Any) -> None:
        if isinstance(block, dict):
            self._usage = usage_map.from_anthropic(block, self._usage)
            self.sink.usage(self._usage)

    def _block_start(self, index: int, block: Json) -> None:
        kind = block.get("type")
        if kind == "tool_use":
            self._tools.add(index)
            self.sink.tool_start(
                index, block.get("id") or new_id("toolu_"), block.get("name") or ""
            )
            if block.get("input"):  # non-streaming tool input arrives whole
                self.sink.tool_args(index, dumps(block["input"]).decode())
        elif kind == "text" and block.get("text"):
            self.sink.text(block["text"])
        elif kind == "thinking" and block.get("thinking"):
            self.sink.thinking(block["thinking"], None)

    def _delta(self, index: int, delta: Json) -> None:
        kind = delta.get("type")
        if kind == "text_delta":
            self.sink.text(delta.get("text") or "")
        elif kind == "input_json_delta":
            if index in self._tools and delta.get("partial_json"):
                self.sink.tool_args(index, delta["partial_json"])
        elif kind == "thinking_delta":
            self.sink.thinking(delta.get("thinking") or "", None)
        elif kind == "signature_delta":
            self.sink.thinking("", delta.get("signature"))

    def on_close(self) -> None:
        for index in sorted(self._tools):
            self.sink.tool_end(index)
        self._tools.clear()


def _status(kind: Any) -> int:
    return {
        "invalid_request_error": 400,
        "authentication_error": 401,
        "permission_error": 403,
        "not_found_error": 404,
        "request_too_large": 413,
        "rate_limit_error": 429,
        "overloaded_error": 529,
    }.get(str(kind), 500)


class Writer(StreamWriter):
    """IR events -> Anthropic SSE, with usage in both message_start and message_delta."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self._id = new_id("msg_")
        self._opened = False
        self._block = -1  # index of the open content block, -1 when none
        self._kind = ""  # "text" | "thinking" | "tool"
        self._tool_blocks: dict[int, int] = {}  # reader tool index -> block index
        self._next = 0
        self._signature: str | None = None

    def _emit(self, event: bytes, payload: Json) -> None:
        self.out.append(b"event: " + event + b"\ndata: " + dumps(payload) + b"\n\n")

    def _open_message(self) -> None:
        if self._opened:
            return
        self._opened = True
        usage = usage_map.to_anthropic(self.last_usage)
        usage["output_tokens"] = 0
        message: Json = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        self._emit(b"message_start", {"type": "message_start", "message": message})

    def _open_block(self, kind: str, block: Json) -> int:
        self._open_message()
        self._close_block()
        self._block, self._kind = self._next, kind
        self._next += 1
        self._emit(
            b"content_block_start",
            {"type": "content_block_start", "index": self._block, "content_block": block},
        )
        return self._block

    def _close_block(self) -> None:
        if self._block < 0:
            return
        if self._kind == "thinking" and self._signature:
            delta = {"type": "signature_delta", "signature": self._signature}
            self._emit(
                b"content_block_delta",
                {"type": "content_block_delta", "index": self._block, "delta": delta},
            )
        self._signature = None
        self._emit(b"content_block_stop", {"type": "content_block_stop", "index": self._block})
        self._block, self._kind = -1, ""

    def _delta(self, delta: Json) -> None:
        self._emit(
            b"content_block_delta",
            {"type": "content_block_delta", "index": self._block, "delta": delta},
        )

    def start(self, id: str | None, model: str | None) -> None:
        if id and id.startswith("msg_"):
            self._id = id

    def text(self, delta: str) -> None:
        self.started = True
        if self._kind != "text":
            self._open_block("text", {"type": "text", "text": ""})
        if delta:
            self._delta({"type": "text_delta", "text": delta})

    def thinking(self, delta: str, signature: str | None) -> None:
        self.started = True
        if self._kind != "thinking":
            self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        if delta:
            self._delta({"type": "thinking_delta", "thinking": delta})
        if signature and self.keep_signatures:
            self._signature = signature

    def tool_start(self, index: int, call_id: str, name: str) -> None:
        self.started = True
        block = {"type": "tool_use", "id": tool_id(call_id), "name": name, "input": {}}
        self._tool_blocks[index] = self._open_block("tool", block)

    def tool_args(self, index: int, delta: str) -> None:
        # A delta for a tool block that is no longer open cannot be expressed: dropped.
        if delta and self._kind == "tool" and self._tool_blocks.get(index) == self._block:
            self._delta({"type": "input_json_delta", "partial_json": delta})

    def tool_end(self, index: int) -> None:
        if self._kind == "tool" and self._tool_blocks.get(index) == self._block:
            self._close_block()

    def error(self, message: str, status: int) -> None:
        if not self.ended:
            self.ended = True
            self._emit(b"error", error_body(status, message, None))

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        self._open_message()
        self._close_block()
        reason = self.reason or ("tool_calls" if self._tool_blocks else "stop")
        delta = {"stop_reason": _TO_STOP[reason], "stop_sequence": None}
        usage = usage_map.to_anthropic(self.last_usage)
        self._emit(b"message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        self._emit(b"message_stop", {"type": "message_stop"})
