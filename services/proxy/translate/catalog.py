"""A small built-in catalog of current model ids and what thinking each supports.

Used only to clamp thinking settings; a model that is not listed passes through unclamped.
Dated ids (`claude-haiku-4-5-20251001`) match their undated entry by prefix.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

ThinkingKind = Literal["none", "budget", "adaptive", "hybrid", "levels", "effort"]

ANTHROPIC_EFFORTS = ("low", "medium", "high")
ANTHROPIC_EFFORTS_MAX = ("low", "medium", "high", "max")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """`kind`: budget = a token budget; adaptive = Claude's adaptive mode with an effort level;
    hybrid = both; levels = Gemini 3 `thinkingLevel`; effort = OpenAI reasoning effort."""

    id: str
    provider: Literal["anthropic", "gemini", "openai"]
    kind: ThinkingKind
    levels: tuple[str, ...] = ()
    min_budget: int = 0
    max_budget: int = 0
    zero_allowed: bool = True
    max_output: int = 0


def _claude(id: str, kind: ThinkingKind, levels: tuple[str, ...], out: int) -> ModelInfo:
    return ModelInfo(id, "anthropic", kind, levels, 1024, out - 1, True, out)


def _gemini_budget(id: str, low: int, high: int, zero: bool) -> ModelInfo:
    return ModelInfo(id, "gemini", "budget", (), low, high, zero, 65536)


def _gemini_levels(id: str, levels: tuple[str, ...]) -> ModelInfo:
    return ModelInfo(id, "gemini", "levels", levels, 0, 0, "minimal" in levels, 65536)


def _gpt(id: str, levels: tuple[str, ...]) -> ModelInfo:
    return ModelInfo(id, "openai", "effort" if levels else "none", levels, 0, 0, "none" in levels)


_G3_FLASH = ("minimal", "low", "medium", "high")
_GPT5 = ("minimal", "low", "medium", "high")
_GPT51 = ("none", "low", "medium", "high")
_GPT52 = ("none", "low", "medium", "high", "xhigh")
_CODEX = ("low", "medium", "high")
_CODEX_MAX = ("low", "medium", "high", "xhigh")

MODELS: tuple[ModelInfo, ...] = (
    _claude("claude-fable-5-1", "adaptive", ANTHROPIC_EFFORTS_MAX, 128000),
    _claude("claude-mythos-5-1", "adaptive", ANTHROPIC_EFFORTS_MAX, 128000),
    _claude("claude-fable-5", "adaptive", ANTHROPIC_EFFORTS_MAX, 128000),
    _claude("claude-mythos-5", "adaptive", ANTHROPIC_EFFORTS_MAX, 128000),
    _claude("claude-mythos-preview", "adaptive", ANTHROPIC_EFFORTS_MAX, 128000),
    _claude("claude-opus-5", "hybrid", ANTHROPIC_EFFORTS_MAX, 128000),
    _claude("claude-sonnet-5", "hybrid", ANTHROPIC_EFFORTS, 64000),
    _claude("claude-opus-4-7", "adaptive", ANTHROPIC_EFFORTS_MAX, 128000),
    _claude("claude-opus-4-6", "hybrid", ANTHROPIC_EFFORTS_MAX, 128000),
    _claude("claude-sonnet-4-6", "hybrid", ANTHROPIC_EFFORTS, 64000),
    _claude("claude-opus-4-5", "budget", (), 64000),
    _claude("claude-sonnet-4-5", "budget", (), 64000),
    _claude("claude-haiku-4-5", "budget", (), 64000),
    _claude("claude-opus-4-1", "budget", (), 32000),
    _claude("claude-opus-4", "budget", (), 32000),
    _claude("claude-sonnet-4", "budget", (), 64000),
    _claude("claude-3-7-sonnet", "budget", (), 64000),
    ModelInfo("claude-3-5-haiku", "anthropic", "none", max_output=8192),
    _gemini_budget("gemini-2.5-pro", 128, 32768, False),
    _gemini_budget("gemini-2.5-flash-lite", 512, 24576, True),
    _gemini_budget("gemini-2.5-flash", 1, 24576, True),
    _gemini_levels("gemini-3-pro", ("low", "high")),
    _gemini_levels("gemini-3-flash", _G3_FLASH),
    _gemini_levels("gemini-3.1-pro", ("low", "medium", "high")),
    _gemini_levels("gemini-3.1-flash", _G3_FLASH),
    _gemini_levels("gemini-3.5-flash", _G3_FLASH),
    _gpt("gpt-5.5-pro", ("high",)),
    _gpt("gpt-5.5", _GPT52),
    _gpt("gpt-5.4-mini", _GPT52),
    _gpt("gpt-5.4", _GPT52),
    _gpt("gpt-5.3-codex", _CODEX_MAX),
    _gpt("gpt-5.2-codex", _CODEX_MAX),
    _gpt("gpt-5.2", _GPT52),
    _gpt("gpt-5.1-codex-max", _CODEX_MAX),
    _gpt("gpt-5.1-codex-mini", _CODEX),
    _gpt("gpt-5.1-codex", _CODEX),
    _gpt("gpt-5.1", _GPT51),
    _gpt("gpt-5-codex", _CODEX),
    _gpt("gpt-5-pro", ("high",)),
    _gpt("gpt-5-mini", _GPT5),
    _gpt("gpt-5-nano", _GPT5),
    _gpt("gpt-5", _GPT5),
    _gpt("o4-mini", _CODEX),
    _gpt("o3", _CODEX),
    _gpt("gpt-4.1", ()),
    _gpt("gpt-4o", ()),
)

_BY_ID = {m.id: m for m in MODELS}
# Longest ids first, so "gpt-5.1-codex-max" wins over "gpt-5.1-codex" and "gpt-5".
_BY_PREFIX = sorted(MODELS, key=lambda m: len(m.id), reverse=True)


def lookup(model: str, provider: str | None = None) -> ModelInfo | None:
    """The catalog entry for an upstream model id, or None when it is not a known model (or,
    with `provider`, not one of that provider's: a compatible upstream serving another
    provider's model takes its own format's settings)."""
    found = _lookup(model)
    return found if provider is None or found is None or found.provider == provider else None


@functools.lru_cache(maxsize=1024)  # a handful of upstream ids, looked up on every request
def _lookup(model: str) -> ModelInfo | None:
    name = model.rsplit("/", 1)[-1].lower()
    found = _BY_ID.get(name)
    if found is not None:
        return found
    for info in _BY_PREFIX:
        if name.startswith(info.id) and name[len(info.id) : len(info.id) + 1] in ("-", "@", ""):
            return info
    return None


def gemini_generation(model: str) -> int:
    """The major version of a Gemini model id (2 for gemini-2.5-pro), 0 if it has none."""
    name = model.rsplit("/", 1)[-1].lower()
    if not name.startswith("gemini-"):
        return 0
    digits = name[7:].split(".", 1)[0].split("-", 1)[0]
    return int(digits) if digits.isdigit() else 0
