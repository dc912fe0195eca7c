"""Thinking: the model-name suffix, the level/budget table, and each format's native field.

Level -> budget: none 0, auto -1, minimal 512, low 1024, medium 8192, high 24576,
xhigh 32768, max 128000. Budget -> level uses the same numbers as upper thresholds.
Values are clamped to what the catalog says the upstream model supports.
"""

from __future__ import annotations

import math
import re
from typing import Any

from services.proxy.translate import catalog
from services.proxy.translate.ir import Thinking

Json = dict[str, Any]

LEVEL_BUDGET = {
    "none": 0,
    "auto": -1,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
    "max": 128000,
}
ORDER = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
OPENAI_LEVELS = ("none", "minimal", "low", "medium", "high", "xhigh")
GEMINI_LEVELS = ("minimal", "low", "medium", "high")
ANTHROPIC_MIN_BUDGET = 1024
ANTHROPIC_DEFAULT_MAX_TOKENS = 8192
AUTO_BUDGET = 8192  # what "auto" becomes where a model can only take a fixed budget

_SUFFIX = re.compile(r"^(.+?)\(([A-Za-z]+|-?\d+)\)$")
_SUFFIX_ENDS = (")", ")\n")


def parse_model_suffix(model: str) -> tuple[str, Thinking | None]:
    """Split `name(8192|high|none|auto|-1)` into the bare name and the thinking it asks for."""
    if not model.endswith(_SUFFIX_ENDS):  # most names: no regex run (`$` allows a final \n)
        return model, None
    match = _SUFFIX.match(model)
    if match is None:
        return model, None
    value = match.group(2).lower()
    thinking = from_level(value) if value.isalpha() else from_budget(int(value))
    if thinking is None:
        return model, None
    return match.group(1), thinking


def from_level(value: str) -> Thinking | None:
    """A level name (an effort) as Thinking, or None if it is not one."""
    value = value.lower()
    if value == "none":
        return Thinking("none")
    if value == "auto":
        return Thinking("auto")
    if value in LEVEL_BUDGET:
        return Thinking("level", LEVEL_BUDGET[value], value)
    return None


def from_budget(budget: int) -> Thinking:
    if budget == 0:
        return Thinking("none")
    if budget < 0:
        return Thinking("auto", -1)
    return Thinking("budget", budget, budget_to_level(budget))


def budget_to_level(budget: int) -> str:
    for level in ("minimal", "low", "medium", "high", "xhigh"):
        if budget <= LEVEL_BUDGET[level]:
            return level
    return "max"


def level_of(thinking: Thinking) -> str | None:
    """The effort level a Thinking stands for; None for auto."""
    if thinking.mode == "none":
        return "none"
    if thinking.mode == "auto":
        return None
    return thinking.level or budget_to_level(thinking.budget)


def budget_of(thinking: Thinking) -> int:
    if thinking.mode == "budget":
        return thinking.budget
    return LEVEL_BUDGET.get(thinking.level, 0) if thinking.mode == "level" else thinking.budget


def clamp_level(level: str, supported: tuple[str, ...]) -> str:
    """The supported level nearest to `level`, by ratio of their budgets (ties go up)."""
    if level in supported or not supported:
        return level
    ranked = sorted(supported, key=lambda s: ORDER.index(s) if s in ORDER else 3)
    if level == "none":
        return ranked[0]
    want = math.log2(LEVEL_BUDGET.get(level, LEVEL_BUDGET["medium"]))
    choices = [s for s in ranked if s != "none"] or ranked
    return min(
        choices, key=lambda s: (abs(math.log2(LEVEL_BUDGET.get(s, 1) or 1) - want), -ORDER.index(s))
    )


# --- OpenAI chat `reasoning_effort` and Responses `reasoning.effort`.
def openai_effort(thinking: Thinking, model: str) -> str | None:
    """The effort to send, or None to send no field (auto, or a model without reasoning)."""
    level = level_of(thinking)
    info = catalog.lookup(model, "openai")
    if level is None or (info is not None and info.kind == "none"):
        return None
    return clamp_level(level, info.levels if info is not None else OPENAI_LEVELS)


