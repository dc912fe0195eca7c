"""OpenAI Chat Completions: request, response and stream reader + writer."""

from __future__ import annotations

import time
from typing import Any

from services.proxy.translate import media, rules, schema, thinking
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

Json = dict[str, Any]

_FROM_FINISH: dict[str, StopReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
_TO_FINISH: dict[StopReason, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "stop_sequence": "stop",
    "content_filter": "content_filter",
    "error": "stop",
}


# ---------------------------------------------------------------- requests
def read_request(body: Json) -> Request:
    req = Request()
    for msg in body.get("messages") or []:
        if isinstance(msg, dict):
            _read_message(req, msg)
    for tool in body.get("tools") or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type", "function") == "function" and isinstance(fn, dict) and fn.get("name"):
            params = schema.object_schema(fn.get("parameters"))
            req.tools.append(Tool(fn["name"], fn.get("description") or "", params))
    req.tool_choice = _read_tool_choice(body.get("tool_choice"))
    req.parallel_tool_calls = body.get("parallel_tool_calls")
    req.max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    req.temperature = body.get("temperature")
    req.top_p = body.get("top_p")
    stop = body.get("stop")
    req.stop = [stop] if isinstance(stop, str) else list(stop or [])
    req.seed = body.get("seed")
    req.user = body.get("user")
    effort = body.get("reasoning_effort")
    req.thinking = thinking.from_level(effort) if isinstance(effort, str) else None
    req.response_format = _read_response_format(body.get("response_format"))
    return req


def _read_message(req: Request, msg: Json) -> None:
    role = msg.get("role")
    content = msg.get("content")
    if role in ("system", "developer"):
        text = _joined_text(content)
        if req.messages:
            req.messages.append(Message("system", [Text(text)]))
        else:
            req.system.append(text)
    elif role == "user":
        req.messages.append(Message("user", _read_parts(content)))
    elif role == "assistant":
        req.messages.append(Message("assistant", _read_assistant(msg)))
    elif role in ("tool", "function"):
        call_id = msg.get("tool_call_id") or msg.get("name") or ""
        result = ToolResult(call_id, _read_parts(content), name=msg.get("name"))
        if req.messages and req.messages[-1].role == "tool":
            req.messages[-1].parts.append(result)
        else:
            req.messages.append(Message("tool", [result]))


def _read_parts(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [Text(content)]
    parts: list[Any] = []
    for part in content or []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(Text(part["text"]))
        elif kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            if isinstance(url, str):
                parts.append(media.from_url(url))
        elif kind == "file" and isinstance(part.get("file"), dict):
            data = part["file"].get("file_data")
            if isinstance(data, str):
                parts.append(media.from_url(data))
    return parts


def _read_assistant(msg: Json) -> list[Any]:
    parts: list[Any] = []
    reasoning = msg.get("reasoning_content") or msg.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(Reasoning(reasoning))
    parts.extend(p for p in _read_parts(msg.get("content")) if isinstance(p, Text) and p.text)
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        parts.append(
            ToolCall(call.get("id") or "", fn.get("name") or "", fn.get("arguments") or "{}")
        )
    legacy = msg.get("function_call")
    if isinstance(legacy, dict):
        name = legacy.get("name") or ""
        parts.append(ToolCall(name, name, legacy.get("arguments") or "{}"))
    return parts


def _joined_text(content: Any) -> str:
    return "".join(p.text for p in _read_parts(content) if isinstance(p, Text))


def _read_tool_choice(choice: Any) -> ToolChoice | None:
    if choice in ("auto", "none", "required"):
        return ToolChoice(choice)
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return ToolChoice("tool", name) if name else None
    return None


def _read_response_format(fmt: Any) -> Json | None:
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    spec = fmt.get("json_schema")
    if fmt.get("type") == "json_schema" and isinstance(spec, dict):
        return {
            "type": "json_schema",
            "name": spec.get("name") or "response",
            "schema": spec.get("schema") or {},
            "strict": spec.get("strict"),
        }
    return None


def write_request(req: Request, model: str, stream: bool) -> Json:
    messages: list[Json] = [{"role": "system", "content": text} for text in req.system]
    for msg in req.messages:
        messages.extend(_write_message(msg))
    body: Json = {"model": model, "messages": messages}
    if req.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in req.tools
        ]
        if req.tool_choice is not None:
            tc = req.tool_choice
            body["tool_choice"] = (
                {"type": "function", "function": {"name": tc.name}}
                if tc.mode == "tool"
                else tc.mode
            )
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    # OpenAI's reasoning models refuse max_tokens; other compatible upstreams may only know it.
    limit_key = "max_completion_tokens" if rules.reasoning_model("openai", model) else "max_tokens"
    _put(body, limit_key, req.max_tokens)
    _put(body, "temperature", req.temperature)
    _put(body, "top_p", req.top_p)
    _put(body, "seed", req.seed)
    _put(body, "user", req.user)
    if req.stop:
        body["stop"] = req.stop
    if req.thinking is not None:
        _put(body, "reasoning_effort", thinking.openai_effort(req.thinking, model))
    if req.response_format is not None:
        body["response_format"] = _write_response_format(req.response_format)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _put(body: Json, key: str, value: Any) -> None:
    if value is not None:
        body[key] = value


def _write_message(msg: Message) -> list[Json]:
    if msg.role == "tool":
        return [_write_tool_result(p) for p in msg.parts if isinstance(p, ToolResult)]
    if msg.role == "assistant":
        text = "".join(p.text for p in msg.parts if isinstance(p, Text))
        out: Json = {"role": "assistant", "content": text or None}
        calls = [p for p in msg.parts if isinstance(p, ToolCall)]
        if calls:
            out["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in calls
            ]
        return [out]
    return [{"role": msg.role, "content": _write_content(msg.parts)}]


def _write_content(parts: list[Any]) -> str | list[Json]:
    if all(isinstance(p, Text) for p in parts):
        return "".join(p.text for p in parts)
    out: list[Json] = []
    for part in parts:
        if isinstance(part, Text):
            out.append({"type": "text", "text": part.text})
        elif isinstance(part, Media) and media.is_image(part):
            out.append({"type": "image_url", "image_url": {"url": media.to_url(part)}})
        elif isinstance(part, Media):
            file = {"file_data": media.to_url(part), "filename": "document"}
            out.append({"type": "file", "file": file})
    return out


def _write_tool_result(result: ToolResult) -> Json:
    # Tool messages take text only; an image in a tool result becomes a note.
    text = "".join(p.text if isinstance(p, Text) else "[image]" for p in result.content)
    return {"role": "tool", "tool_call_id": result.call_id, "content": text}


def _write_response_format(fmt: Json) -> Json:
    if fmt.get("type") != "json_schema":
        return {"type": "json_object"}
    spec: Json = {"name": fmt.get("name") or "response", "schema": fmt.get("schema") or {}}
    if fmt.get("strict") is not None:
        spec["strict"] = fmt["strict"]
    return {"type": "json_schema", "json_schema": spec}


# ---------------------------------------------------------------- responses
def read_response(body: Json) -> Response:
    resp = Response(id=body.get("id") or "", model=body.get("model") or "")
    choice = _first_choice(body.get("choices"))
    message = choice.get("message") or {}
    for part in _read_assistant(message):
        if isinstance(part, Text | Reasoning | ToolCall):
            resp.parts.append(part)
    resp.stop_reason = _FROM_FINISH.get(choice.get("finish_reason") or "stop", "stop")
    if isinstance(body.get("usage"), dict):
        resp.usage = usage_map.from_openai(body["usage"])
    return resp


def _first_choice(choices: Any) -> Json:
    """The choice with index 0 (n > 1 answers are not translated)."""
    for choice in choices if isinstance(choices, list) else ():
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    return {}


def write_response(resp: Response, model: str) -> Json:
    text = "".join(p.text for p in resp.parts if isinstance(p, Text))
    message: Json = {"role": "assistant", "content": text or None}
    reasoning = "".join(p.text for p in resp.parts if isinstance(p, Reasoning))
    if reasoning:
        message["reasoning_content"] = reasoning
    calls = [p for p in resp.parts if isinstance(p, ToolCall)]
    if calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ]
    return {
        "id": resp.id if resp.id.startswith("chatcmpl") else new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": _TO_FINISH[resp.stop_reason]}
        ],
        "usage": usage_map.to_openai(resp.usage),
    }


