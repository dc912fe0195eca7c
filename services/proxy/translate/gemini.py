"""Gemini generateContent: request, response and stream (SSE, `alt=sse`) reader + writer."""

from __future__ import annotations

from typing import Any

import orjson

from services.proxy.translate import catalog, schema, thinking
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
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
}
_TO_FINISH: dict[StopReason, str] = {
    "stop": "STOP",
    "length": "MAX_TOKENS",
    "tool_calls": "STOP",
    "stop_sequence": "STOP",
    "content_filter": "SAFETY",
    "error": "OTHER",
}
# Gemini 3 rejects replayed function calls without a thought signature; Google documents this
# value for history that comes from elsewhere.
SKIP_SIGNATURE = "skip_thought_signature_validator"
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


# ---------------------------------------------------------------- requests
def read_request(body: Json) -> Request:
    req = Request()
    system = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(system, str):
        req.system = [system]
    elif isinstance(system, dict):
        req.system = [
            p["text"] for p in system.get("parts") or [] if isinstance(p.get("text"), str)
        ]
    calls = _CallIds()
    for content in body.get("contents") or []:
        if isinstance(content, dict):
            _read_content(req, content, calls)
    for group in body.get("tools") or []:
        # googleSearch, codeExecution, urlContext... are Google-hosted: dropped elsewhere.
        for decl in (group or {}).get("functionDeclarations") or []:
            params = decl.get("parametersJsonSchema") or schema.from_gemini(decl.get("parameters"))
            req.tools.append(
                Tool(
                    decl.get("name") or "",
                    decl.get("description") or "",
                    schema.object_schema(params),
                )
            )
    req.tool_choice = _read_tool_choice((body.get("toolConfig") or {}).get("functionCallingConfig"))
    _read_generation(req, body.get("generationConfig") or {})
    return req


class _CallIds:
    """Gemini 2.x calls carry no id: give each one, and match responses to calls by name."""

    def __init__(self) -> None:
        self.pending: dict[str, list[str]] = {}
        self.count = 0

    def call(self, name: str, given: Any) -> str:
        self.count += 1
        call_id = given if isinstance(given, str) and given else f"call_{self.count}_{name}"
        self.pending.setdefault(name, []).append(call_id)
        return call_id

    def result(self, name: str, given: Any) -> str:
        waiting = self.pending.get(name) or []
        if isinstance(given, str) and given:
            if given in waiting:
                waiting.remove(given)
            return given
        return waiting.pop(0) if waiting else f"call_{name}"


def _read_content(req: Request, content: Json, calls: _CallIds) -> None:
    role = "assistant" if content.get("role") == "model" else "user"
    parts: list[Any] = []
    results: list[Any] = []
    for part in content.get("parts") or []:
        if not isinstance(part, dict):
            continue
        if "functionResponse" in part:
            fr = part["functionResponse"] or {}
            name = fr.get("name") or ""
            text = _response_text(fr.get("response"))
            results.append(ToolResult(calls.result(name, fr.get("id")), [Text(text)], name=name))
            continue
        read = _read_part(part, calls)
        if read is not None:
            parts.append(read)
    if results:
        req.messages.append(Message("tool", results))
    if parts or not results:
        req.messages.append(Message(role, parts))  # type: ignore[arg-type]


def _read_part(part: Json, calls: _CallIds) -> Any:
    if "text" in part:
        if part.get("thought"):
            return Reasoning(part["text"] or "", part.get("thoughtSignature"), "gemini")
        return Text(part["text"] or "")
    if "functionCall" in part:
        fc = part["functionCall"] or {}
        name = fc.get("name") or ""
        return ToolCall(calls.call(name, fc.get("id")), name, dumps(fc.get("args") or {}).decode())
    if "inlineData" in part:
        data = part["inlineData"] or {}
        return Media(data.get("mimeType") or "image/png", data=data.get("data") or "")
    if "fileData" in part:
        data = part["fileData"] or {}
        return Media(data.get("mimeType") or "image/jpeg", url=data.get("fileUri") or "")
    return None


