"""OpenAI Responses request bodies (`POST /v1/responses`), as the SDKs and Codex send them.

An input item without `type` is a message (the SDKs' "easy input message").
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import Discriminator, Tag, with_config
from typing_extensions import TypedDict

from .base import SCHEMA_CONFIG, Object, Untyped, by_type


@with_config(SCHEMA_CONFIG)
class InputText(TypedDict):
    type: Literal["input_text"]
    text: str


@with_config(SCHEMA_CONFIG)
class OutputText(TypedDict):
    type: Literal["output_text"]
    text: str


@with_config(SCHEMA_CONFIG)
class PlainText(TypedDict):
    type: Literal["text"]
    text: str


@with_config(SCHEMA_CONFIG)
class Refusal(TypedDict):
    type: Literal["refusal"]
    refusal: str


@with_config(SCHEMA_CONFIG)
class InputImage(TypedDict):
    type: Literal["input_image"]
    image_url: NotRequired[str | None]
    file_id: NotRequired[str | None]
    detail: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class InputFile(TypedDict):
    type: Literal["input_file"]
    file_data: NotRequired[str | None]
    file_url: NotRequired[str | None]
    file_id: NotRequired[str | None]
    filename: NotRequired[str | None]


Part = Annotated[
    InputText | OutputText | PlainText | Refusal | InputImage | InputFile, Discriminator("type")
]
Content = str | list[Part]


@with_config(SCHEMA_CONFIG)
class MessageItem(TypedDict):
    type: NotRequired[Literal["message"]]
    role: Literal["user", "assistant", "system", "developer"]
    content: Content


@with_config(SCHEMA_CONFIG)
class FunctionCallItem(TypedDict):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str
    namespace: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class CustomCallItem(TypedDict):
    type: Literal["custom_tool_call"]
    call_id: str
    name: str
    input: str
    namespace: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class CallOutputItem(TypedDict):
    type: Literal["function_call_output", "custom_tool_call_output"]
    call_id: str
    output: Content


@with_config(SCHEMA_CONFIG)
class SummaryText(TypedDict):
    type: str
    text: str


@with_config(SCHEMA_CONFIG)
class ReasoningItem(TypedDict):
    type: Literal["reasoning"]
    summary: NotRequired[list[SummaryText]]
    encrypted_content: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class ItemReference(TypedDict):
    """`{"id": ...}`: an earlier item by id (`type: "item_reference"` is optional)."""

    id: str


_ITEM_TAGS = {
    "message": "message",
    "function_call": "function_call",
    "custom_tool_call": "custom_tool_call",
    "function_call_output": "output",
    "custom_tool_call_output": "output",
    "reasoning": "reasoning",
    "item_reference": "reference",
}
_tag_of = by_type(_ITEM_TAGS)


def _item_kind(item: Any) -> str | None:
    """Without `type`, an item is a message (the SDKs' easy input message), or a reference when
    it has an `id` and no `role`; web_search_call, computer_call_output, ...: "other"."""
    if isinstance(item, dict) and "type" not in item:
        return "reference" if "id" in item and "role" not in item else "message"
    return _tag_of(item)


Item = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[CustomCallItem, Tag("custom_tool_call")]
    | Annotated[CallOutputItem, Tag("output")]
    | Annotated[ReasoningItem, Tag("reasoning")]
    | Annotated[ItemReference, Tag("reference")]
    | Annotated[Untyped, Tag("other")],
    Discriminator(_item_kind),
]


@with_config(SCHEMA_CONFIG)
class FunctionTool(TypedDict):
    type: Literal["function"]
    name: str
    description: NotRequired[str | None]
    parameters: NotRequired[Object | None]
    strict: NotRequired[bool | None]


@with_config(SCHEMA_CONFIG)
class CustomTool(TypedDict):
    type: Literal["custom"]
    name: str
    description: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class NamespaceTool(TypedDict):
    """Codex groups MCP tools under a namespace."""

    type: Literal["namespace"]
    name: str
    tools: list[Tool]


# Codex sends hosted tools (web_search, local_shell, ...) in every request: they select the
# Untyped member rather than failing the union.
Tool = Annotated[
    Annotated[FunctionTool, Tag("function")]
    | Annotated[CustomTool, Tag("custom")]
    | Annotated[NamespaceTool, Tag("namespace")]
    | Annotated[Untyped, Tag("other")],
    Discriminator(by_type({"function": "function", "custom": "custom", "namespace": "namespace"})),
]


@with_config(SCHEMA_CONFIG)
class ToolChoiceObject(TypedDict):
    type: str
    name: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class Reasoning(TypedDict):
    effort: NotRequired[str | None]
    summary: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class TextFormat(TypedDict):
    type: str
    name: NotRequired[str | None]
    schema: NotRequired[Object | None]
    strict: NotRequired[bool | None]


@with_config(SCHEMA_CONFIG)
class TextOptions(TypedDict):
    format: NotRequired[TextFormat | None]
    verbosity: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class ResponsesRequest(TypedDict):
    input: NotRequired[str | list[Item] | None]
    instructions: NotRequired[str | None]
    tools: NotRequired[list[Tool] | None]
    tool_choice: NotRequired[Literal["none", "auto", "required"] | ToolChoiceObject | None]
    parallel_tool_calls: NotRequired[bool | None]
    max_output_tokens: NotRequired[int | None]
    temperature: NotRequired[float | None]
    top_p: NotRequired[float | None]
    stream: NotRequired[bool | None]
    store: NotRequired[bool | None]
    reasoning: NotRequired[Reasoning | None]
    text: NotRequired[TextOptions | None]
    include: NotRequired[list[str] | None]
    user: NotRequired[str | None]
    safety_identifier: NotRequired[str | None]
    prompt_cache_key: NotRequired[str | None]
    previous_response_id: NotRequired[str | None]
