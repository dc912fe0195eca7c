"""The internal representation every format is read into and written from.

Requests and non-stream responses are plain dataclasses. Streams are method calls on a `Sink`
(one call per event, no event objects on the hot path); `EventLog` records them as dataclasses
for tests and `ResponseBuilder` folds them into a `Response`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from services.proxy.translate.usage import Usage

Json = dict[str, Any]
Format = Literal["openai", "responses", "anthropic", "gemini"]
Role = Literal["system", "user", "assistant", "tool"]
# Normalised finish reasons; docs/translation.md has the table per format.
StopReason = Literal["stop", "length", "tool_calls", "stop_sequence", "content_filter", "error"]


@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class Media:
    """An image or document: inline base64 `data`, or a `url` (http(s) or provider file id)."""

    media_type: str
    data: str | None = None
    url: str | None = None


@dataclass(slots=True)
class Reasoning:
    """Model thinking. `signature` is opaque and only valid for the `origin` format."""

    text: str
    signature: str | None = None
    origin: Format | None = None


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON object, kept as text so it is not re-parsed on every hop


@dataclass(slots=True)
class ToolResult:
    call_id: str
    content: list[Text | Media]
    is_error: bool = False
    name: str | None = None  # Gemini needs it; other readers leave it for the writer to find


Part = Text | Media | Reasoning | ToolCall | ToolResult


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part]


@dataclass(slots=True)
class Tool:
    name: str
    description: str
    parameters: Json  # JSON schema of the arguments object


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Thinking:
    """A reasoning request: a level (minimal..max), a token budget, `none` or `auto`."""

    mode: Literal["none", "auto", "budget", "level"]
    budget: int = 0
    level: str = ""


@dataclass(slots=True)
class Request:
    messages: list[Message] = field(default_factory=list)
    system: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    thinking: Thinking | None = None
    # {"type": "json_object"} or {"type": "json_schema", "name", "schema", "strict"}
    response_format: Json | None = None
    user: str | None = None


@dataclass(slots=True)
class Response:
    id: str = ""
    model: str = ""
    parts: list[Text | Reasoning | ToolCall] = field(default_factory=list)
    stop_reason: StopReason = "stop"
    usage: Usage = field(default_factory=Usage)


class Sink(Protocol):
    """Receives stream events from a reader; writers implement it."""

    def start(self, id: str | None, model: str | None) -> None: ...
    def text(self, delta: str) -> None: ...
    def thinking(self, delta: str, signature: str | None) -> None: ...
    def tool_start(self, index: int, call_id: str, name: str) -> None: ...
    def tool_args(self, index: int, delta: str) -> None: ...
    def tool_end(self, index: int) -> None: ...
    def usage(self, usage: Usage) -> None: ...
    def finish(self, reason: StopReason) -> None: ...
    def error(self, message: str, status: int) -> None: ...
    def end(self) -> None: ...


# Event records, used by EventLog (tests, debugging) and to replay a Response as a stream.
@dataclass(frozen=True, slots=True)
class Start:
    id: str | None
    model: str | None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    text: str
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    index: int
    call_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    index: int


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    usage: Usage


@dataclass(frozen=True, slots=True)
class Finish:
    reason: StopReason


@dataclass(frozen=True, slots=True)
class StreamError:
    message: str
    status: int


@dataclass(frozen=True, slots=True)
class End:
    pass


Event = (
    Start
    | TextDelta
    | ThinkingDelta
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | UsageUpdate
    | Finish
    | StreamError
    | End
)


class EventLog:
    """A Sink that records events as dataclasses."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def start(self, id: str | None, model: str | None) -> None:
        self.events.append(Start(id, model))

    def text(self, delta: str) -> None:
        self.events.append(TextDelta(delta))

    def thinking(self, delta: str, signature: str | None) -> None:
        self.events.append(ThinkingDelta(delta, signature))

    def tool_start(self, index: int, call_id: str, name: str) -> None:
        self.events.append(ToolCallStart(index, call_id, name))

    def tool_args(self, index: int, delta: str) -> None:
        self.events.append(ToolCallDelta(index, delta))

    def tool_end(self, index: int) -> None:
        self.events.append(ToolCallEnd(index))

    def usage(self, usage: Usage) -> None:
        self.events.append(UsageUpdate(usage))

    def finish(self, reason: StopReason) -> None:
        self.events.append(Finish(reason))

    def error(self, message: str, status: int) -> None:
        self.events.append(StreamError(message, status))

    def end(self) -> None:
        self.events.append(End())


