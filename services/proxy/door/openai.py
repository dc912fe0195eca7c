"""OpenAI Chat Completions and legacy Completions request bodies.

OpenAI marks most optional fields nullable, so `null` is accepted wherever a field may be
absent. Content parts and tools are told apart by `type`; a type not listed here passes
unchecked.
"""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import Discriminator, with_config
from typing_extensions import TypedDict

from .base import SCHEMA_CONFIG, Object

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


@with_config(SCHEMA_CONFIG)
class TextPart(TypedDict):
    type: Literal["text"]
    text: str


@with_config(SCHEMA_CONFIG)
class ImageUrl(TypedDict):
    url: str
    detail: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class ImagePart(TypedDict):
    type: Literal["image_url"]
    image_url: ImageUrl | str  # a bare URL string is an old form some clients still send


@with_config(SCHEMA_CONFIG)
class InputAudio(TypedDict):
    data: str
    format: str


@with_config(SCHEMA_CONFIG)
class AudioPart(TypedDict):
    type: Literal["input_audio"]
    input_audio: InputAudio


@with_config(SCHEMA_CONFIG)
class FileRef(TypedDict):
    file_data: NotRequired[str | None]
    file_id: NotRequired[str | None]
    filename: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class FilePart(TypedDict):
    type: Literal["file"]
    file: FileRef


@with_config(SCHEMA_CONFIG)
class RefusalPart(TypedDict):
    type: Literal["refusal"]
    refusal: str


Part = Annotated[TextPart | ImagePart | AudioPart | FilePart | RefusalPart, Discriminator("type")]


@with_config(SCHEMA_CONFIG)
class FunctionCall(TypedDict):
    name: str
    arguments: str


@with_config(SCHEMA_CONFIG)
class ToolCall(TypedDict):
    id: str
    type: NotRequired[str]
    function: NotRequired[FunctionCall]


@with_config(SCHEMA_CONFIG)
class Message(TypedDict):
    role: Role
    content: NotRequired[str | list[Part] | None]
    name: NotRequired[str | None]
    tool_calls: NotRequired[list[ToolCall] | None]
    tool_call_id: NotRequired[str | None]
    function_call: NotRequired[FunctionCall | None]
    reasoning_content: NotRequired[str | None]
    refusal: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class FunctionDef(TypedDict):
    name: str
    description: NotRequired[str | None]
    parameters: NotRequired[Object | None]
    strict: NotRequired[bool | None]


@with_config(SCHEMA_CONFIG)
class FunctionTool(TypedDict):
    type: Literal["function"]
    function: FunctionDef


@with_config(SCHEMA_CONFIG)
class CustomDef(TypedDict):
    name: str
    description: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class CustomTool(TypedDict):
    type: Literal["custom"]
    custom: CustomDef


Tool = Annotated[FunctionTool | CustomTool, Discriminator("type")]


@with_config(SCHEMA_CONFIG)
class NamedFunction(TypedDict):
    name: str


@with_config(SCHEMA_CONFIG)
class ToolChoiceObject(TypedDict):
    type: str
    function: NotRequired[NamedFunction]


@with_config(SCHEMA_CONFIG)
class StreamOptions(TypedDict):
    include_usage: NotRequired[bool | None]


@with_config(SCHEMA_CONFIG)
class JsonSchemaFormat(TypedDict):
    name: NotRequired[str]
    schema: NotRequired[Object | None]
    strict: NotRequired[bool | None]


@with_config(SCHEMA_CONFIG)
class ResponseFormat(TypedDict):
    type: str
    json_schema: NotRequired[JsonSchemaFormat]


Stop = str | list[str] | None


@with_config(SCHEMA_CONFIG)
class Sampling(TypedDict):
    """Fields chat and legacy completions share."""

    max_tokens: NotRequired[int | None]
    temperature: NotRequired[float | None]
    top_p: NotRequired[float | None]
    n: NotRequired[int | None]
    stop: NotRequired[Stop]
    seed: NotRequired[int | None]
    user: NotRequired[str | None]
    stream: NotRequired[bool | None]
    stream_options: NotRequired[StreamOptions | None]
    presence_penalty: NotRequired[float | None]
    frequency_penalty: NotRequired[float | None]
    logit_bias: NotRequired[dict[str, float] | None]


@with_config(SCHEMA_CONFIG)
class ChatRequest(Sampling):
    messages: list[Message]
    tools: NotRequired[list[Tool] | None]
    tool_choice: NotRequired[Literal["none", "auto", "required"] | ToolChoiceObject | None]
    parallel_tool_calls: NotRequired[bool | None]
    max_completion_tokens: NotRequired[int | None]
    reasoning_effort: NotRequired[str | None]
    response_format: NotRequired[ResponseFormat | None]
    logprobs: NotRequired[bool | None]
    top_logprobs: NotRequired[int | None]


@with_config(SCHEMA_CONFIG)
class CompletionRequest(Sampling):
    prompt: NotRequired[str | list[str] | list[int] | list[list[int]] | None]
    suffix: NotRequired[str | None]
    echo: NotRequired[bool | None]
    best_of: NotRequired[int | None]
    logprobs: NotRequired[int | None]
