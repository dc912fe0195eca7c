"""OpenAI Responses (and Codex): request, response and stream reader + writer.

Codex groups MCP tools in `{"type": "namespace", "tools": [...]}` and has free-form `custom`
tools. Other formats only know flat function tools, so a namespaced tool is sent as
`<namespace>__<name>` and a custom tool as a function taking `{"input": string}`. `ToolHints`,
built from the client's request, turns calls to them back into Codex's shapes.
"""

from __future__ import annotations

import time
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
from services.proxy.translate.openai import error_type

Json = dict[str, Any]
# flat tool name -> (namespace or None, name as the client knows it, is a custom tool)
ToolHints = dict[str, tuple[str | None, str, bool]]

_CUSTOM_SCHEMA: Json = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The raw input of the tool."}},
    "required": ["input"],
}
_INCOMPLETE: dict[str, StopReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}


def flat_name(namespace: str | None, name: str) -> str:
    if not namespace or name.startswith(namespace):
        return name
    return f"{namespace}__{name}"


def tool_hints(body: Json) -> ToolHints:
    """Names that need turning back into namespaced or custom calls for this client."""
    hints: ToolHints = {}
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        if tool.get("type") == "custom" and tool.get("name"):
            hints[tool["name"]] = (None, tool["name"], True)
        elif tool.get("type") == "namespace":
            ns = tool.get("name") or ""
            for child in tool.get("tools") or []:
                if isinstance(child, dict) and child.get("name"):
                    hints[flat_name(ns, child["name"])] = (
                        ns,
                        child["name"],
                        child.get("type") == "custom",
                    )
    return hints


# ---------------------------------------------------------------- requests
def read_request(body: Json) -> Request:
    req = Request()
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        req.system.append(body["instructions"])
    items = body.get("input")
    if isinstance(items, str):
        req.messages.append(Message("user", [Text(items)]))
    else:
        for item in items or []:
            if isinstance(item, dict):
                _read_item(req, item)
    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            _read_tool(req, tool, None)
    req.tool_choice = _read_tool_choice(body.get("tool_choice"))
    req.parallel_tool_calls = body.get("parallel_tool_calls")
    req.max_tokens = body.get("max_output_tokens")
    req.temperature = body.get("temperature")
    req.top_p = body.get("top_p")
    req.user = body.get("user") or body.get("safety_identifier")
    effort = (body.get("reasoning") or {}).get("effort")
    req.thinking = thinking.from_level(effort) if isinstance(effort, str) else None
    req.response_format = _read_format((body.get("text") or {}).get("format"))
    return req


def _read_tool(req: Request, tool: Json, namespace: str | None) -> None:
    kind = tool.get("type")
    name = tool.get("name")
    if kind == "function" and name:
        params = schema.object_schema(tool.get("parameters"))
        req.tools.append(Tool(flat_name(namespace, name), tool.get("description") or "", params))
    elif kind == "custom" and name:
        req.tools.append(
            Tool(flat_name(namespace, name), tool.get("description") or "", _CUSTOM_SCHEMA)
        )
    elif kind == "namespace":
        for child in tool.get("tools") or []:
            if isinstance(child, dict):
                _read_tool(req, child, tool.get("name") or "")
    # web_search, file_search, tool_search, local_shell, mcp...: hosted by OpenAI, dropped.


def _read_tool_choice(choice: Any) -> ToolChoice | None:
    if choice in ("auto", "none", "required"):
        return ToolChoice(choice)
    if (
        isinstance(choice, dict)
        and choice.get("type") in ("function", "custom")
        and choice.get("name")
    ):
        return ToolChoice("tool", choice["name"])
    return None


def _read_format(fmt: Any) -> Json | None:
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        return {
            "type": "json_schema",
            "name": fmt.get("name") or "response",
            "schema": fmt.get("schema") or {},
            "strict": fmt.get("strict"),
        }
    return None