def error_body(status: int, message: str, code: str | None) -> Json:
    return {"error": {"message": message, "type": error_type(status), "code": code}}


def error_type(status: int) -> str:
    return {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
    }.get(status, "server_error" if status >= 500 else "invalid_request_error")


# ---------------------------------------------------------------- streams
class Reader(StreamReader):
    """chat.completion.chunk frames; only choice 0 is read (n > 1 is not translated)."""

    fmt = "openai"

    def __init__(self, sink: Sink) -> None:
        super().__init__(sink)
        self._started = False
        self._open: int | None = None  # index of the tool call receiving deltas
        self._seen: set[int] = set()

    def on_frame(self, event: str, obj: Json) -> None:
        if "error" in obj and "choices" not in obj:
            err = obj["error"] if isinstance(obj["error"], dict) else {"message": str(obj["error"])}
            self.sink.error(str(err.get("message") or "upstream error"), _status(err))
            return
        if "choices" not in obj and "usage" not in obj:
            self.skipped += 1  # not a chat.completion.chunk
            return
        if not self._started:
            self._started = True
            self.sink.start(obj.get("id"), obj.get("model"))
        for choice in obj.get("choices") or ():
            # Only the first choice is translated (n > 1 has no equivalent elsewhere); chunks
            # of other choices carry their own index and are left out.
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._choice(choice)
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self.sink.usage(usage_map.from_openai(usage))

    def _choice(self, choice: Json) -> None:
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            self.sink.thinking(reasoning, None)
        content = delta.get("content")
        if isinstance(content, str) and content:
            self.sink.text(content)
        for call in delta.get("tool_calls") or ():
            self._tool_delta(call)
        reason = choice.get("finish_reason")
        if reason:
            self._close_tool()
            self.sink.finish(_FROM_FINISH.get(reason, "stop"))

    def _tool_delta(self, call: Json) -> None:
        index = call.get("index", 0)
        fn = call.get("function") or {}
        if index not in self._seen:
            self._close_tool()
            self._seen.add(index)
            self._open = index
            self.sink.tool_start(index, call.get("id") or new_id("call_"), fn.get("name") or "")
        args = fn.get("arguments")
        if args and index == self._open:
            self.sink.tool_args(index, args)

    def _close_tool(self) -> None:
        if self._open is not None:
            self.sink.tool_end(self._open)
            self._open = None

    def on_close(self) -> None:
        self._close_tool()