class ClientNames:
    """A Sink in front of another that gives tools renamed for the upstream
    (`rules.conform`) the names the client declared."""

    def __init__(self, sink: Sink, names: dict[str, str]) -> None:
        self.sink = sink
        self.names = names

    def start(self, id: str | None, model: str | None) -> None:
        self.sink.start(id, model)

    def text(self, delta: str) -> None:
        self.sink.text(delta)

    def thinking(self, delta: str, signature: str | None) -> None:
        self.sink.thinking(delta, signature)

    def tool_start(self, index: int, call_id: str, name: str) -> None:
        self.sink.tool_start(index, call_id, self.names.get(name, name))

    def tool_args(self, index: int, delta: str) -> None:
        self.sink.tool_args(index, delta)

    def tool_end(self, index: int) -> None:
        self.sink.tool_end(index)

    def usage(self, usage: Usage) -> None:
        self.sink.usage(usage)

    def finish(self, reason: StopReason) -> None:
        self.sink.finish(reason)

    def error(self, message: str, status: int) -> None:
        self.sink.error(message, status)

    def end(self) -> None:
        self.sink.end()


class ResponseBuilder:
    """A Sink that folds a stream into a `Response` (used to aggregate SSE upstream bodies)."""

    def __init__(self, origin: Format | None = None) -> None:
        self.response = Response()
        self.origin = origin
        self.error_message: str | None = None
        self.error_status = 0
        self._calls: dict[int, ToolCall] = {}
        self._args: dict[int, list[str]] = {}

    def start(self, id: str | None, model: str | None) -> None:
        self.response.id = id or self.response.id
        self.response.model = model or self.response.model

    def text(self, delta: str) -> None:
        parts = self.response.parts
        if parts and isinstance(parts[-1], Text):
            parts[-1].text += delta
        else:
            parts.append(Text(delta))

    def thinking(self, delta: str, signature: str | None) -> None:
        parts = self.response.parts
        if not (parts and isinstance(parts[-1], Reasoning)):
            parts.append(Reasoning("", None, self.origin))
        last = parts[-1]
        assert isinstance(last, Reasoning)
        last.text += delta
        if signature:
            last.signature = signature

    def tool_start(self, index: int, call_id: str, name: str) -> None:
        call = ToolCall(call_id, name, "")
        self._calls[index] = call
        self._args[index] = []
        self.response.parts.append(call)

    def tool_args(self, index: int, delta: str) -> None:
        if index in self._args:
            self._args[index].append(delta)

    def tool_end(self, index: int) -> None:
        call = self._calls.pop(index, None)
        if call is not None:
            call.arguments = "".join(self._args.pop(index)) or "{}"

    def usage(self, usage: Usage) -> None:
        self.response.usage = usage

    def finish(self, reason: StopReason) -> None:
        self.response.stop_reason = reason

    def error(self, message: str, status: int) -> None:
        self.error_message, self.error_status = message, status

    def end(self) -> None:
        for index in list(self._calls):
            self.tool_end(index)


def replay(response: Response, sink: Sink) -> None:
    """Emit a complete Response as stream events, in order."""
    sink.start(response.id, response.model)
    sink.usage(response.usage)
    for index, part in enumerate(response.parts):
        if isinstance(part, Text):
            sink.text(part.text)
        elif isinstance(part, Reasoning):
            sink.thinking(part.text, part.signature)
        else:
            sink.tool_start(index, part.id, part.name)
            sink.tool_args(index, part.arguments)
            sink.tool_end(index)
    sink.finish(response.stop_reason)
    sink.end()