def _assistant(req: Request) -> Message:
    if not req.messages or req.messages[-1].role != "assistant":
        req.messages.append(Message("assistant", []))
    return req.messages[-1]


def _read_item(req: Request, item: Json) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        _read_message(req, item)
    elif kind == "function_call":
        name = flat_name(item.get("namespace"), item.get("name") or "")
        _assistant(req).parts.append(
            ToolCall(item.get("call_id") or "", name, item.get("arguments") or "{}")
        )
    elif kind == "custom_tool_call":
        args = dumps({"input": item.get("input") or ""}).decode()
        name = flat_name(item.get("namespace"), item.get("name") or "")
        _assistant(req).parts.append(ToolCall(item.get("call_id") or "", name, args))
    elif kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output")
        content = [Text(output)] if isinstance(output, str) else _read_content(output)
        result = ToolResult(item.get("call_id") or "", content)
        if req.messages and req.messages[-1].role == "tool":
            req.messages[-1].parts.append(result)
        else:
            req.messages.append(Message("tool", [result]))
    elif kind == "reasoning":
        text = "".join(s.get("text", "") for s in item.get("summary") or [] if isinstance(s, dict))
        _assistant(req).parts.append(Reasoning(text, item.get("encrypted_content"), "responses"))
    # web_search_call, local_shell_call, item_reference...: server-side state, dropped.


def _read_message(req: Request, item: Json) -> None:
    role = item.get("role")
    content = item.get("content")
    parts = [Text(content)] if isinstance(content, str) else _read_content(content)
    if role in ("system", "developer"):
        text = "".join(p.text for p in parts if isinstance(p, Text))
        if req.messages:
            req.messages.append(Message("system", [Text(text)]))
        else:
            req.system.append(text)
    elif role == "assistant":
        _assistant(req).parts.extend(parts)
    else:
        req.messages.append(Message("user", parts))


def _read_content(content: Any) -> list[Any]:
    parts: list[Any] = []
    for part in content or []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            parts.append(Text(part.get("text") or ""))
        elif kind == "refusal":
            parts.append(Text(part.get("refusal") or ""))
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            parts.append(media.from_url(part["image_url"]))
        elif kind == "input_file":
            data = part.get("file_data")
            if isinstance(data, str):
                found = media.from_url(
                    data if data.startswith("data:") else f"data:application/pdf;base64,{data}"
                )
                parts.append(found)
            elif isinstance(part.get("file_url"), str):
                parts.append(Media("application/pdf", url=part["file_url"]))
    return parts


def write_request(req: Request, model: str, stream: bool) -> Json:
    body: Json = {
        "model": model,
        "input": _write_items(req.messages),
        "stream": stream,
        "store": False,
    }
    if req.system:
        body["instructions"] = "\n\n".join(req.system)
    if req.tools:
        body["tools"] = [
            {
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
                "strict": False,
            }
            for t in req.tools
        ]
        tc = req.tool_choice
        if tc is not None:
            body["tool_choice"] = (
                {"type": "function", "name": tc.name} if tc.mode == "tool" else tc.mode
            )
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    for key, value in (
        ("max_output_tokens", req.max_tokens),
        ("temperature", req.temperature),
        ("top_p", req.top_p),
    ):
        if value is not None:
            body[key] = value
    if req.thinking is not None:
        effort = thinking.openai_effort(req.thinking, model)
        if effort is not None:
            body["reasoning"] = {"effort": effort, "summary": "auto"}
    if req.response_format is not None:
        fmt = dict(req.response_format)
        if fmt.get("strict") is None:
            fmt.pop("strict", None)
        body["text"] = {"format": fmt}
    return body


