"""Anthropic Messages and count_tokens request bodies.

Content blocks are told apart by `type`; the server-tool blocks (server_tool_use,
web_search_tool_result, ...) and any type added later pass unchecked. `max_tokens` is not
required: a translated request gets a default, and Anthropic itself answers a passthrough that
lacks it. Claude Code puts `role: "system"` entries inside `messages`, so that role is allowed.
"""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import Discriminator, Tag, with_config
from typing_extensions import TypedDict

from .base import SCHEMA_CONFIG, Object, Untyped, by_type


@with_config(SCHEMA_CONFIG)
class Base64Source(TypedDict):
    type: Literal["base64"]
    media_type: str
    data: str


@with_config(SCHEMA_CONFIG)
class UrlSource(TypedDict):
    type: Literal["url"]
    url: str


@with_config(SCHEMA_CONFIG)
class TextSource(TypedDict):
    type: Literal["text"]
    data: str
    media_type: NotRequired[str]


@with_config(SCHEMA_CONFIG)
class FileSource(TypedDict):
    type: Literal["file"]
    file_id: str


Source = Annotated[Base64Source | UrlSource | TextSource | FileSource, Discriminator("type")]


@with_config(SCHEMA_CONFIG)
class TextBlock(TypedDict):
    type: Literal["text"]
    text: str


@with_config(SCHEMA_CONFIG)
class MediaBlock(TypedDict):
    type: Literal["image", "document"]
    source: Source


@with_config(SCHEMA_CONFIG)
class ToolUseBlock(TypedDict):
    type: Literal["tool_use"]
    id: str
    name: str
    input: Object


@with_config(SCHEMA_CONFIG)
class ToolResultBlock(TypedDict):
    type: Literal["tool_result"]
    tool_use_id: str
    content: NotRequired[str | list[Block]]
    is_error: NotRequired[bool]


@with_config(SCHEMA_CONFIG)
class ThinkingBlock(TypedDict):
    type: Literal["thinking"]
    thinking: str
    signature: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class RedactedThinkingBlock(TypedDict):
    type: Literal["redacted_thinking"]
    data: str


Block = Annotated[
    TextBlock | MediaBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock,
    Discriminator("type"),
]


@with_config(SCHEMA_CONFIG)
class Message(TypedDict):
    role: Literal["user", "assistant", "system"]
    content: str | list[Block]


@with_config(SCHEMA_CONFIG)
class CustomTool(TypedDict):
    type: NotRequired[Literal["custom"]]
    name: str
    description: NotRequired[str]
    input_schema: Object


# A tool without `type` is a custom tool; web_search_20250305, bash_20250124, ...: run by
# Anthropic, relayed as they are.
Tool = Annotated[
    Annotated[CustomTool, Tag("custom")] | Annotated[Untyped, Tag("other")],
    Discriminator(by_type({"custom": "custom"}, default="custom")),
]


@with_config(SCHEMA_CONFIG)
class ToolChoice(TypedDict):
    type: Literal["auto", "any", "tool", "none"]
    name: NotRequired[str]
    disable_parallel_tool_use: NotRequired[bool]


@with_config(SCHEMA_CONFIG)
class Thinking(TypedDict):
    type: str  # enabled, disabled, adaptive, and whatever Anthropic adds next
    budget_tokens: NotRequired[int]


@with_config(SCHEMA_CONFIG)
class OutputFormat(TypedDict):
    type: str
    schema: NotRequired[Object]


@with_config(SCHEMA_CONFIG)
class OutputConfig(TypedDict):
    effort: NotRequired[str | None]
    format: NotRequired[OutputFormat | None]


@with_config(SCHEMA_CONFIG)
class Metadata(TypedDict):
    user_id: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class MessagesRequest(TypedDict):
    messages: list[Message]
    system: NotRequired[str | list[Block] | None]
    tools: NotRequired[list[Tool] | None]
    tool_choice: NotRequired[ToolChoice | None]
    max_tokens: NotRequired[int | None]
    temperature: NotRequired[float | None]
    top_p: NotRequired[float | None]
    top_k: NotRequired[int | None]
    stop_sequences: NotRequired[list[str] | None]
    stream: NotRequired[bool | None]
    metadata: NotRequired[Metadata | None]
    thinking: NotRequired[Thinking | None]
    output_config: NotRequired[OutputConfig | None]
