"""Thinking: model suffix, level/budget table, clamping, and each format's native field."""

from __future__ import annotations

import pytest

from services.proxy.translate import catalog, parse_model_suffix, translate_request
from services.proxy.translate.ir import Thinking
from services.proxy.translate.thinking import budget_to_level, clamp_level

USER = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("model", "base", "thinking"),
    [
        ("gemini-2.5-pro(8192)", "gemini-2.5-pro", Thinking("budget", 8192, "medium")),
        ("gpt-5(high)", "gpt-5", Thinking("level", 24576, "high")),
        ("claude-opus-4-5(none)", "claude-opus-4-5", Thinking("none")),
        ("x(auto)", "x", Thinking("auto")),
        ("x(-1)", "x", Thinking("auto", -1)),
        ("x(0)", "x", Thinking("none")),
        ("x(MAX)", "x", Thinking("level", 128000, "max")),
        ("plain-model", "plain-model", None),
        ("odd(name)", "odd(name)", None),
        ("(high)", "(high)", None),
        ("x(high)\n", "x", Thinking("level", 24576, "high")),  # the regex's `$` allows it
        ("x(high) ", "x(high) ", None),
    ],
)
def test_parse_model_suffix(model, base, thinking):
    assert parse_model_suffix(model) == (base, thinking)


@pytest.mark.parametrize(
    ("budget", "level"),
    [
        (1, "minimal"),
        (512, "minimal"),
        (513, "low"),
        (1024, "low"),
        (8192, "medium"),
        (8193, "high"),
        (24576, "high"),
        (32768, "xhigh"),
        (32769, "max"),
        (500000, "max"),
    ],
)
def test_budget_to_level_thresholds(budget, level):
    assert budget_to_level(budget) == level


def test_clamp_level_picks_nearest_supported():
    assert clamp_level("medium", ("low", "high")) == "high"
    assert clamp_level("minimal", ("low", "high")) == "low"
    assert clamp_level("max", ("low", "medium", "high", "xhigh")) == "xhigh"
    assert clamp_level("none", ("minimal", "low")) == "minimal"


def test_catalog_lookup_by_prefix():
    info = catalog.lookup("claude-haiku-4-5-20251001")
    assert info is not None and info.id == "claude-haiku-4-5"
    found = catalog.lookup("gpt-5.1-codex-max")
    assert found is not None and found.id == "gpt-5.1-codex-max"
    assert catalog.lookup("my-local-llama") is None
    assert catalog.gemini_generation("gemini-3-pro-preview") == 3


def _to(target, model, body=None, source="openai"):
    body = body or {"model": "client", "messages": USER}
    return translate_request(body, source=source, target=target, model=model, stream=False)


def test_suffix_to_openai_effort_clamped():
    assert _to("openai", "gpt-5(max)")["reasoning_effort"] == "high"
    assert _to("openai", "gpt-5.2(max)")["reasoning_effort"] == "xhigh"
    assert "reasoning_effort" not in _to("openai", "gpt-4o(high)")  # no reasoning at all
    assert _to("openai", "unknown-model(medium)")["reasoning_effort"] == "medium"


def test_suffix_to_responses_effort():
    assert _to("responses", "gpt-5-codex(8192)")["reasoning"]["effort"] == "medium"


def test_suffix_to_anthropic_budget_and_adaptive():
    body = _to("anthropic", "claude-sonnet-4-5(high)")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    assert body["max_tokens"] > 24576
    adaptive = _to("anthropic", "claude-opus-4-7(xhigh)")
    assert adaptive["thinking"] == {"type": "adaptive"}
    assert adaptive["output_config"] == {"effort": "high"}
    assert _to("anthropic", "claude-sonnet-4-5(none)")["thinking"] == {"type": "disabled"}
    assert _to("anthropic", "claude-sonnet-4-5(minimal)")["thinking"]["budget_tokens"] == 1024


def test_suffix_to_gemini_budget_and_level():
    cfg = _to("gemini", "gemini-2.5-pro(100000)")["generationConfig"]["thinkingConfig"]
    assert cfg == {"thinkingBudget": 32768, "includeThoughts": True}
    none = _to("gemini", "gemini-2.5-pro(none)")["generationConfig"]["thinkingConfig"]
    assert none == {"thinkingBudget": 128}  # 2.5 Pro cannot turn thinking off
    flash = _to("gemini", "gemini-2.5-flash(none)")["generationConfig"]["thinkingConfig"]
    assert flash == {"thinkingBudget": 0}
    level = _to("gemini", "gemini-3-pro-preview(medium)")["generationConfig"]["thinkingConfig"]
    assert level == {"thinkingLevel": "high", "includeThoughts": True}
    assert "model" not in _to("gemini", "gemini-3-pro-preview")


def test_native_field_is_mapped_without_suffix():
    body = {"model": "c", "messages": USER, "reasoning_effort": "low"}
    out = _to("anthropic", "claude-sonnet-4-5", body)
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    anthropic_body = {
        "model": "c",
        "max_tokens": 100,
        "messages": USER,
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "medium"},
    }
    out = _to("openai", "gpt-5", anthropic_body, source="anthropic")
    assert out["reasoning_effort"] == "medium"
    gemini_body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 30000}},
    }
    assert _to("responses", "gpt-5", gemini_body, source="gemini")["reasoning"]["effort"] == "high"


def test_suffix_wins_over_body_field():
    body = {"model": "c", "messages": USER, "reasoning_effort": "low"}
    assert _to("openai", "gpt-5(high)", body)["reasoning_effort"] == "high"
    body = {"model": "gpt-5(minimal)", "messages": USER, "reasoning_effort": "high"}
    assert _to("openai", "gpt-5", body)["reasoning_effort"] == "minimal"


def test_same_format_keeps_body_and_applies_suffix():
    """Same format both sides: every field survives; only model and thinking change."""
    body = {
        "model": "claude-x",
        "max_tokens": 50000,
        "messages": USER,
        "context_management": {"edits": []},
        "temperature": 0.3,
    }
    out = _to("anthropic", "claude-sonnet-4-5(8192)", body, source="anthropic")
    assert out["context_management"] == {"edits": []}
    assert out["model"] == "claude-sonnet-4-5"
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert "temperature" not in out  # Anthropic refuses sampling overrides while thinking
    assert body["model"] == "claude-x"  # the client's body is not modified