def _write_items(messages: list[Message]) -> list[Json]:
    items: list[Json] = []
    for msg in messages:
        if msg.role == "tool":
            items.extend(_write_result(p) for p in msg.parts if isinstance(p, ToolResult))
        elif msg.role == "assistant":
            _write_assistant(items, msg)
        else:
            role = "developer" if msg.role == "system" else "user"
            content = [c for c in (_write_input(p) for p in msg.parts) if c is not None]
            if content:
                items.append({"type": "message", "role": role, "content": content})
    return items


def _write_input(part: Any) -> Json | None:
    if isinstance(part, Text):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, Media) and media.is_image(part):
        return {"type": "input_image", "image_url": media.to_url(part), "detail": "auto"}
    if isinstance(part, Media):
        if part.data is None:
            return {"type": "input_file", "file_url": part.url or ""}
        return {"type": "input_file", "file_data": media.to_url(part), "filename": "document.pdf"}
    return None


def _write_assistant(items: list[Json], msg: Message) -> None:
    for part in msg.parts:
        if isinstance(part, Text) and part.text:
            text = {"type": "output_text", "text": part.text, "annotations": []}
            items.append({"type": "message", "role": "assistant", "content": [text]})
        elif isinstance(part, ToolCall):
            items.append(
                {
                    "type": "function_call",
                    "call_id": part.id,
                    "name": part.name,
                    "arguments": part.arguments,
                }
            )
    # Reasoning items need a server-side id and encrypted content of OpenAI's own: not replayed.


def _write_result(result: ToolResult) -> Json:
    if all(isinstance(p, Text) for p in result.content):
        output: Any = "".join(p.text for p in result.content if isinstance(p, Text))
    else:
        output = [c for c in (_write_input(p) for p in result.content) if c is not None]
    return {"type": "function_call_output", "call_id": result.call_id, "output": output}


# ---------------------------------------------------------------- responses
def read_response(body: Json) -> Response:
    resp = Response(id=body.get("id") or "", model=body.get("model") or "")
    for item in body.get("output") or []:
        if isinstance(item, dict):
            resp.parts.extend(_read_output_item(item))
    resp.stop_reason = _stop_reason(body, any(isinstance(p, ToolCall) for p in resp.parts))
    if isinstance(body.get("usage"), dict):
        resp.usage = usage_map.from_responses(body["usage"])
    return resp


def _read_output_item(item: Json) -> list[Text | Reasoning | ToolCall]:
    kind = item.get("type")
    if kind == "message":
        return [p for p in _read_content(item.get("content")) if isinstance(p, Text)]
    if kind == "reasoning":
        text = "".join(s.get("text", "") for s in item.get("summary") or [] if isinstance(s, dict))
        return [Reasoning(text, item.get("encrypted_content"), "responses")]
    if kind == "function_call":
        name = flat_name(item.get("namespace"), item.get("name") or "")
        return [ToolCall(item.get("call_id") or "", name, item.get("arguments") or "{}")]
    if kind == "custom_tool_call":
        args = dumps({"input": item.get("input") or ""}).decode()
        return [
            ToolCall(
                item.get("call_id") or "",
                flat_name(item.get("namespace"), item.get("name") or ""),
                args,
            )
        ]
    return []


def _stop_reason(body: Json, called: bool) -> StopReason:
    status = body.get("status")
    if status == "incomplete":
        return _INCOMPLETE.get((body.get("incomplete_details") or {}).get("reason") or "", "length")
    if status == "failed":
        return "error"
    return "tool_calls" if called else "stop"


def _call_item(call: ToolCall, hints: ToolHints, status: str) -> Json:
    namespace, name, custom = hints.get(call.name, (None, call.name, False))
    item: Json = {"id": new_id("fc_"), "status": status, "call_id": call.id, "name": name}
    if custom:
        item["type"] = "custom_tool_call"
        item["input"] = _custom_input(call.arguments)
    else:
        item["type"] = "function_call"
        item["arguments"] = call.arguments
    if namespace:
        item["namespace"] = namespace
    return item


def _custom_input(arguments: str) -> str:
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments
    return str(value.get("input", "")) if isinstance(value, dict) else arguments