def _response_text(response: Any) -> str:
    if isinstance(response, dict) and len(response) == 1:
        (value,) = response.values()
        if isinstance(value, str):
            return value
    return dumps(response).decode() if response is not None else ""


def _read_tool_choice(config: Any) -> ToolChoice | None:
    if not isinstance(config, dict):
        return None
    mode = str(config.get("mode") or "").upper()
    names = config.get("allowedFunctionNames") or []
    if mode == "ANY":
        return ToolChoice("tool", names[0]) if len(names) == 1 else ToolChoice("required")
    if mode == "NONE":
        return ToolChoice("none")
    return ToolChoice("auto") if mode else None


def _read_generation(req: Request, gen: Json) -> None:
    req.max_tokens = gen.get("maxOutputTokens")
    req.temperature = gen.get("temperature")
    req.top_p = gen.get("topP")
    req.top_k = gen.get("topK")
    req.seed = gen.get("seed")
    req.stop = list(gen.get("stopSequences") or [])
    if isinstance(gen.get("thinkingConfig"), dict):
        req.thinking = thinking.from_gemini_config(gen["thinkingConfig"])
    if gen.get("responseMimeType") == "application/json":
        found = gen.get("responseJsonSchema") or gen.get("responseSchema")
        if isinstance(found, dict):
            req.response_format = {
                "type": "json_schema",
                "name": "response",
                "schema": schema.from_gemini(found),
            }
        else:
            req.response_format = {"type": "json_object"}


def write_request(req: Request, model: str, stream: bool) -> Json:
    body: Json = {"contents": _write_contents(req.messages, catalog.gemini_generation(model) >= 3)}
    if req.system:
        body["systemInstruction"] = {"parts": [{"text": t} for t in req.system]}
    if req.tools:
        decls: list[Json] = [
            {
                "name": t.name,
                "description": t.description,
                "parameters": schema.for_gemini(t.parameters),
            }
            for t in req.tools
        ]
        for decl in decls:
            if not decl["parameters"].get("properties"):
                del decl["parameters"]  # a call without arguments
        body["tools"] = [{"functionDeclarations": decls}]
        if req.tool_choice is not None:
            body["toolConfig"] = {"functionCallingConfig": _write_tool_choice(req.tool_choice)}
    gen: Json = {}
    _put(gen, "maxOutputTokens", req.max_tokens)
    _put(gen, "temperature", req.temperature)
    _put(gen, "topP", req.top_p)
    _put(gen, "topK", req.top_k)
    _put(gen, "seed", req.seed)
    if req.stop:
        gen["stopSequences"] = req.stop
    if req.thinking is not None:
        config = thinking.gemini_config(req.thinking, model)
        if config:
            gen["thinkingConfig"] = config
    fmt = req.response_format
    if fmt is not None:
        gen["responseMimeType"] = "application/json"
        if fmt.get("type") == "json_schema":
            gen["responseSchema"] = schema.for_gemini(fmt.get("schema") or {})
    if gen:
        body["generationConfig"] = gen
    return body


def _put(body: Json, key: str, value: Any) -> None:
    if value is not None:
        body[key] = value


def _write_tool_choice(tc: ToolChoice) -> Json:
    if tc.mode == "tool":
        return {"mode": "ANY", "allowedFunctionNames": [tc.name]}
    return {"mode": {"auto": "AUTO", "required": "ANY", "none": "NONE"}[tc.mode]}


def _write_contents(messages: list[Message], needs_signature: bool) -> list[Json]:
    names: dict[str, str] = {}
    out: list[Json] = []
    for msg in messages:
        role = "model" if msg.role == "assistant" else "user"
        parts = [p for p in (_write_part(part, names) for part in msg.parts) if p is not None]
        if not parts:
            continue
        if needs_signature and role == "model":
            _sign_first_call(parts)
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    return out