def _status(err: Json) -> int:
    code = err.get("code")
    return code if isinstance(code, int) and 400 <= code < 600 else 500


_TEXT_HEAD = b'{"index":0,"delta":{"content":'
_TEXT_TAIL = b'},"finish_reason":null}]}\n\n'


class Writer(StreamWriter):
    """IR events -> chat.completion.chunk frames, ending with `data: [DONE]`."""

    def __init__(self, model: str, include_usage: bool = True) -> None:
        super().__init__(model)
        self.include_usage = include_usage
        self._prefix = b""
        self._tools: dict[int, int] = {}  # reader index -> OpenAI tool_calls index
        self._role_sent = False

    def start(self, id: str | None, model: str | None) -> None:
        if not self._prefix:
            self._set_prefix(None)

    def _set_prefix(self, id: str | None) -> None:
        # The envelope is identical on every chunk: serialise it once.
        head = dumps({"id": id or new_id("chatcmpl-"), "object": "chat.completion.chunk"})
        tail = dumps({"created": int(time.time()), "model": self.model})
        self._prefix = b"data: " + head[:-1] + b"," + tail[1:-1] + b',"choices":['

    def _delta(self, delta: Json, finish: str | None = None) -> None:
        if not self._prefix:
            self._set_prefix(None)
        if not self._role_sent:
            self._role_sent = True
            delta = {"role": "assistant", **delta}
        choice = dumps({"index": 0, "delta": delta, "finish_reason": finish})
        self.out.append(self._prefix + choice + b"]}\n\n")

    def text(self, delta: str) -> None:
        self.started = True
        if not self._role_sent or not self._prefix:
            self._delta({"content": delta})
            return
        # The hot case, one frame per upstream text delta: the bytes `_delta` would give.
        self.out.append(self._prefix + _TEXT_HEAD + dumps(delta) + _TEXT_TAIL)

    def thinking(self, delta: str, signature: str | None) -> None:
        if delta:
            self.started = True
            self._delta({"reasoning_content": delta})

    def tool_start(self, index: int, call_id: str, name: str) -> None:
        self.started = True
        position = self._tools[index] = len(self._tools)
        fn = {"name": name, "arguments": ""}
        self._delta(
            {"tool_calls": [{"index": position, "id": call_id, "type": "function", "function": fn}]}
        )

    def tool_args(self, index: int, delta: str) -> None:
        position = self._tools.get(index)
        if position is not None and delta:
            self._delta({"tool_calls": [{"index": position, "function": {"arguments": delta}}]})

    def tool_end(self, index: int) -> None:
        pass

    def error(self, message: str, status: int) -> None:
        if not self.ended:
            self.ended = True
            self.out.append(b"data: " + dumps(error_body(status, message, None)) + b"\n\n")
            self.out.append(b"data: [DONE]\n\n")

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        reason = self.reason or ("tool_calls" if self._tools else "stop")
        self._delta({}, _TO_FINISH[reason])
        if self.include_usage:
            usage = dumps(usage_map.to_openai(self.last_usage))
            self.out.append(self._prefix[:-1] + b'[],"usage":' + usage + b"}\n\n")
        self.out.append(b"data: [DONE]\n\n")