def _message_item(text: str, status: str = "completed") -> Json:
    content = (
        [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else []
    )
    return {
        "id": new_id("msg_"),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _reasoning_item(part: Reasoning, keep_signature: bool) -> Json:
    item: Json = {
        "id": new_id("rs_"),
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": part.text}],
    }
    if keep_signature and part.origin == "responses" and part.signature:
        item["encrypted_content"] = part.signature
    return item


def write_response(resp: Response, model: str, hints: ToolHints | None = None) -> Json:
    output: list[Json] = []
    for part in resp.parts:
        if isinstance(part, Text):
            output.append(_message_item(part.text))
        elif isinstance(part, Reasoning):
            output.append(_reasoning_item(part, True))
        else:
            output.append(_call_item(part, hints or {}, "completed"))
    resp_id = resp.id if resp.id.startswith("resp_") else new_id("resp_")
    return _envelope(resp_id, model, resp.stop_reason, output, usage_map.to_responses(resp.usage))


def _envelope(
    resp_id: str, model: str, reason: StopReason | None, output: list[Json], usage: Json | None
) -> Json:
    status, details = "in_progress", None
    if reason is not None:
        status = "completed"
        if reason in ("length", "content_filter"):
            status = "incomplete"
            details = {"reason": "max_output_tokens" if reason == "length" else "content_filter"}
    return {
        "id": resp_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": details,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
    }


def error_body(status: int, message: str, code: str | None) -> Json:
    return {"error": {"message": message, "type": error_type(status), "code": code}}


# ---------------------------------------------------------------- streams
class Reader(StreamReader):
    """Typed `response.*` events; output items are keyed by their output_index."""

    fmt = "responses"

    def __init__(self, sink: Sink) -> None:
        super().__init__(sink)
        self._tools: dict[int, bool] = {}  # output_index -> custom tool (input is raw text)
        self._args_seen: set[int] = set()
        self._text_seen: set[int] = set()
        self._called = False

    def on_frame(self, event: str, obj: Json) -> None:
        kind = obj.get("type") or event
        index = obj.get("output_index", 0)
        if kind == "response.output_text.delta":
            self._text_seen.add(index)
            self.sink.text(obj.get("delta") or "")
        elif kind in (
            "response.function_call_arguments.delta",
            "response.custom_tool_call_input.delta",
        ):
            self._args(index, obj.get("delta") or "")
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            self.sink.thinking(obj.get("delta") or "", None)
        elif kind == "response.output_item.added":
            self._item_added(index, obj.get("item") or {})
        elif kind == "response.output_item.done":
            self._item_done(index, obj.get("item") or {})
        elif kind in ("response.created", "response.in_progress"):
            response = obj.get("response") or {}
            if kind == "response.created":
                self.sink.start(response.get("id"), response.get("model"))
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self._terminal(obj.get("response") or {})
        elif kind == "error":
            self.sink.error(str(obj.get("message") or "upstream error"), _status(obj.get("code")))
        elif not kind.startswith("response."):
            self.skipped += 1

    def _item_added(self, index: int, item: Json) -> None:
        kind = item.get("type")
        if kind in ("function_call", "custom_tool_call"):
            custom = kind == "custom_tool_call"
            self._tools[index] = custom
            self._called = True
            name = flat_name(item.get("namespace"), item.get("name") or "")
            self.sink.tool_start(index, item.get("call_id") or new_id("call_"), name)
            if custom:
                self.sink.tool_args(index, '{"input":"')

    def _args(self, index: int, delta: str) -> None:
        custom = self._tools.get(index)
        if custom is None or not delta:
            return
        self._args_seen.add(index)
        # A custom tool's input is raw text: stream it as the inside of a JSON string.
        self.sink.tool_args(index, dumps(delta)[1:-1].decode() if custom else delta)

    def _item_done(self, index: int, item: Json) -> None:
        kind = item.get("type")
        if index in self._tools:
            custom = self._tools.pop(index)
            if index not in self._args_seen:
                whole = item.get("input") if custom else item.get("arguments")
                if isinstance(whole, str) and whole:
                    self._args_seen.add(index)
                    self._tools[index] = custom
                    self._args(index, whole)
                    self._tools.pop(index)
            if custom:
                self.sink.tool_args(index, '"}')
            self.sink.tool_end(index)
        elif kind == "message" and index not in self._text_seen:
            text = "".join(
                p.text for p in _read_content(item.get("content")) if isinstance(p, Text)
            )
            if text:
                self.sink.text(text)

    def _terminal(self, response: Json) -> None:
        if isinstance(response.get("usage"), dict):
            self.sink.usage(usage_map.from_responses(response["usage"]))
        if response.get("status") == "failed":
            err = response.get("error") or {}
            self.sink.error(str(err.get("message") or "upstream error"), _status(err.get("code")))
        self.sink.finish(_stop_reason(response, self._called))
        self.finish_end()

    def on_close(self) -> None:
        for index in sorted(self._tools):
            if self._tools[index]:
                self.sink.tool_args(index, '"}')
            self.sink.tool_end(index)
        self._tools.clear()


def _status(code: Any) -> int:
    if isinstance(code, int) and 400 <= code < 600:
        return code
    return {"rate_limit_exceeded": 429, "invalid_prompt": 400, "context_length_exceeded": 400}.get(
        str(code), 500
    )


class Writer(StreamWriter):
    """IR events -> `response.*` events: created, output items with their deltas, completed."""

    def __init__(self, model: str, hints: ToolHints | None = None) -> None:
        super().__init__(model)
        self.hints = hints or {}
        self._id = new_id("resp_")
        self._seq = 0
        self._opened = False
        self._output: list[Json] = []  # every item by output_index, for response.completed
        self._item: Json | None = None  # the open message or reasoning item
        self._item_index = 0
        self._text: list[str] = []
        self._tools: dict[int, tuple[int, Json, list[str]]] = {}

    def resume(self, response_id: str, sequence: int) -> None:
        """Continue a stream already relayed to the client (its response.created was sent):
        the next event takes `sequence` and refers to `response_id`."""
        self._opened = True
        self._id = response_id or self._id
        self._seq = sequence

    def _emit(self, kind: str, payload: Json) -> None:
        payload["type"] = kind
        payload["sequence_number"] = self._seq
        self._seq += 1
        self.out.append(b"event: " + kind.encode() + b"\ndata: " + dumps(payload) + b"\n\n")

    def _open(self) -> None:
        if not self._opened:
            self._opened = True
            response = _envelope(self._id, self.model, None, [], None)
            self._emit("response.created", {"response": response})
            self._emit("response.in_progress", {"response": response})

    def _open_item(self, item: Json) -> int:
        self._open()
        self._close_item()
        index = len(self._output)
        self._output.append(item)
        self._emit("response.output_item.added", {"output_index": index, "item": item})
        return index

    def _close_item(self) -> None:
        item = self._item
        if item is None:
            return
        self._item = None
        index = self._item_index
        text = "".join(self._text)
        self._text.clear()
        if item["type"] == "message":
            part = {"type": "output_text", "text": text, "annotations": []}
            ids = {"item_id": item["id"], "output_index": index, "content_index": 0}
            self._emit("response.output_text.done", {**ids, "text": text})
            self._emit("response.content_part.done", {**ids, "part": part})
            item = {**item, "status": "completed", "content": [part]}
        else:
            part = {"type": "summary_text", "text": text}
            ids = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            self._emit("response.reasoning_summary_text.done", {**ids, "text": text})
            self._emit("response.reasoning_summary_part.done", {**ids, "part": part})
            item = {**item, "summary": [part]}
        self._output[index] = item
        self._emit("response.output_item.done", {"output_index": index, "item": item})

    def start(self, id: str | None, model: str | None) -> None:
        pass

    def text(self, delta: str) -> None:
        self.started = True
        item = self._item
        if item is None or item["type"] != "message":
            item = _message_item("", "in_progress")
            index = self._item_index = self._open_item(item)
            self._item = item
            part = {"type": "output_text", "text": "", "annotations": []}
            self._emit(
                "response.content_part.added",
                {"item_id": item["id"], "output_index": index, "content_index": 0, "part": part},
            )
        if delta:
            self._text.append(delta)
            payload = {"item_id": item["id"], "output_index": self._item_index, "content_index": 0}
            self._emit("response.output_text.delta", {**payload, "delta": delta, "logprobs": []})

    def thinking(self, delta: str, signature: str | None) -> None:
        if not delta:
            return
        self.started = True
        item = self._item
        if item is None or item["type"] != "reasoning":
            item = {"id": new_id("rs_"), "type": "reasoning", "summary": []}
            index = self._item_index = self._open_item(item)
            self._item = item
            part = {"type": "summary_text", "text": ""}
            self._emit(
                "response.reasoning_summary_part.added",
                {"item_id": item["id"], "output_index": index, "summary_index": 0, "part": part},
            )
        self._text.append(delta)
        payload = {"item_id": item["id"], "output_index": self._item_index, "summary_index": 0}
        self._emit("response.reasoning_summary_text.delta", {**payload, "delta": delta})

    def tool_start(self, index: int, call_id: str, name: str) -> None:
        self.started = True
        item = _call_item(ToolCall(call_id, name, ""), self.hints, "in_progress")
        position = self._open_item(item)
        self._tools[index] = (position, item, [])

    def tool_args(self, index: int, delta: str) -> None:
        found = self._tools.get(index)
        if found is None or not delta:
            return
        position, item, args = found
        args.append(delta)
        if item["type"] == "function_call":  # custom tool input is sent whole at the end
            payload = {"item_id": item["id"], "output_index": position, "delta": delta}
            self._emit("response.function_call_arguments.delta", payload)

    def tool_end(self, index: int) -> None:
        found = self._tools.pop(index, None)
        if found is None:
            return
        position, item, args = found
        arguments = "".join(args) or "{}"
        ids = {"item_id": item["id"], "output_index": position}
        if item["type"] == "custom_tool_call":
            value = _custom_input(arguments)
            self._emit("response.custom_tool_call_input.delta", {**ids, "delta": value})
            self._emit("response.custom_tool_call_input.done", {**ids, "input": value})
            item = {**item, "status": "completed", "input": value}
        else:
            self._emit("response.function_call_arguments.done", {**ids, "arguments": arguments})
            item = {**item, "status": "completed", "arguments": arguments}
        self._output[position] = item
        self._emit("response.output_item.done", {"output_index": position, "item": item})

    def error(self, message: str, status: int) -> None:
        if self.ended:
            return
        self.ended = True
        self._open()
        code = (
            "rate_limit_exceeded"
            if status == 429
            else "server_error"
            if status >= 500
            else "invalid_request"
        )
        self._emit("error", {"code": code, "message": message, "param": None})
        response = _envelope(self._id, self.model, None, self._output, None)
        response["status"] = "failed"
        response["error"] = {"code": code, "message": message}
        self._emit("response.failed", {"response": response})

    def end(self) -> None:
        if self.ended:
            return
        self._open()
        self._close_item()
        for index in list(self._tools):
            self.tool_end(index)
        self.ended = True
        called = any(i["type"] in ("function_call", "custom_tool_call") for i in self._output)
        reason = self.reason or ("tool_calls" if called else "stop")
        response = _envelope(
            self._id, self.model, reason, self._output, usage_map.to_responses(self.last_usage)
        )
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        self._emit(kind, {"response": response})