def _sign_first_call(parts: list[Json]) -> None:
    for part in parts:
        if "functionCall" in part:
            part.setdefault("thoughtSignature", SKIP_SIGNATURE)
            return


def _write_part(part: Any, names: dict[str, str]) -> Json | None:
    if isinstance(part, Text):
        return {"text": part.text} if part.text else None
    if isinstance(part, Media):
        if part.data is not None:
            return {"inlineData": {"mimeType": part.media_type, "data": part.data}}
        return {"fileData": {"mimeType": part.media_type, "fileUri": part.url or ""}}
    if isinstance(part, ToolCall):
        names[part.id] = part.name
        return {"functionCall": {"id": part.id, "name": part.name, "args": _args(part.arguments)}}
    if isinstance(part, ToolResult):
        text = "".join(p.text if isinstance(p, Text) else "[image]" for p in part.content)
        name = part.name or names.get(part.call_id) or part.call_id
        response = {"error": text} if part.is_error else {"output": text}
        return {"functionResponse": {"id": part.call_id, "name": name, "response": response}}
    if isinstance(part, Reasoning) and part.origin == "gemini" and part.signature:
        return {"text": part.text, "thought": True, "thoughtSignature": part.signature}
    return None


def _args(arguments: str) -> Json:
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


# ---------------------------------------------------------------- responses
def read_response(body: Json) -> Response:
    resp = Response(id=body.get("responseId") or "", model=body.get("modelVersion") or "")
    candidates = body.get("candidates") or []
    candidate = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    calls = _CallIds()
    for part in (candidate.get("content") or {}).get("parts") or []:
        read = _read_part(part, calls) if isinstance(part, dict) else None
        if isinstance(read, Text | Reasoning | ToolCall):
            resp.parts.append(read)
    resp.stop_reason = _stop_reason(candidate.get("finishReason"), calls.count > 0)
    if not candidates and (body.get("promptFeedback") or {}).get("blockReason"):
        resp.stop_reason = "content_filter"
    if isinstance(body.get("usageMetadata"), dict):
        resp.usage = usage_map.from_gemini(body["usageMetadata"])
    return resp


def _stop_reason(reason: Any, called: bool) -> StopReason:
    found = _FROM_FINISH.get(str(reason or "STOP"), "stop")
    return "tool_calls" if called and found == "stop" else found


def _write_parts(resp: Response, keep_signatures: bool) -> list[Json]:
    parts: list[Json] = []
    for part in resp.parts:
        if isinstance(part, Text):
            parts.append({"text": part.text})
        elif isinstance(part, Reasoning):
            thought: Json = {"text": part.text, "thought": True}
            if keep_signatures and part.origin == "gemini" and part.signature:
                thought["thoughtSignature"] = part.signature
            parts.append(thought)
        else:
            parts.append(
                {"functionCall": {"id": part.id, "name": part.name, "args": _args(part.arguments)}}
            )
    return parts


def write_response(resp: Response, model: str) -> Json:
    candidate = {
        "content": {"role": "model", "parts": _write_parts(resp, True)},
        "finishReason": _TO_FINISH[resp.stop_reason],
        "index": 0,
    }
    return {
        "candidates": [candidate],
        "usageMetadata": usage_map.to_gemini(resp.usage),
        "modelVersion": model,
        "responseId": resp.id or new_id(""),
    }


def error_body(status: int, message: str, code: str | None) -> Json:
    fallback = "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"
    return {"error": {"code": status, "message": message, "status": _STATUS.get(status, fallback)}}