# --- Anthropic `thinking` and `output_config.effort`.
def anthropic_fields(
    thinking: Thinking, model: str, max_tokens: int
) -> tuple[Json | None, str | None, int]:
    """(thinking block or None, output_config.effort or None, max_tokens to send)."""
    info = catalog.lookup(model, "anthropic")
    kind = info.kind if info is not None else "budget"
    if kind == "none":
        return None, None, max_tokens
    levels = info.levels if info is not None and info.levels else catalog.ANTHROPIC_EFFORTS
    if thinking.mode == "none":
        if kind == "adaptive":  # adaptive-only models cannot turn thinking off
            return None, clamp_level("low", levels), max_tokens
        return {"type": "disabled"}, None, max_tokens
    if kind == "adaptive" or (kind == "hybrid" and thinking.mode != "budget"):
        level = level_of(thinking)
        return (
            {"type": "adaptive"},
            None if level is None else clamp_level(level, levels),
            max_tokens,
        )
    budget = AUTO_BUDGET if thinking.mode == "auto" else budget_of(thinking)
    budget = max(budget, ANTHROPIC_MIN_BUDGET)
    if info is not None:
        budget = min(budget, info.max_budget)
    if budget >= max_tokens:
        ceiling = info.max_output if info is not None else budget + ANTHROPIC_DEFAULT_MAX_TOKENS
        max_tokens = min(budget + ANTHROPIC_DEFAULT_MAX_TOKENS, ceiling)
        budget = min(budget, max_tokens - 1)
    if budget < ANTHROPIC_MIN_BUDGET:
        return {"type": "disabled"}, None, max_tokens
    return {"type": "enabled", "budget_tokens": budget}, None, max_tokens


def anthropic_default_max_tokens(model: str) -> int:
    info = catalog.lookup(model, "anthropic")
    if info is None or not info.max_output:
        return ANTHROPIC_DEFAULT_MAX_TOKENS
    return min(info.max_output, 32000)


# --- Gemini `generationConfig.thinkingConfig`.
def gemini_config(thinking: Thinking, model: str) -> Json:
    info = catalog.lookup(model, "gemini")
    uses_levels = (
        (info.kind == "levels") if info is not None else catalog.gemini_generation(model) >= 3
    )
    if info is not None and info.kind == "none":
        return {}
    if uses_levels:
        levels = info.levels if info is not None else GEMINI_LEVELS
        level = level_of(thinking)
        if level is None:
            return {"includeThoughts": True}
        if level == "none":
            return {"thinkingLevel": clamp_level("minimal", levels)}
        return {"thinkingLevel": clamp_level(level, levels), "includeThoughts": True}
    if thinking.mode == "auto":
        return {"thinkingBudget": -1, "includeThoughts": True}
    if thinking.mode == "none":
        if info is None or info.zero_allowed:
            return {"thinkingBudget": 0}
        return {"thinkingBudget": info.min_budget}
    budget = budget_of(thinking)
    if info is not None:
        budget = max(info.min_budget, min(budget, info.max_budget))
    return {"thinkingBudget": budget, "includeThoughts": True}


def from_gemini_config(config: Json) -> Thinking | None:
    level = config.get("thinkingLevel")
    if isinstance(level, str):
        return from_level(level)
    budget = config.get("thinkingBudget")
    if isinstance(budget, int):
        return from_budget(budget)
    return None


def from_anthropic(body: Json) -> Thinking | None:
    block = body.get("thinking")
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind == "disabled":
        return Thinking("none")
    if kind == "adaptive":
        effort = (body.get("output_config") or {}).get("effort")
        found = from_level(effort) if isinstance(effort, str) else None
        return found or Thinking("auto")
    budget = block.get("budget_tokens")
    if kind == "enabled" and isinstance(budget, int):
        return from_budget(budget)
    return None


def apply_native(body: Json, fmt: str, wanted: Thinking, model: str) -> None:
    """Write `wanted` into a body that is otherwise relayed as the client sent it."""
    if fmt in ("openai", "responses"):
        effort = openai_effort(wanted, model)
        if fmt == "openai":
            body.pop("reasoning_effort", None)
            if effort is not None:
                body["reasoning_effort"] = effort
            return
        reasoning = dict(body.get("reasoning") or {})
        reasoning.pop("effort", None)
        if effort is not None:
            reasoning["effort"] = effort
        body["reasoning"] = reasoning
    elif fmt == "anthropic":
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
            return  # Anthropic refuses thinking with a forced tool: the client's choice wins
        max_tokens = body.get("max_tokens") or anthropic_default_max_tokens(model)
        block, effort, body["max_tokens"] = anthropic_fields(wanted, model, max_tokens)
        body.pop("thinking", None)
        config = dict(body.get("output_config") or {})
        config.pop("effort", None)
        if block is not None:
            body["thinking"] = block
            if block["type"] != "disabled":
                for key in ("temperature", "top_p", "top_k"):
                    body.pop(key, None)
        if effort is not None:
            config["effort"] = effort
        if config:
            body["output_config"] = config
        else:
            body.pop("output_config", None)
    elif fmt == "gemini":
        gen = dict(body.get("generationConfig") or {})
        gen.pop("thinkingConfig", None)
        config = gemini_config(wanted, model)
        if config:
            gen["thinkingConfig"] = config
        body["generationConfig"] = gen
