"""Gemini generateContent / countTokens request bodies (v1beta REST, camelCase).

Gemini parses JSON with the protobuf mapping, where `null` means "not set", so every optional
field takes null. A part carries one of several data fields rather than a `type`; each is typed
when present. snake_case spellings, which Gemini also accepts, pass unchecked except
`system_instruction`, which the proxy reads.
"""

from __future__ import annotations

from typing import NotRequired

from pydantic import with_config
from typing_extensions import TypedDict

from .base import SCHEMA_CONFIG, Object


@with_config(SCHEMA_CONFIG)
class InlineData(TypedDict):
    mimeType: NotRequired[str | None]
    data: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class FileData(TypedDict):
    mimeType: NotRequired[str | None]
    fileUri: str


@with_config(SCHEMA_CONFIG)
class FunctionCall(TypedDict):
    name: NotRequired[str | None]
    args: NotRequired[Object | None]
    id: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class FunctionResponse(TypedDict):
    name: NotRequired[str | None]
    response: NotRequired[Object | None]
    id: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class Part(TypedDict):
    text: NotRequired[str | None]
    thought: NotRequired[bool | None]
    thoughtSignature: NotRequired[str | None]
    inlineData: NotRequired[InlineData | None]
    fileData: NotRequired[FileData | None]
    functionCall: NotRequired[FunctionCall | None]
    functionResponse: NotRequired[FunctionResponse | None]


@with_config(SCHEMA_CONFIG)
class Content(TypedDict):
    role: NotRequired[str | None]
    parts: NotRequired[list[Part] | None]


@with_config(SCHEMA_CONFIG)
class FunctionDeclaration(TypedDict):
    name: str
    description: NotRequired[str | None]
    parameters: NotRequired[Object | None]


@with_config(SCHEMA_CONFIG)
class ToolGroup(TypedDict):
    functionDeclarations: NotRequired[list[FunctionDeclaration] | None]


@with_config(SCHEMA_CONFIG)
class FunctionCallingConfig(TypedDict):
    mode: NotRequired[str | None]
    allowedFunctionNames: NotRequired[list[str] | None]


@with_config(SCHEMA_CONFIG)
class ToolConfig(TypedDict):
    functionCallingConfig: NotRequired[FunctionCallingConfig | None]


@with_config(SCHEMA_CONFIG)
class ThinkingConfig(TypedDict):
    thinkingBudget: NotRequired[int | None]
    thinkingLevel: NotRequired[str | None]
    includeThoughts: NotRequired[bool | None]


@with_config(SCHEMA_CONFIG)
class GenerationConfig(TypedDict):
    maxOutputTokens: NotRequired[int | None]
    temperature: NotRequired[float | None]
    topP: NotRequired[float | None]
    topK: NotRequired[float | None]  # an integer in the REST reference, a float in google-genai
    seed: NotRequired[int | None]
    candidateCount: NotRequired[int | None]
    stopSequences: NotRequired[list[str] | None]
    responseMimeType: NotRequired[str | None]
    responseSchema: NotRequired[Object | None]
    thinkingConfig: NotRequired[ThinkingConfig | None]


@with_config(SCHEMA_CONFIG)
class GenerateRequest(TypedDict):
    contents: list[Content]
    systemInstruction: NotRequired[str | Content | None]
    system_instruction: NotRequired[str | Content | None]
    tools: NotRequired[list[ToolGroup] | None]
    toolConfig: NotRequired[ToolConfig | None]
    generationConfig: NotRequired[GenerationConfig | None]


@with_config(SCHEMA_CONFIG)
class InnerGenerateRequest(GenerateRequest):
    model: NotRequired[str | None]


@with_config(SCHEMA_CONFIG)
class CountTokensRequest(TypedDict):
    """countTokens takes `contents`, or a whole `generateContentRequest`."""

    contents: NotRequired[list[Content] | None]
    generateContentRequest: NotRequired[InnerGenerateRequest | None]