# ---------------------------------------------------------------- streams
class Reader(StreamReader):
    """Each SSE frame is a whole GenerateContentResponse; the last one has the finishReason."""

    fmt = "gemini"

    def __init__(self, sink: Sink) -> None:
        super().__init__(sink)
        self._started = False
        self._calls = _CallIds()

    def on_frame(self, event: str, obj: Json) -> None:
        if "error" in obj and "candidates" not in obj:
            err = obj["error"] if isinstance(obj["error"], dict) else {}
            code = err.get("code")
            status = code if isinstance(code, int) and 400 <= code < 600 else 500
            self.sink.error(str(err.get("message") or "upstream error"), status)
            return
        if not ("candidates" in obj or "usageMetadata" in obj or "promptFeedback" in obj):
            self.skipped += 1  # not a GenerateContentResponse
            return
        if not self._started:
            self._started = True
            self.sink.start(obj.get("responseId"), obj.get("modelVersion"))
        if isinstance(obj.get("usageMetadata"), dict):
            self.sink.usage(usage_map.from_gemini(obj["usageMetadata"]))
        candidates = obj.get("candidates") or []
        if not candidates:
            if (obj.get("promptFeedback") or {}).get("blockReason"):
                self.sink.finish("content_filter")
            return
        candidate = candidates[0]
        for part in (candidate.get("content") or {}).get("parts") or ():
            self._part(part)
        if candidate.get("finishReason"):
            self.sink.finish(_stop_reason(candidate["finishReason"], self._calls.count > 0))

    def _part(self, part: Json) -> None:
        if "text" in part:
            if part.get("thought"):
                self.sink.thinking(part["text"] or "", part.get("thoughtSignature"))
            elif part["text"]:
                self.sink.text(part["text"])
        elif "functionCall" in part:
            fc = part["functionCall"] or {}
            name = fc.get("name") or ""
            index = self._calls.count
            self.sink.tool_start(index, self._calls.call(name, fc.get("id")), name)
            self.sink.tool_args(index, dumps(fc.get("args") or {}).decode())
            self.sink.tool_end(index)


class Writer(StreamWriter):
    """IR events -> one GenerateContentResponse per SSE frame; tool calls are sent whole."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self._id = new_id("")
        self._calls: dict[int, tuple[str, str, list[str]]] = {}
        self._tail = dumps({"modelVersion": model, "responseId": self._id})[1:]

    def _chunk(self, parts: list[Json]) -> None:
        candidate = dumps([{"content": {"role": "model", "parts": parts}, "index": 0}])
        self.out.append(b'data: {"candidates":' + candidate + b"," + self._tail + b"\n\n")

    def start(self, id: str | None, model: str | None) -> None:
        pass

    def text(self, delta: str) -> None:
        if delta:
            self.started = True
            self._chunk([{"text": delta}])

    def thinking(self, delta: str, signature: str | None) -> None:
        part: Json = {"text": delta, "thought": True}
        if signature and self.keep_signatures:
            part["thoughtSignature"] = signature
        elif not delta:
            return
        self.started = True
        self._chunk([part])

    def tool_start(self, index: int, call_id: str, name: str) -> None:
        self.started = True
        self._calls[index] = (call_id, name, [])

    def tool_args(self, index: int, delta: str) -> None:
        if index in self._calls:
            self._calls[index][2].append(delta)

    def tool_end(self, index: int) -> None:
        call = self._calls.pop(index, None)
        if call is not None:
            call_id, name, args = call
            self._chunk(
                [{"functionCall": {"id": call_id, "name": name, "args": _args("".join(args))}}]
            )
            self.reason = self.reason or "tool_calls"

    def error(self, message: str, status: int) -> None:
        if not self.ended:
            self.ended = True
            self.out.append(b"data: " + dumps(error_body(status, message, None)) + b"\n\n")

    def end(self) -> None:
        if self.ended:
            return
        for index in list(self._calls):
            self.tool_end(index)
        self.ended = True
        finish = _TO_FINISH[self.reason or "stop"]
        usage = dumps(usage_map.to_gemini(self.last_usage))
        candidate = dumps(
            [
                {
                    "content": {"role": "model", "parts": [{"text": ""}]},
                    "finishReason": finish,
                    "index": 0,
                }
            ]
        )
        self.out.append(
            b'data: {"candidates":'
            + candidate
            + b',"usageMetadata":'
            + usage
            + b","
            + self._tail
            + b"\n\n"
        )
