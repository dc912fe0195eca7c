"""What each provider's API refuses, written from its documentation, independently of
services.proxy.translate: the fakes answer a 400 in the provider's own error shape when a body
breaks one of these rules, and the property tests check every body the proxy forwards against
the same functions. Each function returns the problems found (empty: the provider accepts it).

Only documented constraints are checked; fields a rule does not mention pass, as the providers
accept new fields behind beta headers. Where providers differ from their compatible gateways
(Anthropic's first message, Claude's temperature + top_p), the stricter rule is kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Json = dict[str, Any]

ANTHROPIC_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
ANTHROPIC_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
GEMINI_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
OPENAI_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
# OpenAI's reasoning models take max_completion_tokens and no sampling overrides.
OPENAI_REASONING = re.compile(r"^(o\d|gpt-5)")
GEMINI_SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
GEMINI_TYPES = ("string", "number", "integer", "boolean", "array", "object")
GEMINI_FORMATS = {
    "string": ("enum", "date-time"),
    "number": ("float", "double"),
    "integer": ("int32", "int64"),
}
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


class Problems(list[str]):
    """Collects problems with the path where each was found."""

    def add(self, path: str, message: str) -> None:
        self.append(f"{path}: {message}")

    def number(self, body: Json, key: str, low: float, high: float, path: str = "") -> None:
        value = body.get(key)
        if value is None:
            return
        if not _is_number(value):
            self.add(path + key, "must be a number")
        elif not low <= value <= high:
            self.add(path + key, f"must be between {low} and {high}, got {value}")

    def integer(self, body: Json, key: str, low: int, high: int = INT64[1], path: str = "") -> None:
        value = body.get(key)
        if value is None:
            return
        if not _is_int(value):
            self.add(path + key, "must be an integer")
        elif not low <= value <= high:
            self.add(path + key, f"must be between {low} and {high}, got {value}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _nonblank(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _http(url: Any) -> bool:
    return isinstance(url, str) and url.startswith(("http://", "https://"))


def _data_url(url: Any, types: tuple[str, ...]) -> bool:
    if not isinstance(url, str) or not url.startswith("data:"):
        return False
    head, sep, data = url.partition(",")
    return bool(sep and data) and head[5:].split(";", 1)[0] in types and ";base64" in head


def problems(fmt: str, body: Any, model: str = "") -> list[str]:
    """The problems a provider of wire format `fmt` finds in `body` (`model`: Gemini's URL)."""
    if not isinstance(body, dict):
        return ["body: must be a JSON object"]
    check: Callable[[Json, str], list[str]] = {
        "openai": openai_chat,
        "responses": responses,
        "anthropic": anthropic,
        "gemini": gemini,
    }[fmt]
    return check(body, model)


# ------------------------------------------------------------------ Anthropic Messages
def anthropic(body: Json, model: str = "") -> list[str]:
    out = Problems()
    if not isinstance(body.get("model"), str):
        out.add("model", "field required")
    if not _is_int(body.get("max_tokens")) or body["max_tokens"] < 1:
        out.add("max_tokens", "an integer >= 1 is required")
    for key in ("n", "stop", "max_completion_tokens", "contents", "input"):
        if key in body:
            out.add(key, "Extra inputs are not permitted")
    _anthropic_system(out, body.get("system"))
    _anthropic_messages(out, body.get("messages"))
    out.number(body, "temperature", 0, 1)
    out.number(body, "top_p", 0, 1)
    out.integer(body, "top_k", 0)
    if body.get("temperature") is not None and body.get("top_p") is not None:
        out.add("temperature", "`temperature` and `top_p` cannot both be specified")
    _anthropic_stops(out, body.get("stop_sequences"))
    names = _anthropic_tools(out, body.get("tools"))
    _anthropic_tool_choice(out, body.get("tool_choice"), names)
    _anthropic_thinking(out, body)
    return out


def _anthropic_system(out: Problems, system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        out.add("system", "must be a string or a list of text blocks")
        return
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            out.add(f"system.{i}", "must be a text block")
        elif not _nonblank(block.get("text")):
            out.add(f"system.{i}.text", "text content blocks must contain non-whitespace text")


def _anthropic_messages(out: Problems, messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        out.add("messages", "at least one message is required")
        return
    previous_calls: set[str] = set()
    for i, msg in enumerate(messages):
        path = f"messages.{i}"
        if isinstance(msg, dict) and msg.get("role") == "system":
            continue  # Claude Code sends mid-conversation system messages; they are accepted
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            out.add(path + ".role", "must be 'user' or 'assistant'")
            previous_calls = set()
            continue
        if i == 0 and msg["role"] != "user":
            out.add(path, 'first message must use the "user" role')
        blocks = _anthropic_blocks(out, path, msg)
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        if msg["role"] == "user":
            _anthropic_results(out, path, blocks, results, previous_calls)
            previous_calls = set()
        else:
            if previous_calls:
                out.add(
                    path, f"tool_use ids were found without tool_result blocks: {previous_calls}"
                )
            previous_calls = {b.get("id") for b in blocks if b.get("type") == "tool_use"}
    if previous_calls:
        out.add("messages", f"tool_use ids were found without tool_result blocks: {previous_calls}")


def _anthropic_results(
    out: Problems, path: str, blocks: list[Json], results: list[Any], calls: set[str]
) -> None:
    missing = calls - set(results)
    if missing:
        out.add(path, f"tool_use ids were found without tool_result blocks: {sorted(missing)}")
    unexpected = [r for r in results if r not in calls]
    if unexpected:
        out.add(path, f"unexpected tool_use_id found in tool_result blocks: {unexpected}")
    kinds = [b.get("type") for b in blocks]
    if "tool_result" in kinds and kinds[: len(results)] != ["tool_result"] * len(results):
        out.add(path, "tool_result blocks must come first in the content")


def _anthropic_blocks(out: Problems, path: str, msg: Json) -> list[Json]:
    content = msg.get("content")
    if isinstance(content, str):
        if not _nonblank(content):
            out.add(path + ".content", "text content must contain non-whitespace text")
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not content:
        out.add(path + ".content", "must be a string or a non-empty list of blocks")
        return []
    blocks = [b for b in content if isinstance(b, dict)]
    if len(blocks) != len(content):
        out.add(path + ".content", "every block must be an object")
    for j, block in enumerate(blocks):
        _anthropic_block(out, f"{path}.content.{j}", block, msg["role"])
    return blocks


def _anthropic_block(out: Problems, path: str, block: Json, role: str) -> None:
    kind = block.get("type")
    if kind == "text":
        if not _nonblank(block.get("text")):
            out.add(path + ".text", "text content blocks must contain non-whitespace text")
    elif kind in ("image", "document"):
        if role != "user":
            out.add(path, f"{kind} blocks are only allowed in user messages")
        _anthropic_source(out, path + ".source", kind, block.get("source"))
    elif kind == "tool_use":
        if role != "assistant":
            out.add(path, "tool_use blocks are only allowed in assistant messages")
        if not isinstance(block.get("id"), str) or not ANTHROPIC_TOOL_ID.fullmatch(block["id"]):
            out.add(path + ".id", "String should match pattern '^[a-zA-Z0-9_-]+$'")
        if not isinstance(block.get("name"), str) or not block["name"]:
            out.add(path + ".name", "field required")
        if not isinstance(block.get("input"), dict):
            out.add(path + ".input", "must be an object")
    elif kind == "tool_result":
        if role != "user":
            out.add(path, "tool_result blocks are only allowed in user messages")
        _anthropic_result_content(out, path, block.get("content"))
    elif kind == "thinking":
        if role != "assistant" or not isinstance(block.get("signature"), str):
            out.add(path, "thinking blocks need a signature and an assistant message")
    elif kind not in ("redacted_thinking", "server_tool_use", "web_search_tool_result"):
        out.add(path + ".type", f"unknown content block type {kind!r}")


def _anthropic_result_content(out: Problems, path: str, content: Any) -> None:
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        out.add(path + ".content", "must be a string or a list of blocks")
        return
    for j, inner in enumerate(content):
        if not isinstance(inner, dict) or inner.get("type") not in ("text", "image", "document"):
            out.add(f"{path}.content.{j}", "must be a text, image or document block")
        else:
            _anthropic_block(out, f"{path}.content.{j}", inner, "user")


def _anthropic_source(out: Problems, path: str, kind: str, source: Any) -> None:
    if not isinstance(source, dict):
        out.add(path, "field required")
        return
    stype = source.get("type")
    if stype == "base64":
        allowed = IMAGE_TYPES if kind == "image" else ("application/pdf",)
        if source.get("media_type") not in allowed:
            out.add(path + ".media_type", f"must be one of {allowed}")
        if not isinstance(source.get("data"), str) or not source["data"]:
            out.add(path + ".data", "must be non-empty base64 data")
    elif stype == "url":
        if not _http(source.get("url")):
            out.add(path + ".url", "must be an http(s) URL")
    elif stype == "text" and kind == "document":
        if not isinstance(source.get("data"), str):
            out.add(path + ".data", "must be a string")
    elif stype not in ("file", "content"):
        out.add(path + ".type", f"unknown source type {stype!r}")


def _anthropic_stops(out: Problems, stops: Any) -> None:
    if stops is None:
        return
    if not isinstance(stops, list):
        out.add("stop_sequences", "must be a list of strings")
        return
    for i, stop in enumerate(stops):
        if not _nonblank(stop):
            out.add(f"stop_sequences.{i}", "each stop sequence must contain non-whitespace")


def _anthropic_tools(out: Problems, tools: Any) -> set[str]:
    names: set[str] = set()
    if tools is None:
        return names
    if not isinstance(tools, list):
        out.add("tools", "must be a list")
        return names
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            out.add(f"tools.{i}", "must be an object")
            continue
        name = tool.get("name")
        if tool.get("type", "custom") not in ("custom", None):
            names.add(str(name))
            continue  # server tools: web_search_*, bash_*, ...
        if not isinstance(name, str) or not ANTHROPIC_TOOL_NAME.fullmatch(name):
            out.add(f"tools.{i}.name", "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'")
        elif name in names:
            out.add(f"tools.{i}.name", "tool names must be unique")
        names.add(str(name))
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            out.add(f"tools.{i}.input_schema.type", "Input should be 'object'")
    return names


def _anthropic_tool_choice(out: Problems, choice: Any, names: set[str]) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        out.add("tool_choice.type", "must be auto, any, tool or none")
        return
    if choice["type"] in ("any", "tool") and not names:
        out.add("tool_choice", "tool_choice may only be specified while providing tools")
    if choice["type"] == "tool" and choice.get("name") not in names:
        out.add("tool_choice.name", f"tool {choice.get('name')!r} is not among the tools")
    if choice["type"] == "none" and "disable_parallel_tool_use" in choice:
        out.add("tool_choice", "disable_parallel_tool_use is not allowed with type none")


def _anthropic_thinking(out: Problems, body: Json) -> None:
    block = body.get("thinking")
    if block is None:
        return
    kind = block.get("type") if isinstance(block, dict) else None
    if kind not in ("enabled", "disabled", "adaptive"):
        out.add("thinking.type", "must be enabled, disabled or adaptive")
        return
    if kind == "disabled":
        return
    if kind == "enabled":
        budget = block.get("budget_tokens")
        if not _is_int(budget) or budget < 1024:
            out.add("thinking.budget_tokens", "must be an integer >= 1024")
        elif _is_int(body.get("max_tokens")) and budget >= body["max_tokens"]:
            out.add("max_tokens", "must be greater than thinking.budget_tokens")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        out.add("thinking", "Thinking may not be enabled when tool_choice forces tool use")
    if body.get("temperature") not in (None, 1):
        out.add("temperature", "may only be set to 1 when thinking is enabled")
    if body.get("top_k") is not None:
        out.add("top_k", "top_k is not compatible with thinking")
    top_p = body.get("top_p")
    if top_p is not None and (not _is_number(top_p) or not 0.95 <= top_p <= 1):
        out.add("top_p", "must be between 0.95 and 1 when thinking is enabled")


# ------------------------------------------------------------------ OpenAI Chat Completions
def openai_chat(body: Json, model: str = "") -> list[str]:
    out = Problems()
    name = body.get("model")
    if not isinstance(name, str) or not name:
        out.add("model", "you must provide a model parameter")
        name = ""
    for key in ("stop_sequences", "top_k", "max_output_tokens", "input", "contents", "system"):
        if key in body:
            out.add(key, f"Unrecognized request argument supplied: {key}")
    _openai_messages(out, body.get("messages"))
    out.number(body, "temperature", 0, 2)
    out.number(body, "top_p", 0, 1)
    out.number(body, "presence_penalty", -2, 2)
    out.number(body, "frequency_penalty", -2, 2)
    out.integer(body, "n", 1, 128)
    out.integer(body, "max_tokens", 1)
    out.integer(body, "max_completion_tokens", 1)
    out.integer(body, "seed", *INT64)
    _openai_stop(out, body.get("stop"))
    names = _function_names(out, body.get("tools"), nested=True)
    _openai_tool_choice(out, body, names, nested=True)
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in OPENAI_EFFORTS:
        out.add("reasoning_effort", f"must be one of {OPENAI_EFFORTS}")
    _openai_response_format(out, body.get("response_format"))
    if "stream_options" in body and body.get("stream") is not True:
        out.add("stream_options", "only allowed when 'stream' is enabled")
    if OPENAI_REASONING.match(name):
        if "max_tokens" in body:
            out.add(
                "max_tokens",
                "Unsupported parameter: 'max_tokens' is not supported with "
                "this model. Use 'max_completion_tokens' instead.",
            )
        for key in ("stop", "top_p", "presence_penalty", "frequency_penalty"):
            if key in body:
                out.add(key, f"Unsupported parameter: '{key}' is not supported with this model")
        if body.get("temperature") not in (None, 1):
            out.add("temperature", "Only the default (1) value is supported with this model")
    return out


def _openai_stop(out: Problems, stop: Any) -> None:
    if stop is None or isinstance(stop, str):
        return
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        out.add("stop", "must be a string or a list of strings")
    elif len(stop) > 4:
        out.add("stop", f"at most 4 stop sequences, got {len(stop)}")


def _openai_messages(out: Problems, messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        out.add("messages", "must be a non-empty array")
        return
    open_calls: set[str] = set()
    for i, msg in enumerate(messages):
        path = f"messages[{i}]"
        if not isinstance(msg, dict):
            out.add(path, "must be an object")
            continue
        role = msg.get("role")
        if role == "tool":
            call_id = msg.get("tool_call_id")
            if call_id not in open_calls:
                out.add(
                    path,
                    "messages with role 'tool' must be a response to a preceding "
                    "message with 'tool_calls'",
                )
            open_calls.discard(call_id)
            _text_only(out, path + ".content", msg.get("content"))
            continue
        if open_calls:
            out.add(path, f"tool_call_ids did not have response messages: {sorted(open_calls)}")
            open_calls = set()
        if role in ("system", "developer"):
            _text_only(out, path + ".content", msg.get("content"))
        elif role == "user":
            _openai_user_content(out, path + ".content", msg.get("content"))
        elif role == "assistant":
            open_calls = _openai_assistant(out, path, msg)
        else:
            out.add(path + ".role", f"invalid role {role!r}")
    if open_calls:
        out.add("messages", f"tool_call_ids did not have response messages: {sorted(open_calls)}")


def _text_only(out: Problems, path: str, content: Any) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        out.add(path, "must be a string or a non-empty array of text parts")
        return
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text":
            out.add(f"{path}[{j}]", "must be a text part")
        elif not isinstance(part.get("text"), str):
            out.add(f"{path}[{j}].text", "must be a string")


def _openai_user_content(out: Problems, path: str, content: Any) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        out.add(path, "must be a string or a non-empty array of parts")
        return
    for j, part in enumerate(content):
        where = f"{path}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str):
                out.add(where + ".text", "must be a string")
        elif kind == "image_url":
            url = (part.get("image_url") or {}).get("url")
            if not (_http(url) or _data_url(url, IMAGE_TYPES)):
                out.add(where + ".image_url.url", "must be an http(s) URL or an image data URL")
        elif kind == "file":
            file = part.get("file") or {}
            if not (_data_url(file.get("file_data"), ("application/pdf",)) or file.get("file_id")):
                out.add(where + ".file", "file_data must be a base64 PDF data URL, or a file_id")
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            if audio.get("format") not in ("wav", "mp3") or not audio.get("data"):
                out.add(where + ".input_audio", "data and a format of wav or mp3 are required")
        else:
            out.add(where + ".type", f"invalid content part type {kind!r}")


def _openai_assistant(out: Problems, path: str, msg: Json) -> set[str]:
    content = msg.get("content")
    calls = msg.get("tool_calls")
    if content is None and not calls and not msg.get("function_call"):
        out.add(path + ".content", "expected a string, got null")
    elif isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") not in ("text", "refusal"):
                out.add(f"{path}.content[{j}]", "must be a text or refusal part")
    elif content is not None and not isinstance(content, str):
        out.add(path + ".content", "must be a string, an array of parts or null")
    ids: set[str] = set()
    if calls is None:
        return ids
    if not isinstance(calls, list) or not calls:
        out.add(path + ".tool_calls", "must be a non-empty array")
        return ids
    for j, call in enumerate(calls):
        where = f"{path}.tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(call.get("id"), str):
            out.add(where, "id and function are required")
            continue
        if not isinstance(fn.get("name"), str) or not isinstance(fn.get("arguments"), str):
            out.add(where + ".function", "name and arguments (a string) are required")
        if len(call["id"]) > 40:
            out.add(where + ".id", "string too long. Expected a string with maximum length 40")
        ids.add(call["id"])
    return ids


def _function_names(out: Problems, tools: Any, *, nested: bool) -> set[str]:
    """Function names of OpenAI chat (`nested`: under "function") or Responses tools."""
    names: set[str] = set()
    if tools is None:
        return names
    if not isinstance(tools, list):
        out.add("tools", "must be an array")
        return names
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            out.add(f"tools[{i}]", "must be an object")
            continue
        if tool.get("type") != "function":
            if nested and tool.get("type") != "custom":
                out.add(f"tools[{i}].type", "must be 'function'")
            names.add(str(tool.get("name")))
            continue
        fn = tool.get("function") if nested else tool
        if not isinstance(fn, dict):
            out.add(f"tools[{i}].function", "field required")
            continue
        name = fn.get("name")
        if not isinstance(name, str) or not OPENAI_NAME.fullmatch(name):
            out.add(f"tools[{i}].name", "string does not match pattern '^[a-zA-Z0-9_-]{1,64}$'")
        elif name in names:
            out.add(f"tools[{i}].name", f"duplicate function name {name!r}")
        names.add(str(name))
        params = fn.get("parameters")
        if params is not None and (not isinstance(params, dict) or params.get("type") != "object"):
            out.add(f"tools[{i}].parameters", "schema must be a JSON Schema of 'type: \"object\"'")
    return names


def _openai_tool_choice(out: Problems, body: Json, names: set[str], *, nested: bool) -> None:
    choice = body.get("tool_choice")
    if not names:
        for key in ("tool_choice", "parallel_tool_calls"):
            if key in body and not (key == "tool_choice" and choice in ("auto", "none")):
                out.add(key, f"'{key}' is only allowed when 'tools' are specified")
        return
    if choice is None or choice in ("none", "auto", "required"):
        return
    if not isinstance(choice, dict):
        out.add("tool_choice", "must be none, auto, required or a named tool")
        return
    if choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name") if nested else choice.get("name")
        if name not in names:
            out.add("tool_choice", f"tool {name!r} is not among the tools")


def _openai_response_format(out: Problems, fmt: Any) -> None:
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        out.add("response_format.type", "must be text, json_object or json_schema")
    elif kind == "json_schema":
        spec = fmt.get("json_schema") or {}
        _json_schema_name(out, "response_format.json_schema.name", spec.get("name"))


def _json_schema_name(out: Problems, path: str, name: Any) -> None:
    if not isinstance(name, str) or not OPENAI_NAME.fullmatch(name):
        out.add(path, "must match '^[a-zA-Z0-9_-]{1,64}$'")


# ------------------------------------------------------------------ OpenAI Responses
def responses(body: Json, model: str = "") -> list[str]:
    out = Problems()
    name = body.get("model")
    if not isinstance(name, str) or not name:
        out.add("model", "Missing required parameter: 'model'")
        name = ""
    for key in ("messages", "stop", "max_tokens", "stop_sequences", "top_k", "n", "contents"):
        if key in body:
            out.add(key, f"Unsupported parameter: '{key}'")
    _responses_input(out, body.get("input"))
    out.number(body, "temperature", 0, 2)
    out.number(body, "top_p", 0, 1)
    out.integer(body, "max_output_tokens", 16)
    names = _function_names(out, body.get("tools"), nested=False)
    _openai_tool_choice(out, body, names, nested=False)
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict):
        effort = reasoning.get("effort")
        if effort is not None and effort not in OPENAI_EFFORTS:
            out.add("reasoning.effort", f"must be one of {OPENAI_EFFORTS}")
    fmt = (body.get("text") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        _json_schema_name(out, "text.format.name", fmt.get("name"))
    if OPENAI_REASONING.match(name):
        for key in ("temperature", "top_p"):
            if body.get(key) is not None:
                out.add(key, f"Unsupported parameter: '{key}' is not supported with this model")
    return out


def _responses_input(out: Problems, items: Any) -> None:
    if isinstance(items, str) or items is None:
        return
    if not isinstance(items, list):
        out.add("input", "must be a string or an array of items")
        return
    calls: set[str] = set()
    answered: set[str] = set()
    for i, item in enumerate(items):
        path = f"input[{i}]"
        if not isinstance(item, dict):
            out.add(path, "must be an object")
            continue
        kind = item.get("type", "message")
        if kind == "message":
            _responses_message(out, path, item)
        elif kind in ("function_call", "custom_tool_call"):
            if not isinstance(item.get("call_id"), str) or not isinstance(item.get("name"), str):
                out.add(path, "call_id and name are required")
            if kind == "function_call" and not isinstance(item.get("arguments"), str):
                out.add(path + ".arguments", "must be a string")
            calls.add(str(item.get("call_id")))
        elif kind in ("function_call_output", "custom_tool_call_output"):
            call_id = item.get("call_id")
            if call_id not in calls:
                out.add(path, f"No tool call found for function call output with call_id {call_id}")
            answered.add(str(call_id))
            _responses_output(out, path + ".output", item.get("output"))
    for call_id in sorted(calls - answered):
        out.add("input", f"No tool output found for function call {call_id}")


def _responses_message(out: Problems, path: str, item: Json) -> None:
    role = item.get("role")
    content = item.get("content")
    if role not in ("user", "assistant", "system", "developer"):
        out.add(path + ".role", f"invalid role {role!r}")
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        out.add(path + ".content", "must be a string or a non-empty array")
        return
    allowed = (
        ("output_text", "refusal")
        if role == "assistant"
        else ("input_text", "input_image", "input_file")
    )
    for j, part in enumerate(content):
        where = f"{path}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in allowed:
            out.add(where + ".type", f"must be one of {allowed} for role {role}")
        else:
            _responses_part(out, where, part)


def _responses_output(out: Problems, path: str, output: Any) -> None:
    if isinstance(output, str):
        return
    if not isinstance(output, list):
        out.add(path, "must be a string or an array of input parts")
        return
    for j, part in enumerate(output):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in ("input_text", "input_image", "input_file"):
            out.add(f"{path}[{j}].type", "must be input_text, input_image or input_file")
        else:
            _responses_part(out, f"{path}[{j}]", part)


def _responses_part(out: Problems, path: str, part: Json) -> None:
    kind = part["type"]
    if kind in ("input_text", "output_text"):
        if not isinstance(part.get("text"), str):
            out.add(path + ".text", "must be a string")
    elif kind == "input_image":
        url = part.get("image_url")
        if not (_http(url) or _data_url(url, IMAGE_TYPES) or part.get("file_id")):
            out.add(path + ".image_url", "must be an http(s) URL or an image data URL")
    elif kind == "input_file":
        data, url = part.get("file_data"), part.get("file_url")
        if not (_data_url(data, ("application/pdf",)) or _http(url) or part.get("file_id")):
            out.add(path, "file_data (a PDF data URL), file_url (http(s)) or file_id is required")


# ------------------------------------------------------------------ Gemini generateContent
def gemini(body: Json, model: str = "") -> list[str]:
    out = Problems()
    for key in ("model", "messages", "max_tokens", "stop", "temperature"):
        if key in body:
            out.add(key, f'Invalid JSON payload received. Unknown name "{key}"')
    _gemini_system(out, body.get("systemInstruction") or body.get("system_instruction"))
    _gemini_contents(out, body.get("contents"))
    names = _gemini_tools(out, body.get("tools"))
    _gemini_tool_config(out, body.get("toolConfig"), names)
    gen = body.get("generationConfig")
    if gen is not None:
        _gemini_generation(out, gen if isinstance(gen, dict) else {}, model)
    return out


def _gemini_system(out: Problems, system: Any) -> None:
    if system is None:
        return
    parts = system.get("parts") if isinstance(system, dict) else None
    if not isinstance(parts, list) or not parts:
        out.add("systemInstruction.parts", "must be a non-empty list")
        return
    for i, part in enumerate(parts):
        if not isinstance(part, dict) or not isinstance(part.get("text"), str) or not part["text"]:
            out.add(f"systemInstruction.parts[{i}]", "must be a non-empty text part")


_DATA_FIELDS = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)


def _gemini_contents(out: Problems, contents: Any) -> None:
    if not isinstance(contents, list) or not contents:
        out.add("contents", "contents is not specified")
        return
    previous: tuple[str, int] = ("", 0)  # role and function-call count of the last turn
    for i, content in enumerate(contents):
        path = f"contents[{i}]"
        role = content.get("role", "user") if isinstance(content, dict) else None
        parts = content.get("parts") if isinstance(content, dict) else None
        if role not in ("user", "model"):
            out.add(path + ".role", "must be user or model")
            continue
        if not isinstance(parts, list) or not parts:
            out.add(path + ".parts", "must not be empty")
            continue
        calls = responses_ = 0
        for j, part in enumerate(parts):
            kind = _gemini_part(out, f"{path}.parts[{j}]", part)
            calls += kind == "functionCall"
            responses_ += kind == "functionResponse"
        if (calls and role != "model") or (responses_ and role != "user"):
            out.add(path, "functionCall parts belong to model turns, functionResponse to user")
        if calls and previous[0] != "user":
            out.add(
                path,
                "Please ensure that function call turn comes immediately after a "
                "user turn or after a function response turn.",
            )
        if previous[1] and responses_ != previous[1]:
            out.add(
                path,
                "Please ensure that the number of function response parts is equal "
                "to the number of function call parts of the function call turn.",
            )
        if responses_ and not previous[1]:
            out.add(path, "functionResponse parts must follow a turn with function calls")
        previous = (role, calls)
    if previous[1]:
        out.add("contents", "the function call turn has no function response turn after it")


def _gemini_part(out: Problems, path: str, part: Any) -> str:
    if not isinstance(part, dict):
        out.add(path, "must be an object")
        return ""
    present = [k for k in _DATA_FIELDS if k in part]
    if len(present) != 1:
        out.add(path, f"exactly one data field is required, found {present}")
        return ""
    kind = present[0]
    value = part[kind]
    if kind == "text" and (not isinstance(value, str) or not value):
        out.add(path + ".text", "Unable to submit request because it has an empty text parameter")
    elif kind == "inlineData":
        if not isinstance(value, dict) or "/" not in str(value.get("mimeType")):
            out.add(path + ".inlineData.mimeType", "a MIME type is required")
        elif not isinstance(value.get("data"), str) or not value["data"]:
            out.add(path + ".inlineData.data", "must be non-empty base64 data")
    elif kind == "fileData":
        if not isinstance(value, dict) or not isinstance(value.get("fileUri"), str):
            out.add(path + ".fileData.fileUri", "field required")
        elif not value["fileUri"]:
            out.add(path + ".fileData.fileUri", "must not be empty")
    elif kind == "functionCall":
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            out.add(path + ".functionCall.name", "field required")
        elif not isinstance(value.get("args", {}), dict):
            out.add(path + ".functionCall.args", "must be an object")
    elif kind == "functionResponse":
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            out.add(path + ".functionResponse.name", "field required")
        elif not isinstance(value.get("response"), dict):
            out.add(path + ".functionResponse.response", "must be an object")
    return kind


def _gemini_tools(out: Problems, tools: Any) -> set[str]:
    names: set[str] = set()
    if tools is None:
        return names
    if not isinstance(tools, list):
        out.add("tools", "must be a list")
        return names
    for i, group in enumerate(tools):
        decls = group.get("functionDeclarations") if isinstance(group, dict) else None
        if decls is None:
            continue  # googleSearch, codeExecution, urlContext...
        for j, decl in enumerate(decls if isinstance(decls, list) else []):
            path = f"tools[{i}].functionDeclarations[{j}]"
            name = decl.get("name") if isinstance(decl, dict) else None
            if not isinstance(name, str) or not GEMINI_NAME.fullmatch(name):
                out.add(
                    path + ".name",
                    "Invalid function name. Must start with a letter or an "
                    "underscore, contain a-z, A-Z, 0-9, _, ., :, -, at most 64 characters",
                )
            elif name in names:
                out.add(path + ".name", f"Duplicate function declaration {name!r}")
            names.add(str(name))
            if isinstance(decl, dict) and "parameters" in decl:
                gemini_schema(out, path + ".parameters", decl["parameters"], 0)
    return names


def gemini_schema(out: Problems, path: str, node: Any, depth: int) -> None:
    """Gemini's `Schema`: an OpenAPI subset; anything else is a 400."""
    if not isinstance(node, dict):
        out.add(path, "must be an object")
        return
    if depth > 64:
        out.add(path, "schema nested too deep")
        return
    for key in node:
        if key not in GEMINI_SCHEMA_KEYS:
            out.add(f"{path}.{key}", f'Invalid JSON payload received. Unknown name "{key}"')
    kind = node.get("type")
    if kind is not None and (not isinstance(kind, str) or kind.lower() not in GEMINI_TYPES):
        out.add(path + ".type", f"invalid type {kind!r}")
        kind = None
    kind = kind.lower() if isinstance(kind, str) else None
    _gemini_schema_shape(out, path, node, kind, depth)


def _gemini_schema_shape(
    out: Problems, path: str, node: Json, kind: str | None, depth: int
) -> None:
    props = node.get("properties")
    if props is not None:
        if not isinstance(props, dict) or not props:
            out.add(path + ".properties", "should be non-empty for OBJECT type")
        else:
            for name, sub in props.items():
                gemini_schema(out, f"{path}.properties[{name}]", sub, depth + 1)
    required = node.get("required")
    if required is not None:
        known = props if isinstance(props, dict) else {}
        if not isinstance(required, list) or any(r not in known for r in required):
            out.add(path + ".required", "property is not defined")
    if kind == "array" and "items" not in node:
        out.add(path + ".items", "missing field")
    if "items" in node:
        gemini_schema(out, path + ".items", node["items"], depth + 1)
    for j, sub in enumerate(node.get("anyOf") or []):
        gemini_schema(out, f"{path}.anyOf[{j}]", sub, depth + 1)
    enum = node.get("enum")
    if enum is not None and (
        kind != "string" or not isinstance(enum, list) or not all(isinstance(e, str) for e in enum)
    ):
        out.add(path + ".enum", "only allowed for STRING type, as a list of strings")
    fmt = node.get("format")
    if fmt is not None and fmt not in GEMINI_FORMATS.get(kind or "", ()):
        out.add(path + ".format", f"format {fmt!r} is not supported for type {kind}")


def _gemini_tool_config(out: Problems, config: Any, names: set[str]) -> None:
    calling = (config or {}).get("functionCallingConfig") if isinstance(config, dict) else None
    if not isinstance(calling, dict):
        return
    mode = calling.get("mode")
    if mode not in (None, "AUTO", "ANY", "NONE", "VALIDATED"):
        out.add("toolConfig.functionCallingConfig.mode", f"invalid mode {mode!r}")
    allowed = calling.get("allowedFunctionNames")
    if allowed is not None:
        if mode not in ("ANY", "VALIDATED"):
            out.add("toolConfig", "allowedFunctionNames is only allowed with mode ANY")
        elif not isinstance(allowed, list) or any(n not in names for n in allowed):
            out.add("toolConfig", "allowedFunctionNames must name declared functions")


def _gemini_generation(out: Problems, gen: Json, model: str) -> None:
    path = "generationConfig."
    out.number(gen, "temperature", 0, 2, path)
    out.number(gen, "topP", 0, 1, path)
    out.integer(gen, "topK", 1, path=path)
    out.integer(gen, "candidateCount", 1, 8, path)
    out.integer(gen, "maxOutputTokens", 1, path=path)
    out.integer(gen, "seed", *INT32, path)
    out.number(gen, "presencePenalty", -2, 2, path)
    out.number(gen, "frequencyPenalty", -2, 2, path)
    stops = gen.get("stopSequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            out.add(path + "stopSequences", "must be a list of non-empty strings")
        elif len(stops) > 5:
            out.add(path + "stopSequences", f"at most 5 stop sequences, got {len(stops)}")
    if "responseSchema" in gen:
        gemini_schema(out, path + "responseSchema", gen["responseSchema"], 0)
    config = gen.get("thinkingConfig")
    if isinstance(config, dict):
        if "thinkingBudget" in config and "thinkingLevel" in config:
            out.add(path + "thinkingConfig", "thinkingBudget and thinkingLevel are exclusive")
        level = config.get("thinkingLevel")
        if level is not None and str(level).lower() not in ("minimal", "low", "medium", "high"):
            out.add(path + "thinkingConfig.thinkingLevel", f"invalid level {level!r}")
        if config.get("thinkingBudget") == 0 and model.startswith("gemini-2.5-pro"):
            out.add(
                path + "thinkingConfig",
                "Budget 0 is invalid. This model only works in thinking mode.",
            )
