"""Token usage: one normalised record, and the mapping to and from each format's usage block.

Normalisation (OpenAI's convention, so totals add up the same whatever the upstream):
- `input_tokens` counts every prompt token, including those read from or written to a cache.
- `cached_tokens` and `cache_read_tokens` are the same number: prompt tokens read from a cache.
- `cache_creation_tokens` are prompt tokens written to a cache (Anthropic only).
- `output_tokens` counts every generated token, including `reasoning_tokens`.
- `total_tokens` is `input_tokens + output_tokens`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    total_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        """The PROTOCOLS.md section 5 `tokens` object."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cached_tokens": self.cached_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_creation_tokens": self.cache_creation_tokens,
            "total_tokens": self.total_tokens,
        }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _make(inp: int, out: int, reasoning: int, cached: int, creation: int = 0) -> Usage:
    return Usage(inp, out, reasoning, cached, cached, creation, inp + out)


# --- OpenAI chat: prompt_tokens includes cached; completion_tokens includes reasoning.
def from_openai(block: Json) -> Usage:
    details = block.get("prompt_tokens_details") or {}
    out_details = block.get("completion_tokens_details") or {}
    return _make(
        _int(block.get("prompt_tokens")),
        _int(block.get("completion_tokens")),
        _int(out_details.get("reasoning_tokens")),
        _int(details.get("cached_tokens")),
    )


def to_openai(usage: Usage) -> Json:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


# --- OpenAI Responses: the same convention with different names.
def from_responses(block: Json) -> Usage:
    details = block.get("input_tokens_details") or {}
    out_details = block.get("output_tokens_details") or {}
    return _make(
        _int(block.get("input_tokens")),
        _int(block.get("output_tokens")),
        _int(out_details.get("reasoning_tokens")),
        _int(details.get("cached_tokens")),
        _int(details.get("cache_write_tokens")),
    )


def to_responses(usage: Usage) -> Json:
    details = {"cached_tokens": usage.cached_tokens}
    if usage.cache_creation_tokens:
        details["cache_write_tokens"] = usage.cache_creation_tokens
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": details,
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


# --- Anthropic: input_tokens excludes cache reads and writes; thinking is inside output_tokens.
def from_anthropic(block: Json, previous: Usage | None = None) -> Usage:
    """A usage block; fields it lacks (message_delta often omits input) keep `previous`."""
    prev = previous or Usage()
    read = _int(block["cache_read_input_tokens"]) if "cache_read_input_tokens" in block else None
    made = (
        _int(block["cache_creation_input_tokens"])
        if "cache_creation_input_tokens" in block
        else None
    )
    cached = prev.cache_read_tokens if read is None else read
    creation = prev.cache_creation_tokens if made is None else made
    if "input_tokens" in block:
        inp = _int(block["input_tokens"]) + cached + creation
    else:
        inp = prev.input_tokens - prev.cache_read_tokens - prev.cache_creation_tokens
        inp = max(inp, 0) + cached + creation
    out = _int(block["output_tokens"]) if "output_tokens" in block else prev.output_tokens
    return _make(inp, out, prev.reasoning_tokens, cached, creation)


def to_anthropic(usage: Usage) -> Json:
    uncached = usage.input_tokens - usage.cache_read_tokens - usage.cache_creation_tokens
    return {
        "input_tokens": max(uncached, 0),
        "cache_creation_input_tokens": usage.cache_creation_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "output_tokens": usage.output_tokens,
    }


# --- Gemini: promptTokenCount includes cached content; thoughts are counted apart from candidates.
def from_gemini(block: Json) -> Usage:
    thoughts = _int(block.get("thoughtsTokenCount"))
    prompt = _int(block.get("promptTokenCount")) + _int(block.get("toolUsePromptTokenCount"))
    return _make(
        prompt,
        _int(block.get("candidatesTokenCount")) + thoughts,
        thoughts,
        _int(block.get("cachedContentTokenCount")),
    )


def to_gemini(usage: Usage) -> Json:
    block: Json = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": max(usage.output_tokens - usage.reasoning_tokens, 0),
        "totalTokenCount": usage.total_tokens,
    }
    if usage.reasoning_tokens:
        block["thoughtsTokenCount"] = usage.reasoning_tokens
    if usage.cached_tokens:
        block["cachedContentTokenCount"] = usage.cached_tokens
    return block
